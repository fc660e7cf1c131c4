"""Device models: validated, unit-checked, serializable parameters plus thin wrappers.

A :class:`DeviceModel` is what ``Projection(device=...)`` holds. It stores
parameters and a seed only (no per-device arrays): the devices of a crossbar
are drawn from it with :meth:`DeviceModel.sample`, the same seed giving the
same devices. The physics lives in the pure functions of
:mod:`neurochip.devices.functional`.

Three thin subclasses fix the model family (they differ only in validation and
defaults): :class:`LinearDevice` (``nonlinearity = 0``),
:class:`SoftBoundedDevice` (NeuroSim / Querlioz nonlinear update) and
:class:`PCMDevice` (power-law drift). Presets with sources are in
:mod:`neurochip.devices.presets`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from brian2 import Quantity, second, siemens

from neurochip._validation import check_float, check_int, check_quantity, describe
from neurochip.devices import functional as F
from neurochip.network import _Serializable, register

_QUANTITY_FIELDS = {"g_min": siemens, "g_max": siemens, "drift_t0": second}
D2D_DISTRIBUTIONS = ("lognormal", "normal")
UPDATE_SCHEMES = ("pair", "set_only")


@register
@dataclass(eq=False, kw_only=True)
class DeviceModel(_Serializable):
    """A memristive device family with device-to-device and cycle-to-cycle variability.

    Parameters
    ----------
    g_min, g_max : Quantity (siemens)
        Nominal conductance bounds, ``0 <= g_min < g_max``.
    n_levels : int
        Conductance levels along the potentiation curve (>= 2): ``n_levels - 1``
        pulses take a device from ``g_min`` to ``g_max``.
    n_levels_d : int, optional
        Levels along the depression curve (default: ``n_levels``).
    nonlinearity_p, nonlinearity_d : float
        NeuroSim nonlinearity labels of the potentiation / depression curves in
        ``[-9, 9]`` (0: linear; see :func:`neurochip.devices.functional.nonlinearity_to_a`).
        The conductance after ``p`` pulses from ``g_min`` is
        ``G(p) = B (1 - exp(-p/A)) + g_min``, ``B = (g_max - g_min)/(1 - exp(-P/A))``.
    d2d_distribution : {"lognormal", "normal"}
        Distribution of the device-to-device spread of ``g_min`` and ``g_max``:
        ``g_i = g exp(sigma z)`` (lognormal, median ``g``) or ``g (1 + sigma z)``
        (normal, clipped at 0), ``z ~ N(0, 1)``.
    sigma_g_min, sigma_g_max : float
        Relative device-to-device spread of the bounds (>= 0). A device whose
        drawn ``g_max`` is not above its ``g_min`` gets ``g_max = g_min + 1e-3 (g_max - g_min)``.
    sigma_nonlinearity : float
        Device-to-device spread of the nonlinearity labels (absolute, normal, as
        NeuroSim's ``sigmaDtoD``; labels are clipped to [-9, 9]).
    c2c_sigma : float
        Cycle-to-cycle noise per programming event of ``n`` pulses:
        ``c2c_sigma (g_max_i - g_min_i) sqrt(|n|) N(0, 1)`` (NeuroSim ``sigmaCtoC``).
    write_sigma : float
        Programming noise of a weight write (:meth:`map_weights`), as a fraction of
        ``g_max``: ``write_sigma g_max N(0, 1)`` once per written device (aihwkit).
    read_sigma : float
        Relative read noise: each read returns ``G (1 + read_sigma N(0, 1))``.
    stuck_at_min, stuck_at_max : float
        Fractions of devices stuck at their ``g_min`` / ``g_max`` (each in [0, 1],
        sum <= 1). Stuck devices ignore programming and do not drift.
    drift_nu, drift_nu_sigma : float
        Drift exponent ``nu`` and its device-to-device spread (normal; ``|nu_i|`` is
        used, as in aihwkit): ``G(t) = G_0 (t / t0)^(-nu_i)`` for ``t > t0`` after programming.
    drift_t0 : Quantity (second)
        Reference time of the drift (> 0).
    update_scheme : {"pair", "set_only"}
        How weight changes become pulses on the differential pair
        (see :func:`neurochip.devices.functional.dw_to_pulses`).
    pulse_gain : float
        Programming pulses per nominal level of requested weight change (> 0):
        a learning rule's ``dw`` becomes ``round(pulse_gain * dw / dw_level)``
        pulses with ``dw_level = k (g_max - g_min) / (n_levels - 1)``. The length
        of the pulse train (its pulse count, or its width in units of the device's
        nominal pulse) sets the learning rate on the device physically: each pulse
        moves one level of the device's nonlinear curve and carries its own
        cycle-to-cycle noise (``sqrt(n)``), so ``pulse_gain = 2`` is about twice the
        learning rate with a soft-bounded, noisier result. Default 1 (one pulse per
        nominal level).
    write_verify : bool
        Weight writes pick each device's own level nearest the target (closed loop)
        instead of the nominal pulse count (open loop).
    seed : int
        Seed of the device draw and of the noise of writes and reads.
    label : str
        Free-form name (presets use their name).
    source : str
        Where the parameters come from.

    Examples
    --------
    >>> from brian2 import nS
    >>> dev = SoftBoundedDevice(g_min=3.08*nS, g_max=38.46*nS, n_levels=97, n_levels_d=100,
    ...                         nonlinearity_p=2.4, nonlinearity_d=-4.88)
    >>> dev.sample(3).g_min.shape
    (3,)
    """

    g_min: Quantity
    g_max: Quantity
    n_levels: int = 64
    n_levels_d: int | None = None
    nonlinearity_p: float = 0.0
    nonlinearity_d: float = 0.0
    d2d_distribution: str = "lognormal"
    sigma_g_min: float = 0.0
    sigma_g_max: float = 0.0
    sigma_nonlinearity: float = 0.0
    c2c_sigma: float = 0.0
    write_sigma: float = 0.0
    read_sigma: float = 0.0
    stuck_at_min: float = 0.0
    stuck_at_max: float = 0.0
    drift_nu: float = 0.0
    drift_nu_sigma: float = 0.0
    drift_t0: Quantity = dataclasses.field(default_factory=lambda: 1 * second)
    update_scheme: str = "pair"
    pulse_gain: float = 1.0
    write_verify: bool = False
    seed: int = 0
    label: str = ""
    source: str = ""

    kind: ClassVar[str] = "device"

    def __post_init__(self):
        owner = type(self).__name__ + (f" '{self.label}'" if self.label else "")
        self.g_min = check_quantity(owner, "g_min", self.g_min, siemens)
        self.g_max = check_quantity(owner, "g_max", self.g_max, siemens)
        if float(self.g_min) < 0:
            raise ValueError(f"{owner}: g_min should be >= 0 siemens, got {self.g_min!r}")
        if float(self.g_min) >= float(self.g_max):
            raise ValueError(f"{owner}: g_min should be < g_max, got g_min={self.g_min!r} >= g_max={self.g_max!r}")
        self.n_levels = check_int(owner, "n_levels", self.n_levels, minimum=2)
        if self.n_levels_d is None:
            self.n_levels_d = self.n_levels
        self.n_levels_d = check_int(owner, "n_levels_d", self.n_levels_d, minimum=2)
        for name in ("nonlinearity_p", "nonlinearity_d"):
            setattr(self, name, check_float(owner, name, getattr(self, name), low=-F.NL_MAX, high=F.NL_MAX))
        if self.d2d_distribution not in D2D_DISTRIBUTIONS:
            raise ValueError(f"{owner}: d2d_distribution should be one of {', '.join(D2D_DISTRIBUTIONS)}, "
                             f"got {describe(self.d2d_distribution)}")
        for name in ("sigma_g_min", "sigma_g_max", "sigma_nonlinearity", "c2c_sigma", "write_sigma",
                     "read_sigma", "drift_nu", "drift_nu_sigma"):
            setattr(self, name, check_float(owner, name, getattr(self, name), low=0.0))
        for name in ("stuck_at_min", "stuck_at_max"):
            setattr(self, name, check_float(owner, name, getattr(self, name), low=0.0, high=1.0))
        if self.stuck_at_min + self.stuck_at_max > 1.0:
            raise ValueError(f"{owner}: stuck_at_min + stuck_at_max should be <= 1, got "
                             f"{self.stuck_at_min} + {self.stuck_at_max}")
        self.drift_t0 = check_quantity(owner, "drift_t0", self.drift_t0, second, positive=True)
        if self.update_scheme not in UPDATE_SCHEMES:
            raise ValueError(f"{owner}: update_scheme should be one of {', '.join(UPDATE_SCHEMES)}, "
                             f"got {describe(self.update_scheme)}")
        self.pulse_gain = check_float(owner, "pulse_gain", self.pulse_gain, low=0.0, low_open=True)
        if not isinstance(self.write_verify, (bool, np.bool_)):
            raise ValueError(f"{owner}: write_verify should be True or False, got {describe(self.write_verify)}")
        self.write_verify = bool(self.write_verify)
        self.seed = check_int(owner, "seed", self.seed, minimum=0)
        for name in ("label", "source"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{owner}: {name} should be a string, got {describe(getattr(self, name))}")
        self._check_family(owner)

    def _check_family(self, owner: str) -> None:
        """Extra constraints of a subclass (none for the general model)."""

    # ------------------------------------------------------------ parameters
    @property
    def g_min_s(self) -> float:
        """Nominal ``g_min`` in siemens (float)."""
        return float(self.g_min / siemens)

    @property
    def g_max_s(self) -> float:
        return float(self.g_max / siemens)

    @property
    def pulse_params(self) -> F.PulseParams:
        return F.PulseParams(self.n_levels, self.n_levels_d, self.c2c_sigma)

    @property
    def read_params(self) -> F.ReadParams:
        return F.ReadParams(float(self.drift_t0 / second), self.read_sigma)

    @property
    def a_p(self) -> float:
        """Nominal normalized curve parameter of potentiation (``A / (n_levels - 1)``)."""
        return float(F.nonlinearity_to_a(self.nonlinearity_p))

    @property
    def a_d(self) -> float:
        return float(F.nonlinearity_to_a(self.nonlinearity_d))

    def replace(self, **changes) -> "DeviceModel":
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def rng(self, random_state=None) -> np.random.Generator:
        """The generator of ``random_state``, or a fresh one seeded with :attr:`seed`."""
        return np.random.default_rng(self.seed if random_state is None else random_state)

    # ----------------------------------------------------------- devices
    def sample(self, n: int, *, random_state=None) -> F.DeviceArrays:
        """Draw ``n`` devices (device-to-device variability and stuck-at faults).

        The draws are made in a fixed order (``g_min``, ``g_max``, the two
        nonlinearities, ``nu``, then the stuck-at uniform numbers) whatever the
        sigmas, so that one seed gives the same underlying draws at every
        variability level (a sweep scales one realization).
        """
        n = check_int(type(self).__name__, "n", n, minimum=0)
        rng = self.rng(random_state)
        z = rng.standard_normal((5, n))
        u = rng.random(n)
        if self.d2d_distribution == "lognormal":
            g_min = self.g_min_s * np.exp(self.sigma_g_min * z[0])
            g_max = self.g_max_s * np.exp(self.sigma_g_max * z[1])
        else:
            g_min = np.maximum(self.g_min_s * (1 + self.sigma_g_min * z[0]), 0.0)
            g_max = np.maximum(self.g_max_s * (1 + self.sigma_g_max * z[1]), 0.0)
        bad = g_max <= g_min
        g_max = np.where(bad, g_min + 1e-3 * (self.g_max_s - self.g_min_s), g_max)
        nl_p = np.clip(self.nonlinearity_p + self.sigma_nonlinearity * z[2], -F.NL_MAX, F.NL_MAX)
        nl_d = np.clip(self.nonlinearity_d + self.sigma_nonlinearity * z[3], -F.NL_MAX, F.NL_MAX)
        stuck = np.zeros(n, dtype=np.int8)
        stuck[u < self.stuck_at_min] = F.STUCK_MIN
        stuck[(u >= self.stuck_at_min) & (u < self.stuck_at_min + self.stuck_at_max)] = F.STUCK_MAX
        nu = np.abs(self.drift_nu + self.drift_nu_sigma * z[4])
        nu = np.where(stuck == F.FREE, nu, 0.0)
        return F.DeviceArrays(g_min, g_max, F.nonlinearity_to_a(nl_p), F.nonlinearity_to_a(nl_d), nu, stuck)

    def nominal(self, n: int = 1) -> F.DeviceArrays:
        """``n`` copies of the nominal device (no variability, no faults)."""
        return F.DeviceArrays(np.full(n, self.g_min_s), np.full(n, self.g_max_s), np.full(n, self.a_p),
                              np.full(n, self.a_d), np.full(n, self.drift_nu), np.zeros(n, np.int8))

    def levels(self, direction: str = "p") -> Quantity:
        """Nominal conductance levels of the potentiation (``"p"``) or depression (``"d"``) curve."""
        if direction not in ("p", "d"):
            raise ValueError(f"levels: direction should be 'p' or 'd', got {direction!r}")
        a, n = (self.a_p, self.n_levels) if direction == "p" else (self.a_d, self.n_levels_d)
        return F.levels(self.g_min_s, self.g_max_s, a, n) * siemens

    def initial_state(self, arrays: F.DeviceArrays, g=None) -> F.DeviceState:
        """All free devices at ``g`` (default their ``g_min``), stuck devices at their stuck value."""
        if g is not None:
            g = np.asarray(check_quantity_array(type(self).__name__, "g", g, siemens))
        return F.initial_state(arrays, g)

    def program(self, state: F.DeviceState, pulses, arrays: F.DeviceArrays, *, rng=None,
                t: Quantity = 0 * second) -> F.DeviceState:
        """Apply signed pulse counts (see :func:`neurochip.devices.functional.program`)."""
        t = check_quantity(type(self).__name__, "t", t, second)
        if rng is None and self.c2c_sigma > 0:
            raise ValueError(f"{type(self).__name__}.program: c2c_sigma > 0 needs rng (a numpy Generator)")
        return F.program(state, pulses, arrays, self.pulse_params, rng, t=float(t / second))

    def read(self, state: F.DeviceState, arrays: F.DeviceArrays, *, t: Quantity | None = None,
             rng=None) -> np.ndarray:
        """Conductances (siemens, float array) read at time ``t``; read noise only if ``rng`` is given."""
        tt = None if t is None else float(check_quantity(type(self).__name__, "t", t, second) / second)
        return F.read(state, arrays, self.read_params, t=tt, rng=rng)

    # --------------------------------------------------------- weights
    def map_weights(self, weights, *, k: float | None = None, random_state=None, t: Quantity | None = None,
                    read_noise: bool = False):
        """Write float weights into differential pairs of fresh devices; see :func:`neurochip.devices.mapping.map_weights`."""
        from neurochip.devices.mapping import map_weights

        return map_weights(self, weights, k=k, random_state=random_state, t=t, read_noise=read_noise)

    def snapshot_weights(self, weights, *, random_state=None, t: Quantity | None = None,
                         read_noise: bool = False) -> np.ndarray:
        """Effective float weights a crossbar of these devices realizes for target ``weights``.

        Parameters
        ----------
        weights : array of shape (n_post, n_pre), or a scipy.sparse matrix
            Target weights (Lava ``Dense`` / NIR convention). For a sparse matrix
            only the stored entries have devices, and a sparse matrix is returned.
        random_state : int or Generator, optional
            Default: the model's :attr:`seed` (so the result is reproducible and
            equals the Brian2 backend's initial weights for a dense projection).
        t : Quantity (second), optional
            Read time after programming (drift), a Brian2 quantity such as
            ``3600 * second``; ``None`` for no drift.
        read_noise : bool
            Add one read's noise.

        Returns
        -------
        ndarray of shape (n_post, n_pre) (CSR matrix for sparse input)
            ``k (G+ - G-)``: quantized to the levels, with device-to-device
            variability, stuck-at faults, write and cycle-to-cycle noise, drift.
            Devices are drawn in (pre, post) order, as the Brian2 backend does.
        """
        if sp.issparse(weights):
            coo = sp.coo_matrix(weights, dtype=float)
            coo.sum_duplicates()
            order = np.lexsort((coo.row, coo.col))  # (pre, post) order, as Projection.synapses()
            m = self.map_weights(coo.data[order], random_state=random_state, t=t, read_noise=read_noise)
            return sp.csr_matrix((m.weights_realized, (coo.row[order], coo.col[order])), shape=coo.shape)
        w = np.asarray(weights, dtype=float)
        if w.ndim != 2:
            raise ValueError(f"{type(self).__name__}.snapshot_weights: weights should be 2-D (n_post, n_pre), "
                             f"got shape {w.shape}")
        m = self.map_weights(w.T.ravel(), random_state=random_state, t=t, read_noise=read_noise)
        return m.weights_realized.reshape(w.shape[1], w.shape[0]).T.copy()

    # ------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        d = {"type": type(self).__name__}
        units = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _QUANTITY_FIELDS:
                unit = _QUANTITY_FIELDS[f.name]
                d[f.name] = float(value / unit)
                units[f.name] = str(unit)
            else:
                d[f.name] = value
        d["units"] = units
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceModel":
        if not isinstance(d, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {describe(d)}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names - {"type", "units"})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
        kw = {k: v for k, v in d.items() if k in names}
        for name, unit in _QUANTITY_FIELDS.items():
            if name in kw:
                kw[name] = check_float(cls.__name__, name, kw[name]) * unit
        return cls(**kw)


@register
@dataclass(eq=False, kw_only=True)
class LinearDevice(DeviceModel):
    """Linear update: every pulse changes ``G`` by ``(g_max - g_min) / (n_levels - 1)`` (nonlinearity 0)."""

    def _check_family(self, owner: str) -> None:
        if self.nonlinearity_p != 0 or self.nonlinearity_d != 0 or self.sigma_nonlinearity != 0:
            raise ValueError(f"{owner}: a linear device has nonlinearity_p = nonlinearity_d = "
                             f"sigma_nonlinearity = 0, got {self.nonlinearity_p}, {self.nonlinearity_d}, "
                             f"{self.sigma_nonlinearity}; use SoftBoundedDevice")


@register
@dataclass(eq=False, kw_only=True)
class SoftBoundedDevice(DeviceModel):
    """Nonlinear soft-bounded update ``G(P) = B (1 - exp(-P/A)) + g_min`` (NeuroSim, Querlioz 2013)."""


@register
@dataclass(eq=False, kw_only=True)
class PCMDevice(DeviceModel):
    """Phase-change memory: drift ``G(t) = G_0 (t/t0)^(-nu)`` with ``nu > 0`` (Ielmini 2007, aihwkit)."""

    drift_nu: float = 0.05
    drift_t0: Quantity = dataclasses.field(default_factory=lambda: 20 * second)

    def _check_family(self, owner: str) -> None:
        if self.drift_nu <= 0:
            raise ValueError(f"{owner}: a PCM device drifts: drift_nu should be > 0, got {self.drift_nu}")


def check_quantity_array(owner: str, field: str, value, unit) -> np.ndarray:
    """Values of a Brian2 quantity (scalar or array) with the dimensions of ``unit``, as floats in that unit."""
    if not isinstance(value, Quantity) or not value.has_same_dimensions(unit):
        from brian2 import DimensionMismatchError

        raise DimensionMismatchError(f"{owner}: {field} should have units {unit!r}, got {describe(value)}")
    return np.asarray(value / unit, dtype=float)


class DeviceArray:
    """A stateful set of ``n`` devices drawn from a model (thin wrapper over the pure functions).

    Parameters
    ----------
    model : DeviceModel
    n : int
    random_state : int or Generator, optional
        Seeds the device draw and then the noise of programming and reads
        (default: the model's seed).

    Examples
    --------
    >>> from neurochip.devices import presets
    >>> devs = DeviceArray(presets.ideal(), 4)
    >>> devs.program(np.array([0, 1, 2, 63]))
    >>> devs.read().tolist()[3] == presets.ideal().g_max_s
    True
    """

    def __init__(self, model: DeviceModel, n: int, *, random_state=None):
        self.model = model
        self.rng = model.rng(random_state)
        self.arrays = model.sample(n, random_state=self.rng)
        self.state = F.initial_state(self.arrays)

    def __len__(self) -> int:
        return self.arrays.size

    @property
    def conductance(self) -> Quantity:
        """Programmed conductances (no drift, no read noise)."""
        return self.state.g * siemens

    def program(self, pulses, *, t: Quantity = 0 * second) -> None:
        """Apply signed pulse counts (broadcast to all devices)."""
        self.state = self.model.program(self.state, pulses, self.arrays, rng=self.rng, t=t)

    def reset(self) -> None:
        """Every free device back to its ``g_min``."""
        self.state = F.initial_state(self.arrays)

    def read(self, *, t: Quantity | None = None, noise: bool = True) -> np.ndarray:
        """Conductances (siemens) read at ``t`` (drift), with read noise unless ``noise=False``."""
        return self.model.read(self.state, self.arrays, t=t, rng=self.rng if noise else None)
