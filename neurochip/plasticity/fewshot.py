"""Few-shot spiking classifiers that learn with a plastic rule only (scikit-learn estimators).

:class:`FewShotSpikingClassifier` (the default design, for recorded sensor arrays under drift)::

    X (raw features) --RayScaler: x / median|x| per feature, then / ||x||_2 per sample-->
      --LatencyPopulationEncoder (6 Gaussian fields per feature, one spike each, 16 steps)-->
      --"plastic" W, the rule (label-gated)-->  one LIF neuron per stored exemplar (du = 1, dv = 0)
      --"ff": -ff per input spike;  "clock": clock_ per extra step;  "wta": between classes only
    decision: the class whose neuron spiked most; ties: first spike, then lowest class index

Everything the readout needs is set in :meth:`~FewShotSpikingClassifier.fit`
from the data: the input scaling (feature medians), the encoder range, the
feed-forward inhibition ``ff_`` (the median best *wrong*-class drive per input
spike, so wrong matches integrate to about zero) and the threshold ``vth_``
(the median best *right*-class neuron fires ``n_target`` spikes), measured on
``k_cal`` trial exemplars per class; lateral inhibition ``inh * vth_`` spread
over the neurons of the inhibiting class; a clock input ``clock * vth_`` per
extra step so that the best match always fires. Weights are only ever changed
by the rule: a shot is *written* into an output neuron by presenting it with
that neuron's third factor on (the default rule overwrites the neuron with the
shot's code in about 16 steps). ``fit`` writes one exemplar per class, then one
more for every fit sample the spiking network gets wrong (``passes`` passes).
``adapt`` detects stale classes from the shots and rewrites them (see its
docstring). The network is :func:`neurochip.plasticity.wta.wta_network`.

:class:`PrototypeSpikingClassifier`: one LIF neuron per class with a teacher
current and soft winner-take-all, fixed parameters; the classifier whose rule
:class:`~neurochip.plasticity.metalearn.MetaLearner` meta-learns on twin tasks
(:func:`~neurochip.plasticity.metalearn.evaluate_rules` is its batched twin).

Both learn on the batched numpy twin (``backend="numpy"``) or, shot by shot,
on a runner of :mod:`neurochip.runners` (``"brian2"``; ``"lava"`` from
``mapping``); they predict with the numpy twin.
"""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from neurochip._validation import check_float, check_int
from neurochip.encoding import LatencyPopulationEncoder, RayScaler
from neurochip.plasticity.functional import rule_params
from neurochip.plasticity.rules import TERMS, LearningRule
from neurochip.plasticity.wta import (Decision, OutputParams, decide, decide_spikes, input_current,  # noqa: F401
                                      learning_engine, pack_rasters, readout, sample_steps, simulate_outputs,
                                      write_rows, wta_network)
from neurochip.runners import available_runners, get_runner

#: The shipped default rule of :class:`FewShotSpikingClassifier` (with its provenance).
DEFAULT_RULE_FILE = Path(__file__).resolve().parent / "data" / "default_rule.json"
#: Format tag and version of :data:`DEFAULT_RULE_FILE`.
DEFAULT_RULE_FORMAT = "neurochip.default_rule"


def read_default_rule_file(path=None) -> dict:
    """The content of a default-rule file (:data:`DEFAULT_RULE_FILE`): ``rule``, ``version``, ``provenance``."""
    path = Path(DEFAULT_RULE_FILE if path is None else path)
    try:
        d = json.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"default rule file {path}: cannot read ({err.strerror}); regenerate it with "
                         f"'neurochip run fewshot_default_rule --set install=true'") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"default rule file {path}: not JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(d, dict) or d.get("format") != DEFAULT_RULE_FORMAT or "rule" not in d:
        raise ValueError(f"default rule file {path}: not a {DEFAULT_RULE_FORMAT!r} file (format, version, rule, "
                         f"provenance)")
    return d


@functools.lru_cache(maxsize=4)
def _default_rule_dict(path: str) -> str:
    return json.dumps(read_default_rule_file(path)["rule"])


def load_default_rule(path=None) -> LearningRule:
    """The default rule of :class:`FewShotSpikingClassifier` (a fresh copy; the file is read once)."""
    path = str(DEFAULT_RULE_FILE if path is None else path)
    try:
        return LearningRule.from_dict(json.loads(_default_rule_dict(path)))
    except (TypeError, KeyError) as err:
        raise ValueError(f"default rule file {path}: not a learning rule ({type(err).__name__}: {err})") from None


