"""Latency code: time to first spike of a non-leaky integrator (stronger input, earlier spike)."""
from __future__ import annotations

import brian2 as b2
import numpy as np
from brian2 import Quantity, ms, second

from neurochip._validation import check_quantity
from sensors.encoders.base import EncodingReport, _Encoder, _RangeFit, _report, events_to_raster


class LatencyEncoder(_RangeFit, _Encoder):
    """Time to first spike of a non-leaky integrator: stronger input, earlier spike.

    ``xn = clip((x - low_) / (high_ - low_), 0, 1)``; per step ``v = v + xn / t_min``
    (``t_min`` in steps of ``dt``); the neuron spikes once, at the first step
    with ``v >= 1``. For a constant input the spike comes at step
    ``k = ceil(t_min / xn) - 1`` and the decoder returns ``xn_hat = t_min / (k + 1)``
    (the input that spikes exactly then); no spike decodes as ``xn_hat = 0``.
    """

    def __init__(self, *, t_min: Quantity = 5 * ms, quantiles=(0.01, 0.99), dt: Quantity = 1 * ms,
                 name: str = "sensors", output: str = "spikes"):
        super().__init__(dt=dt, name=name, output=output)
        self.t_min = t_min
        self.quantiles = quantiles

    def fit(self, X, y=None) -> "LatencyEncoder":
        owner, arr = self._fit_input(X)
        tm = float(check_quantity(owner, "t_min", self.t_min, second, positive=True) / second)
        self.t_min_steps_ = tm / self.dt_s
        if self.t_min_steps_ < 1 - 1e-9:
            raise ValueError(f"{owner}: t_min should be >= dt ({self.dt!r}), got {self.t_min!r}")
        self.gain_ = 1.0 / self.t_min_steps_
        self._fit_range(arr, self.quantiles)
        return self

    def encode_numpy(self, arr):
        xn = self.normalized(arr)
        v = np.zeros(arr.shape[:2])
        done = np.zeros(arr.shape[:2])
        out = np.zeros(arr.shape, dtype=bool)
        for k in range(arr.shape[-1]):
            v = v + self.gain_ * xn[..., k]
            fire = (v >= 1.0) & (done < 0.5)
            done = done + fire
            out[..., k] = fire
        return out

    def encode_brian(self, arr, *, codegen_target=None):
        s, c, t = arr.shape
        g = b2.NeuronGroup(s * c, """
            x : 1
            v : 1
            done : 1
            fire : 1
            low : 1 (constant)
            span : 1 (constant)
            gain : 1 (shared, constant)
            """, threshold="fire > 0", reset="", dt=self.dt, name="sensors_latency")
        g.low = np.tile(self.low_, s)
        g.span = np.tile(self.span_, s)
        g.gain = self.gain_
        g.run_regularly("""
            xn = clip((x - low)/span, 0, 1)
            v = v + gain*xn
            fire = int(v >= 1.0 and done < 0.5)
            done = done + fire
            """, dt=self.dt, when="start", order=0, name="sensors_latency_update")
        idx, steps, _ = self._run_brian(g, t, {"x": np.ascontiguousarray(arr.reshape(s * c, t).T)}, codegen_target)
        return events_to_raster(idx, steps, s, c, t)

    def inverse_transform(self, spikes, *, n_steps: int) -> np.ndarray:
        """Decoded value per (sample, channel) in signal units: ``low_ + span_ * xn_hat``."""
        r = self.spikes_raster(spikes, n_steps)
        has = r.any(axis=-1)
        k = np.argmax(r, axis=-1)
        xn = np.where(has, np.minimum(1.0, self.t_min_steps_ / (k + 1)), 0.0)
        return self.low_[None] + self.span_[None] * xn

    def evaluate(self, X, spikes=None) -> EncodingReport:
        """Error of the decoded value against the input averaged up to the spike (whole window if none)."""
        arr, _ = self._input(X)
        raster = self.encode_numpy(arr) if spikes is None else self.spikes_raster(spikes, arr.shape[-1])
        ev = [np.nonzero(r) for r in raster]
        x_hat = self.inverse_transform(ev, n_steps=arr.shape[-1])
        xn = self.normalized(arr)
        has = raster.any(axis=-1)
        k = np.where(has, np.argmax(raster, axis=-1), arr.shape[-1] - 1)
        csum = np.cumsum(xn, axis=-1)
        mean_xn = np.take_along_axis(csum, k[..., None], axis=-1)[..., 0] / (k + 1)
        target = self.low_[None] + self.span_[None] * mean_xn
        return _report(self, arr, x_hat, ev, target=target,
                       extra={"t_min_steps": self.t_min_steps_, "silent_fraction": float(1 - has.mean())})
