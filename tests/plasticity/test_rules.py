"""Rule family: STDP window (analytic), Brian2 vs numpy, Lava parser and applier, serialization, errors."""
import json
import math

import numpy as np
import pytest
from brian2 import DimensionMismatchError, ms, mV

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.network import REGISTRY
from neurochip.plasticity import (TERM_NAMES, LearningRule, pair_stdp, quantize_coefficient,
                                  reward_stdp, run_rule, stdp_window)
from neurochip.plasticity.functional import delta_w, init_state, rule_params, trace_step


def random_rule(rng, third_factor=None):
    coeffs = {k: float(rng.normal(0, 0.5)) for k in TERM_NAMES}
    return LearningRule(coefficients=coeffs, x1_impulse=float(rng.uniform(0.2, 1.5)),
                        x1_tau=float(rng.uniform(2, 30)), x2_impulse=float(rng.uniform(0, 1)),
                        x2_tau=float(rng.uniform(2, 30)), y1_impulse=float(rng.uniform(0.2, 1.5)),
                        y1_tau=float(rng.uniform(2, 30)), y2_impulse=float(rng.uniform(0, 1)),
                        y2_tau=float(rng.uniform(2, 30)), y3_impulse=float(rng.uniform(0, 1)),
                        y3_tau=float(rng.uniform(2, 30)), w_min=-3.0, w_max=3.0,
                        third_factor=third_factor, name="random")


def test_stdp_window_matches_exponentials():
    a_plus, a_minus, tp, tm = 0.8, 0.5, 12 * ms, 25 * ms
    rule = pair_stdp(a_plus=a_plus, a_minus=a_minus, tau_plus=tp, tau_minus=tm)
    d = np.arange(-30, 31)
    dw = stdp_window(rule, d)
    expected = np.where(d > 0, a_plus * np.exp(-d / 12.0), -a_minus * np.exp(d / 25.0))
    expected[d == 0] = a_plus - a_minus  # simultaneous: both terms, traces include this step's spike
    np.testing.assert_allclose(dw, expected, rtol=1e-12, atol=1e-15)


def test_soft_bound_stdp_pairs_scale_with_the_weight():
    """Soft bounds: one pairing moves w by a_plus exp(-d/tau) (1 - w/w_soft), or -a_minus exp(-d/tau) w/w_soft."""
    a_plus, a_minus, tau, w_soft = 0.1, 0.05, 6.0, 0.5
    rule = pair_stdp(a_plus=a_plus, a_minus=a_minus, tau_plus=tau, tau_minus=tau, w_soft=w_soft)
    assert set(rule.coefficients) == {"y0*x1", "y0*x1*w", "x0*y1*w"}
    for w0 in (0.0, 0.2, 0.45):
        for d in (3, -3):
            pre, post = np.zeros((8, 1)), np.zeros((8, 1))
            pre[2 if d > 0 else 5, 0] = 1
            post[5 if d > 0 else 2, 0] = 1
            w, _ = run_rule(rule, pre, post, np.full((1, 1), w0))
            expected = (a_plus * (1 - w0 / w_soft) if d > 0 else -a_minus * w0 / w_soft) * math.exp(-3 / tau)
            assert w[0, 0] - w0 == pytest.approx(expected, rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="w_soft should be > 0"):
        pair_stdp(w_soft=0.0)


def test_pair_stdp_accepts_steps_and_checks_units():
    assert pair_stdp(tau_plus=7.0).x1_tau == 7.0
    with pytest.raises(DimensionMismatchError, match="tau_plus should have units"):
        pair_stdp(tau_plus=5 * mV)


def run_brian_vs_numpy(rule, third_spikes=False, seed=0):
    rng = np.random.default_rng(seed)
    n_pre, n_post, steps = 5, 3, 120
    pre = SpikeSource.poisson("pre", n_pre, rate=120 * 1e-3 / ms, steps=steps, random_state=rng)
    drive = SpikeSource.poisson("drive", n_post, rate=100 * 1e-3 / ms, steps=steps, random_state=rng)
    sources = [pre, drive]
    if third_spikes:
        sources.append(SpikeSource.poisson("reward", n_post, rate=80 * 1e-3 / ms, steps=steps,
                                           random_state=rng))
    w0 = rng.uniform(-0.2, 0.4, (n_post, n_pre))
    net = Network(
        sources=sources,
        populations=[Population("post", n_post, du=1.0, dv=1.0, vth=0.5)],
        projections=[Projection("drive_post", "drive", "post", np.eye(n_post)),
                     Projection("pre_post", "pre", "post", w0, plasticity=rule)])
    from neurochip.brian_backend import simulate
    res = simulate(net, steps)
    w_brian = np.array(res.info["weights"]["pre_post"])
    post = res.raster("post")
    assert post.sum() > 10 and res.raster("pre").sum() > 10
    third = res.raster("reward") if third_spikes else None
    w_np, _ = run_rule(rule, res.raster("pre"), post, w0, third=third)
    return w_brian, w_np, w0


