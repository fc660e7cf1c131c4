"""The integer learning engine (neurochip.plasticity.fixed) against Lava's own fixed-point code and analytic values."""
import dataclasses

import numpy as np
import pytest

from neurochip.lif import FixedLIFParams, FixedLIFState, lif_step_fixed
from neurochip.plasticity import LearningRule, evaluate_rules, pair_stdp, supervised_hebbian
from neurochip.plasticity import fixed as F
from neurochip.plasticity.metalearn import InnerLoop, MetaSpace
from neurochip.plasticity.rules import TERM_NAMES, TERMS


def test_random_streams_are_lavas():
    from lava.magma.core.learning.random import ConnVarRandom, TraceRandom

    seed, steps = 11, 30
    x, y, w = TraceRandom(seed, seed + 1), TraceRandom(seed + 2, seed + 3), ConnVarRandom()
    got = F.random_streams(seed, steps)
    for k in range(steps):   # per step, Lava's LearningDense advances both trace generators twice, the weight one once
        for gen in (x, y, x, y, w):
            gen.advance()
        assert got.x_decay[k] == x.random_trace_decay and got.x_impulse[k] == x.random_impulse_addition
        assert got.y_decay[k] == y.random_trace_decay and got.y_impulse[k] == y.random_impulse_addition
        assert got.weight[k] == w.random_stochastic_round


def test_trace_arithmetic_is_lavas():
    from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate as L

    rng = np.random.default_rng(0)
    for _ in range(200):
        trace = rng.integers(0, 128, (2, 9))
        tau = rng.integers(1, 40, 2)
        r, ri = rng.random(), int(rng.integers(0, 128))
        i_int, i_frac = rng.integers(0, 20, 2), rng.integers(0, 256, 2)
        np.testing.assert_array_equal(F.decay_trace(trace, tau[:, None], r), L._decay_trace(trace, 1, tau[:, None], r))
        events = rng.random(9) < 0.5
        want = trace.copy()
        want[:, events] = L._add_impulse(trace[:, events], ri, i_int[:, None], i_frac[:, None])
        np.testing.assert_array_equal(F.add_impulse(trace, events[None, :], i_int[:, None], i_frac[:, None], ri), want)


