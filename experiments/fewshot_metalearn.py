"""Meta-learn a plasticity rule, then evaluate it on held-out few-shot tasks.

1. Hand-tune pair STDP, twice: additive (grid over a_plus, a_minus / a_plus,
   tau) and soft-bound (the same grid times ``stdp_w_soft``), on meta-training
   tasks at ``meta_k_shot`` shots; the best point of each grid is a baseline
   (tuned at the 5 shots of the target).
2. Meta-learn the rule with CMA-ES (:class:`neurochip.plasticity.MetaLearner`),
   checkpointing every generation into the run folder (``--set resume_from=...``
   continues a killed run from its checkpoint). Default: meta-trained at the
   evaluated 5 shots, on the same (shifted) task distribution as the held-out
   evaluation, in the sparse rule family (``meta_dead_zone``), from the
   hand-tuned soft-bound STDP (``start_from``).
3. Evaluate on held-out tasks (analytes never seen in meta-training): meta-learned
   rule vs both hand-tuned STDPs vs the hand-written supervised Hebbian rule vs
   no plasticity, for k = 1, 5, 10 shots per class, with 95 % bootstrap
   confidence intervals over tasks and the paired differences meta-learned -
   each STDP.

Writes ``results/fewshot_metalearn/<timestamp>/``: ``config.json``,
``metrics.json`` (results table), ``results.md``, ``raster.png`` (first figure:
the meta-learned classifier on query samples: input spikes, one row per output
neuron, true and predicted class per sample), ``kshot_accuracy.png``,
``learning_curve.png``, ``rule.json`` (the tuned rule, Lava string included),
``checkpoint.npz``.

Run: ``python experiments/fewshot_metalearn.py [--tiny] [--set generations=30]``.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from neurochip.plasticity import (InnerLoop, MetaSpace, PrototypeSpikingClassifier,  # noqa: E402
                                  evaluate_rules, pair_stdp, supervised_hebbian)
from neurochip.plasticity.plots import kshot_accuracy  # noqa: E402
from sensors import SensorTaskSampler, TwinTaskSampler  # noqa: E402
from experiments._common import EVAL_STREAM, TUNE_STREAM, few_shot_tasks, meta_learn, task_seeds  # noqa: E402


@dataclass
class Config:
    """Meta-learning and held-out evaluation of a few-shot plasticity rule."""

    name: str = param("fewshot_metalearn", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of CMA-ES, tasks and bootstrap", min=0)
    # task distribution: the sensors digital twin (twin=True, sensors.TwinTaskSampler) or its fast
    # steady-state stand-in (twin=False, sensors.SensorTaskSampler)
    twin: bool = param(True, "tasks from the sensors digital twin (else its steady-state stand-in)")
    n_analytes: int = param(10, "analytes of the library", min=2)
    n_train_analytes: int = param(6, "analytes of meta-training (the rest are held out)", min=1)
    # Default: the realistic harder regime. Held-out tasks in the twin's shifted (out-of-training)
    # conditions, and meta-training / STDP tuning on the same (shifted) distribution, disjoint analytes.
    shifted_test: bool = param(True, "twin only: held-out tasks in the twin's shifted (out-of-training) conditions")
    shifted_train: bool = param(True, "twin only: meta-training (and STDP tuning) tasks in the shifted conditions")
    n_way: int = param(3, "classes per task", min=2)
    n_query: int = param(10, "query samples per class", min=1)
    noise: float = param(0.06, "steady-state sampler only: read noise (the twin has its own)", min=0)
    drift: float = param(0.1, "steady-state sampler only: baseline drift", min=0)
    # classifier input encoding, the same for every method: the twin's features are normalized to [-1, 1]
    feature_range: list[float] = param([-1.0, 1.0], "[low, high] of the features the encoder covers")
    bias_spikes: int = param(0, "spikes per sample of an always-on bias input (0: none); every method gets it",
                             min=0)
    # meta-learning
    meta_k_shot: int = param(5, "shots per class in meta-training", min=1)
    meta_k_shots: list[int] = param([], "[] trains at meta_k_shot only; e.g. [1, 5, 10]", min=1)
    generations: int = param(40, "CMA-ES generations", min=1)
    # CMA-ES initial mean: "zeros" (no plasticity), "stdp" (the hand-tuned STDP), "soft_stdp" (the
    # hand-tuned soft-bound STDP) or "hebbian" (the hand-written supervised_hebbian())
    start_from: str = param("soft_stdp", "CMA-ES initial mean", choices=("zeros", "stdp", "soft_stdp", "hebbian"))
    sigma0: float = param(0.5, "CMA-ES initial step size (theta units)", gt=0)
    meta_score: str = param("accuracy", "what meta-training maximizes (see InnerLoop)", choices=("accuracy", "soft"))
    meta_terms: list[str] = param([], "rule terms searched ([]: all 18 of TERM_NAMES)")
    meta_dead_zone: float = param(1.0, "MetaSpace.dead_zone: soft threshold of the coefficients (theta units)",
                                  min=0)
    meta_scale: str = param("linear", "MetaSpace.scale: coefficients searched linearly or in octaves",
                            choices=("linear", "log2"))
    popsize: int = param(12, "CMA-ES population", min=2)
    tasks_per_eval: int = param(16, "tasks per candidate per generation", min=1)
    validation_tasks: int = param(32, "tasks that choose the final rule", min=1)
    synops_cost: float = param(1e-5, "fitness cost per synaptic event per query sample", min=0)
    candidates_per_job: int = param(6, "candidates evaluated batched in one job", min=1)
    address: str = param("", '"" local process pool, "serial", or a Dask scheduler address')
    workers: int = param(2, "local worker processes", min=1)
    resume_from: str = param("", "a checkpoint.npz of a killed run with the same config")
    # hand-tuned STDP grid (evaluated on meta-training tasks)
    stdp_a_plus: list[float] = param([0.005, 0.01, 0.02, 0.05, 0.1], "STDP grid: a_plus", gt=0)
    stdp_ratio: list[float] = param([0.25, 0.5, 1.0, 1.5], "STDP grid: a_minus / a_plus", min=0)
    stdp_tau: list[float] = param([2.0, 3.0, 6.0, 12.0, 20.0], "STDP grid: trace time constant (steps)", gt=0)
    # soft-bound (multiplicative) STDP, a second hand-tuned baseline: the grid above times these w_soft
    # ([] skips it). It can use the weight-dependent terms the meta-learned family has.
    stdp_w_soft: list[float] = param([0.125, 0.25, 0.5], "soft-bound STDP grid: w_soft ([] skips it)", gt=0)
    stdp_tune_tasks: int = param(48, "tasks that tune the STDP grids", min=1)
    # held-out evaluation
    ks: list[int] = param([1, 5, 10], "shots per class evaluated on held-out tasks", min=1)
    eval_tasks: int = param(60, "held-out tasks", min=1)
    bootstrap: int = param(2000, "bootstrap resamples of the confidence intervals", min=1)


#: Seconds-long run for CI and ``--tiny``.
TINY = {"generations": 2, "popsize": 4, "tasks_per_eval": 2, "validation_tasks": 2, "n_query": 4,
        "stdp_a_plus": [0.02], "stdp_ratio": [1.0], "stdp_tau": [3.0, 6.0], "stdp_w_soft": [0.25],
        "stdp_tune_tasks": 2,
        "eval_tasks": 3, "bootstrap": 200, "address": "serial", "candidates_per_job": 2}


def bootstrap_ci(values: np.ndarray, n: int, rng: np.random.Generator, level: float = 0.95):
    """Mean and percentile-bootstrap confidence interval of the mean over the last axis."""
    values = np.asarray(values, dtype=float)
    idx = rng.integers(0, values.shape[-1], (n, values.shape[-1]))
    means = values[..., idx].mean(axis=-1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)], axis=-1)
    return values.mean(axis=-1), lo, hi


def _feature_range(value) -> tuple:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"feature_range should be [low, high], got {value!r}") from None
    if not high > low:
        raise ValueError(f"feature_range should be [low, high] with high > low, got {value!r}")
    return (low, high)


def experiment_seeds(cfg: Config, stream: int, n: int) -> np.ndarray:
    """Task seeds of the STDP tuning (``TUNE_STREAM``, meta-training tasks) or held-out (``EVAL_STREAM``) tasks."""
    return task_seeds(cfg.seed, stream, n)


def tuning_tasks(n: int, *, seed: int = 0) -> tuple[Config, InnerLoop, np.ndarray]:
    """``(cfg, inner, task seeds)`` of the experiment's first ``n`` STDP tuning tasks (meta-training split)."""
    cfg = Config(seed=seed)
    return cfg, inner_loop(cfg), experiment_seeds(cfg, TUNE_STREAM, n)


