"""Shared machinery of the encoders: input checks, SpikeSource output, Brian2 runs, reports.

Signals are sampled at the network step ``dt``: input ``X`` has shape
(n_channels, n_steps) for one recording or (n_samples, n_channels, n_steps) for
a batch (feature vectors for the population encoder: (n_features,) or
(n_samples, n_features)); use :func:`hold` to present static features to a
time-series encoder. Spike steps are integer steps of ``dt``.

Brian2 models update in a ``run_regularly`` operation at the start of each
step, written in the same floating-point order as the numpy reference; input
samples are written into the group by a ``network_operation`` before it (so one
compiled model serves every input shape). They are compiled with
:data:`EXACT_COMPILE_ARGS` (no ``-ffast-math``, ``-ffp-contract=off``) so that C
arithmetic rounds exactly like numpy's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import brian2 as b2
import numpy as np
from brian2 import Quantity, ms, second
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from neurochip._validation import check_int, check_quantity, describe
from neurochip.network import SpikeSource

#: Compile flags of the encoders' Brian2 code: IEEE-exact doubles (no fast-math, no FMA contraction).
EXACT_COMPILE_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-march=native", "-std=c++11"]


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


def events_to_raster(neuron: np.ndarray, steps: np.ndarray, n_samples: int, n_neurons: int,
                     n_steps: int) -> np.ndarray:
    """Spike events of a Brian2 group holding ``n_samples`` copies of ``n_neurons`` neurons ->
    boolean raster (n_samples, n_neurons, n_steps) (group index ``i`` is sample ``i // n_neurons``)."""
    out = np.zeros((n_samples, n_neurons, n_steps), dtype=bool)
    sample, neuron = np.divmod(neuron, n_neurons)
    out[sample, neuron, steps] = True
    return out


#: What ``transform`` returns, by the encoders' ``output`` parameter.
OUTPUTS = ("spikes", "counts", "flat")


class _Encoder(TransformerMixin, BaseEstimator):
    """Shared machinery: input checks, SpikeSource or array output, Brian2 runs.

    scikit-learn estimators: ``__init__`` only stores its keyword arguments
    (``get_params`` / ``set_params`` / ``clone`` work), ``fit`` sets the attributes
    ending in ``_``, ``transform`` before ``fit`` raises ``NotFittedError`` (a
    ValueError). ``output`` chooses what ``transform`` returns:

    - ``"spikes"`` (default): a :class:`neurochip.SpikeSource` per sample (a list
      for a batch); ``X`` of shape (n_channels, n_steps) is one recording,
      (n_samples, n_channels, n_steps) a batch (population encoder: (n_features,)
      or (n_samples, n_features));
    - ``"counts"``: spike counts per output neuron, float array (n_samples, n_outputs);
    - ``"flat"``: the raster flattened, float array (n_samples, n_outputs * n_steps)
      (neuron-major: neuron ``j``'s steps are columns ``j * n_steps ...``).

    With the array outputs ``X`` follows scikit-learn: its first axis is always
    samples (a 2-D ``X`` of a time-series encoder is (n_samples, n_steps) of one
    channel), it is checked by ``sklearn.utils.validation.validate_data``
    (``n_features_in_`` is ``X.shape[1]``, and ``transform`` requires the same),
    so the encoders go into ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``.
    """

    #: output neurons per input channel
    per_channel = 1
    #: dimensionality of one sample's input (2: channels x steps; 1: features)
    sample_ndim = 2

    def __init__(self, *, dt: Quantity = 1 * ms, name: str = "sensors", output: str = "spikes"):
        self.dt = dt
        self.name = name
        self.output = output

    def _owner(self):
        return type(self).__name__

    @property
    def dt_s(self) -> float:
        return float(check_quantity(self._owner(), "dt", self.dt, second, positive=True) / second)

    def _array_output(self) -> bool:
        if self.output not in OUTPUTS:
            raise ValueError(f"{self._owner()}: output should be one of {', '.join(map(repr, OUTPUTS))}, "
                             f"got {self.output!r}")
        return self.output != "spikes"

    def _batch(self, X, *, fitting: bool) -> tuple[np.ndarray, bool]:
        """``X`` as a float batch with a leading sample axis (and whether it had one), checked."""
        owner = f"{self._owner()}.{'fit' if fitting else 'transform'}"
        if not self._array_output():
            return _as_batch(owner, X, self.sample_ndim)
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=fitting, allow_nd=True, dtype=np.float64)
        arr = X[:, None, :] if self.sample_ndim == 2 and X.ndim == 2 else X
        if arr.ndim != self.sample_ndim + 1:
            one = "(n_samples, n_steps) or (n_samples, n_channels, n_steps)" if self.sample_ndim == 2 \
                else "(n_samples, n_features)"
            raise ValueError(f"{owner}: X should have shape {one}, got shape {X.shape}")
        return _as_batch(owner, arr, self.sample_ndim)[0], True

    def _fit_input(self, X) -> tuple[str, np.ndarray]:
        """Start of ``fit``: the owner name and ``X`` as a batch (the units of ``dt`` checked)."""
        owner = self._owner()
        self.dt_s  # noqa: B018  (checks the units of dt)
        arr, _ = self._batch(X, fitting=True)
        if not self._array_output():
            self.n_features_in_ = arr.shape[1]
        return owner, arr

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_channels_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = self.sample_ndim == 2
        return tags

    def _check_fitted(self):
        if not hasattr(self, "n_channels_"):
            raise NotFittedError(f"{self._owner()}: not fitted; call fit(X) first")

    def _input(self, X):
        self._check_fitted()
        arr, batched = self._batch(X, fitting=False)
        if arr.shape[1] != self.n_channels_:
            raise ValueError(f"{self._owner()}.transform: X should have {self.n_channels_} channels (as in fit), "
                             f"got {arr.shape[1]}")
        return arr, batched

    def n_outputs(self) -> int:
        """Number of output neurons per sample."""
        self._check_fitted()
        return self.n_channels_ * self.per_channel

    def _output(self, raster: np.ndarray, batched: bool):
        if self.output == "counts":
            return raster.sum(axis=-1).astype(np.float64)
        if self.output == "flat":
            return raster.reshape(raster.shape[0], -1).astype(np.float64)
        return raster_to_sources(raster, self.name, batched)

    def transform(self, X):
        """Encode with the numpy reference: SpikeSource(s), or an array (see ``output``)."""
        arr, batched = self._input(X)
        return self._output(self.encode_numpy(arr), batched)

    def transform_brian(self, X, *, codegen_target: str | None = None):
        """Encode with the Brian2 model: same output type and spikes as :meth:`transform`."""
        arr, batched = self._input(X)
        return self._output(self.encode_brian(arr, codegen_target=codegen_target), batched)

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


def _report(enc, arr, x_hat, spikes, extra=None, target=None) -> EncodingReport:
    s, c = arr.shape[:2]
    n = int(sum(np.asarray(sp[0]).size for sp in spikes))
    duration = arr.shape[-1] * enc.dt_s if enc.sample_ndim == 2 else enc.window_steps_ * enc.dt_s
    err = (arr if target is None else target) - x_hat
    return EncodingReport(n_spikes=n, spikes_per_second=n / s / duration,
                          spikes_per_second_per_channel=n / s / c / duration,
                          rmse=float(np.sqrt(np.mean(err ** 2))), max_abs_error=float(np.max(np.abs(err))),
                          extra=extra or {})


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
