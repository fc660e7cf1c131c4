"""Drift on recorded streams and the feedback of edge cases into the gas twin (issue 19, items 3 and 4).

Streams (recording order) are read out by the exemplar classifier
(:class:`neurochip.plasticity.FewShotSpikingClassifier`) and watched by
:class:`neurochip.regulator.DriftDetector` on one spike statistic per sample:

- :func:`readout_stream`: statistic and decided class of every sample of a stream;
- :func:`recorded_stream`: fit on batch 1's first half (per gas, file order), stream batch 1's
  second half then batch 2: one recorded boundary;
- :func:`twin_streams`: the same protocol on the twin calibrated to that half, with boundaries
  to drifted twins (:class:`sensors.randomization.DriftSpec`): settings are chosen here and on
  batch 1, not on the one recorded boundary;
- :func:`score_alarms`: delay at the boundary and false alarms per 1,000 samples inside batches.

Feedback (:func:`widen_drift`, :func:`feedback_round`): flagged samples go to an
:class:`sensors.edge_cases.EdgeCaseStore`; the twin's drift randomization is widened until its
drifted twins cover them, and the classifier's rule is re-selected on drift tasks of the widened
twin.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neurochip.regulator.drift import out_of_fold_statistic, readout_statistic
from sensors.calibration import calibrate_gas_twin, first_half
from sensors.randomization import DRIFT_KINDS, DriftSpec


@dataclass
class Stream:
    """A readout stream: statistic ``x`` and decided class ``groups`` per sample, the reference
    (held-out readouts of the calibration period), and where the boundaries are."""

    x: np.ndarray
    groups: np.ndarray
    x_ref: np.ndarray
    groups_ref: np.ndarray
    boundaries: tuple
    correct: np.ndarray
    name: str = "stream"


def _classifier(random_state: int = 0):
    from neurochip.plasticity import FewShotSpikingClassifier

    return FewShotSpikingClassifier(random_state=random_state)


def readout_stream(clf, X, *, statistic: str = "winner_spikes") -> tuple[np.ndarray, np.ndarray]:
    """Statistic and decided class index of every sample of ``X`` (one readout each)."""
    r = clf.output_spikes(X)
    return readout_statistic(r, clf.classes_.size, statistic=statistic), r.prediction


def _stream(clf, X_fit, y_fit, parts, *, statistic: str, name: str, folds: int = 5) -> Stream:
    x_ref, g_ref = out_of_fold_statistic(_classifier, X_fit, y_fit, folds=folds, statistic=statistic)
    xs, gs, ok = [], [], []
    for X, y in parts:
        x, g = readout_stream(clf, X, statistic=statistic)
        xs.append(x)
        gs.append(g)
        ok.append(clf.classes_[g] == np.asarray(y))
    bounds = tuple(int(b) for b in np.cumsum([len(x) for x in xs])[:-1])
    return Stream(np.concatenate(xs), np.concatenate(gs), x_ref, g_ref, bounds, np.concatenate(ok), name)


def recorded_stream(b1, b2, *, statistic: str = "winner_spikes") -> Stream:
    """Batch 1's second half then batch 2 (recording order), read by a classifier fitted on batch 1's first half."""
    m = first_half(b1.labels)
    clf = _classifier().fit(b1.features[m], b1.labels[m])
    return _stream(clf, b1.features[m], b1.labels[m], [(b1.features[~m], b1.labels[~m]), (b2.features, b2.labels)],
                   statistic=statistic, name="b1 second half -> b2")


def twin_streams(b1, *, n: int = 16, drift: DriftSpec = DriftSpec(), kinds=None, statistic: str = "winner_spikes",
                 random_state: int = 0) -> list[Stream]:
    """Twin boundaries: the twin calibrated to batch 1's first half, a synthetic calibration period,
    then ``n`` streams of (undrifted twin, drifted twin) in batch 1's second-half gas order and concentrations.

    ``kinds``: restrict the drift to these kinds of :data:`DRIFT_KINDS` (the others set to 0).
    """
    rng = np.random.default_rng(random_state)
    m = first_half(b1.labels)
    twin = calibrate_gas_twin(b1.features[m], b1.labels[m], b1.concentration[m])
    if kinds is not None:
        drift = dataclasses.replace(drift, **{k: (0.0, 0.0) for k in DRIFT_KINDS if k not in kinds})
    y_fit, lab, conc = b1.labels[m], b1.labels[~m], b1.concentration[~m]
    X_fit = twin.sample(y_fit, b1.concentration[m], random_state=int(rng.integers(2 ** 31)))
    clf = _classifier().fit(X_fit, y_fit)
    x_ref, g_ref = out_of_fold_statistic(_classifier, X_fit, y_fit, statistic=statistic)
    out = []
    for i in range(n):
        drifted, _ = drift.draw(twin, rng)
        parts = [(twin.sample(lab, conc, random_state=int(rng.integers(2 ** 31))), lab),
                 (drifted.sample(lab, conc, random_state=int(rng.integers(2 ** 31))), lab)]
        xs = [readout_stream(clf, X, statistic=statistic) for X, _ in parts]
        ok = np.concatenate([clf.classes_[g] == y for (_, g), (_, y) in zip(xs, parts)])
        out.append(Stream(np.concatenate([x for x, _ in xs]), np.concatenate([g for _, g in xs]), x_ref, g_ref,
                          (lab.size,), ok, f"twin {i}"))
    return out


def score_alarms(alarms, boundaries, n: int, *, within: int = 20) -> dict:
    """Delay (samples after the boundary, 0 = the boundary's first sample) of the first alarm in each
    segment after a boundary, and false alarms: every other alarm (inside a batch).

    ``delays`` holds ``None`` for a boundary without an alarm before the next boundary.
    """
    alarms = np.asarray(alarms, dtype=int)
    edges = [0, *boundaries, n]
    delays, false = [], 0
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        inside = alarms[(alarms >= a) & (alarms < b)]
        if s == 0:
            false += inside.size
            continue
        delays.append(int(inside[0] - a) if inside.size else None)
        false += max(inside.size - 1, 0)
    in_batch = n
    return {"delays": delays, "flagged_within": sum(d is not None and d < within for d in delays),
            "boundaries": len(boundaries), "false_alarms": int(false), "samples": int(in_batch),
            "false_per_1000": 1000.0 * false / in_batch}


def widen_drift(drift: DriftSpec, factor: float) -> DriftSpec:
    """``drift`` with the upper end of every range multiplied by ``factor`` (lower ends kept)."""
    if not factor >= 1.0:
        raise ValueError(f"widen_drift: factor should be >= 1, got {factor!r}")
    return DriftSpec(**{k: (getattr(drift, k)[0], getattr(drift, k)[1] * factor) for k in DRIFT_KINDS})


#: Row-local terms the feedback's short meta-learning searches (those of the default rule's experiment).
ROW_LOCAL_TERMS = ("u0*x1*y3", "u0*y3*w", "u0*x1*y3*w", "x0*y3")


def feedback_round(store, *, rules: dict, drift: DriftSpec = DriftSpec(), factors=(1.0, 1.5, 2.0, 3.0),
                   target: float = 0.9, n_tasks: int = 8, meta_generations: int = 0, meta_popsize: int = 4,
                   meta_tasks: int = 2, batch: int = 1, folder=None, random_state: int = 0) -> dict:
    """One feedback round: widen the twin's drift randomization to cover the labeled edge cases, then
    (optionally) a short meta-learning on drift tasks of the widened twin, then re-select the
    classifier's rule on other tasks of the widened twin.

    The twin is the one calibrated to recorded batch ``batch`` (``GasDriftTaskSampler``'s). Coverage
    (:func:`sensors.calibration.drift_coverage`, 40 drifted twins) is measured on the store's labeled
    samples for every factor of :func:`widen_drift`; the smallest factor whose coverage reaches
    ``target`` is kept (the best coverage if none does). Each rule of ``rules`` (name -> rule for
    ``FewShotSpikingClassifier``) is scored by ``DriftInnerLoop`` on ``n_tasks`` tasks of the widened
    twin; the best mean accuracy wins. With ``meta_generations > 0`` a CMA-ES run
    (:class:`neurochip.plasticity.MetaLearner`, serial, ``meta_popsize`` candidates x ``meta_tasks``
    tasks per generation, the row-local terms, started from the shipped default rule) on tasks of the
    widened twin adds its rule to the candidates (``"meta-learned (feedback)"``); the re-selection
    tasks (seeds from 10,000) are not those it trained on.
    """
    from neurochip.encoding import RayScaler
    from neurochip.plasticity import DriftInnerLoop
    from sensors.calibration import drift_coverage
    from sensors.gas_drift import load_gas_drift
    from sensors.tasks import GasDriftTaskSampler

    lab = store.labeled() & np.isfinite(store.concentration)
    if not lab.any():
        raise ValueError("feedback_round: the edge-case store has no labeled samples with a concentration "
                         f"({len(store)} samples); add the labeled shots of the drifted period")
    ref = load_gas_drift(batch, folder=folder)
    twin = calibrate_gas_twin(ref.features, ref.labels, ref.concentration)
    scaler = RayScaler().fit(ref.features)
    X, y, c = store.features[lab], store.labels[lab], store.concentration[lab]
    coverage = {float(f): drift_coverage(twin, X, y, c, widen_drift(drift, f), scaler=scaler,
                                         random_state=random_state)["inside"] for f in factors}
    reached = [f for f in coverage if coverage[f] >= target]
    factor = min(reached) if reached else max(coverage, key=coverage.get)
    widened = widen_drift(drift, factor)
    inner = DriftInnerLoop(sampler=GasDriftTaskSampler(batch=batch, folder=folder, drift=widened,
                                                       random_state=random_state))
    rules = dict(rules)
    learned = None
    if meta_generations > 0:
        from neurochip.plasticity import MetaLearner, MetaSpace, load_default_rule

        ml = MetaLearner(space=MetaSpace(terms=ROW_LOCAL_TERMS, scale="log2", dead_zone=0.5, tau_max=128.0,
                                         w_min=-1.0, w_max=1.0),
                         inner=inner, generations=int(meta_generations), popsize=int(meta_popsize), sigma0=0.3,
                         x0=load_default_rule(), tasks_per_eval=int(meta_tasks), validation_tasks=int(meta_tasks),
                         synops_cost=0.0, address="serial", progress=False, random_state=random_state).fit()
        learned = ml.rule_
        learned.name = "meta_learned_feedback"
        rules["meta-learned (feedback)"] = learned
    seeds = list(range(10_000, 10_000 + n_tasks))
    acc, _ = inner.evaluate_rules(list(rules.values()), seeds)
    scores = dict(zip(rules, acc.mean(axis=1).tolist()))
    best = max(scores, key=scores.get)
    return {"coverage": coverage, "factor": factor, "drift": dataclasses.asdict(widened), "rule_scores": scores,
            "rule": best, "rule_object": rules[best], "candidates": rules, "learned_rule": None if learned is None else learned.to_dict(),
            "labeled_edge_cases": int(lab.sum())}


def edge_cases_from_stream(clf, b_later, stream: Stream, alarms, *, k_shot: int = 5, random_state: int = 0):
    """The edge cases of one recorded boundary, in an :class:`~sensors.edge_cases.EdgeCaseStore`.

    ``stream`` ends with the later batch ``b_later`` (from its last boundary on). Stored: the
    later batch's samples from the first alarm after the boundary on while the detector stays in
    alarm (``in_alarm``, unlabeled: no label is known there), and the protocol's labeled shots of
    the later batch (``k_shot`` per gas, :func:`sensors.tasks.recorded_shots`) with the reason
    ``misclassified_before_adapt`` for those ``clf`` gets wrong and ``misclassified_after_adapt``
    for those a copy adapted on the shots still gets wrong. Returns ``(store, shots, rest)``.
    """
    import copy

    from sensors.edge_cases import EdgeCaseStore
    from sensors.tasks import recorded_shots

    start = stream.boundaries[-1]
    alarms = np.asarray(alarms, dtype=int)
    store = EdgeCaseStore.empty(b_later.features.shape[1])
    after = alarms[alarms >= start]
    if after.size:
        idx = np.arange(after[0], stream.x.size) - start
        store.add(b_later.features[idx], reason="in_alarm", predicted=clf.predict(b_later.features[idx]),
                  concentration=b_later.concentration[idx], stream_index=idx + start)
    shots, rest = recorded_shots(b_later.labels, k_shot, random_state=random_state)
    X, y = b_later.features[shots], b_later.labels[shots]
    adapted = copy.deepcopy(clf).adapt(X, y)
    for reason, pred in (("misclassified_before_adapt", clf.predict(X)), ("misclassified_after_adapt",
                                                                          adapted.predict(X))):
        wrong = pred != y
        store.add(X[wrong], reason=reason, predicted=pred[wrong], labels=y[wrong],
                  concentration=b_later.concentration[shots][wrong], stream_index=shots[wrong] + start)
    right = clf.predict(X) == y      # the shots it got right are labeled evidence too (coverage needs every gas)
    store.add(X[right], reason="shot", predicted=clf.predict(X)[right], labels=y[right],
              concentration=b_later.concentration[shots][right], stream_index=shots[right] + start)
    return store, shots, rest


def recorded_accuracy(b_fit, b_later, rule, *, k_shot: int = 5, draws: int = 5) -> tuple[float, float]:
    """Mean and std over ``draws`` shot draws: fit on ``b_fit``, adapt with ``k_shot`` shots per gas of
    ``b_later`` (:func:`sensors.tasks.recorded_shots`, seeds 0 ... draws - 1), score on the rest."""
    from neurochip.plasticity import FewShotSpikingClassifier
    from sensors.tasks import recorded_shots

    acc = []
    for d in range(draws):
        s, r = recorded_shots(b_later.labels, k_shot, random_state=d)
        clf = FewShotSpikingClassifier(rule=rule, random_state=0).fit(b_fit).adapt(b_later.features[s],
                                                                                b_later.labels[s])
        acc.append(clf.score(b_later.features[r], b_later.labels[r]))
    return float(np.mean(acc)), float(np.std(acc))


def documented_rules() -> dict:
    """Candidate rules of the feedback's re-selection: the shipped default and two documented writers."""
    from neurochip.plasticity import supervised_hebbian

    return {"default": "default",
            "exemplar writer supervised_hebbian(2^-2, 2^-2, tau 64)": supervised_hebbian(eta=2 ** -2, decay=2 ** -2,
                                                                                         tau=64.0),
            "supervised_hebbian()": supervised_hebbian()}


def collision_streams(b1, *, alphas=(0.2, 0.35, 0.5), seeds=(0, 2, 4), statistic: str = "winner_spikes") -> list[Stream]:
    """Recorded boundaries without a later batch: batch 1's second half, then the same rows moved
    toward another gas by :func:`sensors.randomization.collision_drift` (fraction ``alpha``, partner
    gases drawn by ``seed``), read by the classifier fitted on batch 1's first half."""
    from sensors.randomization import collision_drift

    m = first_half(b1.labels)
    clf = _classifier().fit(b1.features[m], b1.labels[m])
    X2, y2 = b1.features[~m], b1.labels[~m]
    x_ref, g_ref = out_of_fold_statistic(_classifier, b1.features[m], b1.labels[m], statistic=statistic)
    base = readout_stream(clf, X2, statistic=statistic)
    out = []
    for a in alphas:
        for s in seeds:
            Xd = collision_drift(X2, y2, b1.features[m], b1.labels[m], a, random_state=s)
            x, g = readout_stream(clf, Xd, statistic=statistic)
            ok = np.concatenate([clf.classes_[base[1]] == y2, clf.classes_[g] == y2])
            out.append(Stream(np.r_[base[0], x], np.r_[base[1], g], x_ref, g_ref, (y2.size,), ok,
                              f"b1 second half -> collision {a:g} (seed {s})"))
    return out