def task_sampler(cfg: Config):
    """The experiment's task distribution: the digital twin, or with ``twin=False`` its steady state."""
    if cfg.twin:
        return TwinTaskSampler(n_analytes=cfg.n_analytes, n_train_analytes=cfg.n_train_analytes, n_way=cfg.n_way,
                               shifted_test=cfg.shifted_test, shifted_train=cfg.shifted_train,
                               random_state=cfg.seed)
    return SensorTaskSampler(n_analytes=cfg.n_analytes, n_train_analytes=cfg.n_train_analytes, n_way=cfg.n_way,
                             noise=cfg.noise, drift=cfg.drift, random_state=cfg.seed)


def inner_loop(cfg: Config) -> InnerLoop:
    """The task distribution, classifier and score of the experiment (shared with the few-shot benchmarks)."""
    return InnerLoop(sampler=task_sampler(cfg), k_shot=cfg.meta_k_shot,
                     k_shots=tuple(int(k) for k in cfg.meta_k_shots), n_query=cfg.n_query,
                     feature_range=_feature_range(cfg.feature_range), score=cfg.meta_score,
                     bias_spikes=cfg.bias_spikes)


def stdp_grid(cfg: Config, w_soft: float | None = None) -> list:
    """Pair STDP on the hand-tuning grid (additive, or soft-bounded at ``w_soft``), quantized."""
    tag = "" if w_soft is None else f"_soft{w_soft}"
    return [pair_stdp(a_plus=a, a_minus=a * r, tau_plus=t, tau_minus=t, w_min=0.0, w_max=1.0, w_soft=w_soft,
                      name=f"stdp_a{a}_r{r}_tau{t}{tag}").quantized()
            for a in cfg.stdp_a_plus for r in cfg.stdp_ratio for t in cfg.stdp_tau]


