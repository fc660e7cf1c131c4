"""Gaussian receptive fields with a latency code: the one population-coding implementation.

A feature value ``x`` is seen by ``m`` fields with centers ``c_j`` and widths
``sigma``; field ``j`` has the activation::

    a_j = exp(-(x - c_j)^2 / (2 sigma^2))             # computed as exp(-(d*d) * inv2s2)

and, when ``a_j >= min_activation``, fires one spike at the step::

    k_j = floor((1 - a_j) * (window - 1) + 0.5)       # strong match: early spike

within a window of ``window`` steps (``a = 1`` spikes at step 0). :func:`gaussian_activation`
and :func:`first_spike_steps` are the pure functions; ``exp`` is the C library's
(:func:`math.exp`), not numpy's vectorized one, so that compiled Brian2 code doing
the same arithmetic gives the same spikes (numpy's ``exp`` differs from libm in the
last bit for about a quarter of all arguments).

Users of these functions:

- :class:`LatencyPopulationEncoder` (here): features scaled to ``[0, 1]``, evenly
  spaced centers, the input code of :class:`neurochip.plasticity.FewShotSpikingClassifier`
  (rasters of shape (n_samples, steps, n_inputs)).
- ``sensors.PopulationEncoder``: centers over fitted feature quantiles in signal
  units, a Brian2 model and a decoder (``neurochip.SpikeSource`` output).
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from neurochip._validation import check_float, check_int, describe

_EXP = np.frompyfunc(math.exp, 1, 1)


def check_features(owner: str, X, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite float matrix (n_samples >= 1, n_features), else a ValueError naming ``owner``."""
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError):
        raw = None
    if raw is not None and raw.dtype.kind == "c":
        raise ValueError(f"{owner}: X should be real numbers, got {describe(raw)} (Complex data not supported)")
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: X should be a 2-D array of numbers, got {describe(X)}") from None
    if X.ndim == 1:
        raise ValueError(f"{owner}: X should have shape (n_samples >= 1, n_features), got shape {X.shape}. Reshape your "
                         f"data: X.reshape(1, -1) for one sample, X.reshape(-1, 1) for one feature")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{owner}: X should have shape (n_samples >= 1, n_features), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{owner}: X should have at least one feature: found 0 feature(s) (shape={X.shape}) "
                         f"while a minimum of 1 is required.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{owner}: X should be finite, got {int(np.sum(~np.isfinite(X)))} non-finite values "
                         f"(NaN or inf)")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{owner}: X should have {n_features} features (as in fit), got {X.shape[1]}")
    return X


def gaussian_activation(x: np.ndarray, centers: np.ndarray, inv2s2: np.ndarray) -> np.ndarray:
    """Activations ``exp(-(x - c)^2 * inv2s2)`` of shape (n_samples, n_features, n_fields).

    Parameters
    ----------
    x : array (n_samples, n_features)
    centers : array (n_features, n_fields)
    inv2s2 : array (n_features,)
        ``1 / (2 sigma^2)`` per feature.
    """
    d = x[:, :, None] - centers[None]
    arg = -(d * d) * np.asarray(inv2s2, dtype=float)[None, :, None]
    return _EXP(arg).astype(float)


def first_spike_steps(activation: np.ndarray, window: int, min_activation: float) -> np.ndarray:
    """Spike step ``floor((1 - a)(window - 1) + 0.5)`` of each field, ``-1`` where ``a < min_activation``."""
    k = np.floor((1.0 - activation) * (window - 1) + 0.5)
    return np.where(activation >= min_activation, k, -1).astype(np.int64)


#: What :meth:`LatencyPopulationEncoder.transform` returns, by its ``output`` parameter.
OUTPUTS = ("raster", "counts", "flat")


