"""The sim-to-real step: a digital twin of a metal-oxide gas-sensor array, calibrated to recordings.

The twin (:class:`GasArrayTwin`) produces the 8 features per sensor of the UCI gas
drift recordings (:mod:`sensors.gas_drift`, Vergara et al. 2012) from physics.
Sensor ``n`` exposed to gas ``g`` at concentration ``c`` (ppmv) for ``t_rise``
seconds, then to clean air until ``t_total``, sampled every ``dt``:

- binding, Langmuir (:func:`sensors.physics.langmuir_equilibrium`): the relative
  resistance change approaches ``rho = S_ng * c / (c + K_ng)``;
- the transient is first order (Langmuir kinetics at a held concentration):
  ``r_k = rho (1 - q^k)`` while exposed, ``q = exp(-dt / tau_rise_ng)``, then decays
  from its top as ``p^(k - K)``, ``p = exp(-dt / tau_decay_ng)``;
- features (file order): ``dR = R0 * r`` and ``dR / R0 = r`` at the end of the
  exposure, and the extremes of an exponential moving average (``alpha`` 0.001,
  0.01, 0.1) of the first difference of ``r``: its maximum while exposed and its
  minimum after (negative), each times a per-feature unit factor ``unit`` (the
  recordings' own units). :func:`transient_features` computes them in closed form
  (tested equal to stepping the average through ``t_total / dt`` samples);
- baseline resistance ``R0_n`` lognormal per sample; sample-to-sample variability
  of the response (gain changes of the devices, concentration errors): a per-gas
  lognormal perturbation of the features with a low-rank covariance.

:func:`calibrate_gas_twin` fits every parameter to a recorded batch: per (sensor,
gas) ``S`` and ``K`` from ``dR / R0`` against concentration (least squares in log),
``tau_rise`` and ``tau_decay`` from the shapes of the moving averages (their
ratios across ``alpha``, which do not depend on units), ``R0`` from ``dR / (dR /
R0)``, the unit factors as median ratios, and the variability from the residuals.
:func:`default_gas_twin` is the same model with the project's default twin
parameters (:meth:`sensors.SensorArray.random`: the liquid nanosensor's rates and
sensitivities), the "before calibration" twin. :func:`twin_distance` measures a
twin against recordings where the classifier looks (log magnitudes of the
ray-scaled features: per-feature Kolmogorov-Smirnov statistic and an RBF-kernel
MMD^2); :func:`calibration_report` gives the distances before and after, the
floor (two halves of the recording) and a validation (calibrated on the first
half of every gas's recordings in file order, measured on the second half).

Drift: :class:`sensors.randomization.DriftSpec` draws a drifted twin (sensitivity
gains per sensor and per (sensor, gas), kinetics, baseline, per-feature gains,
and *collision* drift moving each gas's response toward another gas's).
:class:`sensors.tasks.GasDriftTaskSampler` draws few-shot drift tasks from it.

How the recorded batches are used: batch 1 calibrates the twin and validates it
(first half / second half); batch 2 only checks (coverage of the drift
randomization, the classifier's benchmark), it never sets a parameter.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurochip.encoding import RayScaler
from neurochip.io import write_json
from sensors import physics
from sensors.gas_drift import FEATURES_PER_SENSOR, GAS_DRIFT_GASES, N_SENSORS

#: Moving-average constants of the recorded features (file order).
ALPHAS = (0.001, 0.01, 0.1)
#: Recording protocol of the UCI gas drift data (Vergara et al. 2012): 100 Hz, gas for 100 s, then clean air.
DT, T_RISE, T_TOTAL = 0.01, 100.0, 300.0


# --------------------------------------------------------------------------- transient features
def _ema_extreme_rise(q, b, steps: int):
    """max over k = 1 .. steps of (b^k - q^k) / (b - q) (the average's shape while exposed, per unit)."""
    q, b = np.broadcast_arrays(np.asarray(q, float), np.asarray(b, float))
    q = np.where(np.abs(b - q) < 1e-12, q * (1 - 1e-9), q)
    ratio = np.log(q) / np.log(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_star = np.log(ratio) / np.log(b / q)
    best = np.full(q.shape, -np.inf)
    for k in (np.floor(k_star), np.ceil(k_star), np.ones(q.shape), np.full(q.shape, float(steps))):
        k = np.clip(np.nan_to_num(k, nan=1.0), 1, steps)
        best = np.maximum(best, (b ** k - q ** k) / (b - q))
    return best


def _ema_extreme_decay(y0, c, p, b, steps: int):
    """min over m = 0 .. steps of b^m (y0 + c) - c p^m (the average after the exposure)."""
    y0, c, p, b = np.broadcast_arrays(*(np.asarray(v, float) for v in (y0, c, p, b)))
    alpha = y0 + c
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = c * np.log(p) / (alpha * np.log(b))
        m_star = np.where(arg > 0, np.log(np.where(arg > 0, arg, 1.0)) / np.log(b / p), 0.0)
    best = np.full(y0.shape, np.inf)
    for m in (np.floor(m_star), np.ceil(m_star), np.zeros(y0.shape), np.full(y0.shape, float(steps))):
        m = np.clip(np.nan_to_num(m, nan=0.0), 0, steps)
        best = np.minimum(best, alpha * b ** m - c * p ** m)
    return best


def transient_features(rho, tau_rise, tau_decay, r0, *, dt: float = DT, t_rise: float = T_RISE,
                       t_total: float = T_TOTAL, alphas=ALPHAS) -> np.ndarray:
    """The 8 features of first-order transients, shape ``(..., 8)`` (file order, before unit factors).

    ``rho``: the response's steady state (relative); ``tau_rise``, ``tau_decay`` in s;
    ``r0`` the baseline resistance; all broadcast. With ``K = t_rise / dt`` and ``y`` the
    moving average ``y_k = (1 - alpha) y_(k-1) + alpha (r_k - r_(k-1))`` (``y_0 = 0``):
    ``[r0 * r_(K-1), r_(K-1), max_(1<=k<K) y_k for each alpha, min_(k>=K) y_k for each alpha]``,
    exact (closed forms of the geometric sums; the extremes at the stationary points).
    """
    rho, tau_rise, tau_decay, r0 = np.broadcast_arrays(*(np.asarray(v, float) for v in
                                                         (rho, tau_rise, tau_decay, r0)))
    K = int(round(t_rise / dt))
    M = int(round(t_total / dt)) - 1 - K
    q = np.exp(-dt / tau_rise)
    p = np.exp(-dt / tau_decay)
    end = rho * (1 - q ** (K - 1))
    top = rho * (1 - q ** K)
    rise, decay = [], []
    for a in alphas:
        b = 1.0 - a
        qq = np.where(np.abs(b - q) < 1e-12, q * (1 - 1e-9), q)
        rise.append(a * rho * (1 - qq) * _ema_extreme_rise(qq, b, K - 1))
        y_k = a * rho * (1 - qq) * (b ** K - qq ** K) / (b - qq)
        pp = np.where(np.abs(b - p) < 1e-12, p * (1 - 1e-9), p)
        c = a * top * (pp - 1) / (b - pp)
        decay.append(_ema_extreme_decay(y_k, c, pp, b, M))
    return np.stack([r0 * end, end, *rise, *decay], axis=-1)


# --------------------------------------------------------------------------- the twin
@dataclass
class GasArrayTwin:
    """Digital twin of a metal-oxide gas-sensor array (see the module docstring).

    Arrays are indexed ``[sensor, gas]`` unless said otherwise; ``unit`` and the
    variability are per feature (``n_sensors * 8``, file order).

    Parameters
    ----------
    gases : tuple of str
    sensitivity : (n_sensors, n_gases)
        ``S``: relative resistance change at full coverage.
    k_d : (n_sensors, n_gases)
        Langmuir dissociation constants (ppmv).
    tau_rise, tau_decay : (n_sensors, n_gases)
        Time constants of the transient (s).
    log_r0_mean, log_r0_sd : (n_sensors,)
        Baseline resistance, lognormal across samples.
    unit : (n_features,)
        Unit factor of each feature.
    offset : (n_gases, n_features)
        Mean log residual of each gas's features (what the physics does not explain).
    basis : (n_gases, rank, n_features)
        Principal directions of the log residuals (sample-to-sample variability).
    basis_sd : (n_gases, rank)
    residual_sd : (n_gases, n_features)
        Log-normal spread left after the ``rank`` directions.
    gain_sd : (n_gases,)
        Only for twins without ``basis`` (rank 0): an independent lognormal gain per
        (sample, sensor) of this spread.
    concentrations : dict of gas to array
        Concentrations (ppmv) drawn for samples of each gas (the recorded ones).
    dt, t_rise, t_total : float
        The recording protocol (s).
    name : str
    """

    gases: tuple
    sensitivity: np.ndarray
    k_d: np.ndarray
    tau_rise: np.ndarray
    tau_decay: np.ndarray
    log_r0_mean: np.ndarray
    log_r0_sd: np.ndarray
    unit: np.ndarray
    offset: np.ndarray
    basis: np.ndarray
    basis_sd: np.ndarray
    residual_sd: np.ndarray
    gain_sd: np.ndarray
    concentrations: dict = field(default_factory=dict)
    dt: float = DT
    t_rise: float = T_RISE
    t_total: float = T_TOTAL
    name: str = "gas_array_twin"

    ARRAYS = ("sensitivity", "k_d", "tau_rise", "tau_decay", "log_r0_mean", "log_r0_sd", "unit", "offset",
              "basis", "basis_sd", "residual_sd", "gain_sd")

    def __post_init__(self):
        self.gases = tuple(self.gases)
        for f in self.ARRAYS:
            setattr(self, f, np.asarray(getattr(self, f), dtype=float))
        n, g = self.sensitivity.shape
        owner = f"GasArrayTwin '{self.name}'"
        if g != len(self.gases):
            raise ValueError(f"{owner}: sensitivity should have shape (n_sensors, {len(self.gases)}), "
                             f"got shape {self.sensitivity.shape}")
        for f, shape in (("k_d", (n, g)), ("tau_rise", (n, g)), ("tau_decay", (n, g)), ("log_r0_mean", (n,)),
                         ("log_r0_sd", (n,)), ("unit", (n * FEATURES_PER_SENSOR,)),
                         ("offset", (g, n * FEATURES_PER_SENSOR)), ("residual_sd", (g, n * FEATURES_PER_SENSOR)),
                         ("gain_sd", (g,))):
            if getattr(self, f).shape != shape:
                raise ValueError(f"{owner}: {f} should have shape {shape}, got shape {getattr(self, f).shape}")
        for f in ("sensitivity", "k_d", "tau_rise", "tau_decay"):
            v = getattr(self, f)
            if not np.all(np.isfinite(v) & (v > 0)):
                raise ValueError(f"{owner}: {f} should be finite and > 0, got minimum {np.nanmin(v):g}")
        self.concentrations = {str(k): np.asarray(v, dtype=float) for k, v in self.concentrations.items()}

    @property
    def n_sensors(self) -> int:
        return self.sensitivity.shape[0]

    @property
    def n_features(self) -> int:
        return self.n_sensors * FEATURES_PER_SENSOR

    def replace(self, **changes) -> "GasArrayTwin":
        """A copy with fields replaced (arrays copied)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(changes)
        return GasArrayTwin(**{k: (np.array(v) if k in self.ARRAYS else v) for k, v in d.items()})

    def gas_index(self, labels) -> np.ndarray:
        index = {g: i for i, g in enumerate(self.gases)}
        try:
            return np.array([index[str(v)] for v in np.asarray(labels).tolist()], dtype=int)
        except KeyError as err:
            raise ValueError(f"GasArrayTwin '{self.name}': unknown gas {err.args[0]!r} "
                             f"(known: {', '.join(self.gases)})") from None

    def mean_features(self, gas, concentration, *, log_r0=None) -> np.ndarray:
        """Noise-free features (n_samples, n_features) for gas indices and concentrations (ppmv)."""
        gas = np.asarray(gas, dtype=int)
        c = np.asarray(concentration, dtype=float)[:, None]
        rho = self.sensitivity[:, gas].T * physics.langmuir_equilibrium(c, 1.0, self.k_d[:, gas].T)
        log_r0 = self.log_r0_mean[None, :] if log_r0 is None else log_r0
        F = transient_features(rho, self.tau_rise[:, gas].T, self.tau_decay[:, gas].T, np.exp(log_r0),
                               dt=self.dt, t_rise=self.t_rise, t_total=self.t_total)
        return F.reshape(gas.size, -1) * self.unit

    def sample(self, labels, concentration=None, *, random_state=None, variability: bool = True) -> np.ndarray:
        """Synthetic recordings (n_samples, n_features) of gases ``labels`` (names) at ``concentration``
        (ppmv; default: drawn from :attr:`concentrations`)."""
        rng = np.random.default_rng(random_state)
        gas = self.gas_index(labels)
        if concentration is None:
            concentration = np.array([rng.choice(self.concentrations[self.gases[g]]) for g in gas])
        log_r0 = self.log_r0_mean + (rng.standard_normal((gas.size, self.n_sensors)) * self.log_r0_sd
                                     if variability else 0.0)
        F = self.mean_features(gas, concentration, log_r0=log_r0)
        if not variability:
            return F * np.exp(self.offset[gas])
        noise = self.offset[gas] + rng.standard_normal((gas.size, self.n_features)) * self.residual_sd[gas]
        if self.basis.size:
            z = rng.standard_normal((gas.size, self.basis.shape[1])) * self.basis_sd[gas]
            noise = noise + np.einsum("sr,srf->sf", z, self.basis[gas])
        else:
            gain = rng.standard_normal((gas.size, self.n_sensors)) * self.gain_sd[gas][:, None]
            noise = noise + np.repeat(gain, FEATURES_PER_SENSOR, axis=1)
        return F * np.exp(noise)

    # ------------------------------------------------------------ serialize
    def to_dict(self) -> dict:
        d = {f: getattr(self, f).tolist() for f in self.ARRAYS}
        d.update(type="GasArrayTwin", name=self.name, gases=list(self.gases), dt=self.dt, t_rise=self.t_rise,
                 t_total=self.t_total, concentrations={k: v.tolist() for k, v in self.concentrations.items()})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GasArrayTwin":
        if not isinstance(d, dict) or d.get("type") != "GasArrayTwin":
            raise ValueError("GasArrayTwin.from_dict: expected a dict with type 'GasArrayTwin'")
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    def save(self, path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "GasArrayTwin":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, ValueError) as err:
            raise ValueError(f"GasArrayTwin.load: {path}: not a twin file ({type(err).__name__}: {err})") from None


def _empty_variability(n_gases: int, n_features: int) -> dict:
    return {"offset": np.zeros((n_gases, n_features)), "basis": np.zeros((n_gases, 0, n_features)),
            "basis_sd": np.zeros((n_gases, 0)), "residual_sd": np.zeros((n_gases, n_features)),
            "gain_sd": np.zeros(n_gases)}


def default_gas_twin(gases=GAS_DRIFT_GASES, *, n_sensors: int = N_SENSORS, concentrations=None,
                     random_state: int = 0) -> GasArrayTwin:
    """The twin with the project's default parameters (before calibration).

    The rates and sensitivities of :meth:`sensors.SensorArray.random` (``k_on`` 3e3 - 3e4
    /(M s), ``k_off`` 0.3 - 3 /s, ``|S|`` 0.005 - 0.05), concentrations in ppmv read as
    micromolar (``K_D = k_off / k_on``), ``tau_rise = 1 / (k_on c + k_off)`` at 100 ppmv,
    ``tau_decay = 1 / k_off``, ``R0`` = the default 1 Mohm, unit factors 1, no variability.
    """
    from brian2 import molar, second

    from sensors.twin import SensorArray

    arr = SensorArray.random(n_sensors, tuple(gases), random_state=random_state)
    k_on = np.asarray(arr.k_on / (1 / (molar * second)))            # 1/(M s)
    k_off = np.asarray(arr.k_off * second)                          # 1/s
    k_d = k_off / k_on * 1e6                                        # M -> micromolar ~ ppmv
    n_feat = n_sensors * FEATURES_PER_SENSOR
    return GasArrayTwin(gases=tuple(gases), sensitivity=np.abs(arr.sensitivity), k_d=k_d,
                        tau_rise=1.0 / (k_on * 100e-6 + k_off), tau_decay=1.0 / k_off,
                        log_r0_mean=np.full(n_sensors, np.log(1e6)), log_r0_sd=np.zeros(n_sensors),
                        unit=np.ones(n_feat), concentrations=concentrations or {g: [100.0] for g in gases},
                        name="default", **_empty_variability(len(gases), n_feat))


def _shape_table(taus: np.ndarray, *, dt: float, t_rise: float, t_total: float) -> tuple[np.ndarray, np.ndarray]:
    """log shape ratios of the rise and decay averages (alpha 0.001, 0.01 over 0.1) for each time constant."""
    F = transient_features(np.ones(taus.size), taus, taus, 1.0, dt=dt, t_rise=t_rise, t_total=t_total)
    return np.log(F[:, 2:4] / F[:, 4:5]), np.log(F[:, 5:7] / F[:, 7:8])


def calibrate_gas_twin(X, labels, concentration, *, gases=GAS_DRIFT_GASES, rank: int = 10,
                       name: str = "calibrated") -> GasArrayTwin:
    """Fit every parameter of :class:`GasArrayTwin` to recordings (see the module docstring).

    Parameters
    ----------
    X : array (n_samples, n_sensors * 8)
        Recorded features (file order of :mod:`sensors.gas_drift`).
    labels : array of str (n_samples,)
    concentration : array (n_samples,)
        ppmv.
    rank : int
        Principal directions of the per-gas log residuals kept as correlated
        variability (0: an independent lognormal gain per sensor instead).
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels).astype(str)
    c = np.asarray(concentration, dtype=float)
    n_feat = X.shape[1]
    if n_feat % FEATURES_PER_SENSOR or X.shape[0] != labels.size or c.shape != labels.shape:
        raise ValueError(f"calibrate_gas_twin: X should be (n_samples, n_sensors * {FEATURES_PER_SENSOR}) with one "
                         f"label and concentration per row, got X {X.shape}, labels {labels.shape}, "
                         f"concentration {c.shape}")
    gases = tuple(g for g in gases if np.any(labels == g))
    n = n_feat // FEATURES_PER_SENSOR
    F = np.abs(X).reshape(-1, n, FEATURES_PER_SENSOR)
    rel = np.maximum(F[:, :, 1], 1e-12)
    log_r0 = np.log(np.maximum(F[:, :, 0], 1e-12) / rel)
    S, K = np.zeros((n, len(gases))), np.zeros((n, len(gases)))
    tr, td = np.zeros_like(S), np.zeros_like(S)
    Ks = np.exp(np.linspace(np.log(1.0), np.log(1e4), 81))
    taus = np.exp(np.linspace(np.log(0.05), np.log(300.0), 121))
    rise_tab, decay_tab = _shape_table(taus, dt=DT, t_rise=T_RISE, t_total=T_TOTAL)
    for j, g in enumerate(gases):
        m = labels == g
        lt = np.log(c[m][:, None] / (c[m][:, None] + Ks[None, :]))                    # (n_g, n_K)
        for s in range(n):
            lr = np.log(rel[m, s])[:, None]
            logS = (lr - lt).mean(axis=0)
            err = ((lr - lt - logS) ** 2).sum(axis=0)
            b = int(np.argmin(err))
            S[s, j], K[s, j] = np.exp(logS[b]), Ks[b]
            obs_r = np.median(np.log(F[m, s, 2:4] / F[m, s, 4:5]), axis=0)
            obs_d = np.median(np.log(F[m, s, 5:7] / F[m, s, 7:8]), axis=0)
            tr[s, j] = taus[np.argmin(((rise_tab - obs_r) ** 2).sum(axis=1))]
            td[s, j] = taus[np.argmin(((decay_tab - obs_d) ** 2).sum(axis=1))]
    concs = {g: np.unique(c[labels == g]) for g in gases}
    twin = GasArrayTwin(gases=gases, sensitivity=S, k_d=K, tau_rise=tr, tau_decay=td,
                        log_r0_mean=log_r0.mean(axis=0), log_r0_sd=log_r0.std(axis=0), unit=np.ones(n_feat),
                        concentrations=concs, name=name, **_empty_variability(len(gases), n_feat))
    gi = twin.gas_index(labels)
    model = np.abs(twin.mean_features(gi, c, log_r0=log_r0))
    unit = np.median(np.abs(X) / np.maximum(model, 1e-300), axis=0)
    twin.unit = np.where(np.isfinite(unit) & (unit > 0), unit, 1.0)
    # residuals of the model at each sample's own R0 (the R0 spread is drawn apart in sample())
    resid = np.log(np.maximum(np.abs(X), 1e-300)) - np.log(np.maximum(model * twin.unit, 1e-300))
    var = _empty_variability(len(gases), n_feat)
    var["basis"] = np.zeros((len(gases), rank, n_feat))
    var["basis_sd"] = np.zeros((len(gases), rank))
    for j in range(len(gases)):
        E = resid[gi == j]
        var["offset"][j] = E.mean(axis=0)
        E = E - var["offset"][j]
        _, sv, Vt = np.linalg.svd(E, full_matrices=False)
        r = min(rank, sv.size)
        var["basis"][j, :r] = Vt[:r]
        var["basis_sd"][j, :r] = sv[:r] / np.sqrt(max(E.shape[0], 1))
        var["residual_sd"][j] = (E - (E @ Vt[:r].T) @ Vt[:r]).std(axis=0)
        var["gain_sd"][j] = float(np.std(E[:, 1::FEATURES_PER_SENSOR]))
    if rank == 0:  # physics only: no per-gas offsets, an independent gain per (sample, sensor)
        var.update(_empty_variability(len(gases), n_feat), gain_sd=var["gain_sd"])
    for k, v in var.items():
        setattr(twin, k, v)
    return twin


# --------------------------------------------------------------------------- distances
def log_view(X, scaler: RayScaler) -> np.ndarray:
    """Where the classifier looks: ``log |RayScaler(X)|`` (signs are fixed per feature type)."""
    return np.log(np.abs(scaler.transform(np.asarray(X, dtype=float))) + 1e-9)


def mmd2(A, B, bandwidth: float) -> float:
    """Squared maximum mean discrepancy with an RBF kernel (biased estimate, V-statistic)."""
    def k(P, Q):
        d = (P ** 2).sum(1)[:, None] + (Q ** 2).sum(1)[None] - 2 * P @ Q.T
        return np.exp(-np.maximum(d, 0) / (2 * bandwidth ** 2))
    return float(k(A, A).mean() + k(B, B).mean() - 2 * k(A, B).mean())


def ks_statistics(A, B) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov statistic of every column."""
    from scipy.stats import ks_2samp

    return np.array([ks_2samp(A[:, f], B[:, f]).statistic for f in range(A.shape[1])])


def twin_distance(X_twin, X_recorded, *, scaler: RayScaler, bandwidth: float) -> dict:
    """KS (median and 90th percentile over features) and MMD^2 between two sets, in :func:`log_view`."""
    A, B = log_view(X_twin, scaler), log_view(X_recorded, scaler)
    ks = ks_statistics(A, B)
    return {"ks_median": float(np.median(ks)), "ks_p90": float(np.percentile(ks, 90)),
            "mmd2": mmd2(A, B, bandwidth)}


def median_bandwidth(X, scaler: RayScaler) -> float:
    """Median pairwise distance of ``X`` in :func:`log_view` (the MMD bandwidth)."""
    L = log_view(X, scaler)
    d = np.sqrt(np.maximum((L ** 2).sum(1)[:, None] + (L ** 2).sum(1)[None] - 2 * L @ L.T, 0))
    return float(np.median(d[d > 0]))


def first_half(labels) -> np.ndarray:
    """Mask of the first half (file order) of every gas's rows: batch 1's early part."""
    labels = np.asarray(labels)
    mask = np.zeros(labels.size, dtype=bool)
    for g in np.unique(labels):
        i = np.nonzero(labels == g)[0]
        mask[i[:i.size // 2]] = True
    return mask


def calibration_report(X, labels, concentration, *, rank: int = 10, random_state: int = 0) -> dict:
    """Distances of the twins to a recorded batch (each twin draws one sample per recorded sample:
    same gas, same concentration), and a validation on held-out recordings.

    Rows: the default twin (before), the calibrated physics with independent gains
    (``rank=0``), the calibrated twin (``rank``), and the floor (a random half of the
    recording against the other half). ``validation``: calibrated on the first half
    of every gas's rows, measured on the second half, beside the floor of those halves.
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels).astype(str)
    c = np.asarray(concentration, dtype=float)
    scaler = RayScaler().fit(X)
    bw = median_bandwidth(X, scaler)
    rng = np.random.default_rng(random_state)
    twins = {"default twin (before calibration)": default_gas_twin(random_state=random_state),
             "calibrated physics, independent gains": calibrate_gas_twin(X, labels, c, rank=0),
             f"calibrated twin (rank {rank} variability)": calibrate_gas_twin(X, labels, c, rank=rank)}
    rows = {}
    for name, twin in twins.items():
        rows[name] = twin_distance(twin.sample(labels, c, random_state=rng), X, scaler=scaler, bandwidth=bw)
    perm = rng.permutation(labels.size)
    h1, h2 = perm[:perm.size // 2], perm[perm.size // 2:]
    rows["floor: half of the recording vs the other half"] = twin_distance(X[h1], X[h2], scaler=scaler, bandwidth=bw)
    early = first_half(labels)
    twin = calibrate_gas_twin(X[early], labels[early], c[early], rank=rank)
    late = ~early
    validation = {
        "calibrated on the first half, vs the second half": twin_distance(
            twin.sample(labels[late], c[late], random_state=rng), X[late], scaler=scaler, bandwidth=bw),
        "floor: first half vs second half": twin_distance(X[early], X[late], scaler=scaler, bandwidth=bw)}
    return {"distances": rows, "validation": validation, "bandwidth": bw, "n_samples": int(labels.size),
            "view": "log |RayScaler(recording)(X)|, per-feature KS and RBF MMD^2 (bandwidth: median distance)"}


def drift_coverage(twin: GasArrayTwin, X, labels, concentration, drift, *, scaler: RayScaler, draws: int = 40,
                   random_state: int = 0) -> dict:
    """How well drift randomization around ``twin`` covers a later recording (a check, never a fit).

    For ``draws`` drifted twins (``drift``: a :class:`sensors.randomization.DriftSpec`), sampled at the
    later recording's gases and concentrations, the median of every (gas, feature) in :func:`log_view`;
    ``inside``: the fraction of the recording's own (gas, feature) medians within the 5-95 % band of the
    drifted twins' medians. ``shift``: the recording's median distance from the undrifted twin's medians
    (log units), beside the same for the drifted twins (median over draws): whether the randomization
    moves the twin as far as the recording moved.
    """
    labels = np.asarray(labels).astype(str)
    gases = [g for g in twin.gases if np.any(labels == g)]
    rng = np.random.default_rng(random_state)
    L = log_view(X, scaler)

    def medians(Y):
        V = log_view(Y, scaler)
        return np.array([np.median(V[labels == g], axis=0) for g in gases])

    recorded = np.array([np.median(L[labels == g], axis=0) for g in gases])
    base = medians(twin.sample(labels, concentration, random_state=rng))
    runs = np.array([medians(drift.draw(twin, rng)[0].sample(labels, concentration, random_state=rng))
                     for _ in range(draws)])
    lo, hi = np.percentile(runs, 5, axis=0), np.percentile(runs, 95, axis=0)
    return {"inside": float(np.mean((recorded >= lo) & (recorded <= hi))),
            "shift_recorded": float(np.median(np.abs(recorded - base))),
            "shift_randomized": float(np.median(np.median(np.abs(runs - base[None]), axis=(1, 2)))),
            "gases": gases, "draws": int(draws)}
