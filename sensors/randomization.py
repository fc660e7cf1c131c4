"""Domain randomization: a declarative spec of parameter distributions, sampled per sample.

A :class:`RandomizationSpec` names, for every randomized parameter of the twin,
a distribution for the *training* range and (optionally) another for the
*shifted* range (conditions outside training, for sim-to-real tests). Shifted
entries override training ones; parameters not listed keep their training
distribution. Sampling is vectorized and seeded (numpy ``Generator``).

Randomized parameters (name: unit, sampled per sample or per (sample, sensor)):

==================  =============  ==========  ===============================================
name                unit           per         meaning
==================  =============  ==========  ===============================================
concentration       mmolar         sample      target analyte concentration during exposure
background          mmolar         sample      concentration of every other analyte (mixture)
temperature         kelvin         sample      noise, diffusion, desorption rate
viscosity           pascal*second  sample      diffusion (transport delay)
gain                1              sensor      device sensitivity factor (device variability)
flicker_rms         1              sample      1/f noise of dG/G0
drift_slope         1/second       sensor      linear baseline drift of dG/G0
drift_walk          1/sqrt(second) sample      random-walk drift of dG/G0
stuck_rate          1              sample      probability that a sensor gets stuck
dead_rate           1              sample      probability that a sensor dies (dG/G0 = -1)
burst_rate          1              sample      probability of a noise burst on a sensor
burst_rms           1              sample      noise of a burst
drift_fault_rate    1              sample      probability of a drift-ramp fault on a sensor
fault_slope         1/second       sample      slope of a drift-ramp fault (dG/G0 per s)
==================  =============  ==========  ===============================================

Fault onsets are uniform over the recording; bursts last ``burst_duration``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from brian2 import Quantity, kelvin, mmolar, ms, pascal, second

from neurochip._validation import check_float, check_int, check_quantity, describe
from sensors.twin import PER_SECOND, PER_SQRT_SECOND, SensorArray, si_array

#: name -> (unit, per_sensor)
PARAMETERS = {
    "concentration": (mmolar, False),
    "background": (mmolar, False),
    "temperature": (kelvin, False),
    "viscosity": (pascal * second, False),
    "gain": (1, True),
    "flicker_rms": (1, False),
    "drift_slope": (PER_SECOND, True),
    "drift_walk": (PER_SQRT_SECOND, False),
    "stuck_rate": (1, False),
    "dead_rate": (1, False),
    "burst_rate": (1, False),
    "burst_rms": (1, False),
    "drift_fault_rate": (1, False),
    "fault_slope": (PER_SECOND, False),
}


class Distribution:
    """Base class: ``sample(shape, rng, unit)`` returns SI floats of that shape."""

    def _values(self):  # pragma: no cover - overridden
        return {}

    def check(self, owner: str, unit) -> None:
        for key, value in self._values().items():
            si_array(owner, key, value, unit)

    def describe(self) -> dict:
        return {"type": type(self).__name__, **{k: str(v) for k, v in self._values().items()}}


@dataclass(frozen=True)
class Constant(Distribution):
    """Always ``value``."""

    value: object

    def _values(self):
        return {"value": self.value}

    def sample(self, shape, rng, unit):
        return np.full(shape, float(si_array("", "value", self.value, unit)))


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high]``."""

    low: object
    high: object

    def _values(self):
        return {"low": self.low, "high": self.high}

    def check(self, owner, unit):
        lo, hi = si_array(owner, "low", self.low, unit), si_array(owner, "high", self.high, unit)
        if not lo <= hi:
            raise ValueError(f"{owner}: Uniform low should be <= high, got {self.low!r} > {self.high!r}")

    def sample(self, shape, rng, unit):
        lo, hi = float(si_array("", "low", self.low, unit)), float(si_array("", "high", self.high, unit))
        return rng.uniform(lo, hi, size=shape)


