"""Drift detection on a per-sample spike statistic: a class-conditional one-sided CUSUM.

Issue 19 measured that the spike *density* of a latency-coded sensor stream does not
move under sensor drift (each sample sends about the same number of spikes), while
the readout's output spikes do: under drift the stored exemplars match worse, so the
winning class's neuron fires fewer spikes. The detector here watches one number per
inference (an event: one sample), by default the spike count of the winning class
(:func:`readout_statistic`), and works in four cheap steps per sample:

1. the statistic is standardized with the reference of the class the readout decided
   (mean and spread learned on held-out readouts of the calibration period:
   :func:`out_of_fold_statistic`), so that a change of the gas mix (some gases fire
   more than others) is not mistaken for drift: ``z = (x - mean[c]) / max(sd[c], min_sd)``;
2. ``z`` is clipped to ``[-clip, clip]`` (one odd sample moves the sum by at most ``clip``);
3. a one-sided lower CUSUM ``g = max(0, g - z - k)`` raises an alarm when ``g > h``
   (Page 1954; ``k`` is half the shift in units of ``sd`` it is tuned for, ``h`` the
   decision interval: for a Gaussian statistic, ``k = 0.5, h = 8`` gives an in-control
   run length of several thousand samples);
4. after a ``drift`` event the detector is in alarm until the mirrored test
   ``r = max(0, r + z + k) > h`` says the statistic is back at its reference (a
   ``recovered`` event), as the meta-regulator's band alarms are: one lasting change
   gives one event, not one per ``h / k`` samples. A regime that stays drifted
   (a later batch) stays in alarm until the classifier adapts and the detector is
   re-fitted (:meth:`DriftDetector.fit` on the adapted classifier's held-out readouts).

Pure step function (:func:`drift_step`) on a small state, and a thin estimator
(:class:`DriftDetector`, ``fit`` / ``update`` / ``run``), usable beside the
:class:`~neurochip.regulator.MetaRegulator` (its alarm is an event like the band's).
Nothing here imports sensors or mapping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurochip._validation import check_float, check_int

#: Statistics :func:`readout_statistic` computes from a readout's output spikes.
STATISTICS = ("winner_spikes", "total_spikes", "margin")


@dataclass(frozen=True)
class DriftParams:
    """Settings of the class-conditional CUSUM (see the module docstring).

    Parameters
    ----------
    k : float
        Allowance per sample, in units of the reference spread (half the shift to detect).
    h : float
        Decision interval: a ``drift`` event when the lower sum exceeds it, a ``recovered``
        event when the recovery sum does.
    clip : float
        Standardized values are clipped to ``[-clip, clip]``.
    min_sd : float
        Floor of the reference spread (spike counts are integers: a class that always
        fired 5 spikes in calibration has spread 0).
    """

    k: float = 0.5
    h: float = 8.0
    clip: float = 3.0
    min_sd: float = 0.5

    def __post_init__(self):
        owner = "DriftParams"
        check_float(owner, "k", self.k, low=0.0)
        check_float(owner, "h", self.h, low=0.0, low_open=True)
        check_float(owner, "clip", self.clip, low=0.0, low_open=True)
        check_float(owner, "min_sd", self.min_sd, low=0.0, low_open=True)


@dataclass
class DriftState:
    """State of :func:`drift_step`: the two sums, the alarm flag and the per-class reference."""

    mean: np.ndarray
    sd: np.ndarray
    g: float = 0.0          # lower CUSUM (normal -> drifted), judged while not in alarm
    r: float = 0.0          # recovery CUSUM (drifted -> normal), judged while in alarm
    alarm: bool = False

    def __post_init__(self):
        self.mean = np.array(self.mean, dtype=float)
        self.sd = np.array(self.sd, dtype=float)


#: Events of :func:`drift_step`.
DRIFT, RECOVERED = "drift", "recovered"


def drift_step(state: DriftState, x: float, group: int, params: DriftParams) -> tuple[str | None, DriftState]:
    """One sample: statistic ``x`` of a sample the readout assigned to class ``group``.

    Returns ``(event, state)``: ``"drift"``, ``"recovered"`` or ``None`` (``state`` is updated in
    place). Out of alarm ``g = max(0, g - z - k)`` tests a drop of the mean by ``2 k``; in alarm
    ``r = max(0, r + z + k)`` tests the return to the reference (the same test mirrored).
    """
    z = (x - state.mean[group]) / max(state.sd[group], params.min_sd)
    z = min(max(z, -params.clip), params.clip)
    if not state.alarm:
        state.g = max(0.0, state.g - z - params.k)
        if state.g > params.h:
            state.g, state.r, state.alarm = 0.0, 0.0, True
            return DRIFT, state
        return None, state
    state.r = max(0.0, state.r + z + params.k)
    if state.r > params.h:
        state.g, state.r, state.alarm = 0.0, 0.0, False
        return RECOVERED, state
    return None, state


@dataclass
class DriftLog:
    """What :meth:`DriftDetector.run` saw: samples that raised ``drift`` and ``recovered`` events,
    and the alarm state after each sample (the flagged samples)."""

    alarms: np.ndarray
    recoveries: np.ndarray
    in_alarm: np.ndarray

    def to_dict(self) -> dict:
        return {"alarms": self.alarms.tolist(), "recoveries": self.recoveries.tolist(),
                "flagged": np.nonzero(self.in_alarm)[0].tolist()}


class DriftDetector:
    """Class-conditional lower CUSUM on a per-sample spike statistic (module docstring).

    Parameters
    ----------
    k, h, clip, min_sd : see :class:`DriftParams`.

    Attributes
    ----------
    mean_, sd_ : ndarray (n_classes,)
        Reference of the statistic per class, from :meth:`fit`.
    state_ : DriftState
        The running state (after :meth:`fit`, :meth:`reset`, :meth:`update`).

    Examples
    --------
    >>> import numpy as np
    >>> det = DriftDetector(k=0.5, h=5.0).fit(np.array([5.0, 4.0, 6.0, 5.0]), np.zeros(4, dtype=int))
    >>> log = det.run(np.r_[np.full(20, 5.0), np.full(20, 3.0)], np.zeros(40, dtype=int))
    >>> log.alarms.tolist()     # sd 0.71: z = -2.83, g grows by 2.33 per sample, > 5 at the third
    [22]
    """

    def __init__(self, *, k: float = 0.5, h: float = 8.0, clip: float = 3.0, min_sd: float = 0.5):
        self.k, self.h, self.clip, self.min_sd = k, h, clip, min_sd

    @property
    def params(self) -> DriftParams:
        return DriftParams(k=self.k, h=self.h, clip=self.clip, min_sd=self.min_sd)

    def fit(self, x, groups, *, n_groups: int | None = None) -> "DriftDetector":
        """Reference mean and spread of statistic ``x`` per class ``groups`` (held-out readouts).

        A class without calibration samples gets the mean and spread of all samples.
        """
        x, groups = self._check(x, groups, "fit", n_groups)
        self.params  # validates the settings
        n = int(groups.max()) + 1 if n_groups is None else int(n_groups)
        if x.size == 0:
            raise ValueError("DriftDetector.fit: x should hold at least one calibration sample, got 0")
        mean = np.full(n, float(x.mean()))
        sd = np.full(n, float(x.std()))
        for c in range(n):
            if np.any(groups == c):
                mean[c], sd[c] = float(x[groups == c].mean()), float(x[groups == c].std())
        self.mean_, self.sd_ = mean, sd
        return self.reset()

    def reset(self) -> "DriftDetector":
        """Back to the fitted reference, sum 0."""
        self._fitted()
        self.state_ = DriftState(self.mean_, self.sd_)
        return self

    def update(self, x: float, group: int) -> str | None:
        """One sample (event-driven): ``"drift"``, ``"recovered"`` or ``None``."""
        self._fitted()
        if not 0 <= int(group) < self.mean_.size:
            raise ValueError(f"DriftDetector.update: group should be in [0, {self.mean_.size}), got {group}")
        event, self.state_ = drift_step(self.state_, float(x), int(group), self.params)
        return event

    def run(self, x, groups) -> DriftLog:
        """Feed a stream sample by sample (continuing from the current state)."""
        self._fitted()
        x, groups = self._check(x, groups, "run", self.mean_.size)
        params = self.params
        alarms, recoveries, in_alarm = [], [], np.zeros(x.size, dtype=bool)
        for i in range(x.size):
            event, self.state_ = drift_step(self.state_, float(x[i]), int(groups[i]), params)
            if event == DRIFT:
                alarms.append(i)
            elif event == RECOVERED:
                recoveries.append(i)
            in_alarm[i] = self.state_.alarm
        return DriftLog(np.array(alarms, dtype=int), np.array(recoveries, dtype=int), in_alarm)

    # ---------------------------------------------------------------- checks
    def _fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise ValueError("DriftDetector: call fit(x, groups) with calibration readouts first")

    @staticmethod
    def _check(x, groups, where: str, n_groups):
        x = np.asarray(x, dtype=float)
        groups = np.asarray(groups)
        if x.ndim != 1 or groups.shape != x.shape:
            raise ValueError(f"DriftDetector.{where}: x and groups should be 1-D of the same length, got shapes "
                             f"{x.shape} and {groups.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"DriftDetector.{where}: x should be finite, got {int(np.sum(~np.isfinite(x)))} "
                             f"NaN or infinite values")
        if groups.size and (groups.dtype.kind not in "iu" or groups.min() < 0
                            or (n_groups is not None and groups.max() >= n_groups)):
            raise ValueError(f"DriftDetector.{where}: groups should be class indices in [0, "
                             f"{n_groups if n_groups is not None else 'n'}), got dtype {groups.dtype}, range "
                             f"[{groups.min()}, {groups.max()}]")
        return x, groups.astype(int)


def readout_statistic(readout, n_classes: int, *, statistic: str = "winner_spikes") -> np.ndarray:
    """Per-sample drift statistic from a readout's output spikes (a ``SpikeReadout`` of
    :meth:`neurochip.plasticity.FewShotSpikingClassifier.output_spikes`: ``counts``, ``owner``,
    ``prediction``, ``margin``).

    ``"winner_spikes"``: most spikes of any neuron of the decided class; ``"total_spikes"``: all
    output spikes of the sample; ``"margin"``: winner minus best other class.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"readout_statistic: statistic should be one of {', '.join(STATISTICS)}, got "
                         f"{statistic!r}")
    counts = np.asarray(readout.counts, dtype=float)
    if statistic == "total_spikes":
        return counts.sum(axis=1)
    if statistic == "margin":
        return np.asarray(readout.margin, dtype=float)
    owner = np.asarray(readout.owner, dtype=int)
    mine = owner[None, :] == np.asarray(readout.prediction, dtype=int)[:, None]
    return np.where(mine, counts, -np.inf).max(axis=1)


