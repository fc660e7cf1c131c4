"""Fixed-point learning: Lava against the integer twin, float against fixed accuracy, twin speed, meta-learning.

Parts (all by default except ``--metalearn``):

* ``agreement``: learned integer weights of Lava's fixed-point learning models
  (``mapping.compile(net, "loihi2-sim-fixed")``) against the numpy twin
  (:mod:`neurochip.plasticity.fixed`) on a pair-STDP network, a label-gated
  network, and one held-out task of the few-shot experiment learned shot by shot
  (one Lava run per shot, as the classifier's ``"lava-fixed"`` backend does);
* ``accuracy``: the experiment's held-out tasks (``experiments/fewshot_metalearn.py``
  defaults: 3-way shifted twin tasks, k = 5, 60 tasks) learned and scored in float
  and in fixed point, for hand-written rules, with paired differences and 95 %
  bootstrap CIs;
* ``speed``: candidate evaluations per second of the fixed twin (batched over
  candidates) against one Lava fixed-point run per shot of one candidate;
* ``--metalearn``: the experiment's soft-bound STDP hand-tuning, then CMA-ES twice
  from it with the experiment's settings, once evaluating candidates in float and
  once in fixed point (``InnerLoop(precision="fixed")``, integer time constants);
  both rules are then evaluated on the held-out tasks in float and in fixed point,
  with paired differences, at the rules' weight bounds ``[-1, 1]`` (learned weight
  LSB ``2**-8``) and at ``[-0.25, 0.25]`` (LSB ``2**-10``; the bounds do not bind in
  float).

Writes ``benchmarks/out/bench_fixed_learning.json`` (``--metalearn``:
``bench_fixed_learning_metalearn[_seedN].json``; ``--reevaluate`` redoes only its held-out
evaluation). Run:
``python benchmarks/bench_fixed_learning.py [--tasks 60] [--metalearn [--seed N] [--reevaluate]]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import _timing

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages (experiments among them) before an installed copy

from brian2 import Hz, ms  # noqa: E402

import mapping  # noqa: E402
from experiments._common import EVAL_STREAM, TUNE_STREAM, few_shot_tasks  # noqa: E402
from experiments.fewshot_metalearn import (Config, bootstrap_ci, experiment_seeds, hand_tune,  # noqa: E402
                                           inner_loop, stdp_grid)
from mapping import quantization_learning as QL  # noqa: E402
from neurochip import Network, Population, Projection, SpikeSource  # noqa: E402
from neurochip.encoding import LatencyPopulationEncoder  # noqa: E402
from neurochip.io import read_json, write_json  # noqa: E402
from neurochip.plasticity import (LearningRule, MetaLearner, MetaSpace, evaluate_rules, pair_stdp,  # noqa: E402
                                  supervised_hebbian)
from neurochip.plasticity import fixed as F  # noqa: E402
from neurochip.plasticity import fixed_wta as FW  # noqa: E402
from neurochip.plasticity.wta import OutputParams, sample_steps, wta_network  # noqa: E402
from neurochip.runners import get_runner  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def _compare(w_lava, w_twin) -> dict:
    w_lava, w_twin = np.asarray(w_lava), np.asarray(w_twin)
    return {"synapses": int(w_lava.size), "equal": int(np.sum(w_lava == w_twin)),
            "max_abs_diff_units": int(np.abs(w_lava - w_twin).max()), "bit_exact": bool(np.array_equal(w_lava, w_twin))}


def network_agreement() -> dict:
    """Two small plastic networks: Lava fixed point vs the twin (one run each)."""
    rng = np.random.default_rng(3)
    stdp = pair_stdp(a_plus=2 ** -4, a_minus=2 ** -5, tau_plus=8 * ms, tau_minus=6 * ms, w_min=0.0, w_max=1.0)
    label = LearningRule(coefficients={"u0*x1*y3": 2 ** -4, "u0*x1*y3*w": -2 ** -3, "y0*x1": 2 ** -5,
                                       "x0*y1*w": -2 ** -4, "y0*x1*y3": -2 ** -5}, x1_tau=6.0, y1_tau=4.0,
                         y3_impulse=1.0, y3_tau=3.0, w_min=-1.0, w_max=1.0, third_factor="label", name="label")
    nets = {
        "pair STDP (Loihi2F)": (Network(
            sources=[SpikeSource.poisson("pre", 12, rate=80 * Hz, steps=300, random_state=1),
                     SpikeSource.poisson("drive", 4, rate=60 * Hz, steps=300, random_state=2)],
            populations=[Population("post", 4, du=0.5, dv=0.2, vth=1.0)],
            projections=[Projection("plastic", "pre", "post", rng.uniform(0.1, 0.4, (4, 12)), plasticity=stdp),
                         Projection("drive_in", "drive", "post", 1.5 * np.eye(4))]), 300),
        "label-gated (Loihi3F)": (Network(
            sources=[SpikeSource.poisson("pre", 10, rate=120 * Hz, steps=300, random_state=1),
                     SpikeSource.poisson("label", 3, rate=100 * Hz, steps=300, random_state=2),
                     SpikeSource.poisson("drive", 3, rate=80 * Hz, steps=300, random_state=3)],
            populations=[Population("out", 3, du=0.5, dv=0.2, vth=1.0)],
            projections=[Projection("plastic", "pre", "out", rng.uniform(0.05, 0.3, (3, 10)), plasticity=label),
                         Projection("drive_in", "drive", "out", 1.5 * np.eye(3))]), 300),
    }
    out = {}
    for name, (net, steps) in nets.items():
        dep = mapping.compile(net, "loihi2-sim-fixed")
        res = mapping.run(dep, steps)
        twin = F.simulate(QL.twin(dep), steps)
        w0 = dep.quantized.projections["plastic"].weight_mant
        w = np.array(res.info["weight_mant"]["plastic"])
        out[name] = {**_compare(w, twin["weights"]["plastic"]), "steps": steps,
                     "max_change_units": int(np.abs(w - w0).max()), "dw": dep.learning["plastic"].fixed.lava_rule_string()}
    return out


def _task_setup(inner, seed: int, k: int):
    """Encoder, initial weights, shot order and labels exactly as ``evaluate_rules`` draws them."""
    task, = few_shot_tasks(inner, [seed], split="test", k_shot=k)
    enc = LatencyPopulationEncoder(n_centers=inner.n_centers, steps=inner.steps, feature_range=inner.feature_range,
                                   bias_spikes=inner.bias_spikes).fit(task.X_support)
    rng = np.random.default_rng(seed)
    classes = np.unique(task.y_support)
    W0 = rng.uniform(0, inner.w_init, (classes.size, enc.n_outputs_))
    order = rng.permutation(task.y_support.size)
    return enc.transform(task.X_support)[order], W0, np.searchsorted(classes, task.y_support)[order]


def _out(inner) -> OutputParams:
    return OutputParams(inner.du, inner.dv, inner.vth, inner.w_inh, inner.teacher, inner.extra_steps)


def fewshot_agreement(inner, seed: int, rule) -> dict:
    """One held-out task learned shot by shot on Lava fixed point against the twin; also the time per shot."""
    rasters, W0, labels = _task_setup(inner, seed, inner.k_shot)
    out = _out(inner)
    wta = FW.quantize_wta(W0.shape[0], W0.shape[1], out, w_min=rule.w_min, w_max=rule.w_max)
    plan, = FW.plan_rules([rule], wta, FW.rule_events(rasters, out))
    W_twin, _, _, _ = FW.simulate_outputs_fixed(FW.initial_weights(W0, wta), rasters, out, wta, rule=plan.fixed,
                                                labels=labels)
    run, W = get_runner("lava-fixed"), W0
    start = time.perf_counter()
    for raster, label in zip(rasters, labels):
        res = run(wta_network(W, out, raster=raster, label=int(label), rule=rule), sample_steps(raster, out))
        W = np.array(res.info["weights"]["plastic"])
    seconds = time.perf_counter() - start
    return {**_compare(res.info["weight_mant"]["plastic"], W_twin), "shots": int(len(labels)),
            "lava_seconds": seconds, "lava_seconds_per_shot": seconds / len(labels), "rule": rule.lava_rule_string()}


def accuracy(inner, seeds, rules: dict, cfg: Config, rng) -> dict:
    """Held-out accuracy of each rule learned and scored in float and in fixed point, paired fixed - float."""
    names = list(rules)
    acc = {p: evaluate_rules([rules[n] for n in names], seeds, dataclasses.replace(inner, precision=p),
                             split="test", k_shot=inner.k_shot)[0] for p in ("float", "fixed")}
    out = {}
    for n, name in enumerate(names):
        row = {}
        for p in ("float", "fixed"):
            m, lo, hi = bootstrap_ci(acc[p][n], cfg.bootstrap, rng)
            row[p] = {"accuracy": 100 * float(m), "ci95": [100 * float(lo), 100 * float(hi)]}
        d, lo, hi = bootstrap_ci(acc["fixed"][n] - acc["float"][n], cfg.bootstrap, rng)
        row["fixed_minus_float_points"] = {"mean": 100 * float(d), "ci95": [100 * float(lo), 100 * float(hi)]}
        out[name] = row
    return out


def speed(inner, seeds, rule_seconds_per_shot: float, shots: int, candidates: int = 12, repeats: int = 3) -> dict:
    """Candidate evaluations per second: fixed twin batched and float twin, against Lava (one run per shot)."""
    space = MetaSpace(dead_zone=1.0, integer_taus=True)
    rng = np.random.default_rng(0)
    rules = [space.to_rule(rng.normal(0, 1.2, space.dim)) for _ in range(candidates)]
    out = {"candidates": candidates, "tasks": int(len(seeds))}
    for p in ("float", "fixed"):
        i2 = dataclasses.replace(inner, precision=p)
        _, median, times = _timing.timed(lambda: evaluate_rules(rules, seeds, i2), repeats, warmup=True)
        out[f"{p}_twin_evaluations_per_second"] = candidates * len(seeds) / median
        out[f"{p}_twin_seconds"] = times
    lava_eval = rule_seconds_per_shot * shots   # learning one task: one Lava run per shot (prediction not counted)
    out["lava_fixed_seconds_per_evaluation"] = lava_eval
    out["lava_fixed_evaluations_per_second"] = 1.0 / lava_eval
    out["fixed_twin_vs_lava"] = out["fixed_twin_evaluations_per_second"] / out["lava_fixed_evaluations_per_second"]
    return out


def with_bounds(rule: LearningRule, bound: float) -> LearningRule:
    """``rule`` with weight bounds ``[-bound, bound]`` (on fixed point: the learned weight's LSB ``bound / 256``)."""
    return LearningRule.from_dict({**rule.to_dict(), "w_min": -bound, "w_max": bound})


def held_out(cfg: Config, rules: dict, tasks: int, rng) -> dict:
    """Held-out accuracy of ``{"float": rule, "fixed": rule, ...}`` learned and scored in float and in fixed point.

    Returns the table (per rule and precision, % with 95 % CI) and the paired
    differences: fixed-learned vs float-learned (both in fixed point), the float-learned
    rule in fixed point vs in float, and each at the chip against the float-learned in float.
    """
    inner = inner_loop(cfg)
    seeds = experiment_seeds(cfg, EVAL_STREAM, tasks)
    names = list(rules)
    acc = {p: evaluate_rules([rules[n] for n in names], seeds, dataclasses.replace(inner, precision=p),
                             split="test", k_shot=cfg.meta_k_shot)[0] for p in ("float", "fixed")}
    table = {}
    for n, name in enumerate(names):
        table[name] = {}
        for p in ("float", "fixed"):
            m, lo, hi = bootstrap_ci(acc[p][n], cfg.bootstrap, rng)
            table[name][p] = {"accuracy": 100 * float(m), "ci95": [100 * float(lo), 100 * float(hi)]}
    f, x = names.index("float"), names.index("fixed")
    pairs = {"fixed-learned minus float-learned, both in fixed point": (acc["fixed"][x], acc["fixed"][f]),
             "float-learned: fixed point minus float": (acc["fixed"][f], acc["float"][f]),
             "fixed-learned in fixed point minus float-learned in float": (acc["fixed"][x], acc["float"][f])}
    paired = {}
    for text, (a, b) in pairs.items():
        d, lo, hi = bootstrap_ci(a - b, cfg.bootstrap, rng)
        paired[text] = {"mean_points": 100 * float(d), "ci95_points": [100 * float(lo), 100 * float(hi)]}
    return {"table": table, "paired": paired}


def evaluations(cfg: Config, res: dict, tasks: int, rng) -> dict:
    """The held-out comparison of a meta-learning result, at the rules' bounds and at bounds +-0.25."""
    rules = {p: LearningRule.from_dict(res["meta"][p]["rule"]) for p in ("float", "fixed")}
    rules["hand-tuned soft-bound STDP"] = LearningRule.from_dict(res["hand_tuned_soft_stdp"]["rule"])
    out = {"rule bounds": held_out(cfg, rules, tasks, rng)}
    narrow = {p: with_bounds(rules[p], 0.25) for p in ("float", "fixed")}
    out["bounds +-0.25"] = held_out(cfg, narrow, tasks, rng)
    return out


def metalearn(cfg: Config, generations: int, tasks: int, rng) -> dict:
    """Meta-learn in float and in fixed point from the hand-tuned soft-bound STDP; held-out in both precisions.

    The fixed-point search evaluates candidates with ``InnerLoop(precision="fixed")``
    and integer time constants (``MetaSpace(integer_taus=True)``); everything else is
    the experiment's default.
    """
    inner = inner_loop(cfg)
    start = time.perf_counter()
    grid = [r for ws in cfg.stdp_w_soft for r in stdp_grid(cfg, float(ws))]
    soft, soft_acc, _ = hand_tune({"soft": grid}, experiment_seeds(cfg, TUNE_STREAM, cfg.stdp_tune_tasks), inner,
                                  cfg.meta_k_shot)["soft"]
    res = {"config": dataclasses.asdict(cfg), "generations": generations, "held_out_tasks": tasks,
           "hand_tuned_soft_stdp": {"rule": soft.to_dict(), "train_accuracy": soft_acc,
                                    "seconds": time.perf_counter() - start}, "meta": {}}
    for p in ("float", "fixed"):
        space = MetaSpace(terms=tuple(cfg.meta_terms), dead_zone=cfg.meta_dead_zone, scale=cfg.meta_scale,
                          integer_taus=p == "fixed")
        t0 = time.perf_counter()
        ml = MetaLearner(space=space, inner=dataclasses.replace(inner, precision=p), generations=generations,
                         popsize=cfg.popsize, sigma0=cfg.sigma0, x0=soft, tasks_per_eval=cfg.tasks_per_eval,
                         validation_tasks=cfg.validation_tasks, synops_cost=cfg.synops_cost,
                         candidates_per_job=cfg.candidates_per_job, address="serial", random_state=cfg.seed,
                         progress=False).fit()
        res["meta"][p] = {"seconds": time.perf_counter() - t0, "validation_accuracy": ml.validation_accuracy_,
                          "rule": ml.rule_.to_dict(), "lava_dw": ml.rule_.lava_rule_string(),
                          "best_so_far": [h["best_so_far"] for h in ml.history_]}
        print(f"[metalearn] {p}: {ml.rule_.describe()} (validation {ml.validation_accuracy_:.3f}, "
              f"{res['meta'][p]['seconds']:.0f} s)", flush=True)
    res["evaluation"] = evaluations(cfg, res, tasks, rng)
    return res


def _print_metalearn(res: dict) -> None:
    for bounds, ev in res["evaluation"].items():
        print(f"-- {bounds}")
        for name, row in ev["table"].items():
            print(f"{name:28s} float {row['float']['accuracy']:5.1f}  fixed {row['fixed']['accuracy']:5.1f}")
        for name, row in ev["paired"].items():
            print(f"{name}: {row['mean_points']:+.1f} [{row['ci95_points'][0]:+.1f}, {row['ci95_points'][1]:+.1f}]")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60, help="held-out tasks for the accuracy parts")
    parser.add_argument("--speed-tasks", type=int, default=4)
    parser.add_argument("--metalearn", action="store_true", help="meta-learn in float and fixed point (minutes)")
    parser.add_argument("--generations", type=int, default=None, help="--metalearn: default the experiment's")
    parser.add_argument("--seed", type=int, default=0, help="the experiment's seed (tasks, CMA-ES)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="--metalearn: re-run the held-out evaluation of a saved result (no meta-learning)")
    args = parser.parse_args(argv)
    cfg = Config(seed=args.seed)
    rng = np.random.default_rng(cfg.seed)
    warnings.simplefilter("ignore", QL.DeployedRuleWarning)
    if args.metalearn:
        path = OUT / f"bench_fixed_learning_metalearn{f'_seed{args.seed}' if args.seed else ''}.json"
        if args.reevaluate:
            res = {k: v for k, v in read_json(path).items() if k not in ("table", "paired", "arms")}
            res["evaluation"] = evaluations(cfg, res, args.tasks, rng)
        else:
            res = metalearn(cfg, args.generations or cfg.generations, args.tasks, rng)
        _print_metalearn(res)
        write_json(path, res)
        return res
    inner = inner_loop(cfg)
    seeds = experiment_seeds(cfg, EVAL_STREAM, args.tasks)
    soft_hebb = supervised_hebbian(eta=2 ** -7, decay=0.0, w_soft=0.25)
    res = {"networks": network_agreement()}
    res["fewshot_task"] = fewshot_agreement(inner, int(seeds[0]), soft_hebb)
    rules = {"soft-bounded label-gated accumulation": soft_hebb,
             "supervised Hebbian (defaults, quantized)": supervised_hebbian().quantized(),
             "soft-bound pair STDP": pair_stdp(a_plus=0.02, a_minus=0.02, tau_plus=8.0, tau_minus=8.0, w_soft=0.125,
                                               w_min=0.0, w_max=1.0).quantized(),
             "no plasticity": None}
    res["accuracy"] = {"tasks": args.tasks, "k_shot": inner.k_shot, "rules": accuracy(inner, seeds, rules, cfg, rng)}
    res["speed"] = speed(inner, seeds[:args.speed_tasks], res["fewshot_task"]["lava_seconds_per_shot"],
                         res["fewshot_task"]["shots"])
    for name, r in [*res["networks"].items(), ("few-shot task, shot by shot", res["fewshot_task"])]:
        print(f"{name:30s} {r['equal']}/{r['synapses']} equal, max diff {r['max_abs_diff_units']} units")
    for name, r in res["accuracy"]["rules"].items():
        d = r["fixed_minus_float_points"]
        print(f"{name:42s} float {r['float']['accuracy']:5.1f}  fixed {r['fixed']['accuracy']:5.1f}  "
              f"fixed - float {d['mean']:+.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]")
    s = res["speed"]
    print(f"evaluations/s: float twin {s['float_twin_evaluations_per_second']:.1f}, fixed twin "
          f"{s['fixed_twin_evaluations_per_second']:.1f}, Lava fixed {s['lava_fixed_evaluations_per_second']:.3f} "
          f"(fixed twin / Lava {s['fixed_twin_vs_lava']:.0f}x)")
    write_json(OUT / "bench_fixed_learning.json", res)
    return res


if __name__ == "__main__":
    main()
