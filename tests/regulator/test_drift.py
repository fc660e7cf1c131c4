"""The class-conditional CUSUM drift detector (neurochip.regulator.drift), against hand-computed runs."""
import math

import numpy as np
import pytest

from neurochip.regulator.drift import (DRIFT, RECOVERED, DriftDetector, DriftParams, out_of_fold_statistic,
                                       readout_statistic)


def _fitted(**kw):
    # class 0: mean 5, sd 1; class 1: mean 10, sd 2
    x = np.array([4.0, 6.0, 4.0, 6.0, 8.0, 12.0, 8.0, 12.0])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    return DriftDetector(**kw).fit(x, g)


def test_reference_per_class():
    det = _fitted()
    np.testing.assert_allclose(det.mean_, [5.0, 10.0])
    np.testing.assert_allclose(det.sd_, [1.0, 2.0])


@pytest.mark.parametrize("shift, k, h", [(2.0, 0.5, 8.0), (1.0, 0.25, 5.0), (2.5, 0.5, 6.0)])
def test_delay_of_a_step_is_analytic(shift, k, h):
    # A constant drop of `shift` sd adds shift - k per sample: the alarm is sample ceil-ish of h / (shift - k).
    det = _fitted(k=k, h=h)
    x = np.r_[np.full(30, 5.0), np.full(30, 5.0 - shift)]
    log = det.run(x, np.zeros(60, dtype=int))
    n = math.floor(h / (shift - k)) + 1          # first n with n (shift - k) > h
    assert log.alarms.tolist() == [30 + n - 1]
    assert log.in_alarm[30 + n - 1:].all() and not log.in_alarm[:30 + n - 1].any()


def test_gas_mix_change_is_not_drift():
    # Switching from class 0 to class 1 (other mean, other spread) moves nothing once standardized per class.
    det = _fitted(k=0.5, h=3.0)
    x = np.r_[np.full(50, 5.0), np.full(50, 10.0), np.full(50, 5.0)]
    g = np.r_[np.zeros(50), np.ones(50), np.zeros(50)].astype(int)
    assert det.run(x, g).alarms.size == 0
    # the same stream read with one pooled reference would alarm
    pooled = DriftDetector(k=0.5, h=3.0).fit(np.r_[x[:50], x[50:100]], np.zeros(100, dtype=int))
    assert pooled.run(x, np.zeros(150, dtype=int)).alarms.size > 0


def test_recovery_and_one_event_per_change():
    det = _fitted(k=0.5, h=4.0)
    x = np.r_[np.full(20, 5.0), np.full(40, 3.0), np.full(20, 5.0)]
    log = det.run(x, np.zeros(80, dtype=int))
    assert log.alarms.tolist() == [20 + 2]            # 1.5 per sample: 3 samples exceed 4
    assert log.recoveries.tolist() == [60 + 8]        # back at the mean: 0.5 per sample, 9 samples exceed 4
    assert not log.in_alarm[69:].any()


def test_clip_bounds_one_outlier():
    det = _fitted(k=0.5, h=3.0, clip=3.0)
    x = np.r_[np.full(10, 5.0), [-1000.0], np.full(10, 5.0)]
    assert det.run(x, np.zeros(21, dtype=int)).alarms.size == 0   # one sample moves the sum by 2.5 < 3


def test_update_equals_run():
    rng = np.random.default_rng(0)
    x = rng.normal(4.5, 1.0, 300)
    g = rng.integers(0, 2, 300)
    a = _fitted(h=3.0)
    b = _fitted(h=3.0)
    events = [b.update(v, c) for v, c in zip(x, g)]
    log = a.run(x, g)
    assert [i for i, e in enumerate(events) if e == DRIFT] == log.alarms.tolist()
    assert [i for i, e in enumerate(events) if e == RECOVERED] == log.recoveries.tolist()


def test_in_control_false_alarm_rate_is_low():
    # Gaussian statistic at its reference: k = 0.5, h = 6 has an in-control run length of a few thousand samples.
    rng = np.random.default_rng(1)
    det = DriftDetector(k=0.5, h=6.0, min_sd=1e-9).fit(rng.normal(0, 1, 5000), np.zeros(5000, dtype=int))
    log = det.run(rng.normal(0, 1, 20000), np.zeros(20000, dtype=int))
    assert log.alarms.size <= 20000 / 1000


def test_readout_statistic():
    class R:
        counts = np.array([[3, 1, 0], [0, 2, 5]])
        owner = np.array([0, 0, 1])
        prediction = np.array([0, 1])
        margin = np.array([3.0, 3.0])
    np.testing.assert_array_equal(readout_statistic(R, 2), [3, 5])
    np.testing.assert_array_equal(readout_statistic(R, 2, statistic="total_spikes"), [4, 7])
    with pytest.raises(ValueError, match="statistic should be one of"):
        readout_statistic(R, 2, statistic="density")


def test_out_of_fold_statistic_uses_held_out_samples():
    from neurochip.plasticity import FewShotSpikingClassifier
    rng = np.random.default_rng(0)
    d = np.array([[1.0, 0.2, 0.1], [0.1, 1.0, 0.3]])
    X = np.vstack([d[i % 2] * rng.uniform(1, 10) * rng.lognormal(0, 0.05, 3) for i in range(40)])
    y = np.arange(40) % 2
    x, g = out_of_fold_statistic(lambda: FewShotSpikingClassifier(random_state=0), X, y, folds=4)
    assert x.shape == (40,) and g.shape == (40,)
    assert np.mean(g == y) > 0.9 and np.all(x > 0)


def test_errors():
    with pytest.raises(ValueError, match="DriftParams: h"):
        DriftParams(h=0.0)
    with pytest.raises(ValueError, match="call fit"):
        DriftDetector().update(1.0, 0)
    with pytest.raises(ValueError, match="same length, got shapes"):
        DriftDetector().fit(np.zeros(3), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="class indices"):
        DriftDetector().fit(np.zeros(3), np.array([0.5, 1, 2]))
    with pytest.raises(ValueError, match="finite"):
        DriftDetector().fit(np.array([1.0, np.nan]), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"group should be in \[0, 2\)"):
        _fitted().update(1.0, 5)