def out_of_fold_statistic(make_classifier, X, y, *, folds: int = 5, statistic: str = "winner_spikes"):
    """Held-out readouts of the calibration period, the detector's reference.

    ``make_classifier()`` returns an unfitted classifier with ``fit``, ``output_spikes`` and
    ``classes_`` (e.g. ``lambda: FewShotSpikingClassifier(random_state=0)``). Each gas's rows are
    dealt round-robin to ``folds`` folds; every fold is read out by a classifier fitted on the
    others. Returns ``(x, groups)``: the statistic and the decided class index (into the sorted
    labels, as ``classes_`` of a classifier fitted on all of ``y``).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    folds = check_int("out_of_fold_statistic", "folds", folds, minimum=2)
    classes = np.unique(y)
    fold = np.zeros(y.size, dtype=int)
    for c in classes:
        i = np.nonzero(y == c)[0]
        fold[i] = np.arange(i.size) % folds
    x, groups = np.empty(y.size), np.empty(y.size, dtype=int)
    for f in range(folds):
        held = fold == f
        if not held.any():
            continue
        clf = make_classifier().fit(X[~held], y[~held])
        r = clf.output_spikes(X[held])
        x[held] = readout_statistic(r, clf.classes_.size, statistic=statistic)
        groups[held] = np.searchsorted(classes, clf.classes_[r.prediction])
    return x, groups
