"""Device plots and the device_robustness experiment (tiny config)."""
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurochip.devices import plots, presets
from neurochip.experiment import find_experiment, load_config

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_pulse_response_data_and_figure():
    model = presets.ag_a_si(c2c_sigma=0.0)
    data = plots.pulse_response_data(model, n_devices=3, n_pulses=120)
    assert data["potentiation"].shape == (121, 3) and data["depression"].shape == (121, 3)
    assert np.all(np.diff(data["potentiation"], axis=0) >= 0)
    assert np.all(np.diff(data["depression"], axis=0) <= 0)
    np.testing.assert_allclose(data["potentiation"][-1], model.g_max_s)
    np.testing.assert_allclose(data["depression"][-1], model.g_min_s)
    fig = plots.pulse_response(data["pulses"], data["potentiation"], data["depression"], title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2


def test_histogram_drift_and_robustness_figures():
    g = np.random.default_rng(0).uniform(1e-9, 2e-9, 100)
    assert isinstance(plots.conductance_histogram(g), Figure)
    assert isinstance(plots.conductance_histogram([g, g * 2], labels=["a", "b"]), Figure)
    pcm = presets.pcm()
    d = plots.drift_data(pcm, n_devices=50, times=np.array([1.0, 20.0, 2000.0]))
    # power law: median ratio at 2000 s is 100^-nu within the device spread of nu
    ratio = np.median(d["g"][2] / d["g"][1])
    assert ratio == pytest.approx(100 ** -0.05, rel=0.02)
    np.testing.assert_array_equal(d["g"][0], d["g"][1])  # no drift before t0
    assert isinstance(plots.drift(d["times"], d["g"], t0=20.0, nu=0.05), Figure)
    fig = plots.robustness([[0, 1], [2, 4]], [np.ones((2, 3)), np.zeros((2, 3))], xlabels=["a", "b"],
                           log_x=[False, True])
    assert len(fig.axes) == 2


@pytest.fixture(scope="module")
def experiment():
    return find_experiment("device_robustness", ROOT / "experiments")


def test_experiment_tiny_writes_files_and_is_reproducible(experiment, tmp_path):
    runs = []
    for _ in range(2):
        cfg = load_config(experiment.Config, base={**experiment.TINY, "results_root": str(tmp_path)})
        runs.append(experiment.main(cfg))
    run_dir = runs[0]
    for png in ("raster.png", "robustness.png", "pulse_response.png", "conductance_histogram.png", "drift.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png
    m = [json.loads((r / "metrics.json").read_text()) for r in runs]
    assert m[0]["ideal_output_spikes"] > 0
    for key in ("sigma", "levels", "stuck"):
        assert m[0]["sweeps"][key] == m[1]["sweeps"][key]  # same seeds, same numbers
    stuck = m[0]["sweeps"]["stuck"]["mapping_rms_relative_mean"]
    assert stuck[1] > stuck[0]  # 10 % stuck devices worsen the mapping
    levels = m[0]["sweeps"]["levels"]["mapping_rms_relative_mean"]
    assert levels[0] > levels[1]  # 4 levels worse than 64
    config = json.loads((run_dir / "config.json").read_text())
    assert config["levels"] == experiment.TINY["levels"]


def test_rate_error_metric(experiment):
    assert experiment.rate_error(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert experiment.rate_error(np.zeros(2), np.zeros(2)) == 0.0
