"""The mission end to end: twin -> delta encoders -> memristive few-shot SNN -> Lava fixed point -> regulator -> joules.

1. Twin: a cross-sensitive nanosensor array (``sensors`` digital twin: diffusion,
   Langmuir binding, Johnson and 1/f noise, drift, device gain spread, faults)
   records transients of a *new* task: ``n_way`` analytes never used in meta-training.
2. ADC-free encoding: a delta (send-on-delta, UP/DOWN) encoder whose threshold is
   co-designed from the noise floor (``sensors.codesign``); its spike trains are the
   SNN's input as they are (no features). Spikes/s per sensor, reconstruction error.
3. Memristive SNN: one LIF neuron per class, plastic synapses on differential pairs
   of a device preset with device-to-device spread; the label-gated rule (Loihi
   learning-engine form, label = third factor) is the one meta-learned on delta-encoded
   twin tasks through that device (shipped ``experiments/data/pipeline_rule.json``, or
   ``--set metalearn=true`` for a fresh CMA-ES run); ``k_shot`` shots per class.
4. Deployment: ``mapping.compile(..., "loihi2-sim-fixed")`` (placement, quantization);
   the shots learned on chip (fixed-point ``LearningDense``, all shots in one Lava run), the
   queries classified on the Lava simulator, side by side with the float numpy run.
   A memristive projection cannot run on Lava (no device model in ``LearningDense``):
   on Lava the chip learns in plain integers, the device run stays in numpy.
5. Regulator: a stream of labelled samples with a sensor drift injected mid-stream,
   run on the numpy float reference with an attached ``MetaRegulator`` (policy
   ``recalibrate``) and a *gated* plastic projection: learning happens only while it
   flags the output density; accuracy before, after the drift and after adaptation.
6. Cost: energy per prediction per population and operation kind (Loihi 2 profile plus
   an illustrative RRAM crossbar), latency, beside the MCU baseline (MLPerf Tiny v1.2
   anomaly detection on an STM32U385, 31.8 uJ per inference).

Writes ``results/pipeline/<timestamp>/``: ``raster.png`` (first), ``accuracy.png``,
``energy.png``, ``quantization.json``, ``placement.json``, ``metrics.json``, ``config.json``.

Run: ``neurochip run pipeline [--tiny] [--set metalearn=true]``.
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from brian2 import Hz, ms  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from neurochip.io import read_json, write_json  # noqa: E402

#: The shipped rule of the pipeline (meta-learned on delta-encoded twin tasks through the device).
RULE_FILE = Path(__file__).resolve().parent / "data" / "pipeline_rule.json"
RULE_FORMAT = "neurochip.pipeline_rule"
#: MLPerf Tiny v1.2 anomaly detection, STM32U385 (the issue's MCU baseline), joules per inference.
MCU_BASELINE_J = 31.8e-6


@dataclass
class Config:
    """Twin -> delta encoders -> memristive few-shot SNN -> Lava fixed point -> regulator -> energy."""

    name: str = param("pipeline", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of the task, devices, streams and CMA-ES", min=0)
    # 1. twin
    n_sensors: int = param(8, "sensors of the array", min=1)
    n_analytes: int = param(8, "analyte library; the first n_train_analytes are for meta-training", min=2)
    n_train_analytes: int = param(5, "analytes of meta-training tasks", min=1)
    n_way: int = param(3, "classes of the new task", min=2)
    duration_ms: float = param(400.0, "length of one recording (ms)", gt=0)
    dt_ms: float = param(2.0, "sampling step = network step (ms)", gt=0)
    # 2. encoder
    max_false_rate_hz: float = param(2.0, "co-design: largest spike rate per sensor on noise alone (Hz)", min=0)
    # 3. SNN
    k_shot: int = param(5, "shots per class of the new task", min=1)
    n_query: int = param(20, "query samples per class", min=1)
    vth: float = param(1.0, "threshold of the output neurons", gt=0)
    device: str = param("ag_a_si", "device preset of the plastic synapses", choices=("ag_a_si", "ideal", "pcm"))
    d2d_sigma: float = param(0.1, "device-to-device spread (lognormal sigma of g_min, g_max)", min=0)
    metalearn: bool = param(False, "meta-learn the rule now (CMA-ES) instead of loading the shipped rule file")
    install_rule: bool = param(False, "write the meta-learned rule into experiments/data/pipeline_rule.json")
    generations: int = param(8, "CMA-ES generations (metalearn=true)", min=1)
    popsize: int = param(6, "CMA-ES population", min=2)
    tasks_per_eval: int = param(4, "twin tasks per candidate per generation", min=1)
    validation_tasks: int = param(12, "twin tasks that choose the final rule (meta-learned or its start)", min=1)
    eval_tasks: int = param(12, "held-out twin tasks scoring the rule against its start and no plasticity", min=1)
    # 4. deployment
    gap_steps: int = param(40, "silent steps after each sample of a stream (the state decays)", min=1)
    x1_trace_scale: float = param(64.0, "on-chip learning: integer units of the pre trace x1 per impulse (0: the "
                                        "mapping's choice, the largest power of two at which the shots' x1 never "
                                        "saturates); 64 resolves the weights the writer copies from x1 (x1 saturates "
                                        "at 1.98 impulses, about 2 w_max)", min=0, max=127)
    # 5. regulator
    stream_before: int = param(32, "stream samples before the drift (the regulator's calibration)", min=2)
    stream_after: int = param(40, "stream samples after the drift", min=2)
    drift_gain_sigma: float = param(0.6, "drift: log sd of a per-sensor gain applied from mid-stream", min=0)
    drift_scale: float = param(2.0, "drift: common gain of every sensor from mid-stream", gt=0)
    window_samples: int = param(4, "regulator window, in sample periods (sample + gap)", min=1)
    band_k: float = param(3.0, "half-width of the regulator's normal band (calibration sds)", gt=0)
    persist: int = param(1, "out-of-band windows that raise an alarm (and in-band ones that clear it)", min=1)
    recovery_margin: float = param(0.2, "safe mode when the last 10 samples' accuracy stays this far below the "
                                        "accuracy before the drift", min=0, max=1)


#: Seconds-long run for CI and ``--tiny``.
TINY = {"n_sensors": 4, "k_shot": 2, "n_query": 4, "duration_ms": 200.0, "stream_before": 8, "stream_after": 8,
        "window_samples": 2,
"generations": 1, "popsize": 2, "tasks_per_eval": 1, "validation_tasks": 1,
        "eval_tasks": 1}


class Stopwatch:
    """Wall time per stage (``seconds``), printed as each stage ends."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str, note: str = "") -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._t
        self._t = now
        print(f"[pipeline] {stage}: {self.seconds[stage]:.1f} s{'  ' + note if note else ''}", flush=True)


