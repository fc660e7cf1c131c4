"""Few-shot task samplers (sensors.tasks): pools, seeds, the steady-state model, picklable and hashable."""
import pickle

import numpy as np
import pytest

from sensors import SensorTaskSampler, Task, TwinTaskSampler, physics


def test_task_sampler_pools_and_seed():
    s = SensorTaskSampler(n_analytes=8, n_train_analytes=4, n_way=3)
    a = s.sample(k_shot=2, n_query=3, split="train", random_state=1)
    b = s.sample(k_shot=2, n_query=3, split="train", random_state=1)
    np.testing.assert_array_equal(a.X_query, b.X_query)
    assert isinstance(a, Task)
    assert a.X_support.shape == (6, 8) and a.X_query.shape == (9, 8)
    assert set(a.analytes) <= set(range(4))
    assert set(s.sample(k_shot=1, split="test", random_state=2).analytes) <= set(range(4, 8))
    with pytest.raises(ValueError, match="split should be 'train' or 'test'"):
        s.sample(k_shot=1, split="val")
    with pytest.raises(ValueError, match="n_way should be <="):
        SensorTaskSampler(n_analytes=4, n_train_analytes=3, n_way=2)
    with pytest.raises(ValueError, match="SensorTaskSampler.sample: k_shot should be >= 1, got 0"):
        s.sample(k_shot=0)
    with pytest.raises(ValueError, match="SensorTaskSampler: noise should be >= 0"):
        SensorTaskSampler(noise=-0.1)
    with pytest.raises(ValueError, match="TwinTaskSampler: random_state should be >= 0, got -1"):
        TwinTaskSampler(random_state=-1)
    with pytest.raises(TypeError):
        SensorTaskSampler(8)  # keyword-only


def reference_steady_state_task(sampler: SensorTaskSampler, k_shot: int, n_query: int, split: str, seed: int):
    """The steady-state sampler written out with plain formulas (an independent implementation):
    theta = C / (C + K_d), r = s * theta + offset + N(0, noise), r / max |r|."""
    rng = np.random.default_rng(seed)
    pool = (np.arange(sampler.n_train_analytes) if split == "train"
            else np.arange(sampler.n_train_analytes, sampler.n_analytes))
    analytes = rng.choice(pool, sampler.n_way, replace=False)
    kd = 10.0 ** np.random.default_rng(sampler.random_state).uniform(-1.5, 1.5, (sampler.n_analytes,
                                                                                 sampler.n_channels))
    sens = np.abs(1 + rng.uniform(0, sampler.sensitivity_spread) * rng.standard_normal(sampler.n_channels))
    offset = rng.uniform(-sampler.drift, sampler.drift, sampler.n_channels)
    noise = rng.uniform(0.3, 1.0) * sampler.noise
    low = rng.uniform(-1.0, 0.0)
    out = []
    for n in (k_shot, n_query):
        X = []
        for a in analytes:
            c = 10.0 ** rng.uniform(low, low + 1.0, n)[:, None]
            r = sens * (c / (c + kd[a])) + offset + rng.normal(0, noise, (n, sampler.n_channels))
            X.append(r / np.maximum(np.abs(r).max(axis=1, keepdims=True), 1e-9))
        out.append(np.vstack(X))
    return out, analytes


@pytest.mark.parametrize("split, seed", [("train", 3), ("test", 11)])
def test_steady_state_sampler_is_the_langmuir_equilibrium_with_offset_and_white_noise(split, seed):
    s = SensorTaskSampler(n_channels=5, noise=0.08, random_state=2)
    task = s.sample(k_shot=3, n_query=4, split=split, random_state=seed)
    (Xs, Xq), analytes = reference_steady_state_task(s, 3, 4, split, seed)
    np.testing.assert_array_equal(task.analytes, analytes)
    np.testing.assert_array_equal(task.X_support, Xs)      # bit for bit: same figures as the old model
    np.testing.assert_array_equal(task.X_query, Xq)
    np.testing.assert_array_equal(task.y_support, np.repeat(np.arange(3), 3))
    assert np.allclose(np.abs(task.X_query).max(axis=1), 1.0)


def test_langmuir_equilibrium_is_the_limit_of_the_kinetics():
    c, k_on, k_off = 2e-3, 5e3, 4.0                       # mol/m^3, m^3/(mol s), 1/s: K_D = 8e-4
    assert physics.langmuir_equilibrium(c, k_on, k_off) == pytest.approx(c / (c + k_off / k_on), rel=1e-15)
    theta = 0.0
    for _ in range(200):
        theta = physics.langmuir_step(theta, c, k_on, k_off, 0.1)
    assert theta == pytest.approx(physics.langmuir_equilibrium(c, k_on, k_off), rel=1e-12)
    assert physics.langmuir_equilibrium(0.0, k_on, k_off) == 0.0
    assert physics.langmuir_equilibrium(0.0, k_on, 0.0) == 0.0     # no binding, no unbinding: no NaN


def test_twin_sampler_tasks_pools_seed_and_shift():
    s = TwinTaskSampler(n_analytes=6, n_train_analytes=3, n_way=2, n_sensors=4, duration_ms=300.0,
                        shifted_test=True)
    a = s.sample(k_shot=2, n_query=3, split="train", random_state=5)
    b = s.sample(k_shot=2, n_query=3, split="train", random_state=5)
    np.testing.assert_array_equal(a.X_support, b.X_support)
    assert a.X_support.shape == (4, 4) and a.X_query.shape == (6, 4)
    assert set(a.analytes) <= {0, 1, 2}
    np.testing.assert_allclose(np.abs(a.X_query).max(axis=1), 1.0)
    t = s.sample(k_shot=2, n_query=3, split="test", random_state=5)
    assert set(t.analytes) <= {3, 4, 5}
    # shifted_test draws held-out conditions from the shifted ranges: other features, same analytes
    plain = TwinTaskSampler(n_analytes=6, n_train_analytes=3, n_way=2, n_sensors=4, duration_ms=300.0)
    u = plain.sample(k_shot=2, n_query=3, split="test", random_state=5)
    np.testing.assert_array_equal(u.analytes, t.analytes)
    assert not np.array_equal(u.X_query, t.X_query)


def test_samplers_are_frozen_hashable_and_picklable():
    for s in (SensorTaskSampler(noise=0.1), TwinTaskSampler(n_sensors=4)):
        back = pickle.loads(pickle.dumps(s))
        assert back == s and hash(back) == hash(s)
        with pytest.raises(AttributeError):
            s.n_way = 5
    a, b = SensorTaskSampler(random_state=1), SensorTaskSampler(random_state=1)
    assert a == b and hash(a) == hash(b) and a != SensorTaskSampler(random_state=2)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).log_kd, a.log_kd)
