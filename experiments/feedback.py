"""Drift on the recorded gas stream, edge cases back into the twin, one feedback round (issue 19, items 3 and 4).

1. Stream batch 1's second half then batch 2 (recording order) through the exemplar classifier
   fitted on batch 1's first half and the class-conditional CUSUM (``neurochip.regulator.DriftDetector``
   on the winning class's output spikes, reference: held-out readouts of the fit half); delay at the
   boundary and false alarms per 1,000 samples inside batches (``sensors.feedback``).
2. Edge cases of the boundary (samples in alarm, the protocol's labeled shots of batch 2) into an
   ``EdgeCaseStore`` saved in the run folder (``edge_cases.npz``).
3. One feedback round (``sensors.feedback.feedback_round``): drift randomization widened to cover the
   labeled edge cases, a short meta-learning on the widened twin, re-selection of the rule.
4. Accuracy on batch 2 (fit on batch 1, adapt with k shots per gas, score on the rest) before (the
   shipped default rule) and after (the re-selected rule).

The detector's settings are the benchmark's choice (``benchmarks/bench_drift_recorded.py``, made on
twin boundaries and batch 1); batch 2 only reports. Writes ``raster.png`` (the classifier's input
spikes of the samples around the boundary), ``stream.png`` (statistic, alarm state, boundary),
``edge_cases.npz``, ``metrics.json``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurochip.experiment import experiment_main, param, parse_config, save_figure, start_run, write_metrics


@dataclass
class Config:
    """Drift detection on the recorded gas stream and one round of edge-case feedback into the twin."""

    name: str = param("feedback", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of the feedback round (CMA-ES, tasks)", min=0)
    folder: str = param("", "folder of batch<N>.csv.gz ('': sensors.load_gas_drift's search)")
    k: float = param(0.5, "CUSUM allowance (reference sd)", min=0)
    h: float = param(8.0, "CUSUM decision interval", gt=0)
    k_shot: int = param(5, "labeled shots per gas of batch 2", min=1)
    draws: int = param(5, "shot draws of the batch 2 accuracy", min=1)
    coverage_target: float = param(0.9, "coverage of the labeled edge cases the widened drift must reach", min=0,
                                   max=1)
    factors: list[float] = param([1.0, 1.5, 2.0, 3.0], "widening factors tried (upper ends of DriftSpec)", min=1)
    tasks: int = param(8, "widened-twin tasks of the re-selection", min=1)
    meta_generations: int = param(3, "CMA-ES generations of the short meta-learning (0: none)", min=0)


#: Seconds-long run (CI, ``--tiny``).
TINY = {"draws": 1, "factors": [1.0], "tasks": 1, "meta_generations": 0}


def stream_figure(x, in_alarm, boundary: int, alarms, *, title: str):
    """Statistic per sample (and a running mean), the alarm state and the boundary."""
    import matplotlib.pyplot as plt

    from neurochip import plotting

    fig, ax = plt.subplots(figsize=(9, 3.2))
    n = np.arange(x.size)
    ax.plot(n, x, ".", ms=2, color="0.6", label="winner spikes per sample")
    run = np.convolve(x, np.ones(20) / 20, mode="same")
    ax.plot(n, run, color="C0", label="running mean (20 samples)")
    ax.fill_between(n, 0, np.where(in_alarm, x.max(), 0), color="C3", alpha=0.15, step="mid", label="in alarm")
    ax.axvline(boundary, color="k", ls="--", label="batch 1 -> batch 2")
    for j, a in enumerate(alarms):
        ax.axvline(a, color="C3", lw=1, label="alarm raised" if j == 0 else None)
    ax.set_xlabel("sample (recording order)")
    ax.set_ylabel("spikes")
    ax.set_title(title, fontsize=10)
    plotting.legend_outside(ax)
    fig.tight_layout()
    return fig


@experiment_main
def main(cfg: Config) -> Path:
    from neurochip import plotting
    from neurochip.plasticity import FewShotSpikingClassifier
    from neurochip.regulator import DriftDetector
    from sensors import load_gas_drift
    from sensors.calibration import first_half
    from sensors.edge_cases import REASONS, EdgeCaseStore
    from sensors.feedback import (documented_rules, edge_cases_from_stream, feedback_round, recorded_accuracy,
                                  recorded_stream, score_alarms)

    start = time.perf_counter()
    run_dir = start_run(cfg)
    folder = cfg.folder or None
    b1, b2 = load_gas_drift(1, folder=folder), load_gas_drift(2, folder=folder)

    # 1. the recorded stream and the detector
    rec = recorded_stream(b1, b2)
    n1 = rec.boundaries[0]
    det = DriftDetector(k=cfg.k, h=cfg.h).fit(rec.x_ref, rec.groups_ref, n_groups=int(rec.groups.max()) + 1)
    log = det.run(rec.x, rec.groups)
    scored = score_alarms(log.alarms, rec.boundaries, rec.x.size)

    # figures: raster first (input spikes of 3 samples before and 3 after the boundary, one after another)
    m = first_half(b1.labels)
    clf_half = FewShotSpikingClassifier(random_state=0).fit(b1.features[m], b1.labels[m])
    X_show = np.vstack([b1.features[~m][-3:], b2.features[:3]])
    R = clf_half._encode(X_show)                                   # (6, steps, n_in) bool
    steps = R.shape[1]
    idx, st = [], []
    for s in range(R.shape[0]):
        t, i = np.nonzero(R[s])
        idx.append(i)
        st.append(t + s * steps)
    fig = plotting.raster({"input": (np.concatenate(idx), np.concatenate(st))}, {"input": R.shape[2]},
                          steps=R.shape[0] * steps,
                          title=f"classifier input spikes: last 3 samples of batch 1, first 3 of batch 2 "
                                f"({steps} steps each)")
    fig.axes[0].axvline(3 * steps - 0.5, color="k", ls="--", label="batch 1 -> batch 2")
    plotting.legend_outside(fig.axes[0], where="below", ncol=1)
    save_figure(fig, run_dir / "raster.png")
    d = scored["delays"][0]
    save_figure(stream_figure(rec.x, log.in_alarm, n1, log.alarms,
                              title=f"CUSUM k={cfg.k:g}, h={cfg.h:g}: boundary flagged after "
                                    f"{'-' if d is None else d} samples, {scored['false_alarms']} false alarm(s)"),
                run_dir / "stream.png")

    # 2. edge cases, stored and read back
    clf = FewShotSpikingClassifier(random_state=0).fit(b1)
    store, _, _ = edge_cases_from_stream(clf, b2, rec, log.alarms, k_shot=cfg.k_shot, random_state=cfg.seed)
    store = EdgeCaseStore.load(store.save(run_dir / "edge_cases.npz"))

    # 3. one feedback round, 4. batch 2 before / after
    rules = documented_rules()
    t0 = time.perf_counter()
    fb = feedback_round(store, rules=rules, factors=tuple(cfg.factors), target=cfg.coverage_target,
                        n_tasks=cfg.tasks, meta_generations=cfg.meta_generations, folder=folder,
                        random_state=cfg.seed)
    round_s = time.perf_counter() - t0
    chosen = fb.pop("rule_object")
    fb.pop("candidates")
    before = recorded_accuracy(b1, b2, "default", k_shot=cfg.k_shot, draws=cfg.draws)
    after = recorded_accuracy(b1, b2, chosen, k_shot=cfg.k_shot, draws=cfg.draws)
    metrics = {
        "stream": {"samples": int(rec.x.size), "boundary": int(n1), "alarms": log.alarms.tolist(),
                   "recoveries": log.recoveries.tolist(), **scored,
                   "accuracy_before_boundary": float(rec.correct[:n1].mean()),
                   "accuracy_after_boundary": float(rec.correct[n1:].mean())},
        "edge_cases": {"total": len(store), **{r: int(np.sum(store.reason == i)) for i, r in enumerate(REASONS)}},
        "feedback": fb,
        "batch2_accuracy": {"before": before, "after": after, "k_shot": cfg.k_shot, "draws": cfg.draws},
        "wall_time_s": {"feedback_round": round_s, "total": time.perf_counter() - start},
    }
    write_metrics(run_dir, metrics)
    print(f"feedback: boundary flagged after {d} samples, {scored['false_alarms']} false alarm(s) "
          f"({scored['false_per_1000']:.2f} per 1,000); {len(store)} edge cases; drift widened x{fb['factor']:g}, "
          f"rule {fb['rule']!r}; batch 2 accuracy {before[0]:.3f} -> {after[0]:.3f}; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
