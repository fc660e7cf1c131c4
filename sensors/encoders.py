"""ADC-free spike encoders: numpy references and Brian2 models with identical spikes.

Four encoders, scikit-learn style (``__init__`` stores, ``fit`` sets fitted
attributes ending in ``_``, ``transform`` encodes):

- :class:`DeltaEncoder` -- send-on-delta / level crossing with UP and DOWN
  channels (no ADC: a comparator pair against a tracked reference level).
- :class:`RateEncoder` -- Poisson (Bernoulli per step) rate code, seeded.
- :class:`LatencyEncoder` -- time to first spike of a non-leaky integrator.
- :class:`PopulationEncoder` -- Gaussian receptive fields for feature vectors,
  each field firing once at a latency set by its activation.

Signals are sampled at the network step ``dt``: input ``X`` has shape
(n_channels, n_steps) for one recording or (n_samples, n_channels, n_steps) for
a batch (feature vectors for :class:`PopulationEncoder`: (n_features,) or
(n_samples, n_features)); use :func:`hold` to present static features to a
time-series encoder. Spike steps are integer steps of ``dt``.

``transform`` runs the numpy reference, ``transform_brian`` the Brian2 model;
both return a :class:`neurochip.SpikeSource` (a list of them for a batch), and
they return identical spikes. Brian2 models update in a ``run_regularly``
operation at the start of each step, written in the same floating-point order
as the reference; input samples are written into the group by a
``network_operation`` before it (so one compiled model serves every input
shape). They are compiled without ``-ffast-math`` and with
``-ffp-contract=off`` so that C arithmetic rounds exactly like numpy's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import brian2 as b2
import numpy as np
from brian2 import Hz, Quantity, ms, second

from neurochip._validation import check_float, check_int, check_quantity, describe
from neurochip.network import SpikeSource

#: Compile flags of the encoders' Brian2 code: IEEE-exact doubles (no fast-math, no FMA contraction).
EXACT_COMPILE_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-march=native", "-std=c++11"]


# ---------------------------------------------------------------------- helpers
def hold(features, n_steps: int) -> np.ndarray:
    """Repeat static features over ``n_steps``: (..., n) -> (..., n, n_steps)."""
    f = np.asarray(features, dtype=float)
    n_steps = check_int("hold", "n_steps", n_steps, minimum=1)
    return np.repeat(f[..., None], n_steps, axis=-1)


def resample(signals, *, dt_from: Quantity, dt_to: Quantity) -> np.ndarray:
    """Linear interpolation of signals (..., n_steps) from step ``dt_from`` to ``dt_to``."""
    a = float(check_quantity("resample", "dt_from", dt_from, second, positive=True) / second)
    b = float(check_quantity("resample", "dt_to", dt_to, second, positive=True) / second)
    x = np.asarray(signals, dtype=float)
    t_old = np.arange(x.shape[-1]) * a
    t_new = np.arange(int(np.floor(t_old[-1] / b + 1e-9)) + 1) * b
    flat = x.reshape(-1, x.shape[-1])
    out = np.stack([np.interp(t_new, t_old, row) for row in flat])
    return out.reshape(x.shape[:-1] + (t_new.size,))


def _as_batch(owner: str, X, ndim: int = 2) -> tuple[np.ndarray, bool]:
    """``X`` as float array with a leading sample axis, and whether it had one."""
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: X should be an array of numbers, got {describe(X)}") from None
    if arr.ndim == ndim:
        arr, batched = arr[None], False
    elif arr.ndim == ndim + 1:
        batched = True
    else:
        one, batch = (("(n_channels, n_steps)", "(n_samples, n_channels, n_steps)") if ndim == 2 else
                      ("(n_features,)", "(n_samples, n_features)"))
        raise ValueError(f"{owner}: X should have shape {one} or {batch}, got shape {arr.shape}")
    if arr.size == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{owner}: X should not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: X should be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite values")
    return arr, batched


def raster_to_sources(raster: np.ndarray, name: str, batched: bool):
    """Boolean raster (n_samples, n_neurons, n_steps) -> SpikeSource or list of them."""
    out = []
    for r in raster:
        idx, st = np.nonzero(r)
        out.append(SpikeSource(name, r.shape[0], indices=idx, steps=st))
    return out if batched else out[0]


def sources_to_raster(spikes, n_neurons: int, n_steps: int) -> np.ndarray:
    """SpikeSource / (indices, steps) / list of them -> boolean raster (n_samples, n_neurons, n_steps)."""
    items = spikes if isinstance(spikes, list) else [spikes]
    out = np.zeros((len(items), n_neurons, n_steps), dtype=bool)
    for s, item in enumerate(items):
        idx, st = (item.indices, item.steps) if hasattr(item, "indices") else item
        idx, st = np.asarray(idx, dtype=np.int64), np.asarray(st, dtype=np.int64)
        keep = st < n_steps
        out[s, idx[keep], st[keep]] = True
    return out


@dataclass
class EncodingReport:
    """Cost and fidelity of an encoding.

    Attributes
    ----------
    n_spikes : int
        Total spikes over all samples.
    spikes_per_second : float
        Mean spikes per second of one sample (all output neurons together).
    spikes_per_second_per_channel : float
        ``spikes_per_second`` divided by the number of input channels.
    rmse, max_abs_error : float
        Reconstruction error of the decoder, in signal units.
    """

    n_spikes: int
    spikes_per_second: float
    spikes_per_second_per_channel: float
    rmse: float
    max_abs_error: float
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"n_spikes": self.n_spikes, "spikes_per_second": self.spikes_per_second,
                "spikes_per_second_per_channel": self.spikes_per_second_per_channel,
                "rmse": self.rmse, "max_abs_error": self.max_abs_error, **self.extra}


# --------------------------------------------------------------------- the base
class _Encoder:
    """Shared machinery: input checks, SpikeSource output, Brian2 runs."""

    #: output neurons per input channel
    per_channel = 1
    #: dimensionality of one sample's input (2: channels x steps; 1: features)
    sample_ndim = 2

    def __init__(self, *, dt: Quantity = 1 * ms, name: str = "sensors"):
        self.dt = dt
        self.name = name

    def _owner(self):
        return type(self).__name__

    @property
    def dt_s(self) -> float:
        return float(check_quantity(self._owner(), "dt", self.dt, second, positive=True) / second)

    def _check_fitted(self):
        if not hasattr(self, "n_channels_"):
            raise ValueError(f"{self._owner()}: not fitted; call fit(X) first")

    def _input(self, X):
        self._check_fitted()
        arr, batched = _as_batch(f"{self._owner()}.transform", X, self.sample_ndim)
        if arr.shape[1] != self.n_channels_:
            raise ValueError(f"{self._owner()}.transform: X should have {self.n_channels_} channels (as in fit), "
                             f"got {arr.shape[1]}")
        return arr, batched

    def n_outputs(self) -> int:
        """Number of output neurons per sample."""
        self._check_fitted()
        return self.n_channels_ * self.per_channel

    def transform(self, X):
        """Encode with the numpy reference: a SpikeSource (list of them for a batch)."""
        arr, batched = self._input(X)
        return raster_to_sources(self.encode_numpy(arr), self.name, batched)

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def transform_brian(self, X, *, codegen_target: str | None = None):
        """Encode with the Brian2 model: same output type and spikes as :meth:`transform`."""
        arr, batched = self._input(X)
        return raster_to_sources(self.encode_brian(arr, codegen_target=codegen_target), self.name, batched)

    def spikes_raster(self, spikes, n_steps: int) -> np.ndarray:
        return sources_to_raster(spikes, self.n_outputs(), n_steps)

    # -- Brian2 plumbing ------------------------------------------------------
    def _run_brian(self, group: b2.NeuronGroup, n_steps: int, feeds: dict, codegen_target, variables=()):
        """Run ``group`` for ``n_steps``, writing ``feeds[var][k]`` into ``var`` before step ``k``."""
        arrays = {var: group.variables[var].get_value() for var in feeds}
        counter = [0]

        def feed():
            k = counter[0]
            if k < n_steps:
                for var, values in feeds.items():
                    arrays[var][:] = values[k]
            counter[0] = k + 1

        op = b2.NetworkOperation(feed, dt=self.dt, when="start", order=-1, name=f"{group.name}_feed")
        mon = b2.SpikeMonitor(group, variables=list(variables), name=f"{group.name}_spikes")
        net = b2.Network(group, op, mon, name=f"{group.name}_net")
        old_target = b2.prefs.codegen.target
        old_args = b2.prefs.codegen.cpp.extra_compile_args_gcc
        if codegen_target is not None:
            if codegen_target not in ("cython", "numpy"):
                raise ValueError(f"codegen_target should be 'cython' or 'numpy', got {codegen_target!r}")
            b2.prefs.codegen.target = codegen_target
        b2.prefs.codegen.cpp.extra_compile_args_gcc = EXACT_COMPILE_ARGS
        try:
            from neurochip._brian import run_network  # checked run (issue 12)
            run_network(net, n_steps * self.dt, codegen_target=codegen_target)
        finally:
            b2.prefs.codegen.target = old_target
            b2.prefs.codegen.cpp.extra_compile_args_gcc = old_args
        steps = np.round(np.asarray(mon.t_) / self.dt_s).astype(np.int64)
        idx = np.asarray(mon.i, dtype=np.int64)
        extra = {v: np.asarray(getattr(mon, v)) for v in variables}
        return idx, steps, extra


# ----------------------------------------------------------------------- delta
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
        differences / sqrt(2): the white part of the noise).
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
                 dt: Quantity = 1 * ms, name: str = "sensors"):
        super().__init__(dt=dt, name=name)
        self.threshold = threshold
        self.factor = factor
        self.noise_floor = noise_floor

    def fit(self, X, y=None) -> "DeltaEncoder":
        owner = self._owner()
        self.dt_s  # noqa: B018  (checks the units of dt)
        arr, _ = _as_batch(f"{owner}.fit", X)
        self.n_channels_ = arr.shape[1]
        if self.noise_floor is not None:
            self.noise_floor_ = check_float(owner, "noise_floor", self.noise_floor, low=0.0, low_open=True)
        else:
            d = np.diff(arr, axis=-1)
            mad = np.median(np.abs(d - np.median(d, axis=-1, keepdims=True)), axis=-1)
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


def _report(enc, arr, x_hat, spikes, extra=None, target=None) -> EncodingReport:
    s, c = arr.shape[:2]
    n = int(sum(np.asarray(sp[0]).size for sp in spikes))
    duration = arr.shape[-1] * enc.dt_s if enc.sample_ndim == 2 else enc.window_steps_ * enc.dt_s
    err = (arr if target is None else target) - x_hat
    return EncodingReport(n_spikes=n, spikes_per_second=n / s / duration,
                          spikes_per_second_per_channel=n / s / c / duration,
                          rmse=float(np.sqrt(np.mean(err ** 2))), max_abs_error=float(np.max(np.abs(err))),
                          extra=extra or {})


# ------------------------------------------------------------------------ rate
class _RangeFit:
    """``fit`` of per-channel ranges ``low_``/``high_`` from quantiles of the data."""

    def _fit_range(self, arr: np.ndarray, quantiles):
        owner = self._owner()
        q = tuple(quantiles)
        if len(q) != 2 or not 0 <= q[0] < q[1] <= 1:
            raise ValueError(f"{owner}: quantiles should be (low, high) with 0 <= low < high <= 1, got {describe(quantiles)}")
        axes = tuple(i for i in range(arr.ndim) if i != 1)
        self.n_channels_ = arr.shape[1]
        self.low_ = np.quantile(arr, q[0], axis=axes)
        self.high_ = np.quantile(arr, q[1], axis=axes)
        flat = self.high_ <= self.low_
        self.high_ = np.where(flat, self.low_ + 1.0, self.high_)   # constant channel: any span
        self.span_ = self.high_ - self.low_

    def normalized(self, arr: np.ndarray) -> np.ndarray:
        """``clip((x - low_) / span_, 0, 1)`` per channel (the encoders' intensity)."""
        shape = (1, -1) + (1,) * (arr.ndim - 2)
        return np.clip((arr - self.low_.reshape(shape)) / self.span_.reshape(shape), 0, 1)


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
                 decode_window: int = 50, random_state=None, dt: Quantity = 1 * ms, name: str = "sensors"):
        super().__init__(dt=dt, name=name)
        self.max_rate = max_rate
        self.min_rate = min_rate
        self.quantiles = quantiles
        self.decode_window = decode_window
        self.random_state = random_state

    def fit(self, X, y=None) -> "RateEncoder":
        owner = self._owner()
        self.dt_s  # noqa: B018  (checks the units of dt)
        arr, _ = _as_batch(f"{owner}.fit", X)
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
        out = np.zeros((s, c, t), dtype=bool)
        sample, chan = np.divmod(idx, c)
        out[sample, chan, steps] = True
        return out

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


