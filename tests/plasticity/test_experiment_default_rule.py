"""The fewshot_default_rule experiment runs in its tiny configuration and writes a loadable default-rule file."""
import json

import experiments.fewshot_default_rule as exp
from neurochip.experiment import load_config
from neurochip.plasticity import FewShotSpikingClassifier
from neurochip.plasticity.fewshot import DEFAULT_RULE_FILE, load_default_rule, read_default_rule_file

from _gas_data import DATA, needs_data


@needs_data
def test_tiny_run_writes_a_default_rule_file(tmp_path):
    before = DEFAULT_RULE_FILE.read_bytes()
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "folder": str(DATA)})
    run = exp.main(cfg)
    for name in ("config.json", "metrics.json", "raster.png", "learning_curve.png", "rule.json", "results.md",
                 "checkpoint.npz", "default_rule.json", "calibrated_twin.json"):
        assert (run / name).exists(), name
    assert DEFAULT_RULE_FILE.read_bytes() == before                      # install=false leaves the package alone
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "complete" and metrics["chosen"] in ("meta-learned", "hand-written start")
    d = metrics["calibration"]["distances"]
    assert d["calibrated twin (rank 10 variability)"]["mmd2"] < d["default twin (before calibration)"]["mmd2"]
    content = read_default_rule_file(run / "default_rule.json")
    prov = content["provenance"]
    assert prov["seed"] == 0 and prov["command"].startswith("neurochip run fewshot_default_rule")
    assert prov["calibration_data"]["file"] == "batch1.csv.gz" and len(prov["calibration_data"]["sha256"]) == 64
    assert prov["task_distribution"]["sampler"]["type"] == "sensors.tasks.GasDriftTaskSampler"
    rule = load_default_rule(run / "default_rule.json")
    X, y = exp.load_gas_drift(1, folder=DATA).features[::20], exp.load_gas_drift(1, folder=DATA).labels[::20]
    assert FewShotSpikingClassifier(rule=rule, random_state=0).fit(X, y).score(X, y) > 0.9