def supervised_hebbian(*, eta: float = 0.05, decay: float = 0.05, anti: float = 0.0, tau: float = 8.0,
                       w_soft: float | None = None, w_min: float = -1.0, w_max: float = 1.0,
                       name: str = "supervised_hebbian") -> LearningRule:
    """Label-gated Hebbian rule with decay on the labelled neuron (a prototype learner).

    ``dw = u0 * y3 * (eta * x1 - decay * w) - anti * y0 * x1``: while the label
    (third factor ``y3``) is on, the weights of the label neuron relax toward
    ``(eta / decay) * x1``, the pre-trace pattern of its class; ``anti``
    depresses inputs of neurons that fire. A hand-written rule, expressible on
    Loihi. The defaults ``eta = decay = 0.05`` are *not* on Lava's coefficient
    grid ``m * 2**e``: Lava runs ``rule.quantized()``, with both at
    ``3 * 2**-6 = 0.046875`` (``mapping.compile`` warns and states the
    difference); give grid values (e.g. ``2**-4``, ``3 * 2**-6``) or deploy
    ``supervised_hebbian().quantized()`` for an exact match.

    With ``eta = decay = 2**-2`` and ``tau = 64`` it *overwrites* the label
    neuron with the code of the current sample in about 16 steps (the exemplar
    writer of :class:`FewShotSpikingClassifier`'s design).

    ``w_soft`` bounds the Hebbian growth softly, ``eta * x1 * (1 - w / w_soft)``
    (Loihi term ``u0*x1*y3*w``): each weight saturates toward ``w_soft`` at a
    rate set by its own input's activity, so the class prototypes end up with
    similar norms (a dot-product readout then acts like a cosine one).
    """
    coeffs = {"u0*x1*y3": eta}
    if decay:
        coeffs["u0*y3*w"] = -decay
    if w_soft is not None:
        coeffs["u0*x1*y3*w"] = -eta / check_float("supervised_hebbian", "w_soft", w_soft, low=0.0,
                                                  low_open=True)
    if anti:
        coeffs["y0*x1"] = -anti
    return LearningRule(coefficients=coeffs, x1_impulse=1.0, x1_tau=tau, y3_impulse=1.0, y3_tau=1.0,
                        w_min=w_min, w_max=w_max, name=name)


def is_row_local(rule: LearningRule) -> bool:
    """Whether ``rule`` changes only the neuron whose third factor is on, whatever the neurons' spikes.

    True when every term has the label trace ``y3`` and none depends on post
    spikes or post traces (``y0``, ``y1``, ``y2``): e.g. ``u0*x1*y3``,
    ``u0*y3*w``, ``u0*x1*y3*w``, ``x0*y3``. Such a rule writes a shot into its
    neuron exactly as it would in the whole network.
    """
    for name, dep, factors in TERMS:
        if rule.coefficients.get(name, 0.0) != 0.0:
            if "y3" not in factors or dep == "y0" or {"y1", "y2"} & set(factors):
                return False
    return True


def _unpack(X, y=None):
    """Features (and labels) from an array or an object with ``features`` and ``labels`` (a
    ``sensors.Dataset``, ``sensors.GasDriftBatch``, a ``neurochip.recordings.Recording``)."""
    if hasattr(X, "features") and hasattr(X, "labels"):
        return np.asarray(X.features, dtype=float), (np.asarray(X.labels) if y is None else y)
    return X, y


class _SpikingClassifier(ClassifierMixin, BaseEstimator):
    """What both classifiers share: input checks, labels, the rule, learning on a backend's runner."""

    def _owner(self) -> str:
        return type(self).__name__

    def _check_backend(self) -> None:
        if self.backend != "numpy":
            try:
                get_runner(self.backend)
            except ValueError:
                raise ValueError(f"{self._owner()}: backend should be 'numpy' (the batched twin) or a runner of "
                                 f"neurochip.runners ({', '.join(available_runners())}), got "
                                 f"{self.backend!r}") from None

    def _check_X(self, X, *, reset: bool):
        try:
            return validate_data(self, X, reset=reset, dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"{self._owner()}: {err}") from None

    def _check_Xy(self, X, y):
        if y is None:
            raise ValueError(f"{self._owner()} requires y to be passed, but the target y is None (give labels, "
                             f"or a dataset with features and labels)")
        try:
            X, y = validate_data(self, X, y, reset=True, dtype=np.float64)
            check_classification_targets(y)
        except ValueError as err:
            raise ValueError(f"{self._owner()}: {err}") from None
        return X, y

    def _check_y(self, y, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"{self._owner()}: y should have shape ({n},), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"{self._owner()}: y should have finite labels, got {int(np.sum(~np.isfinite(y)))} "
                             f"NaN or infinite labels")
        return y

    def _index(self, y, *, add: bool) -> np.ndarray:
        """Class index of each label; new labels are appended to ``classes_`` when ``add``."""
        y = np.asarray(y)
        known = set(self.classes_.tolist())
        new = [c for c in np.unique(y).tolist() if c not in known]
        if new and not add:
            raise ValueError(f"{self._owner()}: y has labels never seen in fit or adapt: "
                             f"{', '.join(map(repr, new[:5]))}{' ...' if len(new) > 5 else ''} (known: "
                             f"{', '.join(map(repr, self.classes_.tolist()[:8]))}); adapt with shots of them first")
        if new:
            self.classes_ = np.concatenate([self.classes_, np.array(new, dtype=self.classes_.dtype
                                                                     if self.classes_.size else y.dtype)])
        index = {c: k for k, c in enumerate(self.classes_.tolist())}
        return np.array([index[c] for c in y.tolist()], dtype=int)

    def _learn_shot(self, W, out: OutputParams, raster, label: int, rule: LearningRule) -> np.ndarray:
        """One shot as its own network on the backend's runner (fresh state and traces, as the numpy twin)."""
        net = wta_network(W, out, raster=raster, label=label, rule=rule)
        result = get_runner(self.backend)(net, sample_steps(raster, out))
        W = np.array(result.info["weights"]["plastic"], dtype=float)
        if W.min() < rule.w_min or W.max() > rule.w_max:
            warnings.warn(f"{self._owner()}: on {self.backend} the weights left [w_min, w_max] = "
                          f"[{rule.w_min}, {rule.w_max}] (range now [{W.min():.3g}, {W.max():.3g}]); "
                          f"this backend does not clip (Lava's float LearningDense), so they differ from the "
                          f"numpy and Brian2 backends from here on. Use a rule with soft bounds or wider "
                          f"w_min / w_max.", RuntimeWarning, stacklevel=4)
        return W

    def score(self, X, y=None, sample_weight=None) -> float:
        """Accuracy (a label never seen in fit or adapt is a ValueError: it could never be predicted)."""
        X, y = _unpack(X, y)
        check_is_fitted(self)
        self._index(np.asarray(y), add=False)
        return super().score(X, y, sample_weight=sample_weight)