# ---------------------------------------------------------------------- latency
class LatencyEncoder(_RangeFit, _Encoder):
    """Time to first spike of a non-leaky integrator: stronger input, earlier spike.

    ``xn = clip((x - low_) / (high_ - low_), 0, 1)``; per step ``v = v + xn / t_min``
    (``t_min`` in steps of ``dt``); the neuron spikes once, at the first step
    with ``v >= 1``. For a constant input the spike comes at step
    ``k = ceil(t_min / xn) - 1`` and the decoder returns ``xn_hat = t_min / (k + 1)``
    (the input that spikes exactly then); no spike decodes as ``xn_hat = 0``.
    """

    def __init__(self, *, t_min: Quantity = 5 * ms, quantiles=(0.01, 0.99), dt: Quantity = 1 * ms,
                 name: str = "sensors"):
        super().__init__(dt=dt, name=name)
        self.t_min = t_min
        self.quantiles = quantiles

    def fit(self, X, y=None) -> "LatencyEncoder":
        owner = self._owner()
        self.dt_s  # noqa: B018  (checks the units of dt)
        arr, _ = _as_batch(f"{owner}.fit", X)
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
        out = np.zeros((s, c, t), dtype=bool)
        sample, chan = np.divmod(idx, c)
        out[sample, chan, steps] = True
        return out

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
        return _report_static(self, arr, x_hat, ev, target,
                              extra={"t_min_steps": self.t_min_steps_, "silent_fraction": float(1 - has.mean())})


