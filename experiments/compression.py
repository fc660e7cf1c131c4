"""Compression to fit the chip: sparsity x weight bits against accuracy, cores and energy (issue 15).

Sweeps sparsity ``sparsities`` x weight mantissa bits ``bits`` (``mapping.compress``):

(a) **the few-shot classifier** (``neurochip.plasticity.FewShotSpikingClassifier``) compressed
    *post-training*: it learns its weights ``W_`` online (fit, then adapt), then
    ``mapping.compress_weights`` prunes and quantizes the learned ``W_`` (one grid per
    classifier; zeros stay zero) and the classifier predicts with them. Pruned first are the
    synapses of least ``FewShotSpikingClassifier.synapse_importance`` on the data the classifier
    learned from (``classifier_pruning="fisher"``; its exemplar weights are nearly binary, so
    magnitude says little), or the smallest (``"magnitude"``; the 50 %, 4-bit point is scored
    both ways). On held-out twin drift
    tasks (``sensors.GasDriftTaskSampler``, the twin calibrated to recorded batch 1) and on the
    recorded gas data: batch 1 (first half -> second half) *chooses* the cheapest point within
    ``tolerance_points`` of 8-bit dense, batch 2 (fit on batch 1, ``gas_k`` shots per gas,
    ``gas_draws`` draws) *checks* it. Cores on Loihi 1 and 2, synaptic memory and energy per
    inference are those of the classifier's output network of one sample
    (``neurochip.plasticity.wta.wta_network``: the plastic projection at the point's bits, the
    fixed inhibition / clock / lateral projections at 8 bits), energy from
    ``neurochip.energy.estimate_energy`` on numpy reference runs of ``energy_samples`` queries.
(b) **a larger feed-forward network** (``ff_inputs`` Poisson inputs, dense to a hidden layer sized to
    need ``fit_cores_needed`` Loihi 1 cores): spike agreement (within 1 step) of the compressed
    network against the uncompressed float run (numpy reference), cores, memory, energy.
    Then ``mapping.compress(net, chip, fit=True)`` with a Loihi 1 of ``fit_chip_cores`` cores
    brings it in, and the agreement loss of the fitted network is measured.

One front point of the classifier (``deploy_sparsity``, ``deploy_bits``) is compiled with
``mapping.compile(..., "loihi2-sim-fixed")`` and run on Lava's simulator (``mapping.verify``):
its spike agreement with the numpy float run of the same compressed network.

Writes ``results/compression/<timestamp>/``: ``config.json``, ``metrics.json``, ``raster.png``
(first figure: the deployed point's Lava run), ``pareto.png`` (accuracy vs energy, agreement vs cores).

Run: ``neurochip run compression [--tiny]``.
"""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, save_figure, start_run,  # noqa: E402
                                  write_metrics)

#: Overrides that make the experiment run in seconds (CI).
TINY = {"sparsities": [0.0, 0.5], "bits": [8, 4], "twin_tasks": 2, "n_query": 5, "gas_draws": 1,
        "energy_samples": 2, "ff_inputs": 200, "ff_steps": 40, "fit_cores_needed": 6, "fit_chip_cores": 5}


