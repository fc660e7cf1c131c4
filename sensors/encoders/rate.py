"""Poisson (Bernoulli per step) rate code, seeded, with identical numpy and Brian2 spikes."""
from __future__ import annotations

import brian2 as b2
import numpy as np
from brian2 import Hz, Quantity, ms

from neurochip._validation import check_int, check_quantity
from sensors.encoders.base import EncodingReport, _Encoder, _RangeFit, _report, events_to_raster


class RateEncoder(_RangeFit, _Encoder):
    """Poisson rate code: a spike at step ``k`` with probability ``p = (r_min + (r_max - r_min) xn) dt``.

    ``xn = clip((x - low_) / (high_ - low_), 0, 1)`` with ``low_``/``high_`` the
    ``quantiles`` of each channel in ``fit``. Random numbers ``u ~ U[0, 1)`` come
    from ``numpy.random.default_rng(random_state)`` (one per sample, channel and
    step, drawn in that order) and a spike is ``u < p``; the Brian2 model reads
    the same numbers, so both give identical spikes. The decoder is the spike
    count in a causal window of ``decode_window`` steps.
    """

    def __init__(self, *, max_rate: Quantity = 200 * Hz, min_rate: Quantity = 0 * Hz, quantiles=(0.01, 0.99),
                 decode_window: int = 50, random_state=None, dt: Quantity = 1 * ms, name: str = "sensors",
                 output: str = "spikes"):
        super().__init__(dt=dt, name=name, output=output)
        self.max_rate = max_rate
        self.min_rate = min_rate
        self.quantiles = quantiles
        self.decode_window = decode_window
        self.random_state = random_state

    def fit(self, X, y=None) -> "RateEncoder":
        owner, arr = self._fit_input(X)
        hi = float(check_quantity(owner, "max_rate", self.max_rate, Hz, positive=True) / Hz)
        lo = float(check_quantity(owner, "min_rate", self.min_rate, Hz) / Hz)
        if not 0 <= lo <= hi or hi * self.dt_s > 1:
            raise ValueError(f"{owner}: need 0 <= min_rate <= max_rate and max_rate * dt <= 1, got "
                             f"min_rate={self.min_rate!r}, max_rate={self.max_rate!r}, dt={self.dt!r}")
        check_int(owner, "decode_window", self.decode_window, minimum=1)
        self._fit_range(arr, self.quantiles)
        self.p_min_ = lo * self.dt_s
        self.p_span_ = (hi - lo) * self.dt_s
        return self

    def _uniforms(self, shape):
        return np.random.default_rng(self.random_state).random(shape)

    def encode_numpy(self, arr):
        u = self._uniforms(arr.shape)
        p = self.p_min_ + self.p_span_ * self.normalized(arr)
        return u < p

    def encode_brian(self, arr, *, codegen_target=None):
        s, c, t = arr.shape
        u = self._uniforms(arr.shape)
        g = b2.NeuronGroup(s * c, """
            x : 1
            u : 1
            low : 1 (constant)
            span : 1 (constant)
            fire : 1
            p_min : 1 (shared, constant)
            p_span : 1 (shared, constant)
            """, threshold="fire > 0", reset="", dt=self.dt, name="sensors_rate")
        g.low = np.tile(self.low_, s)
        g.span = np.tile(self.span_, s)
        g.p_min = self.p_min_
        g.p_span = self.p_span_
        g.run_regularly("""
            xn = clip((x - low)/span, 0, 1)
            fire = int(u < p_min + p_span*xn)
            """, dt=self.dt, when="start", order=0, name="sensors_rate_update")
        feeds = {"x": np.ascontiguousarray(arr.reshape(s * c, t).T),
                 "u": np.ascontiguousarray(u.reshape(s * c, t).T)}
        idx, steps, _ = self._run_brian(g, t, feeds, codegen_target)
        return events_to_raster(idx, steps, s, c, t)

    def inverse_transform(self, spikes, *, n_steps: int) -> np.ndarray:
        """Decode: spike count in a causal window -> rate -> ``low_ + span_ * xn``."""
        r = self.spikes_raster(spikes, n_steps).astype(float)
        w = int(self.decode_window)
        cs = np.cumsum(r, axis=-1)
        shifted = np.concatenate([np.zeros(r.shape[:-1] + (w,)), cs[..., :-w]], axis=-1)[..., :n_steps]
        width = np.minimum(np.arange(1, n_steps + 1), w)
        p = (cs - shifted) / width
        xn = np.clip((p - self.p_min_) / self.p_span_, 0, 1) if self.p_span_ > 0 else np.zeros_like(p)
        return self.low_[None, :, None] + self.span_[None, :, None] * xn

    def evaluate(self, X, spikes=None) -> EncodingReport:
        arr, _ = self._input(X)
        raster = self.encode_numpy(arr) if spikes is None else self.spikes_raster(spikes, arr.shape[-1])
        ev = [np.nonzero(r) for r in raster]
        x_hat = self.inverse_transform(ev, n_steps=arr.shape[-1])
        target = self.low_[None, :, None] + self.span_[None, :, None] * self.normalized(arr)
        return _report(self, arr, x_hat, ev, target=target, extra={"decode_window": self.decode_window})
