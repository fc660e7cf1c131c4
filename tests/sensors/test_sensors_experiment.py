"""The sensors_codesign experiment with its tiny config, and the co-design sweep."""
import json

import numpy as np
import pytest
from brian2 import Hz, second

from experiments import sensors_codesign
from neurochip.experiment import load_config
from sensors import RandomizationSpec
from sensors.codesign import codesign, measured_noise_floor, plot_codesign, sweep_delta_thresholds

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_codesign_sweep_is_monotone_and_recommends_by_false_rate():
    spec = RandomizationSpec(n_sensors=4, duration=0.6 * second, onset=0.1 * second, exposure=0.4 * second,
                             feature_window=0.1 * second)
    res = codesign(spec, n_samples=4, random_state=0, factors=np.geomspace(0.5, 30, 8), max_false_rate=2 * Hz)
    assert np.all(np.diff(res.spikes_per_second) <= 0)            # higher threshold, fewer spikes
    assert np.all(np.diff(res.false_spikes_per_second) <= 0)
    k = res.recommended_index
    assert res.false_spikes_per_second[k] <= 2 and (k == 0 or res.false_spikes_per_second[k - 1] > 2)
    assert res.recommended_threshold == pytest.approx(res.factors[k] * res.noise_floor)
    assert res.rmse[-1] > res.rmse[k]                               # coarse thresholds lose fidelity
    assert res.power[k] == pytest.approx(res.spikes_per_second[k] * 4 * 23.6e-12)
    # the measured floor is close to the twin's white + flicker floor
    assert 0.5 < res.noise_floor / res.info["twin_noise_floor"] < 1.5
    fig = plot_codesign(res)
    assert len(fig.axes) == 2
    d = codesign(spec, n_samples=4, random_state=0, factors=np.geomspace(0.5, 30, 8),
                 max_false_rate=2 * Hz).to_dict()
    assert d["recommended_threshold"] == res.recommended_threshold   # seeded


def test_measured_noise_floor_removes_trend():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1e-3, (5, 3, 4000)) + np.linspace(0, 1, 4000)
    assert measured_noise_floor(z) == pytest.approx(1e-3, rel=0.05)


def test_sweep_errors():
    with pytest.raises(ValueError, match="same n_sensors"):
        sweep_delta_thresholds(np.zeros((2, 3, 10)), np.zeros((2, 4, 10)))
    with pytest.raises(ValueError, match="noise floor is 0"):
        sweep_delta_thresholds(np.zeros((2, 3, 10)), np.zeros((2, 3, 10)))
    with pytest.raises(ValueError, match="factors should be"):
        sweep_delta_thresholds(np.zeros((2, 3, 10)), np.zeros((2, 3, 10)), noise_floor=1.0, factors=[-1.0])


@pytest.mark.slow
def test_experiment_tiny_writes_consistent_files(tmp_path):
    exp = sensors_codesign
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)})
    run_dir = exp.main(cfg)
    assert run_dir.parent == tmp_path / "sensors_codesign"
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert config["n_sensors"] == exp.TINY["n_sensors"] and config["seed"] == 0
    for png in ("raster.png", "signals.png", "codesign.png", "reconstruction.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png
    assert metrics["brian_matches_numpy"] is True
    enc = metrics["encoding"]
    assert enc["n_spikes"] == sum(enc["spike_counts"].values()) > 0
    cd = metrics["codesign"]
    assert cd["recommended_threshold"] == pytest.approx(cd["recommended_factor"] * cd["noise_floor"])