def tasks(cfg: Config):
    from experiments._pipeline import DeltaTwinTasks

    return DeltaTwinTasks(n_analytes=cfg.n_analytes, n_train_analytes=cfg.n_train_analytes, n_way=cfg.n_way,
                          n_sensors=cfg.n_sensors, duration_ms=cfg.duration_ms, dt_ms=cfg.dt_ms,
                          random_state=cfg.seed)


def inner_loop(cfg: Config, sampler, factor: float):
    from dataclasses import replace

    from experiments._pipeline import DeltaInnerLoop

    return DeltaInnerLoop(sampler=replace(sampler, threshold_factor=float(factor)), k_shot=cfg.k_shot,
                          n_query=10, vth=cfg.vth, device=cfg.device, d2d_sigma=cfg.d2d_sigma)


def start_rule():
    """The hand-written start of the search: the exemplar writer (R18), label-gated."""
    from neurochip.plasticity import supervised_hebbian

    return supervised_hebbian(eta=2 ** -2, decay=2 ** -2, tau=64.0, name="exemplar_writer")


def get_rule(cfg: Config, inner, run_dir: Path) -> tuple:
    """The rule (shipped file or fresh CMA-ES) and what to report about where it came from."""
    from neurochip.plasticity import LearningRule


    if not cfg.metalearn:
        d = read_json(RULE_FILE)
        if not isinstance(d, dict) or d.get("format") != RULE_FORMAT:
            raise ValueError(f"pipeline: {RULE_FILE} is not a {RULE_FORMAT!r} file; regenerate it with "
                             f"'neurochip run pipeline --set metalearn=true --set install_rule=true'")
        return LearningRule.from_dict(d["rule"]), {"source": f"experiments/data/{RULE_FILE.name}",
                                                   "sha256": rule_file_sha256(), "provenance": d["provenance"]}
    from neurochip.plasticity import MetaSpace
    from experiments._common import meta_learn
    from experiments._pipeline import ROW_LOCAL_TERMS

    cfg_ml = _MetaFields(cfg)
    space = MetaSpace(terms=ROW_LOCAL_TERMS, scale="log2", dead_zone=0.5, tau_max=128.0, w_min=-1.0, w_max=1.0)
    ml, seconds = meta_learn(cfg_ml, space=space, inner=inner, x0=start_rule(), checkpoint=run_dir / "checkpoint.npz",
                             run_dir=run_dir)
    meta = ml.rule_
    meta.name = "pipeline_meta_learned"
    candidates = {"meta-learned": meta, "start (exemplar writer)": start_rule()}
    # choose between the meta-learned rule and its start on validation tasks (seeds apart from meta-training)
    val, _ = inner.evaluate_rules(list(candidates.values()), np.random.SeedSequence([cfg.seed, 76]).generate_state(
        cfg.validation_tasks), split="train")
    chosen = list(candidates)[int(np.argmax(val.mean(axis=1)))]
    rule = candidates[chosen]
    held, _ = inner.evaluate_rules([*candidates.values(), None], np.random.SeedSequence([cfg.seed, 77]).generate_state(
        cfg.eval_tasks), split="test")
    prov = read_json(run_dir / "metrics.json")["provenance"]     # as the run started
    info = {"source": "meta-learned in this run", "provenance": {
        "command": (f"neurochip run pipeline --set metalearn=true --set seed={cfg.seed} "
                    f"--set generations={cfg.generations} --set popsize={cfg.popsize} "
                    f"--set tasks_per_eval={cfg.tasks_per_eval} --set validation_tasks={cfg.validation_tasks} "
                    f"--set eval_tasks={cfg.eval_tasks}"),
        "git_commit": prov["git_commit"], "git_dirty": prov["git_dirty"], "date_utc": prov["started_utc"],
        "seed": cfg.seed, "task_distribution": inner.describe(), "meta_seconds": seconds,
        "generations": cfg.generations, "popsize": cfg.popsize, "tasks_per_eval": cfg.tasks_per_eval,
        "start": start_rule().to_dict(), "meta_learned": meta.to_dict(), "chosen": chosen,
        "validation_accuracy": {name: float(val[n].mean()) for n, name in enumerate(candidates)},
        "validation_tasks": int(cfg.validation_tasks),
        "held_out_accuracy": {**{name: float(held[n].mean()) for n, name in enumerate(candidates)},
                              "no plasticity": float(held[-1].mean()), "tasks": int(cfg.eval_tasks)}}}
    content = {"format": RULE_FORMAT, "version": 1, "rule": rule.to_dict(), "lava_dw": rule.lava_rule_string(),
               "describe": rule.describe(), "provenance": info["provenance"]}
    write_json(run_dir / "pipeline_rule.json", content)
    print(f"[pipeline] chosen rule: {chosen}: {rule.lava_rule_string()}")
    if cfg.install_rule:
        RULE_FILE.parent.mkdir(exist_ok=True)
        write_json(RULE_FILE, content)
        print(f"[pipeline] installed {RULE_FILE}")
    return rule, info


