"""The lava_deploy experiment with its tiny config."""
import json
from pathlib import Path

from neurochip.experiment import find_experiment, load_config

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_lava_deploy_tiny_writes_rasters_agreement_and_reports(tmp_path):
    exp = find_experiment("lava_deploy", ROOT / "experiments")
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)})
    run_dir = exp.main(cfg)
    assert run_dir.parent == tmp_path / "lava_deploy"
    for png in ("raster.png", "weights.png", "agreement.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["lava_float_identical_to_brian2"] is True
    counts = metrics["spike_counts"]
    assert counts["Brian2"] == counts["Lava float"] and counts["Brian2"]["exc"] > 0
    for variant, pops in metrics["fixed_vs_float_within_tolerance"].items():
        assert all(v >= 0.9 for v in pops.values()), (variant, pops)
    noise = metrics["float_vs_float_with_weight_noise"]
    assert noise["relative_noise"] == 1e-3 and set(noise["agreement"]) == {"exc", "inh"}
    qrep = json.loads((run_dir / "quantization_report.json").read_text())
    assert set(qrep) == {"Lava fixed 8-bit", "Lava fixed 2-part calibrated"}
    assert qrep["Lava fixed 8-bit"]["projections"]["input_exc"]["max_abs_error"] <= \
        qrep["Lava fixed 8-bit"]["projections"]["input_exc"]["error_bound"] * (1 + 1e-9)
    assert json.loads((run_dir / "placement_report.json").read_text())["cores_used"] == 2
    assert json.loads((run_dir / "config.json").read_text())["steps"] == exp.TINY["steps"]