@dataclass
class Config:
    """Sparsity x weight bits on the few-shot classifier and a feed-forward network; fit to 128 cores."""

    name: str = param("compression", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of tasks, shot draws and the feed-forward network", min=0)
    sparsities: list[float] = param([0.0, 0.25, 0.5, 0.75], "magnitude sparsities swept", min=0, max=1)
    bits: list[int] = param([8, 4, 2, 1], "weight mantissa bits swept", min=1, max=8)
    tolerance_points: float = param(1.0, "accuracy loss (points) a chosen point may have against 8-bit dense",
                                    min=0)
    folder: str = param("", "folder of batch<N>.csv.gz ('': sensors.load_gas_drift's search)")
    twin_tasks: int = param(20, "held-out twin drift tasks", min=1)
    k_shot: int = param(5, "shots per gas of a twin task", min=1)
    n_query: int = param(30, "queries per gas of a twin task", min=1)
    gas_k: int = param(5, "shots per gas of batch 2", min=1)
    gas_draws: int = param(5, "shot draws of batch 2", min=1)
    energy_samples: int = param(10, "query samples run through the output network for energy and cores", min=1)
    ff_inputs: int = param(1000, "Poisson inputs of the feed-forward network", min=1)
    ff_rate_hz: float = param(20.0, "rate of each input (Hz)", min=0)
    ff_steps: int = param(100, "steps of a feed-forward run (one inference)", min=1)
    fit_cores_needed: int = param(130, "Loihi 1 cores the feed-forward network needs", min=2)
    fit_chip_cores: int = param(128, "cores of the Loihi 1 that fit mode targets", min=1)
    rescale: bool = param(True, "after pruning, scale each output neuron's row back to its L1 norm")
    classifier_pruning: str = param("fisher", "which classifier synapses go first: least Fisher-weighted "
                                    "importance on the data it learned from, or smallest magnitude",
                                    choices=("fisher", "magnitude"))
    classifier_clip: str = param("max", "bit grid range of the classifier's weights", choices=("max", "mse"))
    ff_clip: str = param("mse", "bit grid range of the feed-forward weights", choices=("max", "mse"))
    ff_sigma: float = param(1.0, "log-normal spread of the feed-forward weights", min=0)
    deploy_sparsity: float = param(0.75, "classifier point deployed on Lava: sparsity", min=0, max=1)
    deploy_bits: int = param(4, "classifier point deployed on Lava: weight bits", min=1, max=8)
    lava_steps: int = param(0, "steps of the Lava run (0: the sample's own length)", min=0)


def points(cfg: Config) -> list[tuple[float, int]]:
    return [(float(s), int(b)) for s in cfg.sparsities for b in cfg.bits]


def key(s: float, b: int) -> str:
    return f"s={s:g},b={b}"


def importance(cfg: Config, clf, X_seen, y_seen):
    """The synapse importance ``cfg.classifier_pruning`` prunes by (``None``: magnitude).

    ``X_seen``, ``y_seen``: the data the classifier learned from (fit data and shots), never the queries.
    """
    return clf.synapse_importance(X_seen, y_seen) if cfg.classifier_pruning == "fisher" else None


def compressed_classifier(cfg: Config, clf, s: float, b: int, imp=None):
    """A copy of a fitted classifier with its learned ``W_`` pruned to ``s`` (least ``imp`` first,
    ``None``: smallest magnitude) and put on ``b`` bits.

    ``s`` is a fraction of the synapses the 8-bit dense network stores
    (:func:`mapping.pruning.stored_synapses`): the rule's remnants far below an 8-bit step
    (a third of the nonzero float weights) are not counted as synapses, nor as pruned ones.
    """
    from mapping import compress_weights
    from mapping.pruning import stored_synapses

    out = copy.deepcopy(clf)
    out.W_, _ = compress_weights(stored_synapses(clf.W_, 8, clip=cfg.classifier_clip), sparsity=s, weight_bits=b,
                                 rescale=cfg.rescale, clip=cfg.classifier_clip, importance=imp)
    return out


def score_points(cfg: Config, clf, X, y, pts, imp) -> dict:
    """Accuracy of the classifier at every (sparsity, bits) point, and uncompressed (``float``).

    ``imp``: its :func:`importance`. With Fisher pruning, the target point (50 %, 4 bits) is
    also scored pruned by magnitude (``"s=0.5,b=4,magnitude"``), for comparison.
    """
    scores = {key(s, b): float(compressed_classifier(cfg, clf, s, b, imp).score(X, y)) for s, b in pts}
    if imp is not None and (0.5, 4) in pts:
        scores[key(0.5, 4) + ",magnitude"] = float(compressed_classifier(cfg, clf, 0.5, 4).score(X, y))
    scores["float"] = float(clf.score(X, y))
    return scores


def twin_accuracies(cfg: Config, pts) -> dict:
    """Per point: accuracies on ``twin_tasks`` held-out twin drift tasks (fit, adapt, then compress)."""
    from neurochip.plasticity import FewShotSpikingClassifier
    from sensors.tasks import GasDriftTaskSampler

    sampler = GasDriftTaskSampler(batch=1, folder=cfg.folder or None, random_state=cfg.seed)
    rows = []
    for i in range(cfg.twin_tasks):
        t = sampler.sample(k_shot=cfg.k_shot, n_query=cfg.n_query, split="test", random_state=i)
        clf = FewShotSpikingClassifier(random_state=i).fit(t.X_fit, t.y_fit).adapt(t.X_support, t.y_support)
        imp = importance(cfg, clf, np.vstack([t.X_fit, t.X_support]), np.concatenate([t.y_fit, t.y_support]))
        rows.append(score_points(cfg, clf, t.X_query, t.y_query, pts, imp))
    return {k: [r[k] for r in rows] for k in rows[0]}


def gas_accuracies(cfg: Config, pts) -> tuple[dict, dict, object, np.ndarray, np.ndarray]:
    """Batch 1 first half -> second half (choice), batch 2 with shots (check); the last batch-2 classifier,
    its queries and its synapse importance (on the data it learned from)."""
    from neurochip.plasticity import FewShotSpikingClassifier
    from sensors import load_gas_drift
    from sensors.calibration import first_half
    from sensors.tasks import recorded_shots

    folder = cfg.folder or None
    b1, b2 = load_gas_drift(1, folder=folder), load_gas_drift(2, folder=folder)
    early = first_half(b1.labels)
    clf1 = FewShotSpikingClassifier(random_state=cfg.seed).fit(b1.features[early], b1.labels[early])
    choose = score_points(cfg, clf1, b1.features[~early], b1.labels[~early], pts,
                          importance(cfg, clf1, b1.features[early], b1.labels[early]))
    fitted = FewShotSpikingClassifier(random_state=cfg.seed).fit(b1.features, b1.labels)
    rows = []
    for d in range(cfg.gas_draws):
        s, q = recorded_shots(b2.labels, cfg.gas_k, random_state=[cfg.seed, cfg.gas_k, d])
        m = copy.deepcopy(fitted).adapt(b2.features[s], b2.labels[s])
        imp = importance(cfg, m, *learned_from(b1, b2, s))
        rows.append(score_points(cfg, m, b2.features[q], b2.labels[q], pts, imp))
    check = {k: [r[k] for r in rows] for k in rows[0]}
    return choose, check, m, b2.features[q], imp


def learned_from(b1, b2, shots) -> tuple[np.ndarray, np.ndarray]:
    """What a batch-2 classifier learned from: all of batch 1 and the batch-2 ``shots`` (features, labels)."""
    return np.vstack([b1.features, b2.features[shots]]), np.concatenate([b1.labels, b2.labels[shots]])


def batch2_classifier(cfg: Config, draw: int) -> tuple[object, np.ndarray, np.ndarray]:
    """The classifier fitted on batch 1 and adapted to shot draw ``draw`` of batch 2, that draw's queries,
    and the classifier's synapse importance (:func:`importance`)."""
    from neurochip.plasticity import FewShotSpikingClassifier
    from sensors import load_gas_drift
    from sensors.tasks import recorded_shots

    folder = cfg.folder or None
    b1, b2 = load_gas_drift(1, folder=folder), load_gas_drift(2, folder=folder)
    s, q = recorded_shots(b2.labels, cfg.gas_k, random_state=[cfg.seed, cfg.gas_k, draw])
    clf = FewShotSpikingClassifier(random_state=cfg.seed).fit(b1.features, b1.labels).adapt(b2.features[s],
                                                                                             b2.labels[s])
    return clf, b2.features[q], importance(cfg, clf, *learned_from(b1, b2, s))


def _resources(net, result, bits: dict) -> dict:
    """Cores on Loihi 1 and 2 (unlimited cores: what it needs), synaptic memory, energy of one run."""
    from brian2 import joule
    from mapping.compress import synaptic_memory_bytes
    from mapping.placement import LOIHI1, LOIHI2, compact_formats, cores_by_population
    from neurochip.energy import estimate_energy

    out = {}
    for model in (LOIHI1, LOIHI2):
        cnet = compact_formats(net, model, bits)
        cores = cores_by_population(cnet, model, bits)
        out[f"cores_{model.name}"] = None if cores is None else int(sum(cores.values()))
        out[f"synaptic_memory_bytes_{model.name}"] = synaptic_memory_bytes(cnet, model, bits)
    cnet = compact_formats(net, LOIHI1, bits)  # fan-out counts the stored synapses
    out["energy_j"] = float(estimate_energy(cnet, result, "loihi1").per_inference / joule)
    return out


def classifier_resources(cfg: Config, clf, X, pts, n_samples: int, imp=None) -> dict:
    """Cores, memory and mean energy per inference of the classifier's output network at each point."""
    from neurochip.plasticity.wta import sample_steps, wta_network
    from neurochip.reference import simulate

    R = clf._encode(X[:n_samples])
    out = {}
    for s, b in pts:
        c = compressed_classifier(cfg, clf, s, b, imp)
        rows = []
        for r in R:
            net = wta_network(c.W_, c._out(), raster=r)
            rows.append(_resources(net, simulate(net, sample_steps(r, c._out())), {"plastic": b}))
        out[key(s, b)] = {k: (float(np.mean([row[k] for row in rows])) if rows[0][k] is not None else None)
                          for k in rows[0]}
        out[key(s, b)]["nnz"] = int(np.count_nonzero(c.W_))
    return out


def ff_network(cfg: Config):
    """Inputs -> hidden, dense, the hidden layer sized to need ``fit_cores_needed`` Loihi 1 cores."""
    from brian2 import Hz
    from mapping.placement import LOIHI1
    from neurochip import Network, Population, Projection, SpikeSource

    per_core = min(LOIHI1.neurons_per_core, LOIHI1.synaptic_memory_bytes * 8 // (LOIHI1.weight_bits * cfg.ff_inputs))
    n_hidden = cfg.fit_cores_needed * per_core - per_core // 2
    rng = np.random.default_rng(cfg.seed)
    w = rng.lognormal(np.log(0.02), cfg.ff_sigma, (n_hidden, cfg.ff_inputs)) * (200.0 / cfg.ff_inputs)
    src = SpikeSource.poisson("in", cfg.ff_inputs, rate=cfg.ff_rate_hz * Hz, steps=cfg.ff_steps,
                              random_state=cfg.seed)
    return Network(name="ff", sources=[src], populations=[Population("hid", n_hidden, du=0.2, dv=0.1, vth=1.0)],
                   projections=[Projection("in_hid", "in", "hid", w)])


def agreement(ref, res, index_map=None) -> float:
    """Spikes of the reference matched within one step (removed neurons: their spikes count as missed)."""
    from neurochip.results import Spikes, compare_spikes

    if index_map is not None:  # the compressed run's spikes back in the original indices
        old = np.nonzero(index_map >= 0)[0]
        t = res.spikes["hid"]
        res = replace(res, spikes={**res.spikes, "hid": Spikes(old[t.indices], t.steps)})
    return compare_spikes(ref, res, "hid", tolerance_steps=1)["agreement"]


def ff_sweep(cfg: Config, pts) -> dict:
    """Agreement, cores, memory, energy of the feed-forward network per point, and the fit to the chip."""
    import mapping
    from mapping.placement import LOIHI1
    from neurochip.reference import simulate

    net = ff_network(cfg)
    t0 = time.perf_counter()
    ref = simulate(net, cfg.ff_steps)
    out = {"hidden": net["hid"].size, "inputs": cfg.ff_inputs, "reference_spikes": int(ref.spikes["hid"].steps.size),
           "reference_seconds": time.perf_counter() - t0, "points": {}}
    for s, b in pts:
        small, rep = mapping.compress(net, sparsity=s, weight_bits=b, rescale=cfg.rescale, clip=cfg.ff_clip)
        res = simulate(small, cfg.ff_steps)
        out["points"][key(s, b)] = {"agreement": agreement(ref, res), **_resources(small, res, rep.weight_bits)}
    chip = replace(LOIHI1, cores=cfg.fit_chip_cores)
    t0 = time.perf_counter()
    fitted, rep = mapping.compress(net, chip, fit=True)
    fit_s = time.perf_counter() - t0
    res = simulate(fitted, cfg.ff_steps)
    summary = {k: ({kk: vv for kk, vv in v.items() if kk != "removed"} if isinstance(v, dict) else v)
               for k, v in rep.fit.items()}  # the removed indices are in the report, not the metrics
    out["fit"] = {"chip_cores": cfg.fit_chip_cores, "before": rep.placement_before, "after": rep.placement_after,
                  "fit": summary, "agreement": agreement(ref, res, rep.index_maps.get("hid")),
                  "fitted_spikes": int(res.spikes["hid"].steps.size), "seconds": fit_s}
    return out


def lava_deploy(cfg: Config, clf, X, imp=None) -> tuple[dict, object]:
    """One classifier point on Lava fixed point: agreement with the numpy float run of the same network."""
    import mapping
    from neurochip.plasticity.wta import sample_steps, wta_network

    from neurochip.reference import simulate

    c = compressed_classifier(cfg, clf, cfg.deploy_sparsity, cfg.deploy_bits, imp)
    for r in c._encode(X):  # the first query whose output network spikes
        net = wta_network(c.W_, c._out(), raster=r)
        steps = cfg.lava_steps or sample_steps(r, c._out())
        if simulate(net, steps).spikes["out"].steps.size:
            break
    dep = mapping.compile(net, "loihi2-sim-fixed")
    agree = mapping.verify(dep, steps)
    result = mapping.run(dep, steps)
    return {"point": key(cfg.deploy_sparsity, cfg.deploy_bits), "steps": steps,
            "agreement_total": agree["total"], "populations": {k: v for k, v in agree.items()
                                                               if k not in ("total", "breakdown")},
            "placement_cores": dep.report["placement"]["cores_used"]}, result


def classifier_sweep(cfg: Config, pts) -> tuple[dict, tuple]:
    """Twin tasks, gas batch 1 (choice: least energy within ``tolerance_points`` of 8-bit dense), batch 2 (check).

    Returns the figures and the last batch-2 classifier with its queries and synapse importance
    (for the Lava deployment).
    """
    t0 = time.perf_counter()
    twin = twin_accuracies(cfg, pts)
    choose, check, clf2, Xq, imp2 = gas_accuracies(cfg, pts)
    resources = classifier_resources(cfg, clf2, Xq, pts, cfg.energy_samples, imp2)
    base, target = key(0.0, 8), key(0.5, 4)
    ok = [key(s, b) for s, b in pts if 100 * (choose[base] - choose[key(s, b)]) <= cfg.tolerance_points]
    out = {"twin": {k: stats(v) for k, v in twin.items()}, "gas_batch1_choose": choose,
           "gas_batch2_check": {k: stats(v) for k, v in check.items()}, "resources": resources,
           "chosen_on_batch1": min(ok, key=lambda k: resources[k]["energy_j"]), "target_4bit_50pct": None}
    if (0.5, 4) in pts:
        loss = {"twin": check_loss(twin, base, target), "batch2": check_loss(check, base, target)}
        out["target_4bit_50pct"] = {**loss, "within_1_point": bool(all(v["mean"] <= 1 for v in loss.values()))}
        if target + ",magnitude" in twin:  # the same point pruned by magnitude, for comparison
            out["target_4bit_50pct"]["by_magnitude"] = {
                "twin": check_loss(twin, base, target + ",magnitude"),
                "batch2": check_loss(check, base, target + ",magnitude")}
    out["seconds"] = time.perf_counter() - t0
    return out, (clf2, Xq, imp2)


def stats(values) -> dict:
    v = 100 * np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def pareto(xs, ys) -> list[int]:
    """Indices of points not dominated (lower x, higher y)."""
    return [i for i in range(len(xs))
            if not any((xs[j] <= xs[i] and ys[j] >= ys[i]) and (xs[j] < xs[i] or ys[j] > ys[i])
                       for j in range(len(xs)))]


def front_labels(front, names, xs, ys, *, close: float = 0.01) -> list:
    """One label per group of front points that would print on top of each other (within ``close``
    of the axes' spans): their names joined, at the group's first point."""
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    groups: list = []
    for i in front:
        for g in groups:
            j = g[0]
            if abs(xs[i] - xs[j]) <= close * span_x and abs(ys[i] - ys[j]) <= close * span_y:
                g.append(i)
                break
        else:
            groups.append([i])
    return [(" / ".join(names[i] for i in g), (xs[g[0]], ys[g[0]])) for g in groups]


def pareto_figure(cls_points: dict, ff_points: dict, accuracy: dict):
    import matplotlib.pyplot as plt

    from neurochip.plotting import legend_outside

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, data, xk, yk, xl, yl in (
            (axes[0], cls_points, "energy_j", None, "energy per inference (nJ, Loihi 1 figures)",
             "accuracy on gas batch 2 (%)"),
            (axes[1], ff_points, "cores_loihi1", "agreement", "Loihi 1 cores",
             "spike agreement with the float reference (%)")):
        names = list(data)
        xs = [data[n][xk] * (1e9 if xk == "energy_j" else 1) for n in names]
        ys = [accuracy[n] if yk is None else 100 * data[n][yk] for n in names]
        front = pareto(xs, ys)
        ax.scatter(xs, ys, c="0.6", s=18, label="a point (sparsity s, weight bits b)")
        fx = sorted(front, key=lambda i: xs[i])
        ax.plot([xs[i] for i in fx], [ys[i] for i in fx], "o-", c="C3", label="Pareto front")
        for label, (x, y) in front_labels(fx, names, xs, ys):
            ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        legend_outside(ax, where="below", ncol=2)
    axes[0].set_title("few-shot classifier (post-training compression)")
    axes[1].set_title("feed-forward network")
    fig.tight_layout()
    return fig


@experiment_main
def main(cfg: Config) -> Path:
    from neurochip import plotting

    start = time.perf_counter()
    run_dir = start_run(cfg)
    pts = points(cfg)
    if (0.0, 8) not in pts:
        raise ValueError(f"config: the sweep needs the 8-bit dense point (0 in sparsities, 8 in bits), got "
                         f"sparsities {cfg.sparsities}, bits {cfg.bits}")
    classifier, (clf2, Xq, imp2) = classifier_sweep(cfg, pts)
    deploy, lava_result = lava_deploy(cfg, clf2, Xq, imp2)
    save_figure(plotting.raster_result(lava_result, title=f"Lava fixed point, classifier at {deploy['point']}"),
                run_dir / "raster.png")
    ff = ff_sweep(cfg, pts)
    check_stats = classifier["gas_batch2_check"]
    chosen, base = classifier["chosen_on_batch1"], key(0.0, 8)
    save_figure(pareto_figure(classifier["resources"], ff["points"],
                              {k: check_stats[k]["mean"] for k in classifier["resources"]}),
                run_dir / "pareto.png")
    metrics = {
        "points": [key(s, b) for s, b in pts],
        "classifier": classifier,
        "lava_deploy": deploy,
        "feed_forward": ff,
        "wall_time_s": time.perf_counter() - start,
    }
    write_metrics(run_dir, metrics)
    print(f"compression: chosen on batch 1 {chosen}; batch 2 8-bit dense {check_stats[base]['mean']:.1f} %, chosen "
          f"{check_stats[chosen]['mean']:.1f} %; fit {ff['fit']['before'].get('cores_needed')} -> "
          f"{ff['fit']['after'].get('cores_used')} cores, agreement {100 * ff['fit']['agreement']:.2f} %; "
          f"Lava {deploy['point']} agreement {100 * deploy['agreement_total']['agreement']:.1f} %; wrote {run_dir}")
    return run_dir


def check_loss(values: dict, base: str, point: str) -> dict:
    """Accuracy of 8-bit dense minus that of ``point``, in points, per task / draw (mean, sd, n)."""
    d = 100 * (np.asarray(values[base]) - np.asarray(values[point]))
    return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if d.size > 1 else 0.0, "n": int(d.size)}


if __name__ == "__main__":
    main(parse_config(Config))