def _report_static(enc, arr, x_hat, ev, target, extra=None) -> EncodingReport:
    s, c, t = arr.shape
    n = int(sum(np.asarray(e[0]).size for e in ev))
    duration = t * enc.dt_s
    err = target - x_hat
    return EncodingReport(n_spikes=n, spikes_per_second=n / s / duration,
                          spikes_per_second_per_channel=n / s / c / duration,
                          rmse=float(np.sqrt(np.mean(err ** 2))), max_abs_error=float(np.max(np.abs(err))),
                          extra=extra or {})


# ------------------------------------------------------------------- population
class PopulationEncoder(_Encoder):
    """Gaussian receptive fields for feature vectors, one spike per field at most.

    Feature ``j`` is seen by ``n_fields`` neurons with centers evenly spaced over
    ``[low_j, high_j]`` (fitted quantiles) and width ``sigma_j = width * spacing``.
    Neuron ``m`` of feature ``j`` (output index ``j * n_fields + m``) has activation
    ``a = exp(-(x_j - c_jm)^2 / (2 sigma_j^2))`` and spikes once, at step
    ``round((1 - a) (window - 1))``, if ``a >= min_activation``. The decoder finds
    the value whose activations best match the spike latencies (least squares
    on a grid of 1,001 points per feature).

    Input ``X``: (n_features,) or (n_samples, n_features).
    """

    sample_ndim = 1

    def __init__(self, *, n_fields: int = 8, width: float = 1.0, window: Quantity = 20 * ms,
                 min_activation: float = 0.05, quantiles=(0.0, 1.0), dt: Quantity = 1 * ms, name: str = "sensors"):
        super().__init__(dt=dt, name=name)
        self.n_fields = n_fields
        self.width = width
        self.window = window
        self.min_activation = min_activation
        self.quantiles = quantiles

    @property
    def per_channel(self):
        return self.n_fields

    def fit(self, X, y=None) -> "PopulationEncoder":
        owner = self._owner()
        self.dt_s  # noqa: B018  (checks the units of dt)
        arr, _ = _as_batch(f"{owner}.fit", X, 1)
        m = check_int(owner, "n_fields", self.n_fields, minimum=2)
        width = check_float(owner, "width", self.width, low=0.0, low_open=True)
        self.min_activation_ = check_float(owner, "min_activation", self.min_activation, low=0.0, high=1.0)
        w = float(check_quantity(owner, "window", self.window, second, positive=True) / second)
        self.window_steps_ = int(round(w / self.dt_s))
        if self.window_steps_ < 2:
            raise ValueError(f"{owner}: window should be at least 2 steps of dt ({self.dt!r}), got {self.window!r}")
        q = tuple(self.quantiles)
        if len(q) != 2 or not 0 <= q[0] < q[1] <= 1:
            raise ValueError(f"{owner}: quantiles should be (low, high) with 0 <= low < high <= 1, got {describe(self.quantiles)}")
        self.n_channels_ = arr.shape[1]
        low, high = np.quantile(arr, q[0], axis=0), np.quantile(arr, q[1], axis=0)
        high = np.where(high <= low, low + 1.0, high)
        self.low_, self.high_ = low, high
        self.centers_ = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, m)[None]
        self.sigma_ = width * (high - low) / (m - 1)
        self.inv2s2_ = 1.0 / (2.0 * self.sigma_ * self.sigma_)
        return self

    def _activation(self, x):
        """Activations (n_samples, n_features, n_fields) computed with libm ``exp`` (as the C code)."""
        d = x[:, :, None] - self.centers_[None]
        arg = -(d * d) * self.inv2s2_[None, :, None]
        return np.frompyfunc(math.exp, 1, 1)(arg).astype(float)

    def latency_steps(self, x) -> np.ndarray:
        """Spike step per neuron (n_samples, n_features * n_fields); -1 for no spike."""
        a = self._activation(x)
        k = np.floor((1.0 - a) * (self.window_steps_ - 1) + 0.5)
        return np.where(a >= self.min_activation_, k, -1).reshape(x.shape[0], -1).astype(np.int64)

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
        g.run_regularly("""
            d = x - c
            a = exp(-(d*d)*inv2s2)
            fire = int(a >= amin and floor((1.0 - a)*last + 0.5) == k)
            k = k + 1
            """, dt=self.dt, when="start", order=0, name="sensors_population_update")
        idx, steps, _ = self._run_brian(g, self.window_steps_, {}, codegen_target)
        out = np.zeros((s, f * m, self.window_steps_), dtype=bool)
        sample, neuron = np.divmod(idx, f * m)
        out[sample, neuron, steps] = True
        return out

    def transform(self, X):
        arr, batched = self._input(X)
        return raster_to_sources(self.encode_numpy(arr), self.name, batched)

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
        d = xs[:, :, None] - self.centers_[:, None, :]                                   # (f, g, m)
        a = np.exp(-(d * d) * self.inv2s2_[:, None, None])
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


ENCODERS = {"delta": DeltaEncoder, "rate": RateEncoder, "latency": LatencyEncoder,
            "population": PopulationEncoder}