# ============================================================================ the default design
class SpikeReadout(NamedTuple):
    """Output spikes of :meth:`FewShotSpikingClassifier.output_spikes`, per sample (the drift signal).

    Attributes
    ----------
    counts : ndarray (n_samples, n_out)
        Spikes of every output neuron (neuron ``j`` stores an exemplar of class ``classes_[owner[j]]``).
    first : ndarray of int (n_samples, n_out)
        Step of each neuron's first spike, ``-1`` if it stayed silent.
    owner : ndarray of int (n_out,)
        Class index of each output neuron.
    prediction : ndarray of int (n_samples,)
        Class index decided (:func:`~neurochip.plasticity.wta.decide_spikes`).
    count_tie, first_tie : ndarray of bool (n_samples,)
        Several classes had the most spikes / also fired first at the same step.
    clock_decided : ndarray of bool (n_samples,)
        The winner fired only after the encoding window, pushed by the clock (or no
        output fired at all): no stored exemplar matched well (drift, or a class never seen).
    margin : ndarray (n_samples,)
        Spikes of the winning class minus those of the best other class.
    synops : float
        Synaptic events of the run (all samples).
    """

    counts: np.ndarray
    first: np.ndarray
    owner: np.ndarray
    prediction: np.ndarray
    count_tie: np.ndarray
    first_tie: np.ndarray
    clock_decided: np.ndarray
    margin: np.ndarray
    synops: float


def _class_counts(counts, owner, n_classes: int) -> np.ndarray:
    """Most spikes of any neuron of each class, (n_samples, n_classes) (-1 for a class without neurons)."""
    out = np.full(counts.shape[:-1] + (n_classes,), -1.0)
    for c in range(n_classes):
        members = owner == c
        if members.any():
            out[..., c] = counts[..., members].max(axis=-1)
    return out


