"""Meta-learn the default rule of FewShotSpikingClassifier on calibrated-twin drift tasks, check it on batch 1.

1. Calibrate the gas-array twin to recorded batch ``batch`` (``sensors.calibration``) and
   report its distance to the recording before and after (KS, MMD^2), with the floor and a
   held-out validation (calibrated on the first half of every gas's rows, measured on the
   second half).
2. Meta-learn the rule with CMA-ES (``neurochip.plasticity.MetaLearner`` with a
   ``DriftInnerLoop``) over the label-gated, post-independent terms (``u0*x1*y3``,
   ``u0*y3*w``, ``u0*x1*y3*w``, ``x0*y3``) on drift tasks of that twin
   (``sensors.GasDriftTaskSampler``: fit on a synthetic calibration period, adapt with
   ``k_shot`` shots per gas of a drifted period, collisions included), from the
   hand-written exemplar writer ``supervised_hebbian(eta=2**-2, decay=2**-2, tau=64)``.
3. Choose between the meta-learned rule and its start by accuracy on validation twin tasks
   (seeds apart from meta-training), then score both on held-out twin tasks and on the
   recordings: batch 1 first half -> second half (k = 1, 5, 10 shots per gas, ``draws`` shot
   draws), also with collision drift (``stress_alpha``). Later batches are not used.
4. Write the chosen rule with its provenance as ``default_rule.json`` in the run folder and,
   with ``--set install=true``, into the package (``neurochip/plasticity/data/default_rule.json``,
   what ``FewShotSpikingClassifier()`` loads).

Writes ``results/fewshot_default_rule/<timestamp>/``: ``config.json``, ``metrics.json``,
``results.md``, ``raster.png`` (first figure: the chosen rule's classifier on recorded
samples), ``learning_curve.png``, ``rule.json``, ``checkpoint.npz``, ``default_rule.json``,
``calibrated_twin.json``.

Run: ``neurochip run fewshot_default_rule [--tiny] [--set install=true]``.
"""
from __future__ import annotations

import copy
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, provenance, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from neurochip.io import write_json  # noqa: E402
from experiments._common import meta_learn  # noqa: E402
from neurochip.plasticity import MetaSpace, supervised_hebbian  # noqa: E402
from neurochip.plasticity.drift import DriftInnerLoop  # noqa: E402
from neurochip.plasticity.fewshot import DEFAULT_RULE_FILE, DEFAULT_RULE_FORMAT  # noqa: E402
from sensors import load_gas_drift  # noqa: E402
from sensors.calibration import calibration_report, first_half  # noqa: E402
from sensors.randomization import DRIFT_KINDS, DriftSpec, collision_drift  # noqa: E402
from sensors.tasks import GasDriftTaskSampler, recorded_shots  # noqa: E402

#: The label-gated terms that do not depend on post spikes (a shot is written whatever the readout does).
ROW_LOCAL_TERMS = ["u0*x1*y3", "u0*y3*w", "u0*x1*y3*w", "x0*y3"]
#: Version of the default-rule file format this experiment writes.
FILE_VERSION = 1


