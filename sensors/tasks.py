"""Few-shot task samplers: labelled sensor-array feature vectors for meta-learning.

A sampler is an object with ``sample(*, k_shot, n_query, split, random_state) -> Task``;
:class:`neurochip.plasticity.InnerLoop` is handed one (``InnerLoop(sampler=...)``).
Both samplers here are frozen dataclasses: picklable (process pools, Dask),
hashable (tasks are cached per process) and described by their fields (the
meta-learner's checkpoint fingerprint). A task draws ``n_way`` analytes from a
pool; train and held-out tasks use disjoint analyte pools (``split="train"``:
the first ``n_train_analytes``, ``"test"``: the others), so held-out tasks
contain analytes never seen in meta-training.

- :class:`TwinTaskSampler`: the digital twin (:func:`sensors.make_dataset`):
  simulated recordings with diffusion, Langmuir kinetics, Johnson and 1/f
  noise, drift, faults and domain randomization, a new device array per task.
- :class:`GasDriftTaskSampler`: drift tasks (a fit set, then shots and queries of a
  drifted period) from the metal-oxide gas-array twin calibrated to a recorded
  batch (:mod:`sensors.calibration`); for the few-shot classifier's default rule.
- :class:`SensorTaskSampler`: the twin's *steady state* only, a fast stand-in
  (no time series). Each analyte ``a`` binds to channel ``c`` with the
  Langmuir equilibrium of :func:`sensors.physics.langmuir_equilibrium`
  (``k_on = 1``, ``k_off = K_d[a, c]`` drawn once per analyte, log-uniform over 3
  decades, concentrations relative to the unit); a reading is::

      r_c = s_c * theta_ac(C) + drift_c + noise_c     (s_c: device sensitivity spread)
      feature_c = r_c / max_c |r_c|                   (concentration-normalized pattern)

  with white read noise (:func:`sensors.physics.white_noise`) and a baseline
  offset ``drift_c`` per task; task conditions (sensitivity spread, offsets,
  noise level, concentration range) are drawn per task, concentrations
  log-uniformly per sample.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from brian2 import ms

from neurochip._validation import check_float, check_int
from sensors import physics
from sensors.dataset import make_dataset
from sensors.randomization import DriftSpec, RandomizationSpec


@dataclass
class Task:
    """One few-shot task: support (shots) and query (held-out) sets, and the analytes drawn."""

    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray
    y_query: np.ndarray
    analytes: np.ndarray


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


def _check_pools(obj) -> None:
    """Checked analyte counts: ``n_way`` analytes must fit in both the train and the test pool."""
    owner = type(obj).__name__
    _set(obj, "n_analytes", check_int(owner, "n_analytes", obj.n_analytes, minimum=2))
    _set(obj, "n_train_analytes", check_int(owner, "n_train_analytes", obj.n_train_analytes, minimum=1))
    _set(obj, "n_way", check_int(owner, "n_way", obj.n_way, minimum=2))
    test_pool = obj.n_analytes - obj.n_train_analytes
    if not obj.n_way <= min(obj.n_train_analytes, test_pool):
        raise ValueError(f"{owner}: n_way should be <= the train pool ({obj.n_train_analytes}) and the "
                         f"test pool ({test_pool}), got {obj.n_way}")


def _start_task(sampler, k_shot, n_query, split: str, random_state):
    """Checked ``k_shot``/``n_query``, the task's generator and its ``n_way`` analytes drawn from the
    ``split`` pool (train: the first ``n_train_analytes``; test: the rest)."""
    owner = f"{type(sampler).__name__}.sample"
    k_shot = check_int(owner, "k_shot", k_shot, minimum=1)
    n_query = check_int(owner, "n_query", n_query, minimum=1)
    if split not in ("train", "test"):
        raise ValueError(f"{owner}: split should be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng(random_state)
    pool = (np.arange(sampler.n_train_analytes) if split == "train"
            else np.arange(sampler.n_train_analytes, sampler.n_analytes))
    return k_shot, n_query, rng, rng.choice(pool, sampler.n_way, replace=False)


@dataclass(frozen=True, kw_only=True)
class SensorTaskSampler:
    """Few-shot tasks from the twin's steady-state response (see the module docstring).

    Parameters
    ----------
    n_channels : int
        Sensor channels (features).
    n_analytes : int
        Analyte pool size; the first ``n_train_analytes`` are for meta-training.
    n_train_analytes : int
    n_way : int
        Classes per task.
    sensitivity_spread, drift, noise : float
        Maxima of the per-task device-to-device sensitivity spread (relative
        sigma), baseline offset (absolute, on a unit signal) and read noise sigma.
    random_state : int
        Seeds the analyte library (fixed for a sampler).
    """

    n_channels: int = 8
    n_analytes: int = 16
    n_train_analytes: int = 10
    n_way: int = 3
    sensitivity_spread: float = 0.3
    drift: float = 0.1
    noise: float = 0.06
    random_state: int = 0
    log_kd: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        owner = "SensorTaskSampler"
        _set(self, "n_channels", check_int(owner, "n_channels", self.n_channels, minimum=1))
        _check_pools(self)
        for name in ("sensitivity_spread", "drift", "noise"):
            _set(self, name, check_float(owner, name, getattr(self, name), low=0.0))
        _set(self, "random_state", check_int(owner, "random_state", self.random_state, minimum=0))
        lib = np.random.default_rng(self.random_state)
        # Dissociation constants, log-uniform over 3 decades (relative to the unit concentration).
        _set(self, "log_kd", lib.uniform(-1.5, 1.5, (self.n_analytes, self.n_channels)))

    def _samples(self, rng, analytes, n_per_class, cond):
        X, y = [], []
        for label, a in enumerate(analytes):
            logc = rng.uniform(cond["logc_low"], cond["logc_low"] + 1.0, n_per_class)
            c = 10.0 ** logc[:, None]
            theta = physics.langmuir_equilibrium(c, 1.0, 10.0 ** self.log_kd[a])
            r = cond["sens"] * theta + cond["drift"] + physics.white_noise(theta.shape, cond["noise"], rng)
            X.append(r / np.maximum(np.abs(r).max(axis=1, keepdims=True), 1e-9))
            y.append(np.full(n_per_class, label))
        return np.vstack(X), np.concatenate(y)

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> Task:
        """A task with ``k_shot`` support and ``n_query`` query samples per class."""
        k_shot, n_query, rng, analytes = _start_task(self, k_shot, n_query, split, random_state)
        cond = {"sens": 1 + rng.uniform(0, self.sensitivity_spread) * rng.standard_normal(self.n_channels),
                "drift": rng.uniform(-self.drift, self.drift, self.n_channels),
                "noise": rng.uniform(0.3, 1.0) * self.noise,
                "logc_low": rng.uniform(-1.0, 0.0)}
        cond["sens"] = np.abs(cond["sens"])
        Xs, ys = self._samples(rng, analytes, k_shot, cond)
        Xq, yq = self._samples(rng, analytes, n_query, cond)
        return Task(Xs, ys, Xq, yq, analytes)


@dataclass(frozen=True, kw_only=True)
class TwinTaskSampler:
    """Few-shot tasks from the sensors digital twin (:func:`sensors.make_dataset`).

    A task draws ``n_way`` analytes (from the first ``n_train_analytes`` for
    ``split="train"``, from the others for ``"test"``) and a new device array
    (``array_seed``: device variability across tasks); samples are simulated
    recordings with the twin's domain randomization (concentration, background
    mixture, temperature, viscosity, gains, noise, drift, faults). Features are
    the twin's steady-state responses divided by their largest magnitude per
    sample (a concentration-normalized pattern).

    Parameters
    ----------
    n_analytes, n_train_analytes, n_way, n_sensors : int
    duration_ms, dt_ms : float
        Length and step of each simulated recording (short: fast tasks).
    shifted_test : bool
        Held-out tasks draw conditions from the twin's shifted (out-of-training) ranges.
    shifted_train : bool
        Meta-training tasks draw them from the shifted ranges too (a harder task distribution).
    random_state : int
        Seeds the analyte library (the device array of a task is drawn from the task's seed).
    """

    n_analytes: int = 10
    n_train_analytes: int = 6
    n_way: int = 3
    n_sensors: int = 8
    duration_ms: float = 600.0
    dt_ms: float = 2.0
    shifted_test: bool = False
    shifted_train: bool = False
    random_state: int = 0

    def __post_init__(self):
        owner = "TwinTaskSampler"
        _check_pools(self)
        _set(self, "n_sensors", check_int(owner, "n_sensors", self.n_sensors, minimum=1))
        _set(self, "duration_ms", check_float(owner, "duration_ms", self.duration_ms, low=0.0, low_open=True))
        _set(self, "dt_ms", check_float(owner, "dt_ms", self.dt_ms, low=0.0, low_open=True))
        _set(self, "shifted_test", bool(self.shifted_test))
        _set(self, "shifted_train", bool(self.shifted_train))
        _set(self, "random_state", check_int(owner, "random_state", self.random_state, minimum=0))

    def _spec(self):
        names = tuple(f"analyte{a}" for a in range(self.n_analytes))
        d = self.duration_ms
        return RandomizationSpec(analytes=names, n_sensors=self.n_sensors, array_seed=self.random_state,
                                 duration=d * ms, dt=self.dt_ms * ms, onset=0.15 * d * ms,
                                 exposure=0.7 * d * ms, feature_window=0.2 * d * ms)

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> Task:
        """A task with ``k_shot`` support and ``n_query`` query samples per class."""
        k_shot, n_query, rng, analytes = _start_task(self, k_shot, n_query, split, random_state)
        analytes = np.sort(analytes)
        base = self._spec()
        spec = base.with_changes(classes=tuple(base.analytes[a] for a in analytes),
                                 array_seed=int(rng.integers(2 ** 31)), n_sensors=base.n_sensors,
                                 analytes=base.analytes)
        data = make_dataset(spec, self.n_way * (k_shot + n_query), random_state=rng,
                            shifted=self.shifted_test if split == "test" else self.shifted_train)
        X = data.features / np.maximum(np.abs(data.features).max(axis=1, keepdims=True), 1e-12)
        y = np.asarray(data.labels)
        support = np.concatenate([np.nonzero(y == c)[0][:k_shot] for c in range(self.n_way)])
        query = np.setdiff1d(np.arange(y.size), support)
        return Task(X[support], y[support], X[query], y[query], analytes)


# --------------------------------------------------------------------------- drift tasks on the calibrated gas twin
@dataclass
class DriftTask:
    """A drift task: a fit set (the calibrated twin), shots and queries from a drifted twin.

    The protocol of the recordings: fit on ``X_fit`` (the calibration period), adapt with
    ``X_support`` (``k_shot`` per gas of the later period), score on ``X_query``.
    ``drift`` holds the magnitudes drawn (:meth:`sensors.randomization.DriftSpec.draw`).
    """

    X_fit: np.ndarray
    y_fit: np.ndarray
    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray
    y_query: np.ndarray
    analytes: np.ndarray
    drift: dict


@functools.lru_cache(maxsize=8)
def _calibrated_twin(path: str, rank: int):
    """The twin calibrated to the recording at ``path`` (once per process)."""
    from sensors.calibration import calibrate_gas_twin
    from sensors.gas_drift import load_gas_drift

    rec = load_gas_drift(path)
    return calibrate_gas_twin(rec.features, rec.labels, rec.concentration, rank=rank,
                              name=f"calibrated_batch{rec.batch}")


@dataclass(frozen=True, kw_only=True)
class GasDriftTaskSampler:
    """Few-shot drift tasks from the gas-array twin calibrated to a recorded batch (the sim-to-real tasks).

    The twin (:func:`sensors.calibration.calibrate_gas_twin`) is fitted to recorded
    batch ``batch`` (found as :func:`sensors.load_gas_drift` finds it, or in
    ``folder``) once per process. A task draws ``n_fit_per_gas`` samples per gas from
    it (the fit set: a synthetic calibration period), a drifted twin from ``drift``
    (:class:`sensors.randomization.DriftSpec`, collisions included), then ``k_shot``
    shots and ``n_query`` queries per gas from the drifted twin; concentrations are
    drawn from the recorded ones of each gas. Frozen and hashable (tasks are cached
    per process); ``split="test"`` draws from the same distribution with seeds apart
    (held-out checks on recordings are batch 1's second half and later batches).

    Parameters
    ----------
    batch : int
        Recorded batch the twin is calibrated to.
    folder : str, optional
        Folder of the ``batch<N>.csv.gz`` files.
    rank : int
        Variability directions of the calibrated twin.
    n_fit_per_gas : int
    drift : DriftSpec
    """

    batch: int = 1
    folder: str | None = None
    rank: int = 10
    n_fit_per_gas: int = 40
    drift: DriftSpec = DriftSpec()
    random_state: int = 0

    def __post_init__(self):
        owner = "GasDriftTaskSampler"
        _set(self, "batch", check_int(owner, "batch", self.batch, minimum=1))
        _set(self, "rank", check_int(owner, "rank", self.rank, minimum=0))
        _set(self, "n_fit_per_gas", check_int(owner, "n_fit_per_gas", self.n_fit_per_gas, minimum=1))
        _set(self, "random_state", check_int(owner, "random_state", self.random_state, minimum=0))
        if not isinstance(self.drift, DriftSpec):
            raise ValueError(f"{owner}: drift should be a DriftSpec, got {type(self.drift).__name__}")

    def twin(self):
        """The calibrated twin (``sensors.calibration.GasArrayTwin``)."""
        from sensors.gas_drift import _resolve

        return _calibrated_twin(str(_resolve(self.batch, self.folder)), self.rank)

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> DriftTask:
        """A drift task with ``k_shot`` shots and ``n_query`` queries per gas."""
        owner = "GasDriftTaskSampler.sample"
        k_shot = check_int(owner, "k_shot", k_shot, minimum=1)
        n_query = check_int(owner, "n_query", n_query, minimum=1)
        if split not in ("train", "test"):
            raise ValueError(f"{owner}: split should be 'train' or 'test', got {split!r}")
        rng = np.random.default_rng([self.random_state, 0 if split == "train" else 1,
                                     0 if random_state is None else int(random_state)])
        twin = self.twin()
        gases = np.array(twin.gases)
        y_fit = np.repeat(gases, self.n_fit_per_gas)
        X_fit = twin.sample(y_fit, random_state=rng)
        drifted, drift = self.drift.draw(twin, rng)
        y_s, y_q = np.repeat(gases, k_shot), np.repeat(gases, n_query)
        return DriftTask(X_fit, y_fit, drifted.sample(y_s, random_state=rng), y_s,
                         drifted.sample(y_q, random_state=rng), y_q, gases, drift)


def recorded_shots(labels, k_shot: int, *, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``k_shot`` shots per label of a recorded batch, and of the rest (the queries).

    At most ``n - 1`` shots of a label with ``n`` rows, so that every label keeps a query
    (batch 2 of the gas drift data has 5 toluene rows). The protocol of the recorded
    drift benchmark: adapt with the shots, score on the rest.
    """
    k_shot = check_int("recorded_shots", "k_shot", k_shot, minimum=1)
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    shots = [rng.choice(np.nonzero(labels == g)[0], min(k_shot, int(np.sum(labels == g)) - 1), replace=False)
             for g in np.unique(labels)]
    mask = np.zeros(labels.size, dtype=bool)
    mask[np.concatenate(shots).astype(int)] = True
    return np.nonzero(mask)[0], np.nonzero(~mask)[0]