class FewShotSpikingClassifier(_SpikingClassifier):
    """Spiking exemplar classifier for recorded sensor arrays: fit once, adapt to drift in a few shots.

    With no arguments it is the design measured on the UCI gas-sensor drift
    recordings (docs/plasticity.md): scaling, encoder range, threshold and
    inhibitions are set in :meth:`fit` from the data; the weights are learned by
    the shipped default rule (:func:`load_default_rule`, meta-learned on
    calibrated-twin drift tasks). See the module docstring for the network.

    Parameters
    ----------
    rule : LearningRule, "default" or None
        The plastic rule that writes shots into output neurons. ``"default"``:
        :func:`load_default_rule`. ``None``: no plasticity (weights stay 0).
    scaling : {"ray", None}
        ``"ray"``: :class:`~neurochip.encoding.RayScaler` fitted in :meth:`fit`
        (per-feature median, then per-sample L2 norm); ``None``: features as given.
    n_centers, steps, threshold, feature_range : see :class:`~neurochip.encoding.LatencyPopulationEncoder`
        (``feature_range=None``: the fit data's per-feature min / max after scaling).
    extra_steps : int
        Steps run after the encoding window (the clock spikes in each).
    n_target : float
        Spikes of the median best right-class neuron on the calibration
        samples; sets ``vth_``.
    inh : float
        Lateral inhibition between classes, in units of ``vth_`` per class.
    clock : float
        Weight of the clock spike of each extra step, in units of ``vth_``.
    k_cal : int
        Trial exemplars per class that calibrate ``ff_`` and ``vth_`` in :meth:`fit`.
    passes : int
        Passes of error-driven allocation over the fit data.
    max_per_class : int
        Most output neurons per class: a further shot of a full class overwrites
        its oldest neuron (memory stays bounded over many :meth:`adapt` calls).
    backend : str
        Where shots are written: ``"numpy"`` (the batched twin) or a runner of
        :mod:`neurochip.runners` (``"brian2"``, ``"lava"``), one network per shot.
        Prediction runs the numpy twin.
    precision : str
        The numpy twin's learning step (:func:`neurochip.plasticity.wta.learning_engine`).
    random_state : int, numpy Generator or None
        Seeds the calibration exemplars and the order of error-driven allocation.

    Attributes
    ----------
    classes_ : ndarray
        Known labels; ``owner_`` holds indices into it.
    W_ : ndarray (n_out, n_inputs)
        Learned weights, one row per output neuron.
    owner_ : ndarray of int (n_out,)
        Class index of each output neuron.
    age_ : ndarray of int (n_out,)
        When each neuron was last written (a counter; the cap overwrites the oldest).
    ff_, vth_ : float
        Feed-forward inhibition per input spike and threshold, from :meth:`fit`.
    rule_ : LearningRule or None
        The rule used.
    scaler_ : RayScaler or None
    encoder_ : LatencyPopulationEncoder
    n_fit_outputs_ : int
        Output neurons after :meth:`fit`.
    stale_ : list
        Labels that the last :meth:`adapt` found stale and rewrote.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = np.array([[1.0, 0.2, 0.1], [0.1, 1.0, 0.3]])
    >>> X = np.vstack([d[i % 2] * rng.uniform(1, 10) for i in range(40)]); y = np.arange(40) % 2
    >>> clf = FewShotSpikingClassifier(random_state=0).fit(X[:20], y[:20])
    >>> clf.score(X[20:], y[20:])
    1.0
    """

    def __init__(self, *, rule="default", scaling="ray", n_centers: int = 6, steps: int = 16,
                 threshold: float = 0.5, feature_range=None, extra_steps: int = 8, n_target: float = 8.0,
                 inh: float = 1.0, clock: float = 0.25, k_cal: int = 5, passes: int = 2,
                 max_per_class: int = 32, backend: str = "numpy", precision: str = "float", random_state=None):
        self.rule = rule
        self.scaling = scaling
        self.n_centers = n_centers
        self.steps = steps
        self.threshold = threshold
        self.feature_range = feature_range
        self.extra_steps = extra_steps
        self.n_target = n_target
        self.inh = inh
        self.clock = clock
        self.k_cal = k_cal
        self.passes = passes
        self.max_per_class = max_per_class
        self.backend = backend
        self.precision = precision
        self.random_state = random_state

    # ---------------------------------------------------------------- checks
    def _check_params(self) -> None:
        owner = self._owner()
        if isinstance(self.rule, str) and self.rule == "default":
            self.rule_ = load_default_rule()
        elif self.rule is None or isinstance(self.rule, LearningRule):
            self.rule_ = self.rule
        else:
            raise ValueError(f"{owner}: rule should be a LearningRule, 'default' or None, got "
                             f"{type(self.rule).__name__}")
        if self.scaling not in ("ray", None):
            raise ValueError(f"{owner}: scaling should be 'ray' or None, got {self.scaling!r}")
        check_int(owner, "extra_steps", self.extra_steps, minimum=1)
        check_float(owner, "n_target", self.n_target, low=0.0, low_open=True)
        check_float(owner, "inh", self.inh, low=0.0)
        check_float(owner, "clock", self.clock, low=0.0)
        check_int(owner, "k_cal", self.k_cal, minimum=1)
        check_int(owner, "passes", self.passes, minimum=0)
        check_int(owner, "max_per_class", self.max_per_class, minimum=1)
        try:
            learning_engine(self.precision)
        except ValueError as err:
            raise ValueError(f"{owner}: {err}") from None
        self._check_backend()

    # ---------------------------------------------------------------- network
    def _out(self, *, calibrated: bool = True) -> OutputParams:
        """The output network's parameters (before calibration: threshold 1, no inhibition, no clock)."""
        if not calibrated:
            return OutputParams(du=1.0, dv=0.0, vth=1.0, w_inh=0.0, teacher=0.0, extra_steps=int(self.extra_steps))
        return OutputParams(du=1.0, dv=0.0, vth=self.vth_, w_inh=float(self.inh) * self.vth_, teacher=0.0,
                            extra_steps=int(self.extra_steps), ff=self.ff_, clock=float(self.clock) * self.vth_,
                            groups=tuple(self.owner_.tolist()))

    def _encode(self, X) -> np.ndarray:
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        return self.encoder_.transform(Z)

    def _write(self, slots, rasters, *, calibrated: bool = True) -> None:
        """Write shot ``s`` into output neuron ``slots[s]`` with the rule (third factor on that neuron)."""
        self.age_[np.asarray(slots, dtype=int)] = self._clock_ + np.arange(len(slots))
        self._clock_ += len(slots)
        if self.rule_ is None or not len(slots):
            return
        rule = self.rule_
        out = self._out(calibrated=calibrated)
        if self.backend != "numpy":
            for slot, raster in zip(slots, rasters):
                self.W_ = self._learn_shot(self.W_, out, raster, int(slot), rule)
            return
        params = rule_params(rule)
        slots = np.asarray(slots, dtype=int)
        if is_row_local(rule) and np.unique(slots).size == slots.size:
            # Only the labelled neuron learns, whatever the others do: every row alone, all at once (same weights).
            self.W_[slots] = write_rows(self.W_[slots], np.asarray(rasters), params, out.extra_steps,
                                        precision=self.precision)
            return
        self.W_, _, _, _ = simulate_outputs(self.W_, np.asarray(rasters), out, rule=params,
                                            labels=np.asarray(slots, dtype=int), precision=self.precision)

    def _new_neurons(self, owners) -> np.ndarray:
        start = self.W_.shape[0]
        n = len(owners)
        self.W_ = np.vstack([self.W_, np.zeros((n, self.W_.shape[1]))])
        self.owner_ = np.concatenate([self.owner_, np.asarray(owners, dtype=int)])
        self.age_ = np.concatenate([self.age_, np.zeros(n, dtype=np.int64)])
        return np.arange(start, start + n)

    def _slot_for(self, c: int, free: list, taken: set) -> int:
        """A neuron for a new shot of class ``c``: a freed stale neuron, a new one, or (class at its cap)
        the class's oldest neuron not written in this call."""
        if free:
            slot = free.pop(0)
            self.owner_[slot] = c
            return slot
        members = np.nonzero(self.owner_ == c)[0]
        if members.size >= self.max_per_class:
            older = [m for m in members[np.argsort(self.age_[members], kind="stable")] if m not in taken]
            if older:
                return int(older[0])
            return int(members[np.argmin(self.age_[members])])
        return int(self._new_neurons([c])[0])

    def _decide(self, R, current=None) -> tuple:
        r = readout(self.W_, R, self._out(), current=current)
        return r, decide_spikes(r.counts, r.first, self.owner_, self.classes_.size)

    # ---------------------------------------------------------------- calibration
    def _calibrate(self, R, yi, rng) -> None:
        """``ff_`` and ``vth_`` from the drives of ``k_cal`` trial exemplars per class (written by the rule).

        With a perfect integrator the voltage at the end of the window is the drive
        ``D = W.x`` minus ``ff * N`` (``N`` input spikes). ``ff_`` is the median over
        the other samples of (best wrong-class drive) / N, so that the best wrong
        match ends near 0; ``vth_`` puts the median best right match at
        ``n_target`` spikes. Without two classes or without a right match: ``ff_ = 0``
        and ``vth_`` from the right matches alone (1.0 when there is nothing to measure).
        """
        shots = []
        for c in range(self.classes_.size):
            idx = np.nonzero(yi == c)[0]
            k = min(int(self.k_cal), max(idx.size - 1, 1))
            shots.extend(rng.choice(idx, k, replace=False).tolist())
        shots = np.array(shots, dtype=int)
        targets = np.setdiff1d(np.arange(yi.size), shots)
        if targets.size == 0:
            targets = shots
        self.W_ = np.zeros((shots.size, R.shape[2]))
        self.owner_ = yi[shots].copy()
        self.age_ = np.zeros(shots.size, dtype=np.int64)
        self._write(np.arange(shots.size), R[shots], calibrated=False)
        D = R[targets].sum(axis=1).astype(float) @ self.W_.T
        N = R[targets].sum(axis=(1, 2)).astype(float)
        same = self.owner_[None, :] == yi[targets][:, None]
        right = np.where(same, D, -np.inf).max(axis=1)
        wrong = np.where(~same, D, -np.inf).max(axis=1)
        ok = np.isfinite(right) & np.isfinite(wrong) & (N > 0)
        ff = float(np.median(wrong[ok] / N[ok])) if ok.any() else 0.0
        margin = right[ok] - ff * N[ok] if ok.any() else np.zeros(0)
        if margin.size == 0 or not np.median(margin) > 0:
            ff = 0.0
            margin = right[np.isfinite(right)]
        level = float(np.median(margin)) if margin.size else 0.0
        self.ff_ = max(ff, 0.0)
        self.vth_ = level / float(self.n_target) if level > 0 else 1.0

    # ---------------------------------------------------------------- public API
    def fit(self, X, y=None) -> "FewShotSpikingClassifier":
        """A fresh network: scaling, encoder and calibration from ``X``, then error-driven allocation.

        ``X`` is a feature matrix (n_samples, n_features), or an object with
        ``features`` and ``labels`` (``sensors.load_gas_drift``, ``sensors.Dataset``,
        a ``neurochip.recordings.Recording``) when ``y`` is None.
        """
        X, y = _unpack(X, y)
        self._check_params()
        X, y = self._check_Xy(X, y)
        y = self._check_y(y, X.shape[0])
        rng = np.random.default_rng(self.random_state)
        self.classes_, yi = np.unique(y, return_inverse=True)
        self.scaler_ = RayScaler().fit(X) if self.scaling == "ray" else None
        Z = X if self.scaler_ is None else self.scaler_.transform(X)
        self.encoder_ = LatencyPopulationEncoder(n_centers=self.n_centers, steps=self.steps,
                                                 threshold=self.threshold, feature_range=self.feature_range).fit(Z)
        R = self.encoder_.transform(Z)
        self._clock_ = 0
        self._calibrate(R, yi, rng)
        self.W_ = np.zeros((0, R.shape[2]))
        self.owner_ = np.zeros(0, dtype=int)
        self.age_ = np.zeros(0, dtype=np.int64)
        first = [int(rng.choice(np.nonzero(yi == c)[0])) for c in range(self.classes_.size)]
        self._write(self._new_neurons(yi[first]), R[first])
        self._allocate(R, yi, rng, used=set(first))
        self.n_fit_outputs_ = int(self.W_.shape[0])
        self.stale_ = []
        return self

    def _allocate(self, R, yi, rng, *, used: set) -> None:
        """Error-driven allocation: in a seeded order, every fit sample the network gets wrong is written
        into a new neuron (batched: the predictions up to the next error are those of the sequential pass)."""
        packed = pack_rasters(R, R.shape[1] + int(self.extra_steps))
        cur = input_current(self.W_, packed)
        for _ in range(int(self.passes)):
            todo = np.array([i for i in rng.permutation(yi.size) if i not in used], dtype=int)
            while todo.size:
                _, d = self._decide(R[todo], current=cur[todo])
                wrong = np.nonzero(d.index != yi[todo])[0]
                if not wrong.size:
                    break
                i = int(todo[wrong[0]])
                n_before = self.W_.shape[0]
                slot = self._slot_for(int(yi[i]), [], set())
                self._write([slot], R[i:i + 1])
                column = input_current(self.W_[slot:slot + 1], packed)[..., 0]
                if self.W_.shape[0] > n_before:
                    cur = np.concatenate([cur, column[..., None]], axis=-1)
                else:
                    cur[..., slot] = column
                used.add(i)
                todo = todo[wrong[0] + 1:]

    def adapt(self, X_few, y_few=None) -> "FewShotSpikingClassifier":
        """Learn a few labeled shots with the rule only (scaling, encoder, ``ff_`` and ``vth_`` kept).

        First the network classifies the shots (spikes only). A known class is
        *stale* when one of its shots is misclassified, or when one of its neurons
        wins a shot of another known class that has shots here: its neurons are
        rewritten with this call's shots (more neurons if needed; neurons left
        over are removed). Shots of classes that are not stale add neurons (their
        old ones stay). Unseen labels only add neurons and are never evidence
        against old classes: adding a class leaves every old weight bit-identical.
        A class at ``max_per_class`` neurons overwrites its oldest neuron.
        """
        X_few, y_few = _unpack(X_few, y_few)
        check_is_fitted(self)
        X_few = self._check_X(X_few, reset=False)
        y_few = self._check_y(y_few, X_few.shape[0])
        known_classes = self.classes_.size
        yi = self._index(y_few, add=True)
        R = self._encode(X_few)
        known = yi < known_classes
        stale = set()
        if known.any():
            r = readout(self.W_, R[known], self._out())
            key = r.counts * (R.shape[1] + self.extra_steps + 1) - np.where(r.first < 0, R.shape[1] + self.extra_steps,
                                                                             r.first)
            winner = self.owner_[np.argmax(key, axis=-1)]
            wrong = winner != yi[known]
            stale = (set(yi[known][wrong].tolist()) | set(winner[wrong].tolist())) & set(yi[known].tolist())
        self.stale_ = [self.classes_[c] for c in sorted(stale)]
        free = [int(j) for j in np.nonzero(np.isin(self.owner_, sorted(stale)))[0]] if stale else []
        slots, taken = [], set()
        for c in yi.tolist():
            slot = self._slot_for(c, free, taken)
            taken.add(slot)
            slots.append(slot)
        self._write(slots, R)
        if free:  # stale neurons not refilled
            keep = np.setdiff1d(np.arange(self.W_.shape[0]), free)
            self.W_, self.owner_, self.age_ = self.W_[keep], self.owner_[keep], self.age_[keep]
        return self

    def output_spikes(self, X) -> SpikeReadout:
        """The spiking readout of ``X``: spike counts, first spikes and the decision per sample.

        The per-sample drift signal: under drift the share of ``clock_decided``
        samples and of ties rises and ``margin`` falls (the regulator watches them).
        """
        X, _ = _unpack(X)
        check_is_fitted(self)
        R = self._encode(self._check_X(X, reset=False))
        r, d = self._decide(R)
        per_class = _class_counts(r.counts, self.owner_, self.classes_.size)
        best = np.take_along_axis(per_class, d.index[:, None], axis=1)[:, 0]
        others = per_class.copy()
        others[np.arange(others.shape[0]), d.index] = -np.inf
        runner_up = others.max(axis=1) if per_class.shape[1] > 1 else np.zeros(best.shape)
        margin = best - np.where(np.isfinite(runner_up), np.maximum(runner_up, 0.0), 0.0)
        clock_decided = (d.winner_first > R.shape[1]) | (d.winner_first < 0)
        return SpikeReadout(r.counts, r.first, self.owner_.copy(), d.index, d.count_tie, d.first_tie,
                            clock_decided, margin, float(r.synops))

    def predict(self, X) -> np.ndarray:
        """Labels: the class whose neuron spiked most (ties: earliest first spike, then lowest class index).

        The spikes themselves (and the synaptic events) are :meth:`output_spikes`.
        """
        prediction = self.output_spikes(X).prediction
        return self.classes_[prediction]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities from the output spike counts.

        ``p_c`` is proportional to the most spikes of any neuron of class ``c``,
        plus half a spike for the class the tie-break decided (so ``argmax`` is
        :meth:`predict`); columns follow ``classes_``.
        """
        s = self.output_spikes(X)
        score = np.maximum(_class_counts(s.counts, s.owner, self.classes_.size), 0.0)
        score[np.arange(score.shape[0]), s.prediction] += 0.5
        return score / score.sum(axis=1, keepdims=True)

    def synapse_importance(self, X, y=None, *, eps: float = 1e-3) -> np.ndarray:
        """How much each learned synapse tells the classes apart: ``|W_| * F`` (the shape of ``W_``).

        ``F[i]`` is the Fisher score of input ``i`` on this classifier's encoding of the
        labelled ``X`` (use the data it learned from: the fit data and the shots): whether
        input ``i`` spikes in a sample's window (0 / 1), the variance of its class means
        over its mean within-class variance plus ``eps``. An input that spikes alike for
        every class adds about the same drive to every output neuron, which
        ``ff_`` cancels anyway; it is the first to go when pruning with
        ``mapping.compress_weights(W_, sparsity=..., importance=clf.synapse_importance(X, y))``.

        The stored exemplar codes are nearly binary (weights about 0.72 - 0.80 or about 0),
        so their magnitudes say little about which synapses matter (measured in
        ``docs/mapping.md``, "Compression").
        """
        X, y = _unpack(X, y)
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        y = self._check_y(y, X.shape[0])
        eps = float(eps)
        if not eps > 0:
            raise ValueError(f"{self._owner()}.synapse_importance: eps should be > 0, got {eps}")
        yi = self._index(y, add=False)
        present = np.unique(yi)
        if present.size < 2:
            raise ValueError(f"{self._owner()}.synapse_importance: X should hold samples of at least 2 classes "
                             f"(the score compares classes), got {present.size}")
        fired = (self._encode(X).sum(axis=1) > 0).astype(float)
        means = np.array([fired[yi == c].mean(axis=0) for c in present])
        within = np.array([fired[yi == c].var(axis=0) for c in present]).mean(axis=0)
        fisher = means.var(axis=0) / (within + eps)
        return np.abs(self.W_) * fisher[None, :]


# ============================================================================ one neuron per class
class PrototypeSpikingClassifier(_SpikingClassifier):
    """Spiking classifier with one output neuron per class that learns from labeled shots with a plastic rule.

    Architecture (all in the Loihi CUBA LIF order of :mod:`neurochip.network`)::

        features --(Gaussian receptive fields + latency code)--> n_features * n_centers inputs
        inputs --(plastic weights W, rule in Loihi form)--> one LIF output neuron per class
        outputs --(lateral inhibition -w_inh, delay 1)--> outputs   (soft winner-take-all)

    Each sample is presented for ``steps`` steps, state and traces start from zero
    (a long gap between samples). While learning, the neuron of the label gets a
    teacher current ``teacher`` (it is driven to spike, so pair STDP can associate
    it with its inputs) and a third-factor event every step (``y3`` of that neuron
    rises: rules with ``y3`` terms see the label). Prediction runs without
    plasticity and takes the neuron with the most spikes (ties: largest summed
    input current). Its parameters are fixed (they suit the twin's 8-sensor
    tasks with features in [-1, 1]): this is the classifier whose rule
    :class:`~neurochip.plasticity.metalearn.MetaLearner` meta-learns
    (``InnerLoop.classifier_kwargs()``); for recorded data use
    :class:`FewShotSpikingClassifier`.

    Parameters
    ----------
    rule : LearningRule
        Plasticity of the input -> output weights (see :mod:`neurochip.plasticity.rules`).
        ``None`` disables learning (the weights stay at their random initial values).
    n_centers, steps, feature_range, bias_spikes : see :class:`LatencyPopulationEncoder`
    du, dv, vth : float
        Output LIF parameters (Loihi float, per step).
    w_inh : float
        Lateral inhibition between output neurons (>= 0).
    teacher : float
        Bias added to the label neuron while learning.
    w_init : float
        Initial weights are uniform in ``[0, w_init]``.
    extra_steps : int
        Steps run after the encoding window of each sample.
    epochs : int
        Passes over the data in :meth:`fit` / :meth:`adapt`.
    backend : str
        Where :meth:`fit` / :meth:`adapt` learn: ``"numpy"`` (the batched twin) or a
        runner of :mod:`neurochip.runners` (``"brian2"``, ``"lava"``), each shot its own
        network, the weights carried from shot to shot. All three learn the same
        weights (tested to 1e-9) when no weight reaches ``w_min`` / ``w_max`` (Lava
        does not clip). Prediction always runs the numpy twin.
    random_state : int or numpy Generator, optional
        Seeds the initial weights and the order of samples.

    Attributes
    ----------
    classes_ : ndarray
        Known class labels (output neuron ``k`` is ``classes_[k]``).
    W_ : ndarray (n_classes, n_inputs)
        Learned weights.
    encoder_ : LatencyPopulationEncoder
    synops_ : float
        Synaptic events of the last :meth:`predict`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.1, 0.9], [0.9, 0.1]] * 5); y = np.array([0, 1] * 5)
    >>> clf = PrototypeSpikingClassifier(rule=supervised_hebbian(), feature_range=(0, 1), random_state=0)
    >>> clf.fit(X, y).score(X, y)
    1.0
    """

    def __init__(self, *, rule: LearningRule | None = None, n_centers: int = 6, steps: int = 16,
                 feature_range: tuple | None = None, du: float = 0.5, dv: float = 0.2, vth: float = 1.0,
                 w_inh: float = 1.0, teacher: float = 0.3, w_init: float = 0.05, extra_steps: int = 4,
                 epochs: int = 1, bias_spikes: int = 0, backend: str = "numpy", random_state=None):
        self.rule = rule
        self.backend = backend
        self.bias_spikes = bias_spikes
        self.n_centers = n_centers
        self.steps = steps
        self.feature_range = feature_range
        self.du, self.dv, self.vth = du, dv, vth
        self.w_inh = w_inh
        self.teacher = teacher
        self.w_init = w_init
        self.extra_steps = extra_steps
        self.epochs = epochs
        self.random_state = random_state

    def _check_params(self):
        owner = self._owner()
        if self.rule is not None and not isinstance(self.rule, LearningRule):
            raise ValueError(f"{owner}: rule should be a LearningRule or None, got {type(self.rule).__name__}")
        check_float(owner, "du", self.du, low=0.0, high=1.0)
        check_float(owner, "dv", self.dv, low=0.0, high=1.0)
        check_float(owner, "vth", self.vth, low=0.0, low_open=True)
        check_float(owner, "w_inh", self.w_inh, low=0.0)
        check_float(owner, "teacher", self.teacher, low=0.0)
        check_float(owner, "w_init", self.w_init, low=0.0)
        check_int(owner, "extra_steps", self.extra_steps, minimum=0)
        check_int(owner, "epochs", self.epochs, minimum=1)
        self._check_backend()

    def _out(self) -> OutputParams:
        return OutputParams(float(self.du), float(self.dv), float(self.vth), float(self.w_inh),
                            float(self.teacher), int(self.extra_steps))

    def _learn(self, X, y):
        rasters = self.encoder_.transform(X)
        n_old = self.classes_.size
        labels = self._index(self._check_y(y, X.shape[0]), add=True)
        if self.classes_.size > n_old:
            extra = self._rng.uniform(0, self.w_init, (self.classes_.size - n_old, self.W_.shape[1]))
            self.W_ = np.vstack([self.W_, extra])
        if self.rule is None:
            return
        params = rule_params(self.rule) if self.backend == "numpy" else None
        for _ in range(self.epochs):
            order = self._rng.permutation(X.shape[0])
            if params is not None:
                self.W_, _, _, _ = simulate_outputs(self.W_, rasters[order], self._out(), rule=params,
                                                    labels=labels[order])
                continue
            for i in order:
                self.W_ = self._learn_shot(self.W_, self._out(), rasters[i], int(labels[i]), self.rule)

    def fit(self, X, y=None) -> "PrototypeSpikingClassifier":
        """Fresh network: fit the encoder on ``X``, then learn ``(X, y)`` with the rule.

        ``X`` is a feature matrix (n_samples, n_features) or an object with
        ``features`` and ``labels`` (its labels when ``y`` is None).
        """
        X, y = _unpack(X, y)
        self._check_params()
        X, y = self._check_Xy(X, y)
        self._rng = np.random.default_rng(self.random_state)
        self.encoder_ = LatencyPopulationEncoder(n_centers=self.n_centers, steps=self.steps,
                                                 feature_range=self.feature_range,
                                                 bias_spikes=self.bias_spikes).fit(X)
        y = np.asarray(y)
        self.classes_ = np.zeros(0, dtype=y.dtype)
        self.W_ = np.zeros((0, self.encoder_.n_outputs_))
        self._learn(X, y)
        return self

    def adapt(self, X_few, y_few=None) -> "PrototypeSpikingClassifier":
        """Learn a few labeled shots with the plastic rule only (encoder and weights kept).

        Unseen labels add output neurons (new task); known labels continue learning
        (drifted task).
        """
        X_few, y_few = _unpack(X_few, y_few)
        check_is_fitted(self)
        self._learn(self._check_X(X_few, reset=False), y_few)
        return self

    def predict(self, X) -> np.ndarray:
        X, _ = _unpack(X)
        check_is_fitted(self)
        rasters = self.encoder_.transform(self._check_X(X, reset=False))
        _, counts, drive, synops = simulate_outputs(self.W_, rasters, self._out())
        self.synops_ = float(synops)
        return self.classes_[decide(counts, drive)]