@dataclass(frozen=True)
class LogUniform(Uniform):
    """Log-uniform on ``[low, high]`` (both > 0): uniform in ``log``."""

    def check(self, owner, unit):
        super().check(owner, unit)
        if si_array(owner, "low", self.low, unit) <= 0:
            raise ValueError(f"{owner}: LogUniform low should be > 0, got {self.low!r}")

    def sample(self, shape, rng, unit):
        lo, hi = float(si_array("", "low", self.low, unit)), float(si_array("", "high", self.high, unit))
        return np.exp(rng.uniform(np.log(lo), np.log(hi), size=shape))


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal with ``mean`` and standard deviation ``std``."""

    mean: object
    std: object

    def _values(self):
        return {"mean": self.mean, "std": self.std}

    def check(self, owner, unit):
        super().check(owner, unit)
        if si_array(owner, "std", self.std, unit) < 0:
            raise ValueError(f"{owner}: Normal std should be >= 0, got {self.std!r}")

    def sample(self, shape, rng, unit):
        return rng.normal(float(si_array("", "mean", self.mean, unit)),
                          float(si_array("", "std", self.std, unit)), size=shape)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """``median * exp(sigma * N(0, 1))`` (``sigma`` dimensionless): multiplicative spread."""

    median: object
    sigma: float

    def _values(self):
        return {"median": self.median}

    def check(self, owner, unit):
        super().check(owner, unit)
        check_float(owner, "sigma", self.sigma, low=0.0)

    def sample(self, shape, rng, unit):
        return float(si_array("", "median", self.median, unit)) * np.exp(self.sigma * rng.standard_normal(shape))


def default_train() -> dict:
    """Training ranges: lab conditions around 25 degC in water, mild noise, rare faults."""
    return {
        "concentration": LogUniform(0.05 * mmolar, 0.5 * mmolar),
        "background": Constant(0 * mmolar),
        "temperature": Uniform(293.15 * kelvin, 303.15 * kelvin),
        "viscosity": Uniform(0.8e-3 * pascal * second, 1.0e-3 * pascal * second),
        "gain": LogNormal(1.0, 0.1),
        "flicker_rms": Uniform(1e-4, 4e-4),
        "drift_slope": Normal(0 / second, 1e-3 / second),
        "drift_walk": Uniform(0 * PER_SQRT_SECOND, 3e-4 * PER_SQRT_SECOND),
        "stuck_rate": Constant(0.0),
        "dead_rate": Constant(0.0),
        "burst_rate": Constant(0.0),
        "burst_rms": Constant(3e-3),
        "drift_fault_rate": Constant(0.0),
        "fault_slope": Constant(2e-2 / second),
    }


def default_shifted() -> dict:
    """Shifted ranges: warmer, more viscous samples, interferents, more noise, drift and faults."""
    return {
        "concentration": LogUniform(0.03 * mmolar, 1.0 * mmolar),
        "background": LogUniform(0.005 * mmolar, 0.05 * mmolar),
        "temperature": Uniform(308.15 * kelvin, 318.15 * kelvin),
        "viscosity": Uniform(1.2e-3 * pascal * second, 2.0e-3 * pascal * second),
        "gain": LogNormal(1.0, 0.3),
        "flicker_rms": Uniform(4e-4, 1e-3),
        "drift_slope": Normal(0 / second, 4e-3 / second),
        "drift_walk": Uniform(3e-4 * PER_SQRT_SECOND, 1e-3 * PER_SQRT_SECOND),
        "stuck_rate": Constant(0.02),
        "dead_rate": Constant(0.01),
        "burst_rate": Constant(0.05),
        "drift_fault_rate": Constant(0.02),
    }


@dataclass
class RandomizationSpec:
    """What to randomize, and how, for a sensor array (declarative, seeded sampling).

    Parameters
    ----------
    analytes : sequence of str
        All analytes the array sees.
    classes : sequence of str, optional
        Analytes that are classes of the dataset (default: all ``analytes``).
    n_sensors : int
    array_seed : int
        Seed of :meth:`SensorArray.random` when ``array`` is not given; a new
        seed is a new device array (device variability across tasks).
    array : SensorArray, optional
        The physical array (overrides ``n_sensors``, ``analytes`` and ``array_seed``).
    duration, dt : Quantity
        Recording length and sampling step.
    onset, exposure : Quantity
        Analyte exposure starts at ``onset`` and lasts ``exposure``.
    feature_window : Quantity
        Steady-state features: mean over the last ``feature_window`` of the
        exposure minus the mean over the baseline before ``onset``.
    burst_duration : Quantity
        Length of a noise burst fault.
    train, shifted : dict of name to Distribution
        See the module docstring for names and units; ``shifted`` overrides ``train``.

    Examples
    --------
    >>> from brian2 import mmolar
    >>> spec = RandomizationSpec(n_sensors=4, train={"concentration": Uniform(0.1 * mmolar, 0.2 * mmolar)})
    >>> spec.distributions(shifted=False)["concentration"].high
    0.2 * mmolar
    """

    analytes: Sequence[str] = ("A", "B", "C")
    classes: Sequence[str] | None = None
    n_sensors: int = 8
    array_seed: int = 0
    array: SensorArray | None = None
    duration: Quantity = 2 * second
    dt: Quantity = 1 * ms
    onset: Quantity = 0.2 * second
    exposure: Quantity = 1.2 * second
    feature_window: Quantity = 0.2 * second
    burst_duration: Quantity = 0.1 * second
    train: dict = field(default_factory=default_train)
    shifted: dict = field(default_factory=default_shifted)

    def __post_init__(self):
        owner = "RandomizationSpec"
        if self.array is None:
            self.n_sensors = check_int(owner, "n_sensors", self.n_sensors, minimum=1)
            self.array = SensorArray.random(self.n_sensors, tuple(self.analytes), random_state=self.array_seed)
        elif not isinstance(self.array, SensorArray):
            raise ValueError(f"{owner}: array should be a SensorArray, got {describe(self.array)}")
        self.analytes = self.array.analytes
        self.n_sensors = self.array.n_sensors
        self.classes = tuple(self.analytes if self.classes is None else self.classes)
        unknown = [c for c in self.classes if c not in self.analytes]
        if not self.classes or unknown:
            raise ValueError(f"{owner}: classes should be a non-empty subset of analytes "
                             f"({', '.join(self.analytes)}), got {self.classes}")
        dt = float(check_quantity(owner, "dt", self.dt, second, positive=True) / second)
        total = float(check_quantity(owner, "duration", self.duration, second, positive=True) / second)
        on = float(check_quantity(owner, "onset", self.onset, second, positive=True) / second)
        exp = float(check_quantity(owner, "exposure", self.exposure, second, positive=True) / second)
        win = float(check_quantity(owner, "feature_window", self.feature_window, second, positive=True) / second)
        check_quantity(owner, "burst_duration", self.burst_duration, second, positive=True)
        if on + exp > total + 1e-12:
            raise ValueError(f"{owner}: onset + exposure should be <= duration ({self.duration!r}), "
                             f"got {self.onset!r} + {self.exposure!r}")
        if win > exp + 1e-12 or on < dt:
            raise ValueError(f"{owner}: feature_window should be <= exposure and onset >= dt, got "
                             f"feature_window={self.feature_window!r}, onset={self.onset!r}")
        for label, table in (("train", self.train), ("shifted", self.shifted)):
            if not isinstance(table, dict):
                raise ValueError(f"{owner}: {label} should be a dict of name to Distribution, got {describe(table)}")
            for name, dist in table.items():
                if name not in PARAMETERS:
                    raise ValueError(f"{owner}: {label}[{name!r}] is not a randomized parameter "
                                     f"(known: {', '.join(PARAMETERS)})")
                if not isinstance(dist, Distribution):
                    raise ValueError(f"{owner}: {label}[{name!r}] should be a Distribution "
                                     f"(Constant, Uniform, LogUniform, Normal, LogNormal), got {describe(dist)}")
                dist.check(f"{owner}: {label}[{name!r}]", PARAMETERS[name][0])
        self.train = {**default_train(), **self.train}

    # ------------------------------------------------------------------ steps
    @property
    def n_steps(self) -> int:
        return int(round(float(self.duration / self.dt)))

    def window_steps(self) -> dict:
        """Steps of the baseline end (onset), exposure end and feature window start."""
        on = int(round(float(self.onset / self.dt)))
        off = on + int(round(float(self.exposure / self.dt)))
        win = max(1, int(round(float(self.feature_window / self.dt))))
        return {"onset": on, "offset": min(off, self.n_steps), "window": win}

    def distributions(self, *, shifted: bool = False) -> dict:
        """The distribution of every parameter for the training or the shifted range."""
        return {**self.train, **(self.shifted if shifted else {})}

    def sample(self, n_samples: int, rng: np.random.Generator, *, shifted: bool = False) -> dict:
        """Draw every parameter: SI floats of shape (n_samples,) or (n_samples, n_sensors)."""
        out = {}
        for name, dist in self.distributions(shifted=shifted).items():
            unit, per_sensor = PARAMETERS[name]
            shape = (n_samples, self.n_sensors) if per_sensor else (n_samples,)
            out[name] = dist.sample(shape, rng, unit)
        return out

    def with_changes(self, **changes) -> "RandomizationSpec":
        """A copy with fields replaced (e.g. ``classes=("A", "B")``, ``array_seed=3``) for task sampling."""
        if "array_seed" in changes or "n_sensors" in changes or "analytes" in changes:
            changes.setdefault("array", None)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-friendly summary (for ``config.json`` / dataset ``meta``)."""
        return {"analytes": list(self.analytes), "classes": list(self.classes), "n_sensors": self.n_sensors,
                "array_seed": self.array_seed, "duration": str(self.duration), "dt": str(self.dt),
                "onset": str(self.onset), "exposure": str(self.exposure),
                "feature_window": str(self.feature_window),
                "train": {k: v.describe() for k, v in self.train.items()},
                "shifted": {k: v.describe() for k, v in self.shifted.items()}}


