"""Single-neuron checks of the discrete Loihi CUBA LIF against closed forms.

Both backends (Brian2 and the numpy reference) are checked. Tolerance: 1e-12
relative (a few float64 roundings over <= 200 steps).
"""
import math

import numpy as np
import pytest

from neurochip import Network, Population, Projection, SpikeSource
from neurochip import brian_backend, reference

BACKENDS = {"brian2": brian_backend.simulate, "reference": reference.simulate}
RTOL = 1e-12


def single(du=0.2, dv=0.1, vth=1e9, bias=0.0, **kw):
    return Population("n", 1, du=du, dv=dv, vth=vth, bias=bias, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dv", [0.1, 0.37, 0.0])
def test_voltage_with_constant_bias_matches_closed_form(backend, dv):
    # v[t] = b * sum_{k=0}^{t} (1-dv)^k = b (1 - (1-dv)^(t+1)) / dv   (v[-1] = 0, no input)
    b, steps = 0.3, 120
    res = BACKENDS[backend](Network(populations=[single(dv=dv, bias=b)]), steps, {"n": ["v", "u"]})
    t = np.arange(steps)
    expected = b * (t + 1) if dv == 0 else b * (1 - (1 - dv) ** (t + 1)) / dv
    np.testing.assert_allclose(res.traces["n"]["v"][:, 0], expected, rtol=RTOL, atol=0)
    assert np.all(res.traces["n"]["u"] == 0)
    assert res.spikes["n"].steps.size == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dv,bias,vth", [(0.1, 0.25, 1.0), (0.05, 0.08, 1.3), (0.0, 0.3, 1.0), (1.0, 1.5, 1.0)])
def test_interspike_interval_matches_analytic(backend, dv, bias, vth):
    # After a reset to 0 the trajectory restarts: spike n steps after the previous one, where
    # n is the smallest integer with b (1 - (1-dv)^n) / dv > vth
    # (dv = 0: b n > vth; dv = 1: b > vth every step).
    if dv == 0:
        n = math.floor(vth / bias) + 1
    elif dv == 1:
        n = 1
    else:
        n = math.floor(math.log(1 - vth * dv / bias) / math.log(1 - dv)) + 1
    steps = 10 * n + 5
    res = BACKENDS[backend](Network(populations=[single(dv=dv, bias=bias, vth=vth)]), steps)
    spike_steps = res.spikes["n"].steps
    assert spike_steps[0] == n - 1
    np.testing.assert_array_equal(np.diff(spike_steps), n)
    assert spike_steps.size == steps // n


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("du,delay", [(0.2, 1), (0.5, 3), (1.0, 2)])
def test_current_after_one_impulse_decays_geometrically(backend, du, delay):
    # One input spike at step 3 with weight w: u[t] = w (1-du)^(t - 3 - delay) for t >= 3 + delay.
    w, steps, t0 = 0.75, 40, 3
    net = Network(sources=[SpikeSource("in", 1, indices=[0], steps=[t0])],
                  populations=[single(du=du)],
                  projections=[Projection("in_n", "in", "n", [[w]], delay=delay)])
    res = BACKENDS[backend](net, steps, {"n": ["u"]})
    t = np.arange(steps)
    arrive = t0 + delay
    expected = np.where(t >= arrive, w * (1 - du) ** np.clip(t - arrive, 0, None), 0.0)
    np.testing.assert_allclose(res.traces["n"]["u"][:, 0], expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_powers_of_two_gold_values(backend):
    # du = dv = 0.5 and weight 1: every value is exact in floating point (Lava's gold-value style).
    net = Network(sources=[SpikeSource("in", 1, indices=[0], steps=[0])],
                  populations=[single(du=0.5, dv=0.5, vth=1.0)],
                  projections=[Projection("in_n", "in", "n", [[1.0]])])
    res = BACKENDS[backend](net, 6, {"n": ["u", "v"]})
    # step 1: u = 1, v = 1 (not > 1); step 2: u = .5, v = 1; step 3: u = .25, v = .75 ...
    np.testing.assert_array_equal(res.traces["n"]["u"][:, 0], [0, 1, 0.5, 0.25, 0.125, 0.0625])
    np.testing.assert_array_equal(res.traces["n"]["v"][:, 0], [0, 1, 1, 0.75, 0.5, 0.3125])
    assert res.spikes["n"].steps.size == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_threshold_is_strict_and_reset_is_to_zero(backend):
    # bias 0.5, dv = 0: v = 0.5, 1.0 (== vth, no spike), 1.5 (spike, reset to 0), 0.5, ...
    res = BACKENDS[backend](Network(populations=[single(dv=0.0, bias=0.5, vth=1.0)]), 7, {"n": ["v"]})
    np.testing.assert_array_equal(res.spikes["n"].steps, [2, 5])
    np.testing.assert_array_equal(res.traces["n"]["v"][:, 0], [0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5])