class _MetaFields:
    """The fields ``experiments._common.meta_learn`` reads, from the pipeline's config."""

    def __init__(self, cfg: Config):
        self.generations, self.popsize, self.sigma0 = cfg.generations, cfg.popsize, 0.3
        self.tasks_per_eval, self.validation_tasks, self.synops_cost = cfg.tasks_per_eval, cfg.validation_tasks, 0.0
        self.candidates_per_job, self.address, self.workers, self.seed = cfg.popsize, "serial", 1, cfg.seed


def shots_learning(cfg: Config) -> dict:
    """``learning`` options of the shots network's compile: the pre trace's scale (``x1_trace_scale``).

    The exemplar writer moves ``w`` to ``x1`` (clipped at ``w_max = 1``), so the
    weights it writes are ``x1``'s values below about one impulse: a scale of 64
    units per impulse resolves them 4 times finer than the scale of 16 that keeps
    the shots' whole ``x1`` (peaks near 8 impulses) unsaturated; above 127 units
    (1.98 impulses) the chip's ``x1`` saturates, where the weight sits at its
    bound anyway. Chosen on twin tasks of seeds 10-14 (docs/pipeline.md).
    """
    if not cfg.x1_trace_scale:
        return {}
    return {"trace_scales": {"plastic": {"x1": float(cfg.x1_trace_scale)}}}