def sample_task(spec: RandomizationSpec, *, n_classes: int | None = None, new_array: bool = True,
                random_state=None) -> RandomizationSpec:
    """A random task for meta-learning: a subset of the analytes as classes and a new device array.

    Draws ``n_classes`` of ``spec.analytes`` (default: as many as ``spec.classes``)
    in the analytes' order and, if ``new_array``, a new ``array_seed`` (another
    random cross-sensitivity matrix: device variability across tasks). Condition
    ranges (concentration, temperature, drift, ...) stay those of ``spec``;
    change them with :meth:`RandomizationSpec.with_changes`.
    """
    rng = np.random.default_rng(random_state)
    k = len(spec.classes) if n_classes is None else check_int("sample_task", "n_classes", n_classes, minimum=1)
    if k > len(spec.analytes):
        raise ValueError(f"sample_task: n_classes should be <= the number of analytes ({len(spec.analytes)}), got {k}")
    pick = np.sort(rng.choice(len(spec.analytes), size=k, replace=False))
    changes = {"classes": tuple(spec.analytes[i] for i in pick)}
    if new_array:
        changes.update(array_seed=int(rng.integers(2 ** 31)), n_sensors=spec.n_sensors, analytes=spec.analytes)
    return spec.with_changes(**changes)


# --------------------------------------------------------------------------- drift of a calibrated gas twin
def _range(owner: str, name: str, value) -> tuple:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} should be a (low, high) range, got {describe(value)}") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"{owner}: {name} should be a range 0 <= low <= high, got {value!r}")
    return (low, high)


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation with no fixed point (``n >= 2``): who collides with whom."""
    if n < 2:
        raise ValueError(f"derangement: n should be >= 2, got {n}")
    while True:
        p = rng.permutation(n)
        if np.all(p != np.arange(n)):
            return p


#: The drift kinds of :class:`DriftSpec`, in the order they are drawn.
DRIFT_KINDS = ("collision", "sensor_gain", "gas_gain", "kinetics", "baseline", "feature_gain")


@dataclass(frozen=True)
class DriftSpec:
    """Drift of a gas-array twin (``sensors.calibration.GasArrayTwin``) from one recording period to a later one.

    Every field is a ``(low, high)`` range: a drifted twin draws each magnitude
    uniformly from it, then the changes themselves (log-normal with that spread):

    ==============  ===========================================================================
    kind            what changes
    ==============  ===========================================================================
    collision       each gas's response (log sensitivity, log K_D, log time constants, residual
                    offset) moves by a fraction ``alpha`` toward that of another gas (a random
                    derangement): the drift under which old exemplars of one gas capture another
    sensor_gain     a sensitivity gain per sensor, common to every gas (ageing)
    gas_gain        a sensitivity gain per (sensor, gas) (selective poisoning)
    kinetics        a factor per sensor on both time constants (slower or faster transients)
    baseline        a factor per sensor on the baseline resistance R0
    feature_gain    a gain per feature (changes of the read-out and feature extraction)
    ==============  ===========================================================================

    The defaults span "no drift" to strong drift (gains up to about x1.6 per
    sensor and per gas, collisions half way); they were set before looking at
    any later batch (batch 2 only checks their coverage).
    """

    collision: tuple = (0.0, 0.5)
    sensor_gain: tuple = (0.0, 0.5)
    gas_gain: tuple = (0.0, 0.5)
    kinetics: tuple = (0.0, 0.3)
    baseline: tuple = (0.0, 0.3)
    feature_gain: tuple = (0.0, 0.2)

    def __post_init__(self):
        for kind in DRIFT_KINDS:
            object.__setattr__(self, kind, _range("DriftSpec", kind, getattr(self, kind)))

    def draw(self, twin, rng: np.random.Generator):
        """A drifted copy of ``twin`` and the magnitudes drawn (``{kind: value}``, plus ``"partner"``)."""
        m = {kind: float(rng.uniform(*getattr(self, kind))) for kind in DRIFT_KINDS}
        n, g = twin.sensitivity.shape
        partner = derangement(g, rng) if g >= 2 else np.zeros(g, dtype=int)
        a = m["collision"]

        def collide(v):          # geometric interpolation toward the partner gas (axis -1 or 0: gases)
            return np.exp((1 - a) * np.log(v) + a * np.log(v[:, partner]))
        changes = {"sensitivity": collide(twin.sensitivity), "k_d": collide(twin.k_d),
                   "tau_rise": collide(twin.tau_rise), "tau_decay": collide(twin.tau_decay),
                   "offset": (1 - a) * twin.offset + a * twin.offset[partner]}
        changes["sensitivity"] = changes["sensitivity"] * np.exp(
            rng.standard_normal((n, 1)) * m["sensor_gain"] + rng.standard_normal((n, g)) * m["gas_gain"])
        kin = np.exp(rng.standard_normal((n, 1)) * m["kinetics"])
        changes["tau_rise"] = changes["tau_rise"] * kin
        changes["tau_decay"] = changes["tau_decay"] * kin
        changes["log_r0_mean"] = twin.log_r0_mean + rng.standard_normal(n) * m["baseline"]
        changes["unit"] = twin.unit * np.exp(rng.standard_normal(twin.unit.size) * m["feature_gain"])
        m["partner"] = partner.tolist()
        return twin.replace(name=f"{twin.name}_drifted", **changes), m


def collision_drift(X, labels, X_ref, labels_ref, alpha: float, *, random_state=None) -> np.ndarray:
    """Recorded samples moved a fraction ``alpha`` toward another gas: a stress test on recordings.

    Each label ``g`` is assigned a partner ``pi(g)`` (a random derangement); every sample of
    ``g`` is multiplied, feature by feature, by ``(m_pi(g) / m_g) ** alpha`` where ``m`` is
    the median magnitude of the reference samples of that label after a per-sample norm
    (``RayScaler``-like, scale from ``X_ref``): the recordings' version of the
    ``collision`` kind of :class:`DriftSpec`.
    """
    X = np.asarray(X, dtype=float)
    X_ref = np.asarray(X_ref, dtype=float)
    labels, labels_ref = np.asarray(labels), np.asarray(labels_ref)
    alpha = check_float("collision_drift", "alpha", alpha, low=0.0, high=1.0)
    rng = np.random.default_rng(random_state)
    names = np.unique(labels_ref)
    unknown = sorted(set(np.unique(labels).tolist()) - set(names.tolist()))
    if unknown:
        raise ValueError(f"collision_drift: labels {unknown[:5]} have no reference samples (labels_ref has "
                         f"{', '.join(map(str, names[:8]))})")
    partner = derangement(names.size, rng)
    scale = np.median(np.abs(X_ref), axis=0)
    Z = X_ref / np.where(scale > 0, scale, 1.0)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    M = np.array([np.median(np.log(np.abs(Z[labels_ref == g]) + 1e-12), axis=0) for g in names])
    gi = np.searchsorted(names, labels)
    return X * np.exp(alpha * (M[partner[gi]] - M[gi]))
