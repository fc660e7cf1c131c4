"""Pure window update, calibration, MetaRegulator fit/detect, policies and errors."""
import math

import numpy as np
import pytest
from brian2 import ms

from neurochip import Network, Population, Projection, SimulationResult, SpikeSource, Spikes
from neurochip.regulator import (HIGH, LOW, RECOVERED, SILENCE, BandParams, MetaRegulator, RegulatorState,
                                 apply_recalibration, fit_band, hold_outputs, regulator_cost, run_windows,
                                 window_counts, window_step)


def band(low, high, silence=3, persist=2, window=10):
    n = len(low)
    return BandParams(window=window, low=np.asarray(low, float), high=np.asarray(high, float),
                      silence_windows=np.full(n, silence), persist=persist)


def test_window_step_high_then_recovered():
    counts = np.array([[10], [20], [20], [20], [10], [10], [10]])
    events, state = run_windows(counts, band([5], [15]))
    # two windows above 15 (1, 2) raise HIGH at window 2; two in-band windows (4, 5) clear it at 5
    assert events.tolist() == [[2, 0, HIGH], [5, 0, RECOVERED]]
    assert state.alarm.tolist() == [0] and state.count.tolist() == [0]


def test_window_step_silence_low_and_priority():
    # pop 0: zeros -> LOW after 2 windows (below 5), SILENCE after 3; pop 1: HIGH wins over LOW
    counts = np.array([[0, 30], [0, 30], [0, 30], [8, 30]])
    events, _ = run_windows(counts, band([5, 5], [15, 15]))
    assert events.tolist() == [[1, 0, LOW], [1, 1, HIGH], [2, 0, SILENCE]]
    # a single out-of-band window with persist 2 raises nothing
    events, _ = run_windows(np.array([[30], [10], [30], [10]]), band([5], [15]))
    assert events.size == 0


def test_silence_needs_activity_to_recover():
    # low band <= 0: empty windows are in band, but recovering from SILENCE needs spikes
    counts = np.array([[0], [0], [0], [0], [0], [0], [3], [4]])
    events, _ = run_windows(counts, band([-1], [15], silence=3))
    assert events.tolist() == [[2, 0, SILENCE], [7, 0, RECOVERED]]


def test_window_step_is_pure():
    s = RegulatorState.zeros(2)._replace(count=np.array([30, 0]))
    before = [a.copy() for a in s]
    window_step(s, band([5, 5], [15, 15]))
    assert all(np.array_equal(a, b) for a, b in zip(s, before))


def test_fit_band_matches_formula():
    counts = np.array([[2, 0], [4, 0], [6, 1], [8, 0]])
    b = fit_band(counts, window=5, k=2.0, min_std=0.5, persist=1, alpha=1e-3)
    std = np.std([2, 4, 6, 8])
    assert b.low[0] == pytest.approx(5 - 2 * std) and b.high[0] == pytest.approx(5 + 2 * std)
    # pop 1: std 0.433 < min_std 0.5
    assert b.high[1] == pytest.approx(0.25 + 2 * 0.5)
    p0 = (0 + 1) / 6, (3 + 1) / 6
    assert b.silence_windows.tolist() == [math.ceil(math.log(1e-3) / math.log(p)) for p in p0]


def test_window_counts():
    sp = Spikes(np.array([0, 1, 0, 2]), np.array([0, 4, 5, 12]))
    assert window_counts(sp, 13, 5).tolist() == [2, 1]          # step 12 is in an incomplete window
    assert window_counts(sp, 13, 5, start_step=3).tolist() == [2, 1]


def _result(rates, size=10, seed=0, name="a"):
    """Bernoulli spikes with per-step probability rates[k] (array of length steps)."""
    rng = np.random.default_rng(seed)
    steps = len(rates)
    st, idx = np.nonzero(rng.random((steps, size)) < np.asarray(rates)[:, None])
    return SimulationResult(steps=steps, dt=1 * ms, sizes={name: size}, populations=[],
                            spikes={name: Spikes.sorted(idx, st)})


NET = Network(sources=[SpikeSource("a", 10)])


def test_detects_burst_and_silence_with_bounded_delay():
    calib = _result(np.full(2000, 0.1), seed=1)
    reg = MetaRegulator(window=10, k=4.0, persist=2).fit(NET, calib)
    rates = np.full(600, 0.1)
    rates[300:400] = 0.5        # noise burst
    rates[450:] = 0.0           # stuck (silent) sensor
    log = reg.detect(_result(rates, seed=2))
    high = log.first(kinds=("high",), after_step=0)
    assert high.step == 319                                  # end of the 2nd window of the burst
    silent = log.first(kinds=("silence",))
    assert 450 <= silent.step <= 450 + 10 * (reg.band_.silence_windows[0] + 1)
    assert log.first(after_step=0).step >= 300              # no false alarm before the fault
    assert high.density == pytest.approx(high.count / (10 * 10 * 1e-3))