def hand_tune(grids: dict, seeds, inner: InnerLoop, k: int) -> dict:
    """Best rule of each grid by mean accuracy on meta-training tasks: ``{name: (rule, accuracy, size)}``."""
    rules = [r for grid in grids.values() for r in grid]
    acc, _ = evaluate_rules(rules, seeds, inner, split="train", k_shot=k)
    acc = acc.mean(axis=1)
    out, start = {}, 0
    for name, grid in grids.items():
        best = start + int(np.argmax(acc[start:start + len(grid)]))
        out[name] = (rules[best], float(acc[best]), len(grid))
        start += len(grid)
    return out


def raster_figure(rule, inner: InnerLoop, seed: int, n_samples: int = 6):
    """Input and output spikes of the meta-learned classifier on held-out query samples (numpy reference).

    Two panels sharing the time axis: the encoded input spikes, and the output neurons
    (one per class, each its own row), with each sample's true and predicted class.
    """
    import matplotlib.pyplot as plt

    from neurochip import Network, Population, Projection, SpikeSource
    from neurochip.plotting import color, legend_outside
    from neurochip.reference import simulate

    task, = few_shot_tasks(inner, [seed], split="test")
    clf = PrototypeSpikingClassifier(rule=rule, random_state=seed, **inner.classifier_kwargs())
    clf.fit(task.X_support, task.y_support)
    pick = np.linspace(0, task.y_query.size - 1, n_samples).astype(int)
    predicted = clf.predict(task.X_query[pick])
    rasters = clf.encoder_.transform(task.X_query[pick])
    period = inner.steps + inner.extra_steps + 10
    steps, idx = [], []
    for n, r in enumerate(rasters):
        s, i = np.nonzero(r)
        steps.append(s + n * period)
        idx.append(i)
    n_in, n_out = rasters.shape[2], clf.W_.shape[0]
    net = Network(
        name="fewshot", sources=[SpikeSource("input", n_in, indices=np.concatenate(idx),
                                             steps=np.concatenate(steps))],
        populations=[Population("output", n_out, du=inner.du, dv=inner.dv, vth=inner.vth)],
        projections=[Projection("input_output", "input", "output", clf.W_),
                     Projection("wta", "output", "output", -inner.w_inh * (1 - np.eye(n_out)))])
    result = simulate(net, period * n_samples)
    fig, (ax_in, ax_out) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True,
                                        gridspec_kw={"height_ratios": [2.2, 1.3]})
    s_in, s_out = result.spikes["input"], result.spikes["output"]
    ax_in.scatter(s_in.steps, s_in.indices, s=4, marker="|", color=color("input"))
    ax_in.set_ylabel("input neuron\n(receptive fields)")
    ax_in.set_ylim(-0.5, n_in - 0.5)
    ax_out.scatter(s_out.steps, s_out.indices, s=60, marker="|", linewidths=1.5, color=color("output"),
                   label="output spike")
    ax_out.set_yticks(range(n_out))
    ax_out.set_yticklabels([f"class {c}" for c in clf.classes_])
    ax_out.set_ylim(-0.6, n_out - 0.4)
    ax_out.set_ylabel("output neuron")
    ax_out.set_xlabel("step (each sample: encoding window, read-out steps, 10 steps of rest)")
    for n in range(n_samples):
        for ax in (ax_in, ax_out):
            ax.axvline(n * period - 0.5, color="0.6", lw=0.6)
        true, pred = task.y_query[pick][n], predicted[n]
        ok = true == pred
        ax_in.text(n * period + period / 2, n_in - 0.5, f"true {true}\npredicted {pred}", ha="center", va="bottom",
                   fontsize=8, color="#009E73" if ok else "#D55E00")
    ax_out.set_xlim(-0.5, period * n_samples - 0.5)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="|", color=color("input"), label="input spike"),
               Line2D([], [], ls="", marker="|", color=color("output"), markersize=10, label="output spike"),
               Line2D([], [], color="0.6", lw=0.6, label="sample boundary"),
               Line2D([], [], ls="", marker="s", color="#009E73", label="correct prediction"),
               Line2D([], [], ls="", marker="s", color="#D55E00", label="wrong prediction")]
    legend_outside(ax_in, handles=handles, labels=[h.get_label() for h in handles])
    n_right = int(np.sum(task.y_query[pick] == predicted))
    fig.suptitle(f"meta-learned rule on {n_samples} held-out query samples ({n_right}/{n_samples} correct)",
                 fontsize=10)
    fig.tight_layout()
    return fig


