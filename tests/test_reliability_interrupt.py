"""Ctrl-C during a Brian2 run: a real SIGINT to a real subprocess (issue 12, item 1).

Brian2's own SIGINT handler stops ``Network.run`` and returns normally; every run
neurochip starts must turn that into KeyboardInterrupt instead of a short result.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys
import numpy as np
from neurochip import Network, Population, Projection, SpikeSource, brian_backend

net = Network(sources=[SpikeSource("in", 4, indices=[0, 1, 2, 3], steps=[0, 1, 2, 3])],
              populations=[Population("out", 8, du=0.5, dv=0.1, vth=1.0, bias=0.2)],
              projections=[Projection("in_out", "in", "out", np.ones((8, 4)))])

def report(elapsed, completed, start, duration):
    if completed == 0:
        print("running", flush=True)

try:
    result = brian_backend.simulate(net, 5_000_000, codegen_target="numpy", report=report)
except KeyboardInterrupt as err:
    print(f"KeyboardInterrupt: {err}", flush=True)
    sys.exit(130)
print(f"returned a result of {result.steps} steps with {result.spike_counts()['out']} spikes", flush=True)
"""


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", **extra}


def _interrupt_when(proc: subprocess.Popen, marker: str, *, timeout: float = 120.0) -> str:
    """Read ``proc``'s stdout until a line containing ``marker``, wait a little, send SIGINT; all output."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            time.sleep(1.0)  # well inside the run loop
            proc.send_signal(signal.SIGINT)
            break
    try:
        rest, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        pytest.fail("the child did not end after SIGINT:\n" + "".join(lines) + rest)
    return "".join(lines) + rest


def test_sigint_during_simulate_raises_instead_of_returning_a_short_result(spawn):
    proc = spawn([sys.executable, "-c", CHILD], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = _interrupt_when(proc, "running")
    assert "returned a result" not in out, out
    assert proc.returncode == 130, out
    assert "interrupted (Ctrl-C)" in out and "of [0, 5000] s" in out, out


def test_sigint_during_an_experiment_exits_nonzero_and_is_not_complete(spawn, tmp_path):
    cmd = [sys.executable, "-m", "neurochip.cli", "run", "ei_demo", "--tiny", "--set", "steps=2000000",
           "--set", f"results_root={tmp_path}"]
    proc = spawn(cmd, cwd=ROOT, env=_env(NEUROCHIP_BRIAN_TARGET="numpy"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = _interrupt_when(proc, "ei_demo: simulating")
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out, out
    runs = list((tmp_path / "ei_demo").iterdir())
    assert len(runs) == 1
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["status"] == "interrupted", metrics
    assert not (runs[0] / "spikes.npz").exists()
    assert not [p for p in runs[0].iterdir() if p.name.endswith(".tmp")]


def test_a_run_stopped_early_in_process_raises():
    from neurochip import _brian

    # Network.stop() from inside the run (the same path Brian2's handler takes without Ctrl-C)
    g = b2.NeuronGroup(1, "v : 1", dt=b2.ms, name="stopper_group")
    net = b2.Network(g, name="stopper_net")
    op = b2.NetworkOperation(lambda t: net.stop() if t >= 5 * b2.ms else None, dt=b2.ms)
    net.add(op)
    with pytest.raises(RuntimeError, match=r"stopped at t = 0.00[56] s of \[0, 0.1\] s.*stopped early"):
        _brian.run_network(net, 100 * b2.ms, codegen_target="numpy")
    # a complete run returns the target used
    net2 = b2.Network(b2.NeuronGroup(1, "v : 1", dt=b2.ms, name="full_group"), name="full_net")
    assert _brian.run_network(net2, 10 * b2.ms, codegen_target="numpy") == "numpy"
    assert float(net2.t / b2.ms) == pytest.approx(10)


def test_target_choice_and_its_precedence(monkeypatch):
    from neurochip import _brian

    monkeypatch.delenv(_brian.TARGET_ENV, raising=False)
    previous = b2.prefs.codegen.target  # the suite pins it (tests/conftest.py): start from Brian2's default
    try:
        b2.prefs.codegen.target = "auto"
        assert _brian.choose_target(None, steps=1000, elements=10_000) == "numpy"
        assert _brian.choose_target("auto", steps=10**7, elements=10_000) == "cython"
        assert _brian.choose_target("numpy", steps=10**7, elements=10_000) == "numpy"  # explicit wins
        monkeypatch.setenv(_brian.TARGET_ENV, "cython")
        assert _brian.choose_target(None, steps=10, elements=10) == "cython"
        assert _brian.choose_target("numpy", steps=10, elements=10) == "numpy"
        monkeypatch.setenv(_brian.TARGET_ENV, "gpu")
        with pytest.raises(ValueError, match=r"\$NEUROCHIP_BRIAN_TARGET should be one of 'auto', 'numpy', 'cython'"):
            _brian.choose_target(None, steps=10, elements=10)
        monkeypatch.delenv(_brian.TARGET_ENV)
        b2.prefs.codegen.target = "cython"  # a user's explicit Brian2 preference
        assert _brian.choose_target(None, steps=10, elements=10) == "cython"
        b2.prefs.codegen.target = "auto"
        # the crossing point of the cost model is where one run's saving repays a cold compile
        steps = _brian.COLD_COMPILE_S / (_brian.NUMPY_EXTRA_S_PER_STEP + _brian.NUMPY_EXTRA_S_PER_ELEMENT_STEP * 1e4)
        assert _brian.choose_target(None, steps=int(steps * 0.99), elements=10_000) == "numpy"
        assert _brian.choose_target(None, steps=int(steps * 1.01) + 1, elements=10_000) == "cython"
        # set-up code of building functions is numpy unless the user chose; the run still decides
        seen = []
        _brian.building(lambda: seen.append((b2.prefs.codegen.target,
                                             _brian.choose_target(None, steps=10**7, elements=10))))()
        assert seen == [("numpy", "cython")] and b2.prefs.codegen.target == "auto"
    finally:
        b2.prefs.codegen.target = previous


def test_run_size_counts_steps_and_elements():
    from neurochip import _brian

    src = b2.SpikeGeneratorGroup(3, [0], [0] * b2.ms, dt=b2.ms, name="size_src")
    g = b2.NeuronGroup(5, "v : 1", dt=b2.ms, name="size_group")
    syn = b2.Synapses(src, g, on_pre="v += 1", dt=b2.ms, name="size_syn")
    syn.connect(i=np.array([0, 1]), j=np.array([2, 3]))
    net = b2.Network(src, g, syn)
    assert _brian.run_size(net, 250 * b2.ms) == (250, 3 + 5 + 2)
    _brian.run_network(net, 2 * b2.ms, codegen_target="numpy")
