"""The pipeline experiment: ``--tiny`` end to end, the stages chained, and its helpers against hand-made cases."""
import json
from pathlib import Path

import numpy as np
import pytest

from neurochip.experiment import find_experiment, load_config
from neurochip.results import SimulationResult, Spikes

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STAGES = ("twin", "encoder", "snn", "deployment", "regulator", "energy")


@pytest.fixture(scope="module")
def pipeline():
    return find_experiment("pipeline", ROOT / "experiments")


@pytest.fixture(scope="module")
def tiny_run(pipeline, tmp_path_factory):
    """One ``--tiny`` run, with every encoder output recorded (what the SNN should receive)."""
    from experiments import _pipeline as P

    recorded = []
    encode = P.encode

    def recording(encoder, signals):
        raster = encode(encoder, signals)
        recorded.append(raster.copy())
        return raster

    mp = pytest.MonkeyPatch()
    mp.setattr(P, "encode", recording)
    try:
        cfg = load_config(pipeline.Config, base={**pipeline.TINY, "results_root": str(tmp_path_factory.mktemp("p"))})
        run_dir = pipeline.main(cfg)
    finally:
        mp.undo()
    return cfg, run_dir, recorded


def test_tiny_run_is_complete_with_every_stage_and_figure(tiny_run):
    cfg, run_dir, _ = tiny_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    for stage in STAGES:
        assert stage in metrics, stage
    assert set(metrics["wall_time_s"]) >= {"1 twin", "2 encoder", "3 snn", "4 deployment", "5 regulator", "6 cost",
                                           "total"}
    assert metrics["provenance"]["versions"]["lava-nc"] != "not installed"
    assert json.loads((run_dir / "config.json").read_text())["k_shot"] == cfg.k_shot
    for png in ("raster.png", "accuracy.png", "energy.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png
    quant = json.loads((run_dir / "quantization.json").read_text())
    assert quant["inference"] and quant["learning"]
    assert json.loads((run_dir / "placement.json").read_text())
    assert "device_on_lava" in metrics["stand_in"] and "twin_calibration" in metrics["stand_in"]


def test_tiny_run_float_and_fixed_figures_are_consistent(tiny_run):
    _, run_dir, _ = tiny_run
    m = json.loads((run_dir / "metrics.json").read_text())
    d, e = m["deployment"], m["energy"]
    for key in ("device", "learned"):
        c = d[key]
        flt, fixed = c["accuracy_float_numpy"], c["accuracy_fixed_lava"]
        assert e["float_vs_fixed_accuracy"][key] == {"float": flt, "fixed": fixed}
        assert c["float_minus_fixed_points"] == pytest.approx(100 * (flt - fixed))
        assert c["target_within_2_points"] == (abs(c["float_minus_fixed_points"]) <= 2 + 1e-9)
    # the float readout in Brian2 spikes as the numpy reference, so its accuracies are the same
    assert d["float_brian2_equals_numpy"] is True
    for key in ("device", "learned"):
        assert d[key]["accuracy_float_brian2"] == d[key]["accuracy_float_numpy"]
    # the memristive network's float accuracy is stage 3's (same weights, same queries, same reference)
    assert d["device"]["accuracy_float_numpy"] == m["snn"]["accuracy_memristive"]
    per_inf = e["deployed_inference_loihi2"]["per_inference"]
    assert e["per_inference_J"] == per_inf and per_inf > 0
    assert e["ratio_mcu_over_snn"] == pytest.approx(31.8e-6 / per_inf)
    assert e["deployed_inference_loihi2"]["n_inferences"] == m["twin"]["split"]["query"].__len__()


def test_tiny_run_feeds_the_encoder_output_to_the_snn(tiny_run):
    """The spikes the Lava run and the regulated stream received are the delta encoder's output as it is."""
    from experiments._pipeline import stream_raster

    cfg, run_dir, recorded = tiny_run
    m = json.loads((run_dir / "metrics.json").read_text())
    all_samples, stream = recorded[0], recorded[-1]
    query = np.asarray(m["twin"]["split"]["query"])
    for name, rasters in (("lava_query.npz", all_samples[query]), ("stream.npz", stream)):
        result = SimulationResult.load(run_dir / name)
        expected, _ = stream_raster(rasters, cfg.gap_steps)
        steps, idx = np.nonzero(expected)
        got = result.spikes["input"]
        order = np.lexsort((idx, steps))
        np.testing.assert_array_equal(got.steps, steps[order], err_msg=name)
        np.testing.assert_array_equal(got.indices, idx[order], err_msg=name)
    assert stream.shape[0] == cfg.stream_before + cfg.stream_after


def test_decide_windows_counts_then_first_spike_then_lowest_index():
    from experiments._pipeline import decide_windows

    # window 0: neuron 1 twice, neuron 0 once -> 1; window 1: one spike each, neuron 2 first -> 2;
    # window 2: silent -> -1; spikes outside the windows (step 8, 9) are ignored
    spikes = Spikes.sorted(np.array([0, 1, 1, 0, 2, 0, 0]), np.array([1, 2, 3, 8, 11, 12, 9]))
    pred = decide_windows(spikes, np.array([0, 10, 20]), 5, 3)
    np.testing.assert_array_equal(pred, [1, 2, -1])


def test_stream_network_labels_every_step_of_labelled_samples():
    from experiments._pipeline import stream_network
    from neurochip.plasticity import supervised_hebbian
    from neurochip.plasticity.wta import OutputParams

    rasters = np.zeros((3, 4, 2), bool)
    rasters[:, 0, 0] = True
    out = OutputParams(0.5, 0.2, 1.0, 1.0, 0.0, 1)
    net, starts = stream_network(np.zeros((2, 2)), out, rasters, gap=2, labels=[1, 0, 1], labelled=[True, False, True],
                                 rule=supervised_hebbian(), gated=True)
    np.testing.assert_array_equal(starts, [0, 6, 12])
    label = next(s for s in net.sources if s.name == "label")
    np.testing.assert_array_equal(label.steps, [0, 1, 2, 3, 4, 12, 13, 14, 15, 16])   # raster + extra step
    assert set(label.indices.tolist()) == {1}
    plastic = net["plastic"]
    assert plastic.gated and plastic.plasticity.third_factor == "label"
    np.testing.assert_array_equal(net["input"].steps, [0, 6, 12])


def test_shipped_rule_file_has_provenance_of_a_real_run(pipeline):
    d = json.loads(pipeline.RULE_FILE.read_text())
    assert d["format"] == pipeline.RULE_FORMAT
    prov = d["provenance"]
    assert prov["git_commit"] and prov["command"].startswith("neurochip run pipeline --set metalearn=true")
    assert prov["task_distribution"]["sampler"]["type"] == "DeltaTwinTasks"
    from neurochip.plasticity import LearningRule

    assert LearningRule.from_dict(d["rule"]).lava_rule_string() == d["lava_dw"]


def test_bad_task_split_is_refused_with_the_fix(pipeline, tmp_path):
    cfg = load_config(pipeline.Config, base={**pipeline.TINY, "results_root": str(tmp_path), "n_way": 4})
    with pytest.raises(ValueError, match=r"n_way \(4\) should be <= n_train_analytes \(5\) and <= n_analytes"):
        pipeline.main(cfg)


def test_readouts_side_by_side_spike_as_each_alone():
    """Two readouts in one population (block-diagonal inhibition) give each one's spikes run alone."""
    from experiments._pipeline import readouts_network, split_readout, stream_network
    from neurochip.plasticity.wta import OutputParams
    from neurochip.reference import simulate

    rng = np.random.default_rng(3)
    rasters = rng.random((4, 30, 6)) < 0.2
    out = OutputParams(0.5, 0.2, 1.0, 1.0, 0.0, 4)
    Ws = [rng.uniform(0, 0.8, (3, 6)), rng.uniform(0, 0.8, (3, 6))]
    both, starts = readouts_network({"a": Ws[0], "b": Ws[1]}, out, rasters, gap=10)
    steps = len(starts) * 40
    res = simulate(both, steps)
    for i, W in enumerate(Ws):
        alone = simulate(stream_network(W, out, rasters, gap=10)[0], steps).spikes["out"]
        got = split_readout(res, i, 3).spikes["out"]
        assert alone.steps.size > 0
        np.testing.assert_array_equal(got.steps, alone.steps)
        np.testing.assert_array_equal(got.indices, alone.indices)
