"""Few-shot spiking classifier learning with a plastic rule only (scikit-learn style).

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
input current).

Why this design: a latency code gives one spike per active input, so pre
traces carry "how early / how strongly" a feature matched; lateral inhibition
keeps one class active at test time; the label as third factor lets a rule do
supervised, error-driven updates (``u0*x1*y3`` Hebbian toward the label minus
``y0*x1`` on the neuron that actually fired), which pair STDP cannot express.

The network is :func:`neurochip.plasticity.wta.wta_network`; the simulation is
its batched numpy twin (:func:`~neurochip.plasticity.wta.simulate_outputs`),
tested equal to the Brian2 and Lava runs of the network, so many candidate
rules run at once in meta-learning. Other backends are looked up by name in
:mod:`neurochip.runners` (``"brian2"``; ``"lava"`` from ``mapping``).
"""
from __future__ import annotations

import warnings

import numpy as np

from neurochip._validation import check_float, check_int
from neurochip.encoding import LatencyPopulationEncoder, check_features as _check_X
from neurochip.plasticity.functional import rule_params
from neurochip.plasticity.rules import LearningRule
from neurochip.plasticity.wta import (OutputParams, decide, sample_steps, simulate_outputs,  # noqa: F401
                                      wta_network)
from neurochip.runners import available_runners, get_runner


def _unpack(X, y=None):
    """Feature matrix (and labels) from an array or a ``sensors.Dataset`` (simulated or CSV-recorded)."""
    if hasattr(X, "features") and hasattr(X, "labels"):
        return np.asarray(X.features, dtype=float), (np.asarray(X.labels) if y is None else y)
    return X, y


class FewShotSpikingClassifier:
    """Spiking classifier that learns from a few labeled shots with a plastic rule.

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
        Where :meth:`fit` / :meth:`adapt` learn. ``"numpy"`` (default) runs the
        batched numpy twin; any other name is a runner of
        :mod:`neurochip.runners` that runs each shot as its own network
        (:func:`~neurochip.plasticity.wta.wta_network`), the weights carried from
        shot to shot: ``"brian2"`` (Brian2 plastic synapses) or ``"lava"``
        (Lava's ``LearningDense`` with a Loihi3F label third factor on the
        simulator; registered by ``mapping``, found through its entry point
        without importing it). All three learn the same weights (tested to
        1e-9) when no weight reaches ``w_min`` / ``w_max`` (Lava does not clip).
        Prediction always runs the numpy twin.
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
    >>> from neurochip.plasticity import FewShotSpikingClassifier, supervised_hebbian
    >>> X = np.array([[0.1, 0.9], [0.9, 0.1]] * 5); y = np.array([0, 1] * 5)
    >>> clf = FewShotSpikingClassifier(rule=supervised_hebbian(), feature_range=(0, 1), random_state=0)
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

    # ---------------------------------------------------------------- helpers
    def _check_params(self):
        owner = "FewShotSpikingClassifier"
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
        if self.backend != "numpy":
            try:
                get_runner(self.backend)
            except ValueError:
                raise ValueError(f"{owner}: backend should be 'numpy' (the batched twin) or a runner of "
                                 f"neurochip.runners ({', '.join(available_runners())}), got "
                                 f"{self.backend!r}") from None

    def _out(self) -> OutputParams:
        return OutputParams(float(self.du), float(self.dv), float(self.vth), float(self.w_inh),
                            float(self.teacher), int(self.extra_steps))

    def _labels(self, y, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"FewShotSpikingClassifier: y should have shape ({n},), got shape {y.shape}")
        new = [c for c in np.unique(y) if c not in set(self.classes_.tolist())]
        if new:
            self.classes_ = np.concatenate([self.classes_, np.array(new, dtype=self.classes_.dtype
                                                                     if self.classes_.size else y.dtype)])
            extra = self._rng.uniform(0, self.w_init, (len(new), self.W_.shape[1]))
            self.W_ = np.vstack([self.W_, extra])
        index = {c: k for k, c in enumerate(self.classes_.tolist())}
        return np.array([index[c] for c in y.tolist()])

    def _learn(self, X, y):
        rasters = self.encoder_.transform(X)
        labels = self._labels(y, X.shape[0])
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
                self.W_ = self._learn_shot(rasters[i], int(labels[i]))

    def _learn_shot(self, raster, label: int) -> np.ndarray:
        """One shot as its own network on the backend's runner (fresh state and traces, as the numpy twin)."""
        out = self._out()
        net = wta_network(self.W_, out, raster=raster, label=label, rule=self.rule)
        result = get_runner(self.backend)(net, sample_steps(raster, out))
        W = np.array(result.info["weights"]["plastic"], dtype=float)
        if W.min() < self.rule.w_min or W.max() > self.rule.w_max:
            warnings.warn(f"FewShotSpikingClassifier: on {self.backend} the weights left [w_min, w_max] = "
                          f"[{self.rule.w_min}, {self.rule.w_max}] (range now [{W.min():.3g}, {W.max():.3g}]); "
                          f"this backend does not clip (Lava's float LearningDense), so they differ from the "
                          f"numpy and Brian2 backends from here on. Use a rule with soft bounds or wider "
                          f"w_min / w_max.", RuntimeWarning, stacklevel=3)
        return W

    # -------------------------------------------------------------- public API
    def fit(self, X, y=None) -> "FewShotSpikingClassifier":
        """Fresh network: fit the encoder on ``X``, then learn ``(X, y)`` with the rule.

        ``X`` is a feature matrix (n_samples, n_features) or a ``sensors.Dataset``
        (its ``features`` and, when ``y`` is None, its ``labels``).
        """
        X, y = _unpack(X, y)
        self._check_params()
        X = _check_X("FewShotSpikingClassifier", X)
        self._rng = np.random.default_rng(self.random_state)
        self.encoder_ = LatencyPopulationEncoder(n_centers=self.n_centers, steps=self.steps,
                                                 feature_range=self.feature_range,
                                                 bias_spikes=self.bias_spikes).fit(X)
        y = np.asarray(y)
        self.classes_ = np.zeros(0, dtype=y.dtype)
        self.W_ = np.zeros((0, self.encoder_.n_outputs_))
        self._learn(X, y)
        return self

    def adapt(self, X_few, y_few=None) -> "FewShotSpikingClassifier":
        """Learn a few labeled shots with the plastic rule only (encoder and weights kept).

        Unseen labels add output neurons (new task); known labels continue learning
        (drifted task).
        """
        X_few, y_few = _unpack(X_few, y_few)
        if not hasattr(self, "W_"):
            raise ValueError("FewShotSpikingClassifier: call fit before adapt")
        X_few = _check_X("FewShotSpikingClassifier", X_few, self.encoder_.n_features_in_)
        self._learn(X_few, y_few)
        return self

    def predict(self, X) -> np.ndarray:
        X, _ = _unpack(X)
        if not hasattr(self, "W_"):
            raise ValueError("FewShotSpikingClassifier: call fit before predict")
        rasters = self.encoder_.transform(X)
        _, counts, drive, synops = simulate_outputs(self.W_, rasters, self._out())
        self.synops_ = float(synops)
        return self.classes_[decide(counts, drive)]

    def score(self, X, y=None) -> float:
        """Accuracy."""
        X, y = _unpack(X, y)
        y = np.asarray(y)
        return float(np.mean(self.predict(X) == y))


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
