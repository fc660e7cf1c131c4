"""The fewshot_metalearn experiment runs in its tiny configuration and writes its outputs."""
import json

import numpy as np

import experiments.fewshot_metalearn as exp
from neurochip.experiment import load_config


def test_tiny_run_writes_results(tmp_path):
    cfg = load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)})
    run = exp.main(cfg)
    for name in ("config.json", "metrics.json", "raster.png", "kshot_accuracy.png", "learning_curve.png",
                 "rule.json", "results.md", "checkpoint.npz"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for method in ("meta-learned", "hand-tuned STDP", "hand-tuned soft-bound STDP", "no plasticity"):
        for k in (1, 5, 10):
            cell = metrics["table"][method][f"k={k}"]
            assert 0 <= cell["ci95"][0] <= cell["accuracy"] <= cell["ci95"][1] <= 1
    # both hand-tuned baselines: the best of their own grid, paired differences against each
    soft = metrics["hand_tuned"]["hand-tuned soft-bound STDP"]
    assert soft["grid_size"] == 2 and set(soft["rule"]["coefficients"]) == {"y0*x1", "y0*x1*w", "x0*y1*w"}
    assert set(metrics["hand_tuned"]["hand-tuned STDP"]["rule"]["coefficients"]) == {"y0*x1", "x0*y1"}
    for name in ("hand-tuned STDP", "hand-tuned soft-bound STDP"):
        d = metrics["meta_minus_baseline"][name]["k=5"]
        assert d["ci95_points"][0] <= d["meta_minus_points"] <= d["ci95_points"][1]
    assert "| meta - soft-bound STDP (points, paired) |" in (run / "results.md").read_text()
    # Resume from the finished checkpoint: no new generation, same rule.
    again = exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path),
                                                   "resume_from": str(run / "checkpoint.npz")}))
    assert json.loads((again / "rule.json").read_text())["rule"] == json.loads((run / "rule.json").read_text())["rule"]


def test_bootstrap_ci_brackets_the_mean():
    rng = np.random.default_rng(0)
    values = rng.normal(0.5, 0.1, (2, 400))
    m, lo, hi = exp.bootstrap_ci(values, 500, np.random.default_rng(1))
    np.testing.assert_allclose(m, values.mean(axis=1))
    # 95 % interval of a mean of 400 normal(0.1) samples: about +-1.96 * 0.1 / 20.
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * values.std(axis=1) / 20, rtol=0.2)


def test_start_from_stdp_and_bad_value(tmp_path):
    import pytest

    run = exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "start_from": "stdp",
                                                 "twin": False, "n_analytes": 16, "n_train_analytes": 10}))
    assert (run / "rule.json").exists()
    with pytest.raises(ValueError, match="start_from should be 'zeros', 'stdp', 'soft_stdp' or 'hebbian'"):
        exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "start_from": "best"}))


def test_rule_family_and_score_options(tmp_path):
    import pytest

    terms = ["u0*x1*y3", "u0*y3*w", "y0*x1"]
    run = exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "twin": False,
                                                 "n_analytes": 16, "n_train_analytes": 10, "meta_terms": terms,
                                                 "meta_score": "soft", "meta_dead_zone": 0.5,
                                                 "bias_spikes": 2}))
    rule = json.loads((run / "rule.json").read_text())["rule"]
    assert set(rule["coefficients"]) <= set(terms)
    config = json.loads((run / "config.json").read_text())
    assert config["meta_score"] == "soft" and config["feature_range"] == [-1.0, 1.0] and config["bias_spikes"] == 2
    # the bias input reaches the classifier's encoder (checked there: at most one spike per step)
    with pytest.raises(ValueError, match=r"bias_spikes should be <= steps \(16\), got 99"):
        exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "bias_spikes": 99}))
    with pytest.raises(ValueError, match=r"feature_range should be \[low, high\] with high > low"):
        exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path),
                                               "feature_range": [1.0, -1.0]}))
    with pytest.raises(ValueError, match=r"feature_range should be \[low, high\], got"):
        exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path), "feature_range": [1.0]}))