def test_brian_matches_numpy_loihi2f():
    rule = random_rule(np.random.default_rng(1))
    w_brian, w_np, w0 = run_brian_vs_numpy(rule)
    assert np.abs(w_np - w0).max() > 0.1
    np.testing.assert_allclose(w_brian, w_np, rtol=1e-12, atol=1e-12)


def test_brian_matches_numpy_third_factor_source():
    rule = random_rule(np.random.default_rng(2), third_factor="reward")
    w_brian, w_np, w0 = run_brian_vs_numpy(rule, third_spikes=True, seed=3)
    assert np.abs(w_np - w0).max() > 0.1
    np.testing.assert_allclose(w_brian, w_np, rtol=1e-12, atol=1e-12)


def test_brian_third_factor_errors():
    rule = pair_stdp(a_plus=0.1, a_minus=0.1)
    rule.third_factor = "nope"
    net = Network(sources=[SpikeSource("pre", 2)], populations=[Population("post", 1, du=1, dv=1, vth=1)],
                  projections=[Projection("p", "pre", "post", np.ones((1, 2)), plasticity=rule)])
    from neurochip.brian_backend import simulate
    with pytest.raises(ValueError, match="third_factor 'nope' is not a node"):
        simulate(net, 3)
    rule.third_factor = "pre"
    with pytest.raises(ValueError, match="should have the post size 1, got 2"):
        simulate(net, 3)
    from neurochip.devices import presets

    not_a_rule = Network(sources=[SpikeSource("pre", 2)], populations=[Population("post", 1, du=1, dv=1, vth=1)],
                         projections=[Projection("p", "pre", "post", np.ones((1, 2)), plasticity=presets.ideal())])
    with pytest.raises(ValueError, match="Projection 'p': plasticity should be a LearningRule, got LinearDevice"):
        simulate(not_a_rule, 3)


def test_lava_parser_accepts_string_and_float_applier_gives_same_dw():
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    from lava.magma.core.learning.learning_rule_applier import LearningRuleApplierFloat

    rng = np.random.default_rng(5)
    rule = random_rule(rng).quantized()
    lr = Loihi2FLearningRule(**rule.lava_rule_kwargs())
    # The parsed product series has exactly the non-zero terms of the rule.
    assert len(lr.dw.products) == sum(1 for c in rule.coefficients.values() if c != 0)
    n_pre, n_post = 4, 3
    params = rule_params(rule)
    state = init_state(n_pre, n_post)
    applier = LearningRuleApplierFloat(lr.dw)
    w = rng.uniform(-1, 1, (n_post, n_pre))
    for _ in range(20):
        pre = rng.random(n_pre) < 0.4
        post = rng.random(n_post) < 0.4
        state = trace_step(state, pre, post, post, params)
        ours = delta_w(w, state, pre, post, params)
        x, y = state.x, state.y
        args = {"x0": pre[None, :], "y0": post[:, None], "weights": w, "tag_2": 0 * w, "tag_1": 0 * w,
                "u": 1, "np": np,
                "x1_x0": x[0][None, :], "x2_x0": x[1][None, :], "y1_x0": y[0][:, None] + 0 * w,
                "y2_x0": y[1][:, None] + 0 * w, "y3_x0": y[2][:, None] + 0 * w,
                "x1_y0": x[0][None, :] + 0 * w, "x2_y0": x[1][None, :] + 0 * w,
                "y1_y0": y[0][:, None], "y2_y0": y[1][:, None], "y3_y0": y[2][:, None],
                "x1_u": x[0][None, :], "x2_u": x[1][None, :], "y1_u": y[0][:, None],
                "y2_u": y[1][:, None], "y3_u": y[2][:, None]}
        lava = applier.apply(w.copy(), **args) - w
        np.testing.assert_allclose(ours, lava, rtol=1e-12, atol=1e-12)
        w = w + ours


