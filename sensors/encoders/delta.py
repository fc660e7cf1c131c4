"""Send-on-delta (level-crossing) encoding: UP and DOWN comparator events, no ADC."""
from __future__ import annotations

import brian2 as b2
import numpy as np
from brian2 import Quantity, ms

from neurochip._validation import check_float
from sensors.encoders.base import EncodingReport, _Encoder, _report


def delta_encode(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Send-on-delta reference: UP/DOWN spike rasters and the tracked level, along the last axis.

    The reference level starts at ``r = x[..., 0]``; at every step ``k``::

        e = x[k] - r
        up = e >= threshold;  down = e <= -threshold
        r = r + threshold*up - threshold*down

    At most one spike per channel and step (one comparator event per sample):
    ``|x[k] - r[k]| < threshold`` holds at every step while the signal moves by
    at most ``threshold`` per step. Returns ``(up, down, r)`` of the shape of ``x``.
    """
    x = np.asarray(x, dtype=float)
    up = np.zeros(x.shape, dtype=bool)
    down = np.zeros(x.shape, dtype=bool)
    level = np.empty(x.shape)
    r = x[..., 0].copy()
    d = float(threshold)
    for k in range(x.shape[-1]):
        e = x[..., k] - r
        u = e >= d
        w = e <= -d
        r = r + d * u - d * w
        up[..., k], down[..., k], level[..., k] = u, w, r
    return up, down, level


class DeltaEncoder(_Encoder):
    """Send-on-delta (level-crossing) encoder with UP and DOWN channels.

    Output neuron ``c`` spikes when channel ``c`` rose by ``threshold_`` since
    the last event (UP), neuron ``n_channels + c`` when it fell by it (DOWN).
    The decoder integrates events: ``x_hat[k] = x[0] + threshold_ (n_up - n_down)``
    up to step ``k``; the receiver is assumed to know the initial level ``x[0]``.

    Parameters
    ----------
    threshold : float, optional
        Delta in signal units. If ``None``, ``fit`` sets
        ``threshold_ = factor * noise floor``.
    factor : float
        Threshold in units of the noise floor when ``threshold`` is ``None``.
    noise_floor : float, optional
        Known noise standard deviation (e.g. :meth:`SensorArray.noise_floor`);
        if ``None``, ``fit`` estimates it from the data (robust std of first
        differences / sqrt(2): the white part of the noise; the median over
        recordings of each one's MAD, or, when that is 0 as for recordings of 2
        steps, the MAD of all recordings' differences pooled per channel).
    dt : Quantity
        Network step; one input sample per step.

    Notes
    -----
    Reconstruction error ``|x - x_hat| < threshold_`` at every step and the spike
    count of a monotone stretch equals its variation / ``threshold_`` within 1,
    provided the signal moves less than ``threshold_`` per step (the slew limit
    of one event per step); ``evaluate`` reports the steps where it did not.
    """

    per_channel = 2

    def __init__(self, threshold: float | None = None, *, factor: float = 3.0, noise_floor: float | None = None,
                 dt: Quantity = 1 * ms, name: str = "sensors", output: str = "spikes"):
        super().__init__(dt=dt, name=name, output=output)
        self.threshold = threshold
        self.factor = factor
        self.noise_floor = noise_floor

    def fit(self, X, y=None) -> "DeltaEncoder":
        owner, arr = self._fit_input(X)
        self.n_channels_ = arr.shape[1]
        if self.noise_floor is not None:
            self.noise_floor_ = check_float(owner, "noise_floor", self.noise_floor, low=0.0, low_open=True)
        else:
            if arr.shape[-1] < 2:
                raise ValueError(f"{owner}: recordings of 1 step have no differences to estimate the noise floor "
                                 f"from (n_features = 1 steps per channel); give threshold or noise_floor")
            d = np.diff(arr, axis=-1)
            mad = np.median(np.abs(d - np.median(d, axis=-1, keepdims=True)), axis=-1)
            if np.median(mad) == 0:
                # recordings too short for a per-recording estimate (2 steps give one difference, whose
                # deviation from its own median is 0): pool the differences of all recordings per channel
                pooled = np.moveaxis(d, 1, 0).reshape(d.shape[1], -1)
                mad = np.median(np.abs(pooled - np.median(pooled, axis=-1, keepdims=True)), axis=-1)
            self.noise_floor_ = float(np.median(mad) / 0.6744897501960817 / np.sqrt(2))
        if self.threshold is not None:
            self.threshold_ = check_float(owner, "threshold", self.threshold, low=0.0, low_open=True)
        else:
            factor = check_float(owner, "factor", self.factor, low=0.0, low_open=True)
            if self.noise_floor_ <= 0:
                raise ValueError(f"{owner}: the estimated noise floor is 0 (noise-free data); give threshold or "
                                 f"noise_floor")
            self.threshold_ = factor * self.noise_floor_
        return self

    def encode_numpy(self, arr: np.ndarray) -> np.ndarray:
        up, down, _ = delta_encode(arr, self.threshold_)
        return np.concatenate([up, down], axis=1)

    def encode_brian(self, arr: np.ndarray, *, codegen_target=None) -> np.ndarray:
        s, c, t = arr.shape
        g = b2.NeuronGroup(s * c, """
            x : 1
            r : 1
            fire : 1
            delta : 1 (shared, constant)
            """, threshold="fire != 0", reset="", dt=self.dt, name="sensors_delta")
        g.delta = self.threshold_
        g.r = arr[:, :, 0].ravel()
        g.run_regularly("""
            up = int(x - r >= delta)
            down = int(x - r <= -delta)
            r = r + delta*up - delta*down
            fire = up - down
            """, dt=self.dt, when="start", order=0, name="sensors_delta_update")
        feed = np.ascontiguousarray(arr.reshape(s * c, t).T)
        idx, steps, extra = self._run_brian(g, t, {"x": feed}, codegen_target, variables=("fire",))
        sample, chan = np.divmod(idx, c)
        neuron = chan + c * (extra["fire"] < 0)
        out = np.zeros((s, 2 * c, t), dtype=bool)
        out[sample, neuron, steps] = True
        return out

    def inverse_transform(self, spikes, *, n_steps: int, initial=0.0) -> np.ndarray:
        """Decode: ``initial + threshold_ * cumsum(up - down)``, shape (n_samples, n_channels, n_steps)."""
        r = self.spikes_raster(spikes, n_steps)
        c = self.n_channels_
        ev = r[:, :c].astype(float) - r[:, c:]
        init = np.asarray(initial, dtype=float)
        init = init[..., None] if init.ndim else init
        return init + self.threshold_ * np.cumsum(ev, axis=-1)

    def evaluate(self, X, spikes=None) -> EncodingReport:
        """Spike count, rate and reconstruction error on ``X`` (encoded now unless ``spikes`` given)."""
        arr, _ = self._input(X)
        spikes = self.encode_numpy(arr) if spikes is None else self.spikes_raster(spikes, arr.shape[-1])
        spikes = [(np.nonzero(r)) for r in spikes] if isinstance(spikes, np.ndarray) else spikes
        x_hat = self.inverse_transform(list(spikes), n_steps=arr.shape[-1], initial=arr[:, :, 0])
        return _report(self, arr, x_hat, list(spikes),
                       extra={"threshold": self.threshold_, "noise_floor": self.noise_floor_,
                              "slew_violations": int(np.sum(np.abs(np.diff(arr, axis=-1)) > self.threshold_))})