def accuracy(pred, y) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


@experiment_main
def main(cfg: Config) -> Path:
    from experiments import _pipeline as P
    from neurochip.plasticity.device_wta import learn_through_device
    from neurochip.plasticity.functional import rule_params
    from neurochip.plasticity.wta import sample_steps
    from neurochip.reference import simulate
    from sensors.codesign import codesign
    from sensors.dataset import make_dataset
    from sensors.encoders import DeltaEncoder

    if not cfg.n_way <= min(cfg.n_train_analytes, cfg.n_analytes - cfg.n_train_analytes):
        raise ValueError(f"pipeline: n_way ({cfg.n_way}) should be <= n_train_analytes ({cfg.n_train_analytes}) "
                         f"and <= n_analytes - n_train_analytes ({cfg.n_analytes - cfg.n_train_analytes})")
    start = time.perf_counter()
    run_dir = start_run(cfg)
    clock = Stopwatch()
    metrics: dict = {"stand_in": {}}
    rng = np.random.default_rng(cfg.seed)

    # ---------------------------------------------------------------- 1. twin
    sampler = tasks(cfg)
    names = sampler.analytes()
    new_task = tuple(names[a] for a in np.sort(rng.choice(np.arange(cfg.n_train_analytes, cfg.n_analytes),
                                                          cfg.n_way, replace=False)))
    spec = P.twin_spec(analytes=names, classes=new_task, n_sensors=cfg.n_sensors, array_seed=cfg.seed + 1000,
                       duration_ms=cfg.duration_ms, dt_ms=cfg.dt_ms)
    n_shots, n_q = cfg.k_shot * cfg.n_way, cfg.n_query * cfg.n_way
    data = make_dataset(spec, n_shots + n_q + cfg.stream_before + cfg.stream_after, random_state=rng)
    y_all = np.asarray(data.labels)
    order = np.arange(y_all.size)
    support = rng.permutation(np.concatenate([np.nonzero(y_all == c)[0][:cfg.k_shot] for c in range(cfg.n_way)]))
    rest = np.setdiff1d(order, support)
    query, stream_idx = rest[:n_q], rest[n_q:]
    params = data.meta.get("params", {})
    metrics["twin"] = {
        "task_analytes": list(new_task), "meta_training_analytes": list(names[:cfg.n_train_analytes]),
        "n_sensors": cfg.n_sensors, "samples": int(y_all.size), "steps_per_sample": int(data.signals.shape[-1]),
        "dt_ms": cfg.dt_ms, "randomized": sorted(params) if isinstance(params, dict) else [],
        "twin_noise_floor": float(spec.array.noise_floor(dt=cfg.dt_ms * ms)),
        "split": {"support": support.tolist(), "query": query.tolist(), "stream": stream_idx.tolist()},
        "calibrated_to_recordings": False,
        "calibration_note": ("the transient twin (diffusion, Langmuir kinetics, noise, drift, device spread) is not "
                             "fitted to recordings: issue 18 calibrated the metal-oxide gas twin's steady-state "
                             "features to batch 1, which has no transients of this array")}
    metrics["stand_in"]["twin_calibration"] = metrics["twin"]["calibration_note"]
    clock.lap("1 twin", f"{y_all.size} recordings of {cfg.n_sensors} sensors, task {', '.join(new_task)}")

    # ---------------------------------------------------------------- 2. encoder
    cd = codesign(spec, n_samples=max(4, cfg.n_way * 2), random_state=cfg.seed + 1,
                  max_false_rate=cfg.max_false_rate_hz * Hz)
    factor = float(cd.factors[cd.recommended_index])
    enc = DeltaEncoder(threshold=float(cd.recommended_threshold), noise_floor=float(cd.noise_floor),
                       dt=cfg.dt_ms * ms).fit(data.signals[support])
    R = P.encode(enc, data.signals)
    report = enc.evaluate(data.signals).as_dict()
    check = data.signals[support[:2]]
    brian_equal = bool(np.array_equal(enc.spikes_raster(enc.transform_brian(check, codegen_target="numpy"),
                                                        check.shape[-1]),
                                      enc.spikes_raster(enc.transform(check), check.shape[-1])))
    metrics["encoder"] = {"kind": "delta (send-on-delta, UP/DOWN)", "threshold": float(enc.threshold_),
                          "noise_floor": float(enc.noise_floor_), "factor_of_noise_floor": factor,
                          "criterion": cd.criterion, "spikes_per_second_per_sensor": report["spikes_per_second"] /
                          cfg.n_sensors, "reconstruction_rmse": report["rmse"],
                          "reconstruction_max_abs_error": report["max_abs_error"],
                          "reconstruction_rmse_over_signal_rms": report["rmse"] / float(np.sqrt(np.mean(
                              (data.signals - data.signals[..., :1]) ** 2))),
                          "slew_violations": report["slew_violations"], "brian2_equals_numpy": brian_equal,
                          "codesign": cd.to_dict()}
    clock.lap("2 encoder", f"threshold {factor:.1f} x noise floor, "
                           f"{metrics['encoder']['spikes_per_second_per_sensor']:.0f} spikes/s per sensor")

    # ---------------------------------------------------------------- 3. memristive SNN, the rule
    inner = inner_loop(cfg, sampler, factor)
    rule, rule_info = get_rule(cfg, inner, run_dir)
    out = inner.out()
    n_in = R.shape[-1]
    W0 = rng.uniform(0, inner.w_init, (cfg.n_way, n_in))
    dev = inner.device_model(cfg.seed)
    y_s, y_q = y_all[support], y_all[query]
    W_dev = learn_through_device(W0, R[support], out, dev, rule=rule_params([rule]), labels=y_s,
                                 random_state=cfg.seed)[0]
    lava_rule = rule.quantized()
    q_net_dev, starts = P.stream_network(W_dev, out, R[query], gap=cfg.gap_steps)
    length = sample_steps(R[0], out)                       # a sample's decision window
    period = R.shape[1] + cfg.gap_steps                    # a sample's place in a stream (P.stream_raster)
    q_steps = len(starts) * period
    res_dev = simulate(q_net_dev, q_steps)
    pred_dev = P.decide_windows(res_dev.spikes["out"], starts, length, cfg.n_way)
    q_net_none, _ = P.stream_network(W0, out, R[query], gap=cfg.gap_steps)
    pred_none = P.decide_windows(simulate(q_net_none, q_steps).spikes["out"], starts, length, cfg.n_way)
    metrics["snn"] = {"rule": rule.to_dict(), "lava_dw": rule.lava_rule_string(), "rule_source": rule_info,
                      "device": dev.to_dict() if hasattr(dev, "to_dict") else cfg.device,
                      "n_in": n_in, "n_out": cfg.n_way, "k_shot": cfg.k_shot,
                      "accuracy_memristive": accuracy(pred_dev, y_q),
                      "accuracy_no_plasticity": accuracy(pred_none, y_q)}
    clock.lap("3 snn", f"memristive few-shot accuracy {100 * metrics['snn']['accuracy_memristive']:.1f} % "
                       f"(no plasticity {100 * metrics['snn']['accuracy_no_plasticity']:.1f} %)")

    # ---------------------------------------------------------------- 4. deployment (Lava fixed point)
    import warnings

    import mapping
    from mapping.quantization_learning import DeployedRuleWarning
    from neurochip.plasticity import LearningRule

    shots_net, _ = P.stream_network(W0, out, R[support], gap=cfg.gap_steps, labels=y_s, rule=lava_rule,
                                    name="pipeline_shots")
    shots_steps = len(support) * period
    t4 = {"start": time.perf_counter()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeployedRuleWarning)
        dep_l = mapping.compile(shots_net, "loihi2-sim-fixed", random_state=cfg.seed, learning=shots_learning(cfg))
    t4["compile_learning"] = time.perf_counter()
    W_chip = np.asarray(mapping.run(dep_l, shots_steps).info["weights"]["plastic"], dtype=float)
    t4["lava_learning"] = time.perf_counter()
    # the float run learns with the rule exactly as deployed (Lava's coefficient grid, integer trace taus)
    plan = dep_l.learning["plastic"]
    differences = {k: [float(a), float(b)] for k, (a, b) in plan.differences().items()}
    deployed = LearningRule.from_dict({**plan.deployed.to_dict(), "third_factor": None})
    shots_float, _ = P.stream_network(W0, out, R[support], gap=cfg.gap_steps, labels=y_s, rule=deployed,
                                      name="pipeline_shots")
    W_float = np.asarray(simulate(shots_float, shots_steps).info["weights"]["plastic"], dtype=float)
    t4["float_learning"] = time.perf_counter()
    learn_report = dep_l.report.get("plasticity")
    lsb = float(np.max(np.abs(W_chip - W_float)))
    # the queries through both deployed readouts in one Lava run: the memristive network's weights as the
    # devices hold them (inference only) and the weights the chip learned; the float reference runs the same
    # network with the device weights and the float-learned weights
    q_chip, _ = P.readouts_network({"device": W_dev, "learned": W_chip}, out, R[query], gap=cfg.gap_steps)
    q_ref, _ = P.readouts_network({"device": W_dev, "learned": W_float}, out, R[query], gap=cfg.gap_steps)
    dep_q = mapping.compile(q_chip, "loihi2-sim-fixed", random_state=cfg.seed)
    t4["compile_inference"] = time.perf_counter()
    res_q = mapping.run(dep_q, q_steps)
    t4["lava_inference"] = time.perf_counter()
    res_q.save(run_dir / "lava_query.npz")
    res_ref = simulate(q_ref, q_steps)
    t4["float_inference"] = time.perf_counter()
    # the float run in Brian2 too (numpy code generation: nothing to compile), spike for spike against numpy
    from neurochip.brian_backend import simulate as brian_simulate

    res_brian = brian_simulate(q_ref, q_steps, codegen_target="numpy")
    t4["brian2_inference"] = time.perf_counter()
    brian_same = all(np.array_equal(res_brian.spikes[n].indices, res_ref.spikes[n].indices)
                     and np.array_equal(res_brian.spikes[n].steps, res_ref.spikes[n].steps) for n in res_ref.spikes)
    pred = {(where, key): P.decide_windows(P.split_readout(r, i, cfg.n_way).spikes["out"], starts, length, cfg.n_way)
            for where, r in (("fixed", res_q), ("float", res_ref), ("brian2", res_brian))
            for i, key in enumerate(("device", "learned"))}
    acc = {k: accuracy(v, y_q) for k, v in pred.items()}
    write_json(run_dir / "quantization.json", {"inference": dep_q.report.get("quantization"),
                                               "calibration": dep_q.report.get("calibration"),
                                               "learning": learn_report})
    write_json(run_dir / "placement.json", dep_q.report.get("placement"))
    marks = list(t4.items())
    seconds4 = {k: v - marks[i][1] for i, (k, v) in enumerate(marks[1:])}
    comparisons = {}
    for key, what in (("device", "memristive weights deployed (inference on the chip, learning on the devices)"),
                      ("learned", "few-shot learning on the chip (integers) against learning in float")):
        fixed, flt = acc[("fixed", key)], acc[("float", key)]
        comparisons[key] = {"what": what, "accuracy_fixed_lava": fixed, "accuracy_float_numpy": flt,
                            "accuracy_float_brian2": acc[("brian2", key)],
                            "float_minus_fixed_points": 100 * (flt - fixed),
                            "prediction_agreement": accuracy(pred[("fixed", key)], pred[("float", key)]),
                            "target_within_2_points": bool(abs(flt - fixed) <= 0.02 + 1e-12)}
    metrics["deployment"] = {
        "target": "loihi2-sim-fixed", "shots_learned_on_lava": n_shots, "queries": int(len(query)),
        "float_brian2_equals_numpy": bool(brian_same),
        "learning": "all shots in one Lava run (fixed LearningDense, label source as third factor), beside the "
                    "same network learning in the numpy float reference with the rule as deployed",
        "x1_trace_scale": float(plan.scales.trace[0]), "x1_trace_scale_config": float(cfg.x1_trace_scale),
        "max_weight_deviation_lava_vs_float": lsb, "mean_abs_weight_deviation_lava_vs_float": float(np.mean(
            np.abs(W_chip - W_float))),
        **comparisons,
        "seconds": seconds4, "rule_as_deployed": deployed.to_dict(), "deployed_differences": differences,
        "compile_warnings": [str(w.message) for w in caught],
        "device_on_lava": "not modelled: LearningDense has no device; on Lava the chip learns in plain integers"}
    metrics["stand_in"]["device_on_lava"] = metrics["deployment"]["device_on_lava"]
    clock.lap("4 deployment", "; ".join(f"{key}: Lava fixed {100 * c['accuracy_fixed_lava']:.1f} % vs float "
                                        f"{100 * c['accuracy_float_numpy']:.1f} %" for key, c in comparisons.items()))

    # ---------------------------------------------------------------- 5. regulator on a drifting stream
    from neurochip.regulator import MetaRegulator, RegulatorLog

    n_b = cfg.stream_before
    sig = data.signals[stream_idx].copy()
    gain = cfg.drift_scale * np.exp(cfg.drift_gain_sigma * np.random.default_rng(cfg.seed + 7).standard_normal(
        cfg.n_sensors))
    base = sig[n_b:, :, :1]
    sig[n_b:] = base + gain[None, :, None] * (sig[n_b:] - base)      # sensitivity drift from sample n_b on
    R_stream = P.encode(enc, sig)
    y_stream = y_all[stream_idx]
    static, st_starts = P.stream_network(W_dev, out, R_stream[:n_b], gap=cfg.gap_steps)
    calibration = simulate(static, n_b * period)

    def regulated(policy: str):
        reg = MetaRegulator(window=cfg.window_samples * period, policy=policy, populations=["out"],
                            persist=cfg.persist, k=cfg.band_k).fit(static, calibration)
        net, starts = P.stream_network(W_dev, out, R_stream, gap=cfg.gap_steps, labels=y_stream, rule=deployed,
                                       gated=True)
        return reg, net, starts, simulate(net, len(starts) * period, regulator=reg)

    regulator, net_s, st_starts, res_s = regulated("recalibrate")
    res_s.save(run_dir / "stream.npz")
    right = P.decide_windows(res_s.spikes["out"], st_starts, length, cfg.n_way) == y_stream
    log = RegulatorLog.from_dict(res_s.info["regulator"]["log"])
    gate = [[int(a), int(b)] for a, b in res_s.info["regulator"]["gate_intervals"]]
    drift_step = int(st_starts[n_b])
    flagged = log.first(after_step=drift_step)
    seg = P.stream_segments(right, st_starts, n_b, gate)
    # the same drifted stream without learning (the memristive weights as they are): what the gate's learning changes
    frozen, _ = P.stream_network(W_dev, out, R_stream, gap=cfg.gap_steps)
    right_frozen = P.decide_windows(simulate(frozen, len(st_starts) * period).spikes["out"], st_starts, length,
                                    cfg.n_way) == y_stream
    for name, part in P.stream_segments(right_frozen, st_starts, n_b, gate).items():
        seg[name]["accuracy_without_learning"] = part["accuracy"]
    reg = metrics["regulator"] = {
        "policy": regulator.policy, "backend": "numpy float reference (the attached regulator runs on float targets)",
        "drift_at_sample": n_b, "drift_step": drift_step, "drift_gain": gain.tolist(),
        "window_steps": int(regulator.window),
        "band_out_spikes_per_window": [float(regulator.band_.low[0]), float(regulator.band_.high[0])],
        "input_spikes_per_sample": P.window_counts(res_s.spikes["input"], st_starts, period),
        "output_spikes_per_sample": P.window_counts(res_s.spikes["out"], st_starts, period),
        "first_alarm": flagged.to_dict() if flagged else None,
        "detection_delay_steps": (flagged.step - drift_step) if flagged else None,
        "events": [e.to_dict() for e in log.events], "gate_intervals": gate,
        "max_weight_change": float(np.max(np.abs(np.asarray(res_s.info["weights"]["plastic"]) - W_dev))),
        "segments": seg, "accuracy_before_drift": float(right[:n_b].mean()),
        "last_10_accuracy": float(right[-10:].mean()),
        "last_10_accuracy_without_learning": float(right_frozen[-10:].mean()),
        "recovered": bool(any(e.kind == "recovered" for e in log.events if e.step > drift_step))}
    # safe mode when learning cannot bring the accuracy back: the same stream under the safe_mode policy
    reg["safe_mode_needed"] = bool(flagged is not None and reg["last_10_accuracy"] < reg["accuracy_before_drift"]
                                   - cfg.recovery_margin)
    if reg["safe_mode_needed"]:
        _, _, _, res_safe = regulated("safe_mode")
        held = res_safe.info["regulator"]
        reg["safe_mode"] = {"held_intervals": held["held_intervals"], "held_steps": held.get("held_steps")}
    clock.lap("5 regulator", f"alarm {'at step ' + str(flagged.step) if flagged else 'none'}; accuracy "
                             + ", ".join(f"{k} {v['accuracy']}" for k, v in seg.items()))

    # ---------------------------------------------------------------- 6. cost
    from neurochip.energy import LOIHI2, estimate_energy, plot_energy, report_bars

    profile = LOIHI2.with_crossbar("illustrative_rram")
    from dataclasses import replace

    # the stream ran in float without the device model: its operation counts are priced with the plastic
    # projection on the crossbar's differential pairs (reads per synaptic op, writes per learning update)
    dev_net = replace(net_s, projections=[replace(p, device=dev) if p.name == "plastic" else p
                                          for p in net_s.projections])
    e_stream = estimate_energy(dev_net, res_s, profile, n_inferences=len(st_starts))
    e_chip = estimate_energy(q_net_dev, P.split_readout(res_q, 0, cfg.n_way), LOIHI2, n_inferences=len(starts))
    per_inf = float(e_chip.to_dict()["energy_J"]["per_inference"])
    metrics["energy"] = {
        "how_counted": ("operations of the measured runs (synaptic ops, neuron updates of every step incl. gaps, "
                        "learning updates, spike routing, memristor reads/writes of the plastic pairs) times per-"
                        "event energies (Loihi 1 figures borrowed for Loihi 2; illustrative RRAM crossbar); "
                        "sensor front end and delta comparators not counted (profile encoder_event = 0); the "
                        "regulated stream ran without the device model, its counts priced on the crossbar's pairs"),
        "deployed_inference_loihi2": e_chip.to_dict()["energy_J"],
        "memristive_stream_with_regulator": e_stream.to_dict()["energy_J"],
        "per_inference_J": per_inf, "mcu_baseline_J": MCU_BASELINE_J, "ratio_mcu_over_snn": MCU_BASELINE_J / per_inf,
        "target_100x_met": bool(MCU_BASELINE_J / per_inf >= 100),
        "latency_per_prediction_s": length * cfg.dt_ms * 1e-3,
        "latency_note": "sensor time of one sample window (steps x dt), decision at its end; chip compute per "
                        "step not modelled",
        "float_vs_fixed_accuracy": {key: {"float": c["accuracy_float_numpy"], "fixed": c["accuracy_fixed_lava"]}
                                    for key, c in comparisons.items()}}
    clock.lap("6 cost", f"{per_inf * 1e9:.1f} nJ per inference on Loihi 2 ({MCU_BASELINE_J / per_inf:.0f}x below "
                        f"the MCU)")

    # ---------------------------------------------------------------- figures
    from experiments._pipeline_plots import accuracy_figure, raster_figure

    save_figure(raster_figure(res_s, st_starts, n_b, log, gate, n_in, cfg.n_sensors), run_dir / "raster.png")
    save_figure(accuracy_figure(right, n_b, P.gate_samples(st_starts, gate), without=right_frozen),
                run_dir / "accuracy.png")
    names_e, parts = report_bars(e_chip)
    per = {k: np.asarray(v) / e_chip.n_inferences for k, v in parts.items()}
    save_figure(plot_energy(names_e, per, title=f"deployed inference (Lava fixed point), Loihi 2 profile: energy per "
                                                f"inference, mean of {e_chip.n_inferences}"), run_dir / "energy.png")
    metrics["wall_time_s"] = {**clock.seconds, "total": time.perf_counter() - start}
    write_metrics(run_dir, metrics)
    print(f"[pipeline] wrote {run_dir} in {metrics['wall_time_s']['total']:.1f} s")
    return run_dir


def rule_file_sha256() -> str:
    return hashlib.sha256(RULE_FILE.read_bytes()).hexdigest()


if __name__ == "__main__":
    main(parse_config(Config))
