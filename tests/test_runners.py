"""The runner registry (neurochip.runners): built-ins, registration, references, entry points, errors."""
import configparser
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from neurochip import Network, Population, Projection, SpikeSource, runners
from neurochip.reference import simulate as reference

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry without the Lava runners, and no installed entry points."""
    fresh = {k: v for k, v in runners._RUNNERS.items() if k in ("numpy", "brian2")}
    monkeypatch.setattr(runners, "_RUNNERS", fresh)
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: [])
    return fresh


def small_net() -> Network:
    src = SpikeSource("in", 3, indices=[0, 1, 2, 0, 2], steps=[0, 1, 1, 4, 6])
    pop = Population("out", 2, du=0.5, dv=0.25, vth=0.6)
    return Network(sources=[src], populations=[pop],
                   projections=[Projection("in_out", "in", "out", np.array([[0.7, 0.2, 0.5], [0.1, 0.9, 0.3]]))])


def same_spikes(a, b, names=("in", "out")):
    for n in names:
        np.testing.assert_array_equal(a.spikes[n].steps, b.spikes[n].steps, err_msg=n)
        np.testing.assert_array_equal(a.spikes[n].indices, b.spikes[n].indices, err_msg=n)


def test_builtin_runners_run_the_network(registry):
    net = small_net()
    ref = reference(net, 10)
    assert ref.spikes["out"].steps.size > 0
    for name in ("numpy", "brian2"):
        res = runners.get_runner(name)(net, 10, {"out": ["v"]})
        same_spikes(res, ref)
        assert res.traces["out"]["v"].shape == (10, 2)
    assert runners.available_runners() == ["brian2", "numpy"]


def test_register_callable_and_reference(registry):
    def mine(network, steps, probes=None):
        return reference(network, steps, probes)

    runners.register_runner("mine", mine)
    runners.register_runner("mine", mine)                       # the same again: no-op
    assert runners.get_runner("mine") is mine
    with pytest.raises(ValueError, match=r"a runner named 'mine' is already registered .*replace=True"):
        runners.register_runner("mine", reference)
    runners.register_runner("mine", reference, replace=True)
    assert runners.get_runner("mine") is reference
    # by reference: imported when first asked for
    runners.register_runner("ref", "neurochip.reference:simulate")
    assert registry["ref"] == "neurochip.reference:simulate"
    assert runners.get_runner("ref") is reference and registry["ref"] is reference
    runners.register_runner("ref", "neurochip.reference:simulate")  # same reference: keeps the loaded one
    assert registry["ref"] is reference


def test_registry_errors(registry):
    with pytest.raises(ValueError, match=r"unknown runner 'gpu'; known runners: brian2, numpy \(register one"):
        runners.get_runner("gpu")
    with pytest.raises(ValueError, match="runner name should be a non-empty string, got ''"):
        runners.get_runner("")
    with pytest.raises(ValueError, match="runner 'x' should be callable .*got int"):
        runners.register_runner("x", 3)
    with pytest.raises(ValueError, match="reference 'package.module:function', got 'no_colon'"):
        runners.register_runner("x", "no_colon")
    runners.register_runner("broken", "neurochip.no_such_module:run")
    with pytest.raises(ImportError, match=r"runner 'broken': loading reference 'neurochip.no_such_module:run' "
                                          r"failed: ModuleNotFoundError") as info:
        runners.get_runner("broken")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    runners.register_runner("notfn", "neurochip.runners:ENTRY_POINT_GROUP")
    with pytest.raises(ImportError, match="is a str, not a callable"):
        runners.get_runner("notfn")


def setup_cfg_entry_points() -> list:
    """The ``neurochip.runners`` entry points declared in setup.cfg, as importlib.metadata objects."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [ln.strip() for ln in cfg["options.entry_points"]["neurochip.runners"].splitlines() if ln.strip()]
    return [metadata.EntryPoint(name=n.strip(), value=v.strip(), group=runners.ENTRY_POINT_GROUP)
            for n, v in (ln.split("=", 1) for ln in lines)]


def test_setup_cfg_entry_points_load_the_lava_runners(registry, monkeypatch):
    """As after `pip install`: get_runner finds "lava" through setup.cfg's entry point, nobody registers it."""
    eps = setup_cfg_entry_points()
    assert sorted(ep.name for ep in eps) == ["lava", "lava-fixed"]
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: [ep for ep in eps if ep.group == kw.get("group")])
    assert runners.available_runners() == ["brian2", "lava", "lava-fixed", "numpy"]
    assert "lava" not in registry
    run = runners.get_runner("lava")
    from mapping.runner import run_lava_float

    assert run is run_lava_float and registry["lava"] is run_lava_float
    net = small_net()
    same_spikes(run(net, 10), reference(net, 10))                 # Lava float == numpy reference
    bad = [metadata.EntryPoint(name="lava", value="mapping.no_such:run", group=runners.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: bad)
    registry.pop("lava")
    with pytest.raises(ImportError, match=r"runner 'lava': loading entry point lava = mapping.no_such:run "
                                          r"\(group 'neurochip.runners'\) failed"):
        runners.get_runner("lava")


def test_importing_mapping_registers_the_lava_runners():
    """In a fresh interpreter: not registered before `import mapping`, registered (by reference) after."""
    code = ("from neurochip import runners\n"
            "before = sorted(runners._RUNNERS)\n"
            "import mapping, sys\n"
            "after = sorted(runners._RUNNERS)\n"
            "print(before, after, runners._RUNNERS['lava'], 'mapping.runner' in sys.modules)\n"
            "from mapping.runner import run_lava_fixed\n"
            "assert runners.get_runner('lava-fixed') is run_lava_fixed\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == ("['brian2', 'numpy'] ['brian2', 'lava', 'lava-fixed', 'numpy'] "
                                         "mapping.runner:run_lava_float False")
