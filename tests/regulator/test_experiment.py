"""The regulator_faults experiment with its tiny config (Agg backend, seconds)."""
import json
from pathlib import Path

import pytest

from neurochip.experiment import find_experiment, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_regulator_faults_tiny(tmp_path):
    exp = find_experiment("regulator_faults", ROOT / "experiments")
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)})
    run_dir = exp.main(cfg)
    assert run_dir.parent == tmp_path / "regulator_faults"
    for name in ("config.json", "metrics.json", "raster.png", "overview_burst.png", "energy.png",
                 "regulator.json"):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert set(m["faults"]) == {"stuck", "drift", "burst"}
    for kind, f in m["faults"].items():
        assert f["runs"] == 1 and f["detected"] + f["missed"] == 1
    assert 0 <= m["false_alarms"]["rate_per_window"] <= 1
    assert m["regulator_cost"]["synaptic_ops"] > 0
    assert list(m["drift_sweep"]) == ["0.1"]
    # same seed, same measurements
    m2 = json.loads((exp.main(cfg) / "metrics.json").read_text())
    for key in ("faults", "drift_sweep", "false_alarms", "spike_counts_normal"):
        assert m2[key] == m[key], key


def test_encode_levels():
    """Fine and coarse send-on-delta levels, UP and DOWN sources (sensors.encoders.delta_encode)."""
    import numpy as np

    exp = find_experiment("regulator_faults", ROOT / "experiments")
    cfg = exp.Config(delta_factor=1.0, levels=(1, 4))
    y = np.array([[0.0, 0.5, 1.2, 5.3, 5.3, 1.0]])
    enc = exp.encode(y, 1.0, cfg)[0]
    # fine (1): r 0 -> up@2 (r 1) -> up@3 (r 2, slew limit) -> up@4 (r 3) -> down@5 (r 2)
    # coarse (4): e = 5.3 at step 3 -> up@3 (r 4); e = -3 at step 5 -> nothing
    assert sorted(zip(enc["up"][1].tolist(), enc["up"][0].tolist())) == [(2, 0), (3, 0), (3, 1), (4, 0)]
    assert sorted(zip(enc["down"][1].tolist(), enc["down"][0].tolist())) == [(5, 0)]


def test_invalid_experiment_config(tmp_path):
    exp = find_experiment("regulator_faults", ROOT / "experiments")
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "fault_onset_s": 5.0})
    with pytest.raises(ValueError, match="fault_onset_s should be in"):
        exp.main(cfg)
