"""The feedback experiment with its tiny config (recorded batches 1 and 2 needed; Agg backend)."""
import json
from pathlib import Path

import numpy as np
import pytest

from neurochip.experiment import find_experiment, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_feedback_tiny(tmp_path):
    from sensors import load_gas_drift
    from sensors.edge_cases import EdgeCaseStore
    try:
        load_gas_drift(1), load_gas_drift(2)
    except ValueError:
        pytest.skip("gas drift recordings not available")
    exp = find_experiment("feedback", ROOT / "experiments")
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)})
    run_dir = exp.main(cfg)
    for name in ("config.json", "metrics.json", "raster.png", "stream.png", "edge_cases.npz"):
        assert (run_dir / name).is_file(), name
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "complete"
    s = m["stream"]
    assert s["boundaries"] == 1 and s["samples"] == 1467
    assert s["delays"][0] is not None and 0 <= s["delays"][0] < 50       # measured: 19
    store = EdgeCaseStore.load(run_dir / "edge_cases.npz")
    assert len(store) == m["edge_cases"]["total"]
    assert np.all(store.stream_index[store.reason == 0] >= s["boundary"] + s["delays"][0])
    assert m["feedback"]["factor"] == 1.0 and m["feedback"]["rule"] in m["feedback"]["rule_scores"]
    assert 0 < m["batch2_accuracy"]["before"][0] <= 1