@pytest.mark.parametrize("mode", ["mixed", "excitatory", "inhibitory"])
def test_weight_update_is_lavas_applier_rounding_and_saturation(mode):
    """Every term alone and all together: Lava's LearningRuleApplierBitApprox and the model's rounding, bit for bit."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    from lava.magma.core.learning.learning_rule_applier import LearningRuleApplierBitApprox
    from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate as L
    from lava.utils.weightutils import SignMode, clip_weights

    rng = np.random.default_rng(1 + len(mode))
    n_post, n_pre = 4, 7
    lo, hi = F.WEIGHT_LIMITS[mode]
    for trial in range(len(TERMS) + 6):
        mant = np.zeros(len(TERMS), np.int64)
        exp = np.zeros(len(TERMS), np.int64)
        terms = [trial] if trial < len(TERMS) else rng.choice(len(TERMS), 5, replace=False)
        for k in terms:
            mant[k] = rng.choice([-7, -6, -5, -3, -1, 1, 2, 5, 7])   # -8 * 2**e Lava reads as -4 * 2**(e+1)
            exp[k] = rng.integers(-7, 4)
        rule = F.FixedRule(mant, exp, np.full(5, 5), np.zeros(5, np.int64), np.zeros(5, np.int64), mode, lo, hi)
        w = rng.integers(lo, hi + 1, (n_post, n_pre))
        tr = F.FixedTraces(rng.integers(0, 128, (2, n_pre)), rng.integers(0, 128, (3, n_post)))
        pre, post = rng.random(n_pre) < 0.5, rng.random(n_post) < 0.5
        r = rng.random()
        ours = F.weight_update(w, tr, pre, post, rule, r)
        # Lava: the same evaluation as LearningConnectionModelBitApproximate._apply_learning_rules
        applier = LearningRuleApplierBitApprox(Loihi2FLearningRule(dw=rule.lava_rule_string(), t_epoch=1).dw)
        args = {"shape": (n_post, n_pre), "x0": pre[None, :], "y0": post[:, None], "u": 1, "weights": w,
                "x1_x0": tr.x[0][None, :], "x2_x0": tr.x[1][None, :], "x1_y0": np.tile(tr.x[0], (n_post, 1)),
                "x2_y0": np.tile(tr.x[1], (n_post, 1)), "x1_u": tr.x[0][None, :], "x2_u": tr.x[1][None, :]}
        for n, t in enumerate(("y1", "y2", "y3")):
            args[f"{t}_x0"] = np.tile(tr.y[n][:, None], (1, n_pre))
            args[f"{t}_y0"] = tr.y[n][:, None]
            args[f"{t}_u"] = tr.y[n][:, None]
        acc = applier.apply(w.astype(np.int32) << 7, **args)
        model = L.__new__(L)
        model.sign_mode = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY,
                           "inhibitory": SignMode.INHIBITORY}[mode]
        acc = model._saturate_synaptic_variable_accumulator("weights", acc)
        acc = L._stochastic_round_synaptic_variable("weights", acc, r) >> 7
        np.testing.assert_array_equal(ours, clip_weights(acc, model.sign_mode, num_bits=8), err_msg=str(terms))


def test_w_terms_are_summed_first_so_saturation_is_the_clip():
    """Exemplar writer at its bound: growth 0.5 x1 y3 saturates the accumulator; summed after it, the decay
    -0.125 y3 w would leave 157 (Lava, growth first); with the w term first (TERM_ORDER, the dw string's order)
    twin and Lava's applier give 255 = clip(250 + 1603 / 2 - 101 * 250 / 256, hi) as the float rule does."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    from lava.magma.core.learning.learning_rule_applier import LearningRuleApplierBitApprox

    mant = np.zeros(len(TERMS), np.int64)
    exp = np.zeros(len(TERMS), np.int64)
    mant[TERM_NAMES.index("u0*x1*y3")], exp[TERM_NAMES.index("u0*x1*y3")] = 1, -1
    mant[TERM_NAMES.index("u0*y3*w")], exp[TERM_NAMES.index("u0*y3*w")] = -1, -3
    rule = F.FixedRule(mant, exp, np.full(5, 5), np.zeros(5, np.int64), np.zeros(5, np.int64), "mixed", -256, 255)
    assert rule.lava_rule_string() == "-1*2^-3*u0*y3*w + 1*2^-1*u0*x1*y3"
    w = np.array([[250]])
    tr = F.FixedTraces(np.array([[127], [0]]), np.array([[0], [0], [101]]))
    assert F.weight_update(w, tr, [0], [0], rule, 0.5)[0, 0] == 255
    args = {"shape": (1, 1), "x0": np.zeros((1, 1)), "y0": np.zeros((1, 1)), "u": 1, "weights": w}
    args.update({f"{t}_{d}": np.full((1, 1), v) for t, v in (("x1", 127), ("x2", 0), ("y1", 0), ("y2", 0), ("y3", 101))
                 for d in ("x0", "y0", "u")})
    for dw, want in ((rule.lava_rule_string(), 255), ("1*2^-1*u0*x1*y3 - 1*2^-3*u0*y3*w", 157)):
        applier = LearningRuleApplierBitApprox(Loihi2FLearningRule(dw=dw, t_epoch=1).dw)
        assert int(applier.apply(w.astype(np.int32) << 7, **args)[0, 0]) >> 7 == want, dw


def test_stochastic_trace_decay_is_unbiased():
    """Mean over seeds of a trace of 64 units decaying with tau 8: 64 exp(-t/8) (analytic), to 1 %."""
    tau, steps, seeds = 8, 12, 400
    means = np.zeros(steps)
    for seed in range(seeds):
        s = F.random_streams(seed, steps)
        trace = np.array([64])
        for k in range(steps):
            trace = F.decay_trace(trace, tau, s.x_decay[k])
            means[k] += trace[0] / seeds
    want = 64 * np.exp(-np.arange(1, steps + 1) / tau)
    np.testing.assert_allclose(means, want, rtol=0.01, atol=0.15)


def test_stochastic_weight_rounding_distribution():
    """A change of 0.3 units rounds up with probability 0.3: mean over 2,000 draws of Lava's weight stream, +-0.03."""
    mant = np.zeros(len(TERMS), np.int64)
    mant[TERM_NAMES.index("x0*y1")] = 1   # 1 * 2**-7 * y1 at a pre spike: y1 = 38 units is 38/128 of a weight unit
    rule = F.FixedRule(mant, np.full(len(TERMS), -7), np.full(5, 5), np.zeros(5, np.int64), np.zeros(5, np.int64),
                       "mixed", -256, 255)
    s = F.random_streams(0, 2000)
    tr = F.FixedTraces(np.zeros((2, 1), np.int64), np.array([[38], [0], [0]]))
    ups = [F.weight_update(np.zeros((1, 1), np.int64), tr, [1], [0], rule, s.weight[k])[0, 0] for k in range(2000)]
    assert set(ups) == {0, 1}
    assert abs(np.mean(ups) - 38 / 128) < 0.03


def test_fixed_lif_step_matches_loihi_equations():
    """u decays by (4096 - du_int - 1) / 4096 toward zero, input << 6, spike above vth_mant << 6, reset."""
    p = FixedLIFParams(du_int=2047, dv_int=819, vth_mant=100, bias=0)
    state, spk = lif_step_fixed(FixedLIFState.zeros(2), np.array([80, -3]), p)
    np.testing.assert_array_equal(state.u, [5120, -192])
    np.testing.assert_array_equal(state.v, [5120, -192])
    assert not spk.any()
    state, spk = lif_step_fixed(state, np.array([50, 0]), p)
    # u = trunc(5120 * 2048 / 4096) + 3200 = 5760; v = trunc(5120 * 3277 / 4096) + 5760 = 9856 > 6400: spike
    assert state.u[0] == 5760 and spk.tolist() == [True, False] and state.v[0] == 0
    assert state.u[1] == -96 and state.v[1] == -153 + -96


def test_rules_on_the_grid_stay_exact_at_power_of_two_scales():
    rule = pair_stdp(a_plus=2 ** -4, a_minus=3 * 2 ** -6, tau_plus=8.0, tau_minus=6.0, w_min=0.0, w_max=1.0)
    plan = F.plan_learning(rule, scale=2.0 ** 15)
    assert plan.differences() == {"w_max": (1.0, 255 / 256)}   # only the saturation of 256 units at 255
    # the gain of y0*x1: shift 0 (7 + 4 bits), one trace of scale s_x1, no w factor: 1 / s_x1 / lsb
    k = TERM_NAMES.index("y0*x1")
    s_x1 = plan.scales.trace[0]
    assert plan.scales.term_gain()[k] == 1 / s_x1 / 2 ** -8
    assert plan.fixed.mant[k] * 2.0 ** plan.fixed.exp[k] == 2 ** -4 / s_x1 / 2 ** -8
    kw = plan.lava_rule_kwargs()
    assert kw["x1_impulse"] == s_x1 and kw["x1_tau"] == 8 and kw["rng_seed"] == 0


@pytest.mark.parametrize("kw,message", [
    ({"x1_tau": 0.4}, r"x1_tau = 0.4 steps cannot be decayed by the chip"),
    ({"y1_tau": 256.0}, r"y1_tau = 256 steps cannot be decayed by the chip"),
    ({"y1_tau": 150.0}, r"trace y1 overflows the chip's 7-bit traces"),
    ({"w_min": -np.inf}, r"needs finite weight bounds"),
    ({"coefficients": {"y0*x1": 2 ** -30}}, r"every coefficient is below the chip's resolution"),
])
def test_rules_the_chip_cannot_run_are_clear_errors(kw, message):
    base = dict(coefficients={"y0*x1": 2 ** -4, "x0*y1": -2 ** -5}, x1_tau=8.0, y1_tau=6.0, w_min=0.0, w_max=1.0)
    with pytest.raises(F.FixedPointError, match=message):
        F.plan_learning(LearningRule(**{**base, **kw}), scale=2.0 ** 15)
    with pytest.raises(F.FixedPointError, match=r"x1_impulse = 1 is below the chip's trace resolution"):
        F.plan_learning(LearningRule(**base), scale=2.0 ** 15, trace_scale={"x1": 0.25})


def test_source_driven_traces_get_the_finest_scale_that_never_saturates():
    rule = supervised_hebbian(eta=2 ** -6, decay=0.0, tau=8.0)
    one_spike = np.zeros((20, 3), bool)
    one_spike[[2, 5, 9], [0, 1, 2]] = True
    assert F.trace_scales(rule, events={"x1": one_spike})[0] == 64.0     # 64 units of 127
    assert F.trace_scales(rule)[0] == 8.0                                  # worst case: 8.5 impulses
    burst = np.zeros((20, 1), bool)
    burst[0:6, 0] = True                                                   # 6 spikes, tau 8: 4.6 impulses
    assert F.trace_scales(rule, events={"x1": burst})[0] == 16.0


def test_inner_loop_fixed_precision_is_validated_and_close_to_float():
    pytest.importorskip("sensors")
    from sensors import SensorTaskSampler

    with pytest.raises(ValueError, match="InnerLoop: precision should be 'float' .* or 'fixed'"):
        InnerLoop(precision="int8")
    inner = InnerLoop(sampler=SensorTaskSampler(n_way=3, random_state=0), k_shot=3, n_query=6,
                      feature_range=(-1.0, 1.0))
    rules = [supervised_hebbian(eta=2 ** -6, decay=0.0, w_soft=0.25), None,
             LearningRule(coefficients={"x0": 9.0}, w_min=-1.0, w_max=1.0, name="too_large")]
    acc_float, _ = evaluate_rules(rules[:2], [1, 2, 3, 4], inner, split="test")
    acc_fixed, ops = evaluate_rules(rules, [1, 2, 3, 4], dataclasses.replace(inner, precision="fixed"),
                                    split="test")
    assert np.all(acc_fixed[2] == 0) and np.all(ops[2] == 0)            # the chip cannot run it
    assert abs(acc_fixed[0].mean() - acc_float[0].mean()) < 0.1
    assert acc_fixed[0].mean() > acc_fixed[1].mean() + 0.2              # learning helps at fixed point too
    assert MetaSpace(integer_taus=True).to_rule(np.full(MetaSpace().dim, 0.3)).x1_tau == round(
        MetaSpace().to_rule(np.full(MetaSpace().dim, 0.3)).x1_tau)


# --------------------------------------------------------------------------- memristive learning rate
def test_pulse_gain_sets_the_learning_rate_on_a_linear_device():
    """A noise-free linear device: dw = c per pre spike gives round(gain * c / level) pulses of one level each."""
    from brian2 import uS

    from neurochip.devices import LinearDevice
    from neurochip.plasticity.functional import run_rule_device

    rule = LearningRule(coefficients={"x0": 0.02}, name="constant")   # 2 levels of 0.01 per pre spike
    pre = np.zeros((10, 2))
    pre[::2] = 1
    w0 = np.array([[0.2, 1.0]])   # k = max|w| / (g_max - g_min): one level is 1 / 100
    changes = {}
    for gain in (0.5, 1.0, 2.0, 4.0):
        dev = LinearDevice(g_min=0.1 * uS, g_max=5.1 * uS, n_levels=101, pulse_gain=gain)
        w, _ = run_rule_device(rule, pre, np.zeros((10, 1)), dev, w0)
        changes[gain] = (w[0, 0] - 0.2) / 0.01
    # 5 pre spikes, each round(gain * 2) pulses (half up) of one level
    assert changes == pytest.approx({g: 5 * np.floor(2 * g + 0.5) for g in changes}, abs=1e-6)
    with pytest.raises(ValueError, match="pulse_gain should be > 0"):
        LinearDevice(g_min=0.1 * uS, g_max=5.1 * uS, pulse_gain=0.0)


@pytest.mark.parametrize("gain", [0.5, 3.0])
def test_brian2_and_numpy_device_learning_agree_at_any_pulse_gain(gain):
    from brian2 import ms

    from neurochip import Network, Population, Projection, SpikeSource
    from neurochip.brian_backend import simulate
    from neurochip.devices import presets
    from neurochip.plasticity.functional import run_rule_device

    rng = np.random.default_rng(4)
    device = presets.ag_a_si(c2c_sigma=0.0, sigma_g_min=0.1, sigma_g_max=0.1, pulse_gain=gain)
    rule = pair_stdp(a_plus=0.3, a_minus=0.25, tau_plus=5.0, tau_minus=5.0)
    pre = SpikeSource.poisson("pre", 4, rate=150 * 1e-3 / ms, steps=100, random_state=rng)
    drive = SpikeSource.poisson("drive", 2, rate=120 * 1e-3 / ms, steps=100, random_state=rng)
    w0 = rng.uniform(-0.5, 0.5, (2, 4))
    net = Network(sources=[pre, drive], populations=[Population("post", 2, du=1.0, dv=1.0, vth=0.5)],
                  projections=[Projection("drive_post", "drive", "post", np.eye(2)),
                               Projection("pre_post", "pre", "post", w0, device=device, plasticity=rule)])
    res = simulate(net, 100)
    w_np, _ = run_rule_device(rule, res.raster("pre"), res.raster("post"), device, w0)
    np.testing.assert_allclose(np.array(res.info["weights"]["pre_post"]), w_np, rtol=1e-9, atol=1e-12)


def test_learning_through_devices_batched_and_searched_with_the_rule():
    from brian2 import uS

    from neurochip.devices import LinearDevice, presets
    from neurochip.plasticity.device_wta import learn_through_device
    from neurochip.plasticity.functional import rule_params
    from neurochip.plasticity.wta import OutputParams, simulate_outputs

    out = OutputParams(0.5, 0.2, 1.0, 1.0, 0.3, 4)
    rng = np.random.default_rng(2)
    rasters = np.zeros((4, 16, 12), bool)
    for s in range(4):
        rasters[s, rng.integers(0, 16, 12), np.arange(12)] = rng.random(12) < 0.7
    labels = np.array([0, 1, 1, 0])
    W0 = rng.uniform(0, 0.05, (2, 12))
    rules = [supervised_hebbian(eta=2 ** -4, decay=0.0), supervised_hebbian(eta=2 ** -3, decay=2 ** -4)]
    params = rule_params(rules)
    # a fine linear device without noise learns what the float twin learns, up to its level quantization
    fine = LinearDevice(g_min=0.1 * uS, g_max=5.1 * uS, n_levels=2 ** 14)
    W_dev = learn_through_device(W0, rasters, out, fine, rule=params, labels=labels)
    W_flt, _, _, _ = simulate_outputs(np.tile(W0, (2, 1, 1)), rasters, out, rule=params, labels=labels)
    assert np.abs(W_flt - W0).max() > 0.1
    np.testing.assert_allclose(W_dev, W_flt, atol=2e-3)
    # batched candidates with their own gains equal each candidate alone (no cycle-to-cycle noise)
    dev = presets.ag_a_si(c2c_sigma=0.0)
    both = learn_through_device(W0, rasters, out, dev, rule=params, labels=labels, pulse_gain=np.array([1.0, 3.0]))
    for n, gain in enumerate((1.0, 3.0)):
        alone = learn_through_device(W0, rasters, out, dev, rule=rule_params(rules[n:n + 1]), labels=labels,
                                     pulse_gain=np.array([gain]))
        np.testing.assert_array_equal(both[n], alone[0])
    # the meta-learner searches the gain with the rule
    pytest.importorskip("sensors")
    from sensors import SensorTaskSampler

    from neurochip.plasticity import MetaLearner

    inner = InnerLoop(sampler=SensorTaskSampler(n_way=2, random_state=0), k_shot=2, n_query=4,
                      feature_range=(-1.0, 1.0), device=presets.ag_a_si())
    with pytest.raises(ValueError, match="InnerLoop: learning through a memristive device runs in float"):
        dataclasses.replace(inner, precision="fixed")
    space = MetaSpace(terms=("u0*x1*y3",), dead_zone=0.0, pulse_gain_range=(0.25, 4.0))
    ml = MetaLearner(space=space, inner=inner, generations=2, popsize=4, tasks_per_eval=2, validation_tasks=2,
                     address="serial", progress=False, random_state=0).fit()
    assert 0.25 <= ml.pulse_gain_ <= 4.0 and space.dim == 1 + 5 + 1
    with pytest.raises(ValueError, match=r"pulse_gain_range should be \(\) or \(low, high\)"):
        MetaSpace(pulse_gain_range=(2.0, 1.0))
