"""Population code: Gaussian receptive fields over each feature, one latency spike per field.

The receptive fields and latencies are those of :mod:`neurochip.encoding`
(:func:`~neurochip.encoding.gaussian_activation`,
:func:`~neurochip.encoding.first_spike_steps`), the implementation the few-shot
classifier's input code uses too; here the centers lie over fitted feature
quantiles in signal units, with a Brian2 model doing the same arithmetic and a
decoder.
"""
from __future__ import annotations

import brian2 as b2
import numpy as np
from brian2 import Quantity, ms, second

from neurochip._validation import check_float, check_int, check_quantity
from neurochip.encoding import first_spike_steps, gaussian_activation
from sensors.encoders.base import EncodingReport, _Encoder, _RangeFit, _report, events_to_raster


class PopulationEncoder(_RangeFit, _Encoder):
    """Gaussian receptive fields for feature vectors, one spike per field at most.

    Feature ``j`` is seen by ``n_fields`` neurons with centers evenly spaced over
    ``[low_j, high_j]`` (fitted quantiles) and width ``sigma_j = width * spacing``.
    Neuron ``m`` of feature ``j`` (output index ``j * n_fields + m``) has activation
    ``a = exp(-(x_j - c_jm)^2 / (2 sigma_j^2))`` and spikes once, at step
    ``floor((1 - a) (window - 1) + 0.5)``, if ``a >= min_activation``
    (:mod:`neurochip.encoding`). The decoder finds the value whose activations
    best match the spike latencies (least squares on a grid of 1,001 points per
    feature).

    Input ``X``: (n_features,) or (n_samples, n_features).
    """

    sample_ndim = 1

    def __init__(self, *, n_fields: int = 8, width: float = 1.0, window: Quantity = 20 * ms,
                 min_activation: float = 0.05, quantiles=(0.0, 1.0), dt: Quantity = 1 * ms, name: str = "sensors",
                 output: str = "spikes"):
        super().__init__(dt=dt, name=name, output=output)
        self.n_fields = n_fields
        self.width = width
        self.window = window
        self.min_activation = min_activation
        self.quantiles = quantiles

    @property
    def per_channel(self):
        return self.n_fields

    def fit(self, X, y=None) -> "PopulationEncoder":
        owner, arr = self._fit_input(X)
        m = check_int(owner, "n_fields", self.n_fields, minimum=2)
        width = check_float(owner, "width", self.width, low=0.0, low_open=True)
        self.min_activation_ = check_float(owner, "min_activation", self.min_activation, low=0.0, high=1.0)
        w = float(check_quantity(owner, "window", self.window, second, positive=True) / second)
        self.window_steps_ = int(round(w / self.dt_s))
        if self.window_steps_ < 2:
            raise ValueError(f"{owner}: window should be at least 2 steps of dt ({self.dt!r}), got {self.window!r}")
        self._fit_range(arr, self.quantiles)
        low, high = self.low_, self.high_
        self.centers_ = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, m)[None]
        self.sigma_ = width * (high - low) / (m - 1)
        self.inv2s2_ = 1.0 / (2.0 * self.sigma_ * self.sigma_)
        return self

    def latency_steps(self, x) -> np.ndarray:
        """Spike step per neuron (n_samples, n_features * n_fields); -1 for no spike."""
        a = gaussian_activation(x, self.centers_, self.inv2s2_)
        return first_spike_steps(a, self.window_steps_, self.min_activation_).reshape(x.shape[0], -1)

    def encode_numpy(self, arr):
        lat = self.latency_steps(arr)
        out = np.zeros(lat.shape + (self.window_steps_,), dtype=bool)
        s, n = np.nonzero(lat >= 0)
        out[s, n, lat[s, n]] = True
        return out

    def encode_brian(self, arr, *, codegen_target=None):
        s, f = arr.shape
        m = self.n_fields
        g = b2.NeuronGroup(s * f * m, """
            x : 1 (constant)
            c : 1 (constant)
            inv2s2 : 1 (constant)
            k : 1
            fire : 1
            amin : 1 (shared, constant)
            last : 1 (shared, constant)
            """, threshold="fire > 0", reset="", dt=self.dt, name="sensors_population")
        g.x = np.repeat(arr.ravel(), m)
        g.c = np.tile(self.centers_.ravel(), s)
        g.inv2s2 = np.tile(np.repeat(self.inv2s2_, m), s)
        g.amin = self.min_activation_
        g.last = float(self.window_steps_ - 1)
        # The arithmetic of neurochip.encoding.gaussian_activation / first_spike_steps, in C.
        g.run_regularly("""
            d = x - c
            a = exp(-(d*d)*inv2s2)
            fire = int(a >= amin and floor((1.0 - a)*last + 0.5) == k)
            k = k + 1
            """, dt=self.dt, when="start", order=0, name="sensors_population_update")
        idx, steps, _ = self._run_brian(g, self.window_steps_, {}, codegen_target)
        return events_to_raster(idx, steps, s, f * m, self.window_steps_)

    def inverse_transform(self, spikes) -> np.ndarray:
        """Decode features (n_samples, n_features) by least squares over a grid of candidate values."""
        r = self.spikes_raster(spikes, self.window_steps_)
        s = r.shape[0]
        f, m = self.n_channels_, self.n_fields
        has = r.any(axis=-1)
        k = np.argmax(r, axis=-1)
        a_hat = np.where(has, 1.0 - k / (self.window_steps_ - 1), 0.0).reshape(s, f, m)
        grid = np.linspace(0, 1, 1001)
        xs = self.low_[:, None] + (self.high_ - self.low_)[:, None] * grid[None]      # (f, g)
        a = np.moveaxis(gaussian_activation(xs.T, self.centers_, self.inv2s2_), 0, 1)   # (f, g, m)
        a = np.where(a >= self.min_activation_, a, 0.0)
        cost = ((a[None] - a_hat[:, :, None, :]) ** 2).sum(-1)                           # (s, f, g)
        best = np.argmin(cost, axis=-1)
        return np.take_along_axis(np.broadcast_to(xs, (s,) + xs.shape), best[..., None], axis=-1)[..., 0]

    def evaluate(self, X, spikes=None) -> EncodingReport:
        arr, _ = self._input(X)
        raster = self.encode_numpy(arr) if spikes is None else self.spikes_raster(spikes, self.window_steps_)
        ev = [np.nonzero(r) for r in raster]
        x_hat = self.inverse_transform(ev)
        target = np.clip(arr, self.low_, self.high_)
        return _report(self, arr, x_hat, ev, target=target, extra={"window_steps": self.window_steps_})
