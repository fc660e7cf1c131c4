"""Digital twin of a nanosensor array: concentration profiles, transport, binding, noise, faults.

Signal chain of sensor ``n`` (see :mod:`sensors.physics` for each step)::

    c_a(t)  --diffusion lag tau_D,a-->  c_s,a(t)  --Langmuir k_on,na k_off,na(T)-->  theta_na(t)
    y_n(t) = g_n * sum_a S_na theta_na(t)                       # relative conductance change dG/G0
           + v_J(t) / V_bias + flicker_n(t) + drift_n(t)         # noise
    then faults (stuck, dead, noise burst, drift ramp) from their onset steps

``y`` is dimensionless: the relative conductance change ``dG/G0`` of a
chemiresistive / FET nanosensor read at a constant bias ``V_bias`` (so Johnson
noise ``sqrt(4 k_B T R df)`` across ``R = 1/G0`` enters as ``v_J / V_bias``).
``S_na`` is the relative response of sensor ``n`` to full coverage by analyte
``a`` (its sign is the direction of the response: an electronic-nose
cross-sensitivity matrix); ``g_n`` is a per-device gain (lognormal spread).
Sites of different analytes are independent (no competitive binding).

Default constants and their meaning (SI, liquid-gated nanosensor at 25 degC):

=====================  ==========================  ===========================================
parameter              default                     meaning / source
=====================  ==========================  ===========================================
k_on                   3e3 .. 3e4 /(M s)           association rate, log-uniform per pair; fast
                                                   reversible binding giving ~1 s responses as
                                                   in nanowire / graphene FET chemical sensors
k_off                  0.3 .. 3 /s                 dissociation rate at 25 degC (K_D ~ 0.1 mM)
activation_energy      40 kJ/mol                   desorption barrier (Arrhenius), typical of
                                                   weak binding / physisorption (20-60 kJ/mol)
radius                 0.5 nm                      hydrodynamic radius of a small molecule
boundary_layer         10 um                       unstirred layer over the sensor: tau_D ~0.1 s
viscosity              0.89 mPa s                  water at 25 degC (CRC Handbook)
resistance             1 Mohm                      nanowire / nanotube channel resistance
bias_voltage           10 mV                       read bias (low, to avoid self-heating)
bandwidth              1 / (2 dt)                  readout bandwidth (Nyquist of the sampling)
flicker_rms            3e-4                        1/f noise, relative (Hooge noise of nanoscale
                                                   channels, alpha_H / N ~ 1e-7 .. 1e-6)
=====================  ==========================  ===========================================

The rate constants are chosen for second-scale responses (the time scale of the
networks downstream), not fitted to a particular device; replace them with a
device's measured values through the constructor.

Sources: Langmuir, J. Am. Chem. Soc. 40, 1361 (1918) (binding); Einstein, Ann. Phys.
17, 549 (1905) (Stokes-Einstein diffusion); Squires, Messinger & Manalis, Nat.
Biotechnol. 26, 417 (2008) (transport to surface sensors, unstirred layers);
Johnson, Phys. Rev. 32, 97 (1928) and Nyquist, Phys. Rev. 32, 110 (1928)
(thermal noise); Hooge, Phys. Lett. A 29, 139 (1969) and Balandin, Nat.
Nanotechnol. 8, 549 (2013) (1/f noise of nanoscale channels); CRC Handbook of
Chemistry and Physics (viscosity of water).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from brian2 import DimensionMismatchError, Quantity, get_dimensions, kelvin, meter, mmolar, molar, \
    ms, ohm, pascal, second, volt, Hz, joule, mole

from neurochip._validation import check_float, check_int, check_quantity, describe
from sensors import physics

#: Units (as Brian2 quantities) of the SI floats used internally.
CONCENTRATION = mole / meter ** 3
K_ON_UNIT = meter ** 3 / (mole * second)
PER_SECOND = 1 / second
PER_SQRT_SECOND = second ** -0.5


def si_array(owner: str, field_name: str, value, unit, *, shape=None, positive=False,
             nonnegative=False) -> np.ndarray:
    """A Brian2 quantity (scalar or array) with the dimensions of ``unit`` as SI floats.

    Plain numbers are accepted only for dimensionless ``unit``. ``shape``
    (optional) is the shape the value must broadcast to.
    """
    label = f"{owner}: {field_name}" if owner else field_name
    dimensionless = get_dimensions(unit).is_dimensionless
    if isinstance(value, Quantity):
        if value.dimensions != get_dimensions(unit):
            raise DimensionMismatchError(
                f"{label} should have units {get_dimensions(unit)} (e.g. {unit!r}), got {describe(value)}")
        arr = np.asarray(value, dtype=float)
    else:
        if not dimensionless:
            raise DimensionMismatchError(
                f"{label} should have units {get_dimensions(unit)} (e.g. {unit!r}), got {describe(value)} (no units)")
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{label} should be a number or an array of numbers, got {describe(value)}") from None
    if shape is not None:
        try:
            arr = np.broadcast_to(arr, shape).copy()
        except ValueError:
            raise ValueError(f"{label} should be a scalar or broadcast to shape {shape}, got shape {arr.shape}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} should be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite values")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{label} should be > 0, got minimum {arr.min():g} (SI units)")
    if nonnegative and np.any(arr < 0):
        raise ValueError(f"{label} should be >= 0, got minimum {arr.min():g} (SI units)")
    return arr


def _dt_seconds(owner: str, dt) -> float:
    return float(check_quantity(owner, "dt", dt, second, positive=True) / second)


def n_steps_for(owner: str, duration, dt) -> int:
    """Number of whole steps of ``dt`` in ``duration`` (rounded to the nearest step)."""
    d = float(check_quantity(owner, "duration", duration, second, positive=True) / second)
    return max(1, int(round(d / _dt_seconds(owner, dt))))


# --------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Step:
    """Bulk concentration ``concentration`` of ``analyte`` from ``onset`` for ``duration``.

    ``duration=None`` holds it to the end (a step); a finite duration is a pulse.
    """

    analyte: str
    concentration: Quantity
    onset: Quantity = 0 * second
    duration: Quantity | None = None

    def render(self, t: np.ndarray) -> np.ndarray:
        c = float(check_quantity(f"{type(self).__name__} '{self.analyte}'", "concentration",
                                 self.concentration, mmolar) / CONCENTRATION)
        if c < 0:
            raise ValueError(f"{type(self).__name__} '{self.analyte}': concentration should be >= 0, "
                             f"got {self.concentration!r}")
        on, off = self._window()
        return np.where((t >= on) & (t < off), c, 0.0)

    def _window(self):
        owner = f"{type(self).__name__} '{self.analyte}'"
        on = float(check_quantity(owner, "onset", self.onset, second) / second)
        off = np.inf if self.duration is None else on + float(
            check_quantity(owner, "duration", self.duration, second, positive=True) / second)
        return on, off


@dataclass(frozen=True)
class Pulse(Step):
    """A :class:`Step` of finite ``duration`` (required)."""

    duration: Quantity = 100 * ms


@dataclass(frozen=True)
class Ramp(Step):
    """Concentration rising linearly from 0 at ``onset`` to ``concentration`` over ``rise``, then held."""

    rise: Quantity = 1 * second

    def render(self, t: np.ndarray) -> np.ndarray:
        hold = super().render(t)
        on, _ = self._window()
        rise = float(check_quantity(f"Ramp '{self.analyte}'", "rise", self.rise, second, positive=True) / second)
        return hold * np.clip((t - on) / rise, 0.0, 1.0)


def render_profiles(profiles: Sequence[Step], analytes: Sequence[str], *, duration: Quantity,
                    dt: Quantity = 1 * ms) -> Quantity:
    """Bulk concentrations of ``analytes`` over time, shape (n_analytes, n_steps), in mol/m^3.

    Profiles of the same analyte add up (mixtures are several analytes at once).
    Value at step ``k`` is the concentration at ``t = k dt``.
    """
    n = n_steps_for("render_profiles", duration, dt)
    t = np.arange(n) * _dt_seconds("render_profiles", dt)
    out = np.zeros((len(analytes), n))
    for p in profiles:
        if not isinstance(p, Step):
            raise ValueError(f"render_profiles: profiles should be Step, Pulse or Ramp objects, got {describe(p)}")
        if p.analyte not in analytes:
            raise ValueError(f"render_profiles: unknown analyte {p.analyte!r} (known: {', '.join(analytes)})")
        out[list(analytes).index(p.analyte)] += p.render(t)
    return out * CONCENTRATION


# ------------------------------------------------------------------ conditions
@dataclass
class Conditions:
    """Operating conditions and noise of one recording (all randomizable).

    Parameters
    ----------
    temperature : Quantity (K)
        Sets Johnson noise, diffusion (Stokes-Einstein) and desorption (Arrhenius).
    viscosity : Quantity (Pa s)
        Of the sample fluid; sets diffusion and so the transport delay.
    flicker_rms : float
        Standard deviation of the 1/f noise of ``dG/G0``.
    drift_slope : Quantity (1/s) or array of shape (n_sensors,)
        Linear baseline drift of ``dG/G0`` per second.
    drift_walk : Quantity (1/sqrt(s)) or array of shape (n_sensors,)
        Random-walk baseline drift: ``dG/G0`` spreads by ``drift_walk * sqrt(t)``.
    gain : float or array of shape (n_sensors,)
        Per-device sensitivity factor ``g_n`` (1 = nominal).
    thermal_noise : bool
        Add Johnson noise.
    """

    temperature: Quantity = 298.15 * kelvin
    viscosity: Quantity = 0.89e-3 * pascal * second
    flicker_rms: float = 3e-4
    drift_slope: Quantity = 0.0 / second
    drift_walk: Quantity = 0.0 * PER_SQRT_SECOND
    gain: float = 1.0
    thermal_noise: bool = True


# --------------------------------------------------------------------- the array
@dataclass
class SensorArray:
    """An array of ``n_sensors`` nanosensors cross-sensitive to ``analytes``.

    Parameters
    ----------
    analytes : sequence of str
    k_on : Quantity of shape (n_sensors, n_analytes)
        Association rate constants (e.g. ``1e4 / (molar * second)``).
    k_off : Quantity of shape (n_sensors, n_analytes)
        Dissociation rate constants at 25 degC (1/s).
    sensitivity : array of shape (n_sensors, n_analytes)
        Relative conductance change ``dG/G0`` at full coverage (signed).
    resistance : Quantity, scalar or (n_sensors,)
        Channel resistance ``R = 1/G0`` (Johnson noise).
    bias_voltage : Quantity
        Read bias ``V_bias``.
    activation_energy : Quantity (J/mol), scalar or (n_analytes,)
        Desorption activation energy (temperature dependence of ``k_off``).
    radius : Quantity (m), scalar or (n_analytes,)
        Hydrodynamic radius of each analyte (diffusion).
    boundary_layer : Quantity (m)
        Thickness of the unstirred layer the analyte diffuses through.
    bandwidth : Quantity (Hz) or None
        Readout bandwidth for Johnson noise; ``None`` is the Nyquist frequency ``1/(2 dt)``.

    Examples
    --------
    >>> from brian2 import mmolar, second, ms
    >>> arr = SensorArray.random(4, ("NH3", "H2S"), random_state=0)
    >>> y = arr.simulate([Step("NH3", 0.2 * mmolar, onset=0.2 * second)], duration=1 * second,
    ...                  dt=1 * ms, random_state=0)
    >>> y.shape
    (4, 1000)
    """

    analytes: Sequence[str]
    k_on: Quantity
    k_off: Quantity
    sensitivity: np.ndarray
    resistance: Quantity = 1e6 * ohm
    bias_voltage: Quantity = 10e-3 * volt
    activation_energy: Quantity = 40e3 * joule / mole
    radius: Quantity = 0.5e-9 * meter
    boundary_layer: Quantity = 10e-6 * meter
    bandwidth: Quantity | None = None

    def __post_init__(self):
        owner = "SensorArray"
        self.analytes = tuple(self.analytes)
        if not self.analytes or not all(isinstance(a, str) and a for a in self.analytes):
            raise ValueError(f"{owner}: analytes should be a non-empty sequence of names, got {describe(self.analytes)}")
        if len(set(self.analytes)) != len(self.analytes):
            raise ValueError(f"{owner}: analytes should be unique, got {self.analytes}")
        sens = si_array(owner, "sensitivity", self.sensitivity, 1)
        if sens.ndim != 2 or sens.shape[1] != len(self.analytes):
            raise ValueError(f"{owner}: sensitivity should have shape (n_sensors, {len(self.analytes)}), "
                             f"got shape {sens.shape}")
        self.sensitivity = sens
        shape = sens.shape
        n, a = shape
        self._k_on = si_array(owner, "k_on", self.k_on, K_ON_UNIT, shape=shape, nonnegative=True)
        self._k_off = si_array(owner, "k_off", self.k_off, PER_SECOND, shape=shape, nonnegative=True)
        self._resistance = si_array(owner, "resistance", self.resistance, ohm, shape=(n,), positive=True)
        self._bias = float(check_quantity(owner, "bias_voltage", self.bias_voltage, volt, positive=True) / volt)
        self._ea = si_array(owner, "activation_energy", self.activation_energy, joule / mole, shape=(a,),
                            nonnegative=True)
        self._radius = si_array(owner, "radius", self.radius, meter, shape=(a,), positive=True)
        self._layer = float(check_quantity(owner, "boundary_layer", self.boundary_layer, meter) / meter)
        if self._layer < 0:
            raise ValueError(f"{owner}: boundary_layer should be >= 0, got {self.boundary_layer!r}")
        self._bandwidth = None if self.bandwidth is None else float(
            check_quantity(owner, "bandwidth", self.bandwidth, Hz, positive=True) / Hz)

    @property
    def n_sensors(self) -> int:
        return self.sensitivity.shape[0]

    @property
    def n_analytes(self) -> int:
        return len(self.analytes)

    @classmethod
    def random(cls, n_sensors: int, analytes: Sequence[str] = ("A", "B", "C"), *, random_state=None,
               k_on_range: tuple = (3e3 / (molar * second), 3e4 / (molar * second)),
               k_off_range: tuple = (0.3 / second, 3.0 / second),
               sensitivity_range: tuple = (0.005, 0.05), negative_fraction: float = 0.3,
               **kwargs) -> "SensorArray":
        """A random electronic-nose array: log-uniform rates and sensitivities per (sensor, analyte).

        A fraction ``negative_fraction`` of the responses is negative (conductance
        decreases), as for oxidizing versus reducing gases on a p-type channel.
        Further keyword arguments go to the constructor.
        """
        owner = "SensorArray.random"
        n_sensors = check_int(owner, "n_sensors", n_sensors, minimum=1)
        negative_fraction = check_float(owner, "negative_fraction", negative_fraction, low=0.0, high=1.0)
        rng = np.random.default_rng(random_state)
        shape = (n_sensors, len(tuple(analytes)))

        def loguniform(lo, hi):
            return np.exp(rng.uniform(np.log(lo), np.log(hi), size=shape))

        kon = [si_array(owner, "k_on_range", v, K_ON_UNIT, positive=True) for v in k_on_range]
        koff = [si_array(owner, "k_off_range", v, PER_SECOND, positive=True) for v in k_off_range]
        sr = [si_array(owner, "sensitivity_range", v, 1, positive=True) for v in sensitivity_range]
        sign = np.where(rng.random(shape) < negative_fraction, -1.0, 1.0)
        return cls(analytes=tuple(analytes), k_on=loguniform(*kon) * K_ON_UNIT,
                   k_off=loguniform(*koff) * PER_SECOND, sensitivity=sign * loguniform(*sr), **kwargs)

    # ------------------------------------------------------------- simulation
    def noise_floor(self, *, dt: Quantity = 1 * ms, conditions: Conditions | None = None) -> float:
        """Standard deviation of the white + flicker noise of ``dG/G0`` (drift excluded).

        ``sqrt((v_J / V_bias)^2 + flicker_rms^2)`` averaged over sensors; the
        reference scale against which encoder thresholds are chosen.
        """
        c = conditions or Conditions()
        dt_s = _dt_seconds("SensorArray.noise_floor", dt)
        j = self.johnson_relative_rms(float(c.temperature / kelvin), dt_s) if c.thermal_noise else 0.0
        return float(np.sqrt(np.mean(np.asarray(j) ** 2) + float(c.flicker_rms) ** 2))

    def johnson_relative_rms(self, temperature, dt_s: float):
        """Johnson noise of ``dG/G0`` per sensor: ``sqrt(4 k_B T R df) / V_bias``."""
        bw = self._bandwidth if self._bandwidth is not None else 1.0 / (2.0 * dt_s)
        return physics.johnson_rms(np.asarray(temperature, float)[..., None], self._resistance, bw) / self._bias

    def simulate(self, concentration, *, duration: Quantity | None = None, dt: Quantity = 1 * ms,
                 conditions: Conditions | None = None, noise: bool = True, faults=(),
                 random_state=None, return_coverage: bool = False):
        """Signals ``dG/G0`` of every sensor, shape (n_sensors, n_steps).

        ``y[:, k]`` is the state at the end of step ``k`` (concentration
        ``c[:, k]`` applied during step ``k``, held constant within it).

        Parameters
        ----------
        concentration : list of Step/Pulse/Ramp, or Quantity of shape (n_analytes, n_steps)
            Bulk concentration profiles (``duration`` required for a list).
        dt : Quantity
            Sampling step (the network ``dt`` when the signal feeds an encoder).
        conditions : Conditions, optional
        noise : bool
            ``False`` gives the noise- and drift-free response.
        faults : sequence of Fault
            Injected after noise (see :func:`inject_faults`).
        random_state : int or numpy Generator
        return_coverage : bool
            Also return the coverage ``theta`` of shape (n_sensors, n_analytes, n_steps).
        """
        owner = "SensorArray.simulate"
        dt_s = _dt_seconds(owner, dt)
        if isinstance(concentration, Quantity):
            conc = si_array(owner, "concentration", concentration, CONCENTRATION, nonnegative=True)
            if conc.ndim != 2 or conc.shape[0] != self.n_analytes:
                raise ValueError(f"{owner}: concentration should have shape ({self.n_analytes}, n_steps), "
                                 f"got shape {conc.shape}")
        else:
            if duration is None:
                raise ValueError(f"{owner}: duration is required when concentration is a list of profiles")
            conc = np.asarray(render_profiles(list(concentration), self.analytes, duration=duration, dt=dt)
                              / CONCENTRATION)
        c = conditions or Conditions()
        rng = np.random.default_rng(random_state)
        n = self.n_sensors
        temp = float(check_quantity(owner, "temperature", c.temperature, kelvin, positive=True) / kelvin)
        visc = float(check_quantity(owner, "viscosity", c.viscosity, pascal * second, positive=True)
                     / (pascal * second))
        params = dict(
            temperature=np.array([temp]), viscosity=np.array([visc]),
            gain=si_array(owner, "gain", c.gain, 1, shape=(1, n), nonnegative=True),
            flicker_rms=np.array([check_float(owner, "flicker_rms", c.flicker_rms, low=0.0)]),
            drift_slope=si_array(owner, "drift_slope", c.drift_slope, PER_SECOND, shape=(1, n)),
            drift_walk=si_array(owner, "drift_walk", c.drift_walk, PER_SQRT_SECOND, shape=(1, n),
                                nonnegative=True),
            thermal=bool(c.thermal_noise))
        clean, theta = simulate_batch(self, conc[None], dt=dt_s, rng=rng, return_coverage=return_coverage, **params)
        y = clean + (batch_noise(self, clean.shape, dt=dt_s, rng=rng, **params) if noise else 0.0)
        y = y[0]
        if faults:
            y = inject_faults(y, faults, dt=dt, random_state=rng)
        return (y, theta[0]) if return_coverage else y


def simulate_batch(array: SensorArray, conc: np.ndarray, *, dt: float, temperature, viscosity, gain,
                   return_coverage: bool = False, rng=None, **_ignored):
    """Noise-free responses of a batch: the vectorized engine (SI floats).

    ``conc`` has shape (n_samples, n_analytes, n_steps) in mol/m^3;
    ``temperature`` (K) and ``viscosity`` (Pa s) have shape (n_samples,), ``gain``
    shape (n_samples, n_sensors). Returns ``(y, theta)`` of shapes
    (n_samples, n_sensors, n_steps) and (n_samples, n_sensors, n_analytes, n_steps) (``theta``
    is ``None`` unless ``return_coverage``).
    """
    s, a, t_steps = conc.shape
    temperature = np.broadcast_to(np.asarray(temperature, float), (s,))
    viscosity = np.broadcast_to(np.asarray(viscosity, float), (s,))
    diff = physics.diffusion_coefficient(temperature[:, None], viscosity[:, None], array._radius[None, :])
    tau = physics.transport_time_constant(diff, array._layer)                     # (s, a)
    keep = physics.lag_factor(tau, dt)
    k_on = array._k_on[None]                                                       # (1, n, a)
    k_off = physics.arrhenius(array._k_off[None], array._ea[None, None, :], temperature[:, None, None])
    c_s = np.zeros((s, a))
    theta = np.zeros((s, array.n_sensors, a))
    conc_t = np.ascontiguousarray(np.moveaxis(conc, -1, 0))                       # (t, s, a)
    y_t = np.empty((t_steps, s, array.n_sensors))
    theta_t = np.empty((t_steps, s, array.n_sensors, a)) if return_coverage else None
    for k in range(t_steps):
        c_s = physics.transport_step(c_s, conc_t[k], keep)
        theta = physics.langmuir_step(theta, c_s[:, None, :], k_on, k_off, dt)
        np.einsum("sna,na->sn", theta, array.sensitivity, out=y_t[k])
        if return_coverage:
            theta_t[k] = theta
    y = np.moveaxis(y_t, 0, -1)
    theta_all = None if theta_t is None else np.moveaxis(theta_t, 0, -1)
    return np.ascontiguousarray(y * np.asarray(gain, float).reshape(-1, array.n_sensors)[..., None]), theta_all


def batch_noise(array: SensorArray, shape, *, dt: float, temperature, flicker_rms, drift_slope, drift_walk,
                thermal: bool = True, rng: np.random.Generator, **_ignored) -> np.ndarray:
    """Johnson + flicker + drift noise of ``dG/G0`` for a batch of shape (n_samples, n_sensors, n_steps)."""
    s, n, t_steps = shape
    out = np.zeros(shape)
    if thermal:
        rms = np.broadcast_to(array.johnson_relative_rms(np.broadcast_to(temperature, (s,)), dt), (s, n))
        out += physics.white_noise(shape, rms, rng)
    fl = np.broadcast_to(np.asarray(flicker_rms, float).reshape(-1, 1), (s, n))
    if np.any(fl > 0):
        out += physics.flicker_noise(shape, fl, rng)
    slope = np.broadcast_to(np.asarray(drift_slope, float), (s, n))
    walk = np.broadcast_to(np.asarray(drift_walk, float), (s, n))
    if np.any(slope != 0) or np.any(walk != 0):
        out += physics.drift(shape, dt, slope, walk, rng)
    return out


# ----------------------------------------------------------------------- faults
FAULT_KINDS = ("stuck", "dead", "burst", "drift")
_FAULT_CODE = {k: i + 1 for i, k in enumerate(FAULT_KINDS)}


@dataclass(frozen=True)
class Fault:
    """A sensor fault from ``onset`` (for ``duration``, or to the end when ``None``).

    Kinds
    -----
    ``"stuck"``: the output holds the value of the step before the onset.
    ``"dead"``: the channel opens (G = 0): ``dG/G0 = -1``.
    ``"burst"``: extra white noise of standard deviation ``rms``.
    ``"drift"``: an extra ramp ``slope * (t - onset)`` (``slope`` in 1/s), held after ``duration``.
    """

    kind: str
    sensor: int
    onset: Quantity
    duration: Quantity | None = None
    rms: float = 0.0
    slope: Quantity = 0.0 / second

    def __post_init__(self):
        owner = f"Fault '{self.kind}'"
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault: kind should be one of {', '.join(FAULT_KINDS)}, got {self.kind!r}")
        check_int(owner, "sensor", self.sensor, minimum=0)
        check_quantity(owner, "onset", self.onset, second)
        if self.duration is not None:
            check_quantity(owner, "duration", self.duration, second, positive=True)
        check_float(owner, "rms", self.rms, low=0.0)
        check_quantity(owner, "slope", self.slope, PER_SECOND)

    def window(self, n_steps: int, dt_s: float) -> tuple[int, int]:
        """``(onset_step, end_step)`` clipped to ``[0, n_steps]``."""
        on = int(np.ceil(float(self.onset / second) / dt_s - 1e-9))
        end = n_steps if self.duration is None else on + int(round(float(self.duration / second) / dt_s))
        return min(max(on, 0), n_steps), min(max(end, 0), n_steps)


def apply_fault_arrays(signals: np.ndarray, code: np.ndarray, onset: np.ndarray, end: np.ndarray,
                       rms: np.ndarray, slope: np.ndarray, dt: float, rng: np.random.Generator) -> np.ndarray:
    """Vectorized fault injection (the engine of :func:`inject_faults`).

    All arrays have the shape of ``signals`` without its last (time) axis:
    ``code`` is 0 for no fault, else ``1 + FAULT_KINDS.index(kind)``; ``onset``
    and ``end`` are steps; ``rms`` is the burst noise; ``slope`` the drift per s.
    """
    y = np.array(signals, dtype=float, copy=True)
    t = np.arange(y.shape[-1])
    active = (t >= onset[..., None]) & (t < end[..., None]) & (code[..., None] > 0)
    stuck = active & (code[..., None] == _FAULT_CODE["stuck"])
    if stuck.any():
        before = np.take_along_axis(y, np.clip(onset - 1, 0, y.shape[-1] - 1)[..., None].astype(int), axis=-1)
        y = np.where(stuck, before, y)
    y = np.where(active & (code[..., None] == _FAULT_CODE["dead"]), -1.0, y)
    burst = active & (code[..., None] == _FAULT_CODE["burst"])
    if burst.any():
        y = y + np.where(burst, rng.standard_normal(y.shape) * rms[..., None], 0.0)
    is_drift = (code[..., None] == _FAULT_CODE["drift"]) & (t >= onset[..., None])
    if is_drift.any():
        ramp = np.minimum(t, end[..., None]) - onset[..., None]
        y = y + np.where(is_drift, slope[..., None] * ramp * dt, 0.0)
    return y


def inject_faults(signals, faults: Sequence[Fault], *, dt: Quantity = 1 * ms, random_state=None) -> np.ndarray:
    """Return a copy of ``signals`` (n_sensors, n_steps) with ``faults`` applied in order.

    Use :func:`fault_mask` for the ground truth (which sensor is faulty when),
    e.g. to measure a detector's delay from the onset.
    """
    y = np.array(signals, dtype=float, copy=True)
    if y.ndim != 2:
        raise ValueError(f"inject_faults: signals should have shape (n_sensors, n_steps), got shape {y.shape}")
    dt_s = _dt_seconds("inject_faults", dt)
    rng = np.random.default_rng(random_state)
    for f in faults:
        if not isinstance(f, Fault):
            raise ValueError(f"inject_faults: faults should be Fault objects, got {describe(f)}")
        if f.sensor >= y.shape[0]:
            raise ValueError(f"inject_faults: Fault '{f.kind}' sensor should be in [0, {y.shape[0] - 1}], "
                             f"got {f.sensor}")
        on, end = f.window(y.shape[1], dt_s)
        row = apply_fault_arrays(y[f.sensor][None], np.array([_FAULT_CODE[f.kind]]), np.array([on]),
                                 np.array([end]), np.array([f.rms]), np.array([float(f.slope * second)]),
                                 dt_s, rng)
        y[f.sensor] = row[0]
    return y


def fault_mask(faults: Sequence[Fault], n_sensors: int, n_steps: int, *, dt: Quantity = 1 * ms) -> np.ndarray:
    """Boolean array (n_sensors, n_steps): True where a fault is active (drift: from onset on)."""
    dt_s = _dt_seconds("fault_mask", dt)
    mask = np.zeros((n_sensors, n_steps), dtype=bool)
    for f in faults:
        on, end = f.window(n_steps, dt_s)
        mask[f.sensor, on:(n_steps if f.kind == "drift" else end)] = True
    return mask