def test_lava_learning_dense_runs_rule_like_numpy():
    """End to end: Lava's LearningDense (float) learns from spikes like run_rule."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.source import RingBuffer

    rng = np.random.default_rng(7)
    steps, n_pre, n_post = 40, 3, 2
    pre = (rng.random((n_pre, steps)) < 0.3).astype(float)
    post = (rng.random((n_post, steps)) < 0.3).astype(float)
    rule = pair_stdp(a_plus=0.5, a_minus=0.25, tau_plus=6.0, tau_minus=9.0)
    w0 = rng.uniform(0.5, 1.0, (n_post, n_pre))
    src_pre, src_post = RingBuffer(data=pre), RingBuffer(data=post)
    dense = LearningDense(weights=w0.copy(), learning_rule=Loihi2FLearningRule(**rule.lava_rule_kwargs()))
    src_pre.s_out.connect(dense.s_in)
    src_post.s_out.connect(dense.s_in_bap)
    try:
        dense.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="floating_pt"))
        w_lava = dense.weights.get()
    finally:
        dense.stop()
    w_np, _ = run_rule(rule, pre.T, post.T, w0)
    np.testing.assert_allclose(w_lava, w_np, rtol=1e-9, atol=1e-12)


def test_quantize_coefficient_grid():
    assert quantize_coefficient(0.25) == (1, -2)
    assert quantize_coefficient(-0.75) == (-3, -2)
    assert quantize_coefficient(1e-4) == (0, 0)
    assert quantize_coefficient(1e6) == (7, 8)
    rng = np.random.default_rng(0)
    for v in rng.uniform(-7, 7, 200):  # relative error of a 4-bit mantissa: <= 1/16 in range
        m, e = quantize_coefficient(v)
        assert abs(m * 2.0 ** e - v) <= abs(v) / 8 + 2 ** -8


def test_serialization_round_trip_and_registry():
    rule = reward_stdp(third_factor="label", w_min=0.0)
    assert REGISTRY["LearningRule"] is LearningRule
    d = json.loads(json.dumps(rule.to_dict()))
    assert LearningRule.from_dict(d) == rule
    assert LearningRule.from_dict(d).w_max == math.inf
    net = Network(sources=[SpikeSource("a", 2), SpikeSource("label", 1)],
                  populations=[Population("b", 1, du=0.5, dv=0.5, vth=1.0)],
                  projections=[Projection("ab", "a", "b", np.ones((1, 2)), plasticity=rule)])
    assert Network.from_dict(json.loads(json.dumps(net.to_dict()))) == net
    v = rule.to_vector()
    assert LearningRule.from_vector(v, third_factor="label", w_min=0.0, name="reward_stdp") == rule


@pytest.mark.parametrize("kwargs, match", [
    ({"coefficients": {"x9": 1.0}}, "unknown term"),
    ({"coefficients": [1.0]}, "coefficients should be a dict"),
    ({"x1_tau": 0.0}, "x1_tau should be > 0.0"),
    ({"y2_impulse": -1.0}, "y2_impulse should be >= 0.0"),
    ({"w_min": 1.0, "w_max": 0.0}, "w_min should be <= w_max"),
    ({"w_min": "low"}, "w_min should be a number"),
    ({"third_factor": 3}, "third_factor should be a node name"),
])
def test_rule_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearningRule(**kwargs)


def test_vector_and_lava_errors():
    with pytest.raises(ValueError, match="vector should have shape"):
        LearningRule.from_vector(np.zeros(3))
    with pytest.raises(ValueError, match="no term has a coefficient representable"):
        LearningRule(coefficients={"x0": 1e-5}).lava_rule_string()
    with pytest.raises(ValueError, match="t_epoch should be 1"):
        pair_stdp().lava_rule_kwargs(t_epoch=2)
    with pytest.raises(ValueError, match="pre and post should be"):
        run_rule(pair_stdp(), np.zeros((3, 2)), np.zeros((4, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="w0 should have shape"):
        run_rule(pair_stdp(), np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="third should have the shape"):
        run_rule(pair_stdp(), np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((1, 2)), third=np.zeros((3, 2)))


def test_batched_rules_equal_single_rules():
    rng = np.random.default_rng(11)
    rules = [random_rule(rng) for _ in range(3)]
    params = rule_params(rules)
    n_pre, n_post = 4, 2
    from neurochip.plasticity.functional import plasticity_step
    w = np.tile(rng.uniform(-1, 1, (n_post, n_pre)), (3, 1, 1))
    state = init_state(n_pre, n_post, (3,))
    singles = [(w[0].copy(), init_state(n_pre, n_post)) for _ in rules]
    for _ in range(15):
        pre, post = rng.random(n_pre) < 0.3, rng.random(n_post) < 0.3
        w, _, state = plasticity_step(w, state, pre, post, post, params)
        for c, r in enumerate(rules):
            wc, sc = singles[c]
            wc, _, sc = plasticity_step(wc, sc, pre, post, post, rule_params(r))
            singles[c] = (wc, sc)
    for c in range(3):
        np.testing.assert_allclose(w[c], singles[c][0], rtol=1e-13, atol=1e-14)


def test_brian_plasticity_through_device_matches_numpy_twin():
    from neurochip.devices import presets
    from neurochip.plasticity.functional import run_rule_device

    rng = np.random.default_rng(4)
    device = presets.ag_a_si(c2c_sigma=0.0, sigma_g_min=0.1, sigma_g_max=0.1)  # soft-bounded, d2d spread
    rule = pair_stdp(a_plus=0.3, a_minus=0.25, tau_plus=5.0, tau_minus=5.0)
    n_pre, n_post, steps = 4, 2, 100
    pre = SpikeSource.poisson("pre", n_pre, rate=150 * 1e-3 / ms, steps=steps, random_state=rng)
    drive = SpikeSource.poisson("drive", n_post, rate=120 * 1e-3 / ms, steps=steps, random_state=rng)
    w0 = rng.uniform(-0.5, 0.5, (n_post, n_pre))
    net = Network(sources=[pre, drive], populations=[Population("post", n_post, du=1.0, dv=1.0, vth=0.5)],
                  projections=[Projection("drive_post", "drive", "post", np.eye(n_post)),
                               Projection("pre_post", "pre", "post", w0, device=device, plasticity=rule)])
    from neurochip.brian_backend import simulate
    res = simulate(net, steps)
    w_brian = np.array(res.info["weights"]["pre_post"])
    w_np, _ = run_rule_device(rule, res.raster("pre"), res.raster("post"), device, w0)
    w_start, _ = run_rule_device(rule, np.zeros((1, n_pre)), np.zeros((1, n_post)), device, w0)
    assert np.abs(w_np - w_start).max() > 0.05  # the rule moved the device weights
    np.testing.assert_allclose(w_brian, w_np, rtol=1e-9, atol=1e-12)
    net2 = Network(sources=[pre], populations=[Population("post", n_post, du=1.0, dv=1.0, vth=0.5)],
                   projections=[Projection("pre_post", "pre", "post", w0, device=device, plasticity=rule,
                                           delay=2)])
    with pytest.raises(ValueError, match="plasticity through a device needs delay 1"):
        simulate(net2, 3)


def test_batched_one_group_equals_backend_runs():
    """Candidates in one Brian2 synapse group learn exactly what separate backend runs learn."""
    from neurochip.brian_backend import simulate
    from neurochip.plasticity.brian import run_batched_learning

    rng = np.random.default_rng(9)
    n_pre, n_out, steps = 4, 2, 60
    pre = SpikeSource.poisson("input", n_pre, rate=200 * 1e-3 / ms, steps=steps, random_state=rng)
    label = SpikeSource.poisson("label", n_out, rate=300 * 1e-3 / ms, steps=steps, random_state=rng)
    rules = [random_rule(rng, third_factor="label") for _ in range(2)]
    W0 = rng.uniform(0, 0.5, (2, n_out, n_pre))
    kw = dict(du=0.5, dv=0.3, vth=0.4, teacher=0.3, w_inh=0.5)
    each = []
    for c, rule in enumerate(rules):
        net = Network(sources=[pre, label], populations=[Population("out", n_out, du=kw["du"], dv=kw["dv"],
                                                                    vth=kw["vth"])],
                      projections=[Projection("plastic", "input", "out", W0[c], plasticity=rule),
                                   Projection("teacher", "label", "out", kw["teacher"] * np.eye(n_out)),
                                   Projection("wta", "out", "out", -kw["w_inh"] * (1 - np.eye(n_out)))])
        res = simulate(net, steps)
        assert res.spike_counts()["out"] > 5
        each.append(res.info["weights"]["plastic"])
    each = np.array(each)
    batched = run_batched_learning(rules, pre_steps=pre.steps, pre_indices=pre.indices, n_pre=n_pre,
                                   label_steps=label.steps, label_indices=label.indices, n_out=n_out, w0=W0,
                                   steps=steps, **kw)
    assert np.abs(each - W0).max() > 0.1
    np.testing.assert_allclose(batched, each, rtol=1e-12, atol=1e-12)