class LatencyPopulationEncoder(TransformerMixin, BaseEstimator):
    """Gaussian receptive fields per feature, then a latency code (time to first spike).

    Feature ``f`` scaled to ``z = (f - low) / (high - low)`` (clipped to [0, 1])
    activates input ``c`` of that feature with ``a = exp(-(z - mu_c)^2 / (2 sigma^2))``,
    centers ``mu_c`` evenly in [0, 1], ``sigma = 1 / (n_centers - 1)``; an input
    with ``a >= threshold`` spikes once, at step ``floor((1 - a) * (steps - 1) + 0.5)``
    (:func:`gaussian_activation`, :func:`first_spike_steps`).

    Parameters
    ----------
    n_centers : int
        Inputs per feature (>= 2).
    steps : int
        Encoding window in steps.
    threshold : float
        Minimum activation in (0, 1) for a spike.
    feature_range : (low, high), optional
        Fixed scaling; ``None`` learns per-feature min / max in :meth:`fit`.
    bias_spikes : int
        Spikes of one extra, always-on *bias input* (the last input) per sample:
        ``0`` (default) no bias input; ``n >= 1`` spikes at steps
        ``floor(j * steps / n)``, ``j = 0 .. n-1``, whatever the features. Its
        plastic weight to each output neuron is a per-neuron bias (learned by
        the same rule as every other input weight), the term a distance-like
        readout needs: nearest class mean is ``argmax_c x.mu_c - |mu_c|^2 / 2``.
    output : {"raster", "counts", "flat"}
        What :meth:`transform` returns: ``"raster"`` (default) the bool spike
        rasters (n_samples, steps, n_outputs); ``"counts"`` spikes per input, float
        (n_samples, n_outputs); ``"flat"`` the raster as float (n_samples, steps * n_outputs),
        for scikit-learn pipelines.

    Notes
    -----
    A scikit-learn transformer: ``get_params`` / ``set_params`` / ``clone``,
    ``Pipeline`` and ``GridSearchCV`` work; ``transform`` before ``fit`` raises
    ``sklearn.exceptions.NotFittedError`` (a ValueError).
    """

    def __init__(self, *, n_centers: int = 6, steps: int = 16, threshold: float = 0.2,
                 feature_range: tuple | None = None, bias_spikes: int = 0, output: str = "raster"):
        self.n_centers = n_centers
        self.steps = steps
        self.threshold = threshold
        self.feature_range = feature_range
        self.bias_spikes = bias_spikes
        self.output = output

    def fit(self, X, y=None) -> "LatencyPopulationEncoder":
        owner = "LatencyPopulationEncoder"
        check_int(owner, "n_centers", self.n_centers, minimum=2)
        check_int(owner, "steps", self.steps, minimum=2)
        check_float(owner, "threshold", self.threshold, low=0.0, high=1.0, low_open=True, high_open=True)
        if check_int(owner, "bias_spikes", self.bias_spikes, minimum=0) > self.steps:
            raise ValueError(f"{owner}: bias_spikes should be <= steps ({self.steps}), got {self.bias_spikes}")
        _check_output(owner, self.output)
        X = check_features(owner, X)
        if self.feature_range is None:
            self.low_, self.high_ = X.min(axis=0), X.max(axis=0)
        else:
            low, high = (check_float(owner, "feature_range[0]", self.feature_range[0]),
                         check_float(owner, "feature_range[1]", self.feature_range[1]))
            if not high > low:
                raise ValueError(f"{owner}: feature_range should be (low, high) with high > low, "
                                 f"got {self.feature_range!r}")
            self.low_, self.high_ = np.full(X.shape[1], low), np.full(X.shape[1], high)
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = X.shape[1] * self.n_centers + (1 if self.bias_spikes else 0)
        sigma = 1.0 / (self.n_centers - 1)
        self.centers_ = np.tile(np.linspace(0.0, 1.0, self.n_centers), (X.shape[1], 1))
        self.inv2s2_ = np.full(X.shape[1], 1.0 / (2.0 * sigma * sigma))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "low_")

    def transform(self, X) -> np.ndarray:
        """Spike rasters, bool array of shape (n_samples, steps, n_features * n_centers [+ 1 bias input])
        (``output="raster"``), or the counts / flattened raster as float (see ``output``)."""
        owner = "LatencyPopulationEncoder"
        if not hasattr(self, "low_"):
            raise NotFittedError(f"{owner}: call fit before transform")
        X = check_features(owner, X)
        if X.shape[1] != self.n_features_in_:
            n, m = self.n_features_in_, X.shape[1]
            raise ValueError(f"{owner}: X should have {n} features (as in fit), got {m}. "
                             f"X has {m} features, but {owner} is expecting {n} features as input.")
        span = np.where(self.high_ > self.low_, self.high_ - self.low_, 1.0)
        z = np.clip((X - self.low_) / span, 0.0, 1.0)
        a = gaussian_activation(z, self.centers_, self.inv2s2_).reshape(X.shape[0], -1)
        t = first_spike_steps(a, self.steps, self.threshold)
        raster = np.zeros((X.shape[0], self.steps, self.n_outputs_), dtype=bool)
        s, i = np.nonzero(t >= 0)
        raster[s, t[s, i], i] = True
        if self.bias_spikes:
            raster[:, (np.arange(self.bias_spikes) * self.steps) // self.bias_spikes, -1] = True
        output = _check_output(owner, self.output)
        if output == "counts":
            return raster.sum(axis=1).astype(np.float64)
        if output == "flat":
            return raster.reshape(raster.shape[0], -1).astype(np.float64)
        return raster


def _check_output(owner: str, output) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"{owner}: output should be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")
    return output


class RayScaler:
    """Scale a sensor array's features so that a sample's *direction* is what is left.

    ``z = x / m`` per feature, ``m = median |x|`` over the fit data (features of
    any magnitude, 1e-3 to 1e5 in a gas-sensor array, end up of order 1), then
    ``z / ||z||_2`` per sample. No centring: the response of a gas at a
    concentration ``c`` is close to ``c * d_gas`` (a ray through the origin), and
    the division by the norm removes ``c`` while keeping ``d_gas``; subtracting a
    mean would mix the concentration back in. A feature whose median magnitude is
    0 keeps the scale 1; a sample of norm 0 stays 0. Signs are kept.

    Attributes
    ----------
    scale_ : ndarray (n_features,)
        ``median |x|`` of each feature in :meth:`fit` (1 where that is 0).
    n_features_in_ : int
    """

    def fit(self, X, y=None) -> "RayScaler":
        X = check_features("RayScaler", X)
        scale = np.median(np.abs(X), axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """``X / scale_``, each row divided by its L2 norm (rows of norm 0 stay 0)."""
        if not hasattr(self, "scale_"):
            raise ValueError("RayScaler: call fit before transform")
        Z = check_features("RayScaler", X, self.n_features_in_) / self.scale_
        norm = np.linalg.norm(Z, axis=1, keepdims=True)
        return Z / np.where(norm > 0, norm, 1.0)

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)