@dataclass
class Config:
    """Meta-learning of FewShotSpikingClassifier's default rule on calibrated-twin drift tasks."""

    name: str = param("fewshot_default_rule", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of CMA-ES, tasks and shot draws", min=0)
    batch: int = param(1, "recorded batch that calibrates the twin (and checks, first half -> second half)", min=1)
    folder: str = param("", "folder of batch<N>.csv.gz ('': sensors.load_gas_drift's search)")
    rank: int = param(10, "variability directions of the calibrated twin", min=0)
    n_fit_per_gas: int = param(40, "twin samples per gas in a task's fit set", min=2)
    # drift randomization (sensors.randomization.DriftSpec), [low, high] of each magnitude
    collision: list[float] = param([0.0, 0.5], "collision drift: fraction toward another gas", min=0, max=1)
    sensor_gain: list[float] = param([0.0, 0.5], "log sd of a per-sensor gain", min=0)
    gas_gain: list[float] = param([0.0, 0.5], "log sd of a per-(sensor, gas) gain", min=0)
    kinetics: list[float] = param([0.0, 0.3], "log sd of a per-sensor time-constant factor", min=0)
    baseline: list[float] = param([0.0, 0.3], "log sd of a per-sensor R0 factor", min=0)
    feature_gain: list[float] = param([0.0, 0.2], "log sd of a per-feature gain", min=0)
    k_shot: int = param(5, "shots per gas in meta-training", min=1)
    n_query: int = param(30, "query samples per gas", min=1)
    # meta-learning
    terms: list[str] = param(list(ROW_LOCAL_TERMS), "rule terms searched")
    meta_scale: str = param("log2", "MetaSpace.scale", choices=("linear", "log2"))
    dead_zone: float = param(0.5, "MetaSpace.dead_zone (theta units)", min=0)
    tau_max: float = param(128.0, "largest trace time constant searched (steps)", gt=1)
    generations: int = param(16, "CMA-ES generations", min=1)
    popsize: int = param(8, "CMA-ES population", min=2)
    sigma0: float = param(0.3, "CMA-ES initial step size (theta units)", gt=0)
    tasks_per_eval: int = param(6, "twin tasks per candidate per generation", min=1)
    validation_tasks: int = param(12, "twin tasks that choose the final rule", min=1)
    synops_cost: float = param(0.0, "fitness cost per synaptic event per query sample", min=0)
    candidates_per_job: int = param(2, "candidates evaluated in one job", min=1)
    address: str = param("", '"" local process pool, "serial", or a Dask scheduler address')
    workers: int = param(2, "local worker processes", min=1)
    # checks
    eval_tasks: int = param(16, "held-out twin tasks (test split)", min=1)
    ks: list[int] = param([1, 5, 10], "shots per gas of the checks on the recording", min=1)
    draws: int = param(10, "shot draws per k on the recording", min=1)
    stress_alpha: float = param(0.5, "collision drift of the stress check on the recording", min=0, max=1)
    install: bool = param(False, "write the chosen rule into neurochip/plasticity/data/default_rule.json")


#: Seconds-long run for CI and ``--tiny``.
TINY = {"generations": 1, "popsize": 2, "tasks_per_eval": 1, "validation_tasks": 1, "eval_tasks": 1,
        "n_fit_per_gas": 6, "n_query": 4, "ks": [5], "draws": 1, "address": "serial", "candidates_per_job": 2}


def hand_rule():
    """The hand-written exemplar writer of the design (R18): the start of the search."""
    return supervised_hebbian(eta=2 ** -2, decay=2 ** -2, tau=64.0, name="exemplar_writer")


def drift_spec(cfg: Config) -> DriftSpec:
    return DriftSpec(**{k: tuple(getattr(cfg, k)) for k in DRIFT_KINDS})


def sampler(cfg: Config) -> GasDriftTaskSampler:
    return GasDriftTaskSampler(batch=cfg.batch, folder=cfg.folder or None, rank=cfg.rank,
                               n_fit_per_gas=cfg.n_fit_per_gas, drift=drift_spec(cfg), random_state=cfg.seed)


def seeds(cfg: Config, stream: int, n: int) -> np.ndarray:
    return np.random.SeedSequence([cfg.seed, 30 + stream]).generate_state(n)


def recorded_checks(rules: dict, X, y, cfg: Config) -> dict:
    """Accuracy on the recording: fit on the first half of every gas's rows, adapt with k shots of the
    second half, score on the rest of it; plain and with collision drift of ``stress_alpha``."""
    early = first_half(y)
    Xe, ye, Xl, yl = X[early], y[early], X[~early], y[~early]
    stressed = collision_drift(Xl, yl, Xe, ye, cfg.stress_alpha, random_state=cfg.seed)
    from neurochip.plasticity import FewShotSpikingClassifier

    out = {}
    for name, rule in rules.items():
        clf = FewShotSpikingClassifier(rule=rule, random_state=cfg.seed).fit(Xe, ye)
        row = {"no adaptation": clf.score(Xl, yl), "no adaptation, stressed": clf.score(stressed, yl)}
        for label, target in (("", Xl), (", stressed", stressed)):
            for k in cfg.ks:
                acc = []
                for d in range(cfg.draws):
                    s, q = recorded_shots(yl, k, random_state=[cfg.seed, d])
                    acc.append(copy.deepcopy(clf).adapt(target[s], yl[s]).score(target[q], yl[q]))
                row[f"k={k}{label}"] = {"mean": float(np.mean(acc)), "sd": float(np.std(acc))}
        out[name] = row
    return out


def raster_figure(rule, X, y, cfg: Config, n_samples: int = 4):
    """Output and input spikes of the classifier (fit on the first half) on recorded samples of the second
    half, each sample its own run of the network description on the numpy reference, side by side."""
    import matplotlib.pyplot as plt

    from neurochip.plasticity import FewShotSpikingClassifier
    from neurochip.plasticity.wta import sample_steps, wta_network
    from neurochip.plotting import PALETTE
    from neurochip.reference import simulate

    early = first_half(y)
    clf = FewShotSpikingClassifier(rule=rule, random_state=cfg.seed).fit(X[early], y[early])
    late = np.nonzero(~early)[0]
    pick = late[np.linspace(0, late.size - 1, n_samples).astype(int)]
    rasters = clf._encode(X[pick])
    predicted = clf.predict(X[pick])
    out = clf._out()
    period = sample_steps(rasters[0], out) + 6
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [1, 2]})
    for n, r in enumerate(rasters):
        res = simulate(wta_network(clf.W_, out, raster=r), sample_steps(r, out))
        o = res.spikes["out"]
        for c, name in enumerate(clf.classes_):
            mine = clf.owner_[o.indices] == c
            top.scatter(o.steps[mine] + n * period, o.indices[mine], marker="|", s=40,
                        color=PALETTE[c % len(PALETTE)], label=str(name) if n == 0 else None)
        clock = res.spikes["clock"].steps + n * period
        top.scatter(clock, np.full(clock.size, clf.W_.shape[0] + 0.5), marker="v", s=12, color="0.4",
                    label="clock" if n == 0 else None)
        i = res.spikes["input"]
        bottom.scatter(i.steps + n * period, i.indices, marker="|", s=4, color="0.3", rasterized=True)
        for ax in (top, bottom):
            ax.axvline(n * period - 3, color="0.8", lw=0.8)
        top.text(n * period + 1, clf.W_.shape[0] + 2.5, f"{y[pick][n]} -> {predicted[n]}", fontsize=8)
    top.set_ylim(-1, clf.W_.shape[0] + 5)
    top.set_ylabel("output neuron\n(one per exemplar)")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="exemplar of")
    bottom.set_ylabel("input (feature x field)")
    bottom.set_xlabel("step (samples side by side, each run from zero state)")
    top.set_title("FewShotSpikingClassifier, default rule: recorded samples (gas -> decision)", fontsize=10)
    fig.tight_layout()
    return fig


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@experiment_main
def main(cfg: Config) -> Path:
    start = time.perf_counter()
    run_dir = start_run(cfg)
    rec = load_gas_drift(cfg.batch, folder=cfg.folder or None)
    X, y, conc = rec.features, rec.labels, rec.concentration

    # 1. calibration
    report = calibration_report(X, y, conc, rank=cfg.rank, random_state=cfg.seed)
    tasks = sampler(cfg)
    tasks.twin().save(run_dir / "calibrated_twin.json")
    for name, d in {**report["distances"], **report["validation"]}.items():
        print(f"[fewshot_default_rule] {name}: KS median {d['ks_median']:.3f}, p90 {d['ks_p90']:.3f}, "
              f"MMD^2 {d['mmd2']:.4f}")

    # 2. meta-learning
    inner = DriftInnerLoop(sampler=tasks, k_shot=cfg.k_shot, n_query=cfg.n_query)
    space = MetaSpace(terms=tuple(cfg.terms), scale=cfg.meta_scale, dead_zone=cfg.dead_zone, tau_max=cfg.tau_max,
                      w_min=-1.0, w_max=1.0)
    start_rule = hand_rule()
    ml, meta_seconds = meta_learn(cfg, space=space, inner=inner, x0=start_rule, checkpoint=run_dir / "checkpoint.npz",
                                  run_dir=run_dir)
    meta = ml.rule_
    meta.name = "meta_learned"
    print(f"[fewshot_default_rule] meta-learned: {meta.describe()} (Lava: {meta.lava_rule_string()})")

    # 3. choice on validation twin tasks, then held-out twin tasks and the recording
    candidates = {"meta-learned": meta, "hand-written start": start_rule}
    val_seeds, eval_seeds = seeds(cfg, 0, cfg.validation_tasks), seeds(cfg, 1, cfg.eval_tasks)
    val, _ = inner.evaluate_rules(list(candidates.values()), val_seeds, split="train")
    held, held_ops = inner.evaluate_rules([*candidates.values(), None], eval_seeds, split="test")
    chosen = list(candidates)[int(np.argmax(val.mean(axis=1)))]
    rule = candidates[chosen]
    checks = recorded_checks(candidates, X, y, cfg)
    twin_table = {name: {"validation": float(val[n].mean()), "held_out": float(held[n].mean()),
                         "held_out_sd": float(held[n].std()), "synops_per_query": float(held_ops[n].mean())}
                  for n, name in enumerate(candidates)}
    twin_table["no plasticity"] = {"held_out": float(held[-1].mean()), "held_out_sd": float(held[-1].std())}

    # 4. the default-rule file
    prov = provenance(cfg)
    command = "neurochip run fewshot_default_rule" + "".join(
        f" --set {k}={v}" for k, v in (("seed", cfg.seed), ("generations", cfg.generations)))
    content = {"format": DEFAULT_RULE_FORMAT, "version": FILE_VERSION, "rule": rule.to_dict(),
               "lava_dw": rule.lava_rule_string(), "describe": rule.describe(),
               "provenance": {"command": command, "argv": prov["command"], "git_commit": prov["git_commit"],
                              "git_dirty": prov["git_dirty"], "date_utc": prov["started_utc"], "seed": cfg.seed,
                              "chosen": chosen, "task_distribution": inner.describe(),
                              "calibration_data": {"file": Path(rec.source).name, "sha256": file_sha256(rec.source),
                                                   "samples": int(len(rec))},
                              "meta_learning": {"space": {"terms": list(space.terms), "scale": space.scale,
                                                          "dead_zone": space.dead_zone, "tau_max": space.tau_max},
                                                "generations": cfg.generations, "popsize": cfg.popsize,
                                                "tasks_per_eval": cfg.tasks_per_eval, "start": start_rule.to_dict()},
                              "twin_tasks": twin_table, "recorded_checks": checks}}
    write_json(run_dir / "default_rule.json", content)
    if cfg.install:
        write_json(DEFAULT_RULE_FILE, content)
        print(f"[fewshot_default_rule] installed {DEFAULT_RULE_FILE}")
    save_figure(raster_figure(rule, X, y, cfg), run_dir / "raster.png")

    metrics = {"calibration": report, "twin_tasks": twin_table, "recorded_checks": checks, "chosen": chosen,
               "rule": rule.to_dict(), "lava_dw": rule.lava_rule_string(), "meta_rule": meta.to_dict(),
               "meta_validation_accuracy": ml.validation_accuracy_, "meta_seconds": meta_seconds,
               "meta_generations": len(ml.history_), "installed": bool(cfg.install),
               "wall_time_s": time.perf_counter() - start}
    write_metrics(run_dir, metrics)
    cols = [f"k={k}" for k in cfg.ks] + [f"k={k}, stressed" for k in cfg.ks]
    lines = ["| rule | twin validation | twin held-out | " + " | ".join(f"batch {cfg.batch} {c}" for c in cols) + " |",
             "|---|---|---|" + "---|" * len(cols)]
    for name in candidates:
        cells = [f"{100 * checks[name][c]['mean']:.1f} +- {100 * checks[name][c]['sd']:.1f}" for c in cols]
        lines.append(f"| {name}{' (chosen)' if name == chosen else ''} | {100 * twin_table[name]['validation']:.1f} | "
                     f"{100 * twin_table[name]['held_out']:.1f} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    (run_dir / "results.md").write_text(f"# Default rule: accuracy % (twin tasks k={cfg.k_shot}; recording first half "
                                        f"-> second half)\n\n{text}\n\nchosen: {rule.lava_rule_string()}\n")
    print(text)
    print(f"[fewshot_default_rule] chosen: {chosen}: {rule.lava_rule_string()}")
    print(f"[fewshot_default_rule] wrote {run_dir} in {metrics['wall_time_s']:.1f} s")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