@experiment_main
def main(cfg: Config) -> Path:
    start = time.perf_counter()
    if cfg.resume_from:  # a damaged or foreign (e.g. pickled) checkpoint is refused before any work
        from neurochip.plasticity import checkpoint
        checkpoint.load(cfg.resume_from)
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    inner = inner_loop(cfg)
    rng = np.random.default_rng(cfg.seed)

    # 1. hand-tuned STDP, additive and soft-bound (grids on meta-training tasks)
    grids = {"hand-tuned STDP": stdp_grid(cfg)}
    if cfg.stdp_w_soft:
        grids["hand-tuned soft-bound STDP"] = [r for ws in cfg.stdp_w_soft for r in stdp_grid(cfg, float(ws))]
    tune_seeds = experiment_seeds(cfg, TUNE_STREAM, cfg.stdp_tune_tasks)
    tuned = hand_tune(grids, tune_seeds, inner, cfg.meta_k_shot)
    for name, (rule, acc, size) in tuned.items():
        rule.name = name.replace("-", "_").replace(" ", "_")
        print(f"[fewshot_metalearn] {name}: {rule.describe()}, train accuracy {acc:.3f} (best of {size})")
    stdp = tuned["hand-tuned STDP"][0]

    # 2. meta-learning
    ckpt = run_dir / "checkpoint.npz"
    if cfg.resume_from:
        shutil.copyfile(cfg.resume_from, ckpt)
    starts = {"zeros": None, "stdp": stdp, "soft_stdp": tuned.get("hand-tuned soft-bound STDP", (None,))[0],
              "hebbian": supervised_hebbian()}
    if cfg.start_from not in starts:
        raise ValueError(f"start_from should be 'zeros', 'stdp', 'soft_stdp' or 'hebbian', got {cfg.start_from!r}")
    if cfg.start_from == "soft_stdp" and starts["soft_stdp"] is None:
        raise ValueError("start_from='soft_stdp' needs the soft-bound STDP baseline: set stdp_w_soft (not [])")
    space = MetaSpace(terms=tuple(cfg.meta_terms), dead_zone=cfg.meta_dead_zone, scale=cfg.meta_scale)
    ml, meta_seconds = meta_learn(cfg, space=space, inner=inner, x0=starts[cfg.start_from], checkpoint=ckpt,
                                  run_dir=run_dir)
    meta = ml.rule_
    print(f"[fewshot_metalearn] meta-learned: {meta.describe()}")
    print(f"[fewshot_metalearn] Lava dw: {meta.lava_rule_string()}")

    # 3. held-out evaluation
    methods = {"meta-learned": meta, **{name: rule for name, (rule, _, _) in tuned.items()},
               "supervised Hebbian": supervised_hebbian(), "no plasticity": None}
    baselines = list(tuned)
    eval_seeds = experiment_seeds(cfg, EVAL_STREAM, cfg.eval_tasks)
    table, mean, low, high = {}, {m: [] for m in methods}, {m: [] for m in methods}, {m: [] for m in methods}
    paired = {}
    for k in cfg.ks:
        acc, ops = evaluate_rules(list(methods.values()), eval_seeds, inner, split="test", k_shot=int(k))
        m, lo, hi = bootstrap_ci(acc, cfg.bootstrap, rng)
        for n, name in enumerate(methods):
            mean[name].append(m[n])
            low[name].append(lo[n])
            high[name].append(hi[n])
            table.setdefault(name, {})[f"k={k}"] = {"accuracy": float(m[n]), "ci95": [float(lo[n]), float(hi[n])],
                                                    "synops_per_sample": float(ops[n].mean())}
        for n, name in enumerate(baselines, start=1):
            d, dlo, dhi = bootstrap_ci(acc[0] - acc[n], cfg.bootstrap, rng)
            paired.setdefault(name, {})[f"k={k}"] = {"meta_minus_points": 100 * float(d),
                                                     "ci95_points": [100 * float(dlo), 100 * float(dhi)]}

    save_figure(raster_figure(meta, inner, int(eval_seeds[0])), run_dir / "raster.png")
    save_figure(kshot_accuracy(cfg.ks, mean, low, high, chance=1 / cfg.n_way,
                               title=f"{cfg.n_way}-way held-out tasks ({cfg.eval_tasks} tasks, 95% CI)"),
                run_dir / "kshot_accuracy.png")
    target = {name: paired[name].get("k=5", {}).get("meta_minus_points") for name in baselines}
    metrics = {"table": table, "meta_minus_baseline": paired,
               "target_met_at_5_shots": {name: (None if t is None else bool(t >= 10.0)) for name, t in target.items()},
               "hand_tuned": {name: {"rule": rule.to_dict(), "train_accuracy": acc, "grid_size": size}
                              for name, (rule, acc, size) in tuned.items()},
               "meta_learned_rule": meta.to_dict(), "lava_dw": meta.lava_rule_string(),
               "meta_validation_accuracy": ml.validation_accuracy_,
               "meta_generations": len(ml.history_), "meta_seconds": meta_seconds,
               "meta_evaluations": int(sum(h["evaluations"] for h in ml.history_)),
               "wall_time_s": time.perf_counter() - start}
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    lines = ["| method | " + " | ".join(f"k={k}" for k in cfg.ks) + " |",
             "|---|" + "---|" * len(cfg.ks)]
    for name in methods:
        cells = [f"{100 * table[name][f'k={k}']['accuracy']:.1f} "
                 f"[{100 * table[name][f'k={k}']['ci95'][0]:.1f}, {100 * table[name][f'k={k}']['ci95'][1]:.1f}]"
                 for k in cfg.ks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name in baselines:
        lines.append(f"| meta - {name.removeprefix('hand-tuned ')} (points, paired) | " + " | ".join(
            f"{paired[name][f'k={k}']['meta_minus_points']:+.1f} [{paired[name][f'k={k}']['ci95_points'][0]:+.1f}, "
            f"{paired[name][f'k={k}']['ci95_points'][1]:+.1f}]" for k in cfg.ks) + " |")
    text = "\n".join(lines)
    (run_dir / "results.md").write_text(f"# Held-out {cfg.n_way}-way few-shot accuracy (%), 95% CI\n\n{text}\n")
    print(text)
    print(f"[fewshot_metalearn] wrote {run_dir} in {metrics['wall_time_s']:.1f} s")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
