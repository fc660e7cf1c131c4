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


# ---------------------------------------------------------------- the pure step (neurochip.lif)
def test_lif_step_gold_values_and_reset():
    """du = dv = 0.5, powers of two: exact. Input 1 at step 0, then bias 0.25: v crosses vth = 1 at step 2."""
    from neurochip.lif import LIFParams, LIFState, lif_step

    p = LIFParams(du=0.5, dv=0.5, vth=1.0, bias=0.25)
    state = LIFState.zeros(1)
    seen = []
    for a_in in [1.0, 0.0, 0.0, 0.0]:
        state, spikes = lif_step(state, np.array([a_in]), p)
        seen.append((state.u[0], state.v[0], bool(spikes[0])))
    # u: 1, .5, .25, .125; v: 0*.5+1+.25 = 1.25 -> spike, reset 0; 0+.5+.25 = .75; .375+.25+.25 = .875; ...
    assert seen == [(1.0, 0.0, True), (0.5, 0.75, False), (0.25, 0.875, False), (0.125, 0.8125, False)]


def test_lif_step_is_pure_and_batches_over_leading_axes():
    from neurochip.lif import LIFParams, LIFState, lif_step

    rng = np.random.default_rng(0)
    batch, n = (3, 4), 5
    params = LIFParams(du=rng.uniform(0, 1, (3, 1, 1)), dv=rng.uniform(0, 1, (3, 1, 1)), vth=0.8,
                       bias=rng.uniform(0, 0.2, n))
    state = LIFState(rng.normal(0, 1, (*batch, n)), rng.uniform(0, 1, (*batch, n)))
    before = LIFState(state.u.copy(), state.v.copy())
    a_in = rng.normal(0, 0.5, (*batch, n))
    new, spikes = lif_step(state, a_in, params)
    np.testing.assert_array_equal(state.u, before.u)          # input state untouched
    np.testing.assert_array_equal(state.v, before.v)
    assert new.u.shape == new.v.shape == spikes.shape == (*batch, n) and spikes.dtype == bool
    assert 0 < spikes.sum() < spikes.size
    for c in range(3):                                        # equal, bit for bit, to one neuron at a time
        for b in range(4):
            for k in range(n):
                u = before.u[c, b, k] * (1 - params.du[c, 0, 0]) + a_in[c, b, k]
                v = before.v[c, b, k] * (1 - params.dv[c, 0, 0]) + u + params.bias[k]
                assert new.u[c, b, k] == u
                assert new.v[c, b, k] == (0.0 if v > 0.8 else v) and spikes[c, b, k] == (v > 0.8)


def test_no_other_numpy_lif_update_in_neurochip():
    """Only neurochip/lif.py writes the decay ``x * (1 - du)`` / ``x * (1 - dv)`` (every numpy LIF calls lif_step)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "neurochip"

    def is_decay(node):
        return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and isinstance(node.right, ast.BinOp)
                and isinstance(node.right.op, ast.Sub) and isinstance(node.right.left, ast.Constant)
                and node.right.left.value == 1
                and (getattr(node.right.right, "attr", None) or getattr(node.right.right, "id", "")) in ("du", "dv"))

    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if is_decay(node):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert found and all(f.startswith("neurochip/lif.py:") for f in found), found
