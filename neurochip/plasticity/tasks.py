"""Few-shot tasks from a small nanosensor-array model, with domain randomization.

A stand-in for the sensors digital twin (it keeps to what meta-learning needs:
labelled feature vectors of an electronic-nose-like array). Each analyte ``a``
binds to each channel ``c`` with Langmuir steady state
``theta = C / (C + K_d[a, c])`` (``K_d`` drawn once per analyte, log-uniform);
a reading is::

    r_c = s_c * theta_ac(C) + drift_c + noise      (s_c: device sensitivity spread)
    feature_c = r_c / max_c(r_c)                    (concentration-normalized pattern)

A task draws ``n_way`` analytes from a pool and per-task conditions (device
sensitivity spread, drift offsets, noise level, concentration range); samples
draw a concentration log-uniformly in the task's range. Train and held-out
tasks use disjoint analyte pools (``split="train"`` / ``"test"``), so held-out
tasks contain analytes never seen in meta-training.

:class:`TwinTaskSampler` draws the same kind of tasks from the sensors digital
twin (:mod:`sensors`: diffusion, Langmuir binding, Johnson and 1/f noise, drift,
faults, domain randomization of temperature, viscosity, gains, background
analytes), with a new device array per task.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip._validation import check_float, check_int


@dataclass
class Task:
    """One few-shot task: support (shots) and query (held-out) sets."""

    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray
    y_query: np.ndarray
    analytes: np.ndarray


def _check_pools(owner: str, n_analytes, n_train_analytes, n_way) -> tuple[int, int, int]:
    """Checked analyte counts: ``n_way`` analytes must fit in both the train and the test pool."""
    n_analytes = check_int(owner, "n_analytes", n_analytes, minimum=2)
    n_train_analytes = check_int(owner, "n_train_analytes", n_train_analytes, minimum=1)
    n_way = check_int(owner, "n_way", n_way, minimum=2)
    if not n_way <= min(n_train_analytes, n_analytes - n_train_analytes):
        raise ValueError(f"{owner}: n_way should be <= the train pool ({n_train_analytes}) and the "
                         f"test pool ({n_analytes - n_train_analytes}), got {n_way}")
    return n_analytes, n_train_analytes, n_way


def _start_task(owner: str, sampler, k_shot, n_query, split: str, random_state):
    """Checked ``k_shot``/``n_query``, the task's generator and its ``n_way`` analytes drawn from the
    ``split`` pool (train: the first ``n_train_analytes``; test: the rest)."""
    k_shot = check_int(owner, "k_shot", k_shot, minimum=1)
    n_query = check_int(owner, "n_query", n_query, minimum=1)
    if split not in ("train", "test"):
        raise ValueError(f"{owner}: split should be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng(random_state)
    pool = (np.arange(sampler.n_train_analytes) if split == "train"
            else np.arange(sampler.n_train_analytes, sampler.n_analytes))
    return k_shot, n_query, rng, rng.choice(pool, sampler.n_way, replace=False)


class SensorTaskSampler:
    """Sample few-shot tasks from a randomized sensor array (see module docstring).

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
        sigma), baseline drift (absolute, on a unit signal) and read noise sigma.
    random_state : int
        Seeds the analyte library (fixed for a sampler).
    """

    def __init__(self, *, n_channels: int = 8, n_analytes: int = 16, n_train_analytes: int = 10,
                 n_way: int = 3, sensitivity_spread: float = 0.3, drift: float = 0.1, noise: float = 0.06,
                 random_state: int = 0):
        owner = "SensorTaskSampler"
        self.n_channels = check_int(owner, "n_channels", n_channels, minimum=1)
        self.n_analytes, self.n_train_analytes, self.n_way = _check_pools(owner, n_analytes, n_train_analytes,
                                                                          n_way)
        self.sensitivity_spread = check_float(owner, "sensitivity_spread", sensitivity_spread, low=0.0)
        self.drift = check_float(owner, "drift", drift, low=0.0)
        self.noise = check_float(owner, "noise", noise, low=0.0)
        lib = np.random.default_rng(random_state)
        # Dissociation constants, log-uniform over 3 decades (relative to the unit concentration).
        self.log_kd = lib.uniform(-1.5, 1.5, (self.n_analytes, self.n_channels))

    def _samples(self, rng, analytes, n_per_class, cond):
        X, y = [], []
        for label, a in enumerate(analytes):
            logc = rng.uniform(cond["logc_low"], cond["logc_low"] + 1.0, n_per_class)
            c = 10.0 ** logc[:, None]
            theta = c / (c + 10.0 ** self.log_kd[a])
            r = cond["sens"] * theta + cond["drift"] + rng.normal(0, cond["noise"], theta.shape)
            X.append(r / np.maximum(np.abs(r).max(axis=1, keepdims=True), 1e-9))
            y.append(np.full(n_per_class, label))
        return np.vstack(X), np.concatenate(y)

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> Task:
        """A task with ``k_shot`` support and ``n_query`` query samples per class."""
        k_shot, n_query, rng, analytes = _start_task("SensorTaskSampler.sample", self, k_shot, n_query, split,
                                                      random_state)
        cond = {"sens": 1 + rng.uniform(0, self.sensitivity_spread) * rng.standard_normal(self.n_channels),
                "drift": rng.uniform(-self.drift, self.drift, self.n_channels),
                "noise": rng.uniform(0.3, 1.0) * self.noise,
                "logc_low": rng.uniform(-1.0, 0.0)}
        cond["sens"] = np.abs(cond["sens"])
        Xs, ys = self._samples(rng, analytes, k_shot, cond)
        Xq, yq = self._samples(rng, analytes, n_query, cond)
        return Task(Xs, ys, Xq, yq, analytes)


class TwinTaskSampler:
    """Few-shot tasks from the sensors digital twin (``sensors.make_dataset``).

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
    """

    def __init__(self, *, n_analytes: int = 10, n_train_analytes: int = 6, n_way: int = 3,
                 n_sensors: int = 8, duration_ms: float = 600.0, dt_ms: float = 2.0,
                 shifted_test: bool = False, shifted_train: bool = False, random_state: int = 0):
        owner = "TwinTaskSampler"
        self.n_analytes, self.n_train_analytes, self.n_way = _check_pools(owner, n_analytes, n_train_analytes,
                                                                          n_way)
        self.n_sensors = check_int(owner, "n_sensors", n_sensors, minimum=1)
        self.duration_ms = check_float(owner, "duration_ms", duration_ms, low=0.0, low_open=True)
        self.dt_ms = check_float(owner, "dt_ms", dt_ms, low=0.0, low_open=True)
        self.shifted_test = bool(shifted_test)
        self.shifted_train = bool(shifted_train)
        self.random_state = random_state

    def _spec(self):
        from brian2 import ms
        from sensors import RandomizationSpec

        names = tuple(f"analyte{a}" for a in range(self.n_analytes))
        d = self.duration_ms
        return RandomizationSpec(analytes=names, n_sensors=self.n_sensors, array_seed=self.random_state,
                                 duration=d * ms, dt=self.dt_ms * ms, onset=0.15 * d * ms,
                                 exposure=0.7 * d * ms, feature_window=0.2 * d * ms)

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> Task:
        """A task with ``k_shot`` support and ``n_query`` query samples per class."""
        from sensors import make_dataset

        k_shot, n_query, rng, analytes = _start_task("TwinTaskSampler.sample", self, k_shot, n_query, split,
                                                      random_state)
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
