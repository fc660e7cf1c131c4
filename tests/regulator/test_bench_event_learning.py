"""benchmarks/bench_event_learning.py: its drift, its error population and its bookkeeping."""
import json

import numpy as np
import pytest

from neurochip import reference


@pytest.fixture(scope="module")
def bench():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_event_learning.py"
    spec = importlib.util.spec_from_file_location("bench_event_learning", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def setup(bench):
    return bench.Setup(dt_ms=2.0, n_sensors=8, array_seed=0, n_swapped=2, delta_factor=5.0)


def test_drift_swaps_the_most_selective_sensors(bench):
    s = setup(bench)
    a, b = s.array.sensitivity, s.drifted.sensitivity
    sel = np.abs(np.log(np.abs(a[:, 0] / a[:, 1])))
    assert set(s.swapped.tolist()) == set(np.argsort(sel)[-2:].tolist())
    np.testing.assert_array_equal(b[s.swapped], a[s.swapped, ::-1])
    rest = np.setdiff1d(np.arange(8), s.swapped)
    np.testing.assert_array_equal(b[rest], a[rest])
    # before the drift the stream is the undrifted one; after the ramp, the drifted twin's
    y0, _ = s.stream(3, 5)
    y, _ = s.stream(3, 5, drift_at=1, ramp_s=0.5)
    steps = s.steps_per_sample
    np.testing.assert_array_equal(y[:, :steps], y0[:, :steps])
    assert not np.allclose(y[:, 2 * steps:], y0[:, 2 * steps:])


def test_error_neuron_fires_on_an_output_spike_without_its_label(bench):
    """error_j at step k + 1 exactly when out_j spiked at step k and label_j did not (du = dv = 1)."""
    s = setup(bench)
    y, labels = s.stream(2, 3)
    w = np.random.default_rng(0).uniform(0.2, 0.6, (2, 16))
    res = reference.simulate(s.network(y, labels, w, rule=bench.rule_of(11), gated=True, w_inh=1.0), y.shape[1])
    out, label = res.raster("out"), res.raster("label")
    expected = np.zeros_like(out)
    expected[1:] = out[:-1] & ~label[:-1]
    assert out.sum() > 0 and expected.sum() > 0
    np.testing.assert_array_equal(res.raster("error"), expected)


@pytest.mark.slow
def test_quick_run_bookkeeping(bench, tmp_path):
    out = bench.main(["--quick", "--out", str(tmp_path / "b.json")])
    assert json.loads((tmp_path / "b.json").read_text())["summary"] == out["summary"]
    run = out["runs"]["lr11"][0]
    for name in ("always_on", "event_driven"):
        r = run[name]
        assert 0 <= r["accuracy"] <= 1
        # the rule has u0 terms: every one of the 32 synapses updates at every step the gate is open
        assert r["learning_updates"] == 32 * r["gate_open_steps"]
        assert r["learning_energy_J"] == pytest.approx(r["learning_updates"] * 120e-12, rel=1e-12)
    assert run["always_on"]["gate_open_steps"] == 12 * 1000