def test_policies_and_outputs():
    net = Network(populations=[Population("p", 10, du=0.5, dv=0.5, vth=2.0)])
    calib = _result(np.full(1000, 0.1), seed=3, name="p")
    rates = np.full(300, 0.1)
    rates[100:200] = 0.6
    res = _result(rates, seed=4, name="p")
    safe = MetaRegulator(window=10, policy="safe_mode").fit(net, calib).detect(res)
    assert [e.action["action"] for e in safe.events] == ["enter_safe_mode", "leave_safe_mode"]
    enter, leave = safe.events
    mask = safe.safe_mode_mask("p")
    assert mask[enter.step + 1] and not mask[enter.step] and mask[leave.step] and not mask[leave.step + 1]
    held, m2 = hold_outputs(res.spikes["p"], safe, "p")
    assert np.array_equal(m2, mask) and not np.any(mask[held.steps])
    assert held.steps.size == int(np.sum(~mask[res.spikes["p"].steps]))
    reg = MetaRegulator(window=10, policy="recalibrate").fit(net, calib)
    log = reg.detect(res)
    act = log.events[0].action
    assert act["action"] == "scale_threshold"
    assert act["factor"] == pytest.approx(np.clip(log.events[0].count / reg.mean_[0], 0.25, 4))
    assert apply_recalibration(net, log)["p"].vth == pytest.approx(2.0 * act["factor"])
    cost = regulator_cost(reg, res)
    assert cost["synaptic_ops"] == res.spikes["p"].steps.size and cost["neuron_updates"] == 300
    assert cost["window_evaluations"] == 30
    assert cost["energy_J"] == pytest.approx(cost["synaptic_ops"] * 23.6e-12 + 300 * 52e-12)


def test_invalid_configurations():
    calib = _result(np.full(100, 0.1))
    with pytest.raises(ValueError, match=r"empty calibration: steps \[50, 50\) hold no step"):
        MetaRegulator(window=10).fit(NET, calib, start_step=50, stop_step=50)
    with pytest.raises(ValueError, match=r"window \(200 steps\) is larger than the calibration run \(100 steps\)"):
        MetaRegulator(window=200).fit(NET, calib)
    with pytest.raises(ValueError, match="empty calibration: no complete window"):
        fit_band(np.zeros((0, 2)), window=10)
    reg = MetaRegulator(window=50).fit(NET, calib)
    with pytest.raises(ValueError, match=r"window \(50 steps\) is larger than the run \(40 steps"):
        reg.detect(_result(np.full(40, 0.1)))
    with pytest.raises(ValueError, match="policy should be one of safe_mode, recalibrate, learn, got 'panic'"):
        MetaRegulator(policy="panic").fit(NET, calib)
    with pytest.raises(ValueError, match="population 'zz' is not in network"):
        MetaRegulator(populations=["zz"]).fit(NET, calib)
    with pytest.raises(ValueError, match=r"populations should be a sequence of names, got the string 'a'"):
        MetaRegulator(populations="a").fit(NET, calib)
    with pytest.raises(ValueError, match="window should be >= 1, got 0"):
        MetaRegulator(window=0).fit(NET, calib)
    with pytest.raises(ValueError, match="not fitted"):
        MetaRegulator().detect(calib)
    with pytest.raises(ValueError, match="'a' should have size 10 as in calibration, got 3"):
        reg.detect(_result(np.full(100, 0.1), size=3))
    with pytest.raises(ValueError, match="alpha should be < 1.0"):
        MetaRegulator(alpha=1.0).fit(NET, calib)


def test_warmup_windows_are_not_judged():
    net = Network(populations=[Population("p", 10, du=0.5, dv=0.5, vth=2.0)])
    rates = np.full(1000, 0.1)
    rates[:30] = 0.0                      # start-up transient: silent for 3 windows
    calib = _result(rates, seed=5, name="p")
    plain = MetaRegulator(window=10).fit(net, _result(np.full(1000, 0.1), seed=6, name="p"))
    first = plain.detect(calib).first()
    assert first.kind == "silence" and first.step < 30
    warm = MetaRegulator(window=10, warmup_windows=3).fit(net, calib)
    assert warm.n_calibration_windows_ == 97 and warm.mean_[0] > 5
    assert warm.detect(calib).first() is None
    with pytest.raises(ValueError, match="all within warmup_windows = 200"):
        MetaRegulator(window=10, warmup_windows=200).fit(net, calib)
