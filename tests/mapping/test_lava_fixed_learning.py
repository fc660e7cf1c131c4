"""Plastic projections on loihi2-sim-fixed: Lava's fixed-point learning models against the integer twin."""
import warnings

import numpy as np
import pytest
from brian2 import Hz, ms

import mapping
from mapping import quantization_learning as QL
from mapping.quantization import QuantizationError
from neurochip import Network, Population, Projection, SpikeSource
from neurochip.plasticity import LearningRule, pair_stdp, supervised_hebbian
from neurochip.plasticity import fixed as F
from neurochip.plasticity import fixed_wta as FW
from neurochip.plasticity.wta import OutputParams, sample_steps, wta_network
from neurochip.runners import get_runner


def stdp_network(rule, *, seed=3, steps=200):
    rng = np.random.default_rng(seed)
    return Network(sources=[SpikeSource.poisson("pre", 12, rate=80 * Hz, steps=steps, random_state=1),
                            SpikeSource.poisson("drive", 4, rate=60 * Hz, steps=steps, random_state=2)],
                   populations=[Population("post", 4, du=0.5, dv=0.2, vth=1.0)],
                   projections=[Projection("pre_post", "pre", "post", rng.uniform(0.1, 0.4, (4, 12)),
                                           plasticity=rule),
                                Projection("drive_post", "drive", "post", 1.5 * np.eye(4))])


def label_network(rule, *, steps=150):
    rng = np.random.default_rng(5)
    return Network(sources=[SpikeSource.poisson("pre", 10, rate=120 * Hz, steps=steps, random_state=1),
                            SpikeSource.poisson("label", 3, rate=100 * Hz, steps=steps, random_state=2),
                            SpikeSource.poisson("drive", 3, rate=80 * Hz, steps=steps, random_state=3)],
                   populations=[Population("out", 3, du=0.5, dv=0.2, vth=1.0)],
                   projections=[Projection("pre_out", "pre", "out", rng.uniform(0.05, 0.3, (3, 10)),
                                           plasticity=rule),
                                Projection("drive_out", "drive", "out", 1.5 * np.eye(3))])


LABEL_RULE = dict(coefficients={"u0*x1*y3": 2 ** -4, "u0*x1*y3*w": -2 ** -3, "y0*x1": 2 ** -5,
                                "x0*y1*w": -2 ** -4, "y0*x1*y3": -2 ** -5},
                  x1_impulse=1.0, x1_tau=6.0, y1_impulse=1.0, y1_tau=4.0, y3_impulse=1.0, y3_tau=3.0,
                  w_min=-1.0, w_max=1.0, name="label_gated")


def lava_and_twin(net, steps, **compile_kw):
    dep = mapping.compile(net, "loihi2-sim-fixed", **compile_kw)
    res = mapping.run(dep, steps)
    twin = F.simulate(QL.twin(dep), steps)
    return dep, res, twin


def test_pair_stdp_learns_on_fixed_point_and_the_twin_reproduces_lava_bit_for_bit():
    rule = pair_stdp(a_plus=2 ** -4, a_minus=2 ** -5, tau_plus=8 * ms, tau_minus=6 * ms, w_min=0.0, w_max=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QL.DeployedRuleWarning)  # on the grid, power-of-two scales: the deployed rule is the rule given
        dep, res, twin = lava_and_twin(stdp_network(rule), 200)
    w_lava = np.array(res.info["weight_mant"]["pre_post"])
    w0 = dep.quantized.projections["pre_post"].weight_mant
    assert np.abs(w_lava - w0).max() > 50  # learning happened (units of 2**-8)
    np.testing.assert_array_equal(w_lava, twin["weights"]["pre_post"])  # bit for bit
    counts = np.bincount(res.spikes["post"].indices, minlength=4)
    np.testing.assert_array_equal(counts, twin["spikes"]["post"].sum(axis=0))
    # float weights are the mantissas times the learned weight's LSB
    lsb = dep.report["plasticity"]["pre_post"]["fixed_point"]["weight_lsb"]
    assert lsb == 2.0 ** -8
    np.testing.assert_array_equal(np.array(res.info["weights"]["pre_post"]), w_lava * lsb)
    assert dep.report["plasticity"]["pre_post"]["deployed_differences"] == {}


def test_label_gated_rule_learns_on_fixed_point_like_the_twin():
    rule = LearningRule(third_factor="label", **LABEL_RULE)
    dep, res, twin = lava_and_twin(label_network(rule), 150)
    w_lava = np.array(res.info["weight_mant"]["pre_out"])
    assert np.abs(w_lava - dep.quantized.projections["pre_out"].weight_mant).max() > 50
    np.testing.assert_array_equal(w_lava, twin["weights"]["pre_out"])
    assert dep.report["plasticity"]["pre_out"]["fixed_point"]["sign_mode"] == "mixed"
    # y3 from the label source (exact trace scale) against y3 from the post spikes (Loihi2F): the label counts
    rule2 = LearningRule(**LABEL_RULE)
    twin2 = F.simulate(QL.twin(mapping.compile(label_network(rule2), "loihi2-sim-fixed", wire=False)), 150)
    assert np.abs(twin2["weights"]["pre_out"] - w_lava).max() > 20


def test_fixed_learning_approximates_float_learning():
    """The deployed float rule in float and the integer chip learn nearby weights (stochastic rounding)."""
    from neurochip import brian_backend

    rule = LearningRule(third_factor="label", **LABEL_RULE)
    net = label_network(rule)
    dep = mapping.compile(net, "loihi2-sim-fixed", wire=False)
    twin = F.simulate(QL.twin(dep), 150)
    lsb = dep.learning["pre_out"].scales.weight_lsb
    w_float = np.array(brian_backend.simulate(net, 150).info["weights"]["pre_out"])
    w_fixed = twin["weights"]["pre_out"] * lsb
    # weights move by up to 0.74 here; fixed and float stay within 0.063 (measured; spike timings included)
    assert np.abs(w_float - net.projections[0].weights).max() > 0.3
    assert np.abs(w_fixed - w_float).max() < 0.1


def test_report_covers_the_learning_parameters_with_their_errors():
    rule = LearningRule(coefficients={"y0*x1": 0.05, "x0*y1": -0.03}, x1_impulse=0.7, x1_tau=7.4,
                        y1_impulse=1.0, y1_tau=5.0, w_min=0.0, w_max=1.0, name="off_grid")
    with pytest.warns(QL.DeployedRuleWarning) as caught:
        dep = mapping.compile(stdp_network(rule), "loihi2-sim-fixed", wire=False)
    text = str(caught[0].message)
    assert "Projection 'pre_post': the rule deployed on 'loihi2-sim-fixed' differs from the rule given" in text
    assert "x1_tau 7.4 -> 7" in text and "coefficients['y0*x1'] 0.05 ->" in text
    rep = dep.report["plasticity"]["pre_post"]["fixed_point"]
    x1 = rep["traces"]["x1"]
    assert x1["tau_int"] == 7 and x1["tau_abs_error"] == pytest.approx(0.4)
    # impulse 0.7 at scale 2**k: an 8-bit fraction that Lava rounds with a 7-bit random number
    units = 0.7 * x1["scale"]
    assert x1["impulse_int"] == int(units) and x1["impulse_frac"] == round((units - int(units)) * 256)
    assert x1["impulse_effective"] == pytest.approx((x1["impulse_int"] + min(x1["impulse_frac"] / 128, 1))
                                                    / x1["scale"])
    for name, c in rep["coefficients"].items():
        assert c["rel_error"] <= 1 / 8, name   # 4-bit mantissa: at most half a step of 1/4 relative
        assert c["effective"] == pytest.approx(c["mant"] * 2.0 ** c["exp"] / c["gain"])
    assert rep["weight_lsb"] == 2.0 ** -8 and rep["weight_range"] == [0.0, 255 / 256]
    assert rep["initial_weights"]["max_abs_error"] <= rep["initial_weights"]["error_bound"]
    pop = dep.report["quantization"]["populations"]["post"]
    assert pop["scale"] == 2.0 ** round(np.log2(pop["scale"]))  # a power of two
    with pytest.raises(QL.RuleMismatchError, match=r"coefficients\['y0\*x1'\] 0.05 -> "):
        mapping.compile(stdp_network(rule), "loihi2-sim-fixed", wire=False, strict_rule=True)


def test_off_grid_rule_warns_on_float_targets_too():
    rule = supervised_hebbian()  # eta = decay = 0.05 is not m * 2**e: 3 * 2**-6 is deployed
    net = stdp_network(rule)
    with pytest.warns(QL.DeployedRuleWarning, match=r"coefficients\['u0\*x1\*y3'\] 0.05 -> 0.046875 \(-6.25 %\)"):
        mapping.compile(net, "loihi2-sim-float", wire=False)
    with pytest.raises(QL.RuleMismatchError, match="differs from the rule given"):
        mapping.compile(net, "loihi2-sim-float", wire=False, strict_rule=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QL.DeployedRuleWarning)
        mapping.compile(stdp_network(rule.quantized()), "loihi2-sim-float", wire=False)


@pytest.mark.parametrize("change,message", [
    ({"x1_tau": 0.3}, r"x1_tau = 0.3 steps cannot be decayed by the chip: its learning engine decays traces with an "
                      r"integer time constant of 1..255 steps"),
    ({"y1_tau": 400.0}, r"y1_tau = 400 steps cannot be decayed by the chip"),
    ({"y1_tau": 200.0}, r"trace y1 overflows the chip's 7-bit traces: with y1_tau = 200 steps it must hold 200.5 "
                        r"impulses \(an event every step\)"),
    ({"w_max": float("inf")}, r"needs finite weight bounds"),
    ({"coefficients": {"x0": 10.0}}, r"coefficient of x0 \(10\) is 2560 in the chip's units"),
])
def test_bad_learning_input_is_a_clear_error_before_any_lava_process(change, message, monkeypatch):
    from mapping import lava_backend

    def no_wiring(*args, **kwargs):  # pragma: no cover - reached only if the check is missing
        raise AssertionError("wired Lava processes despite bad input")

    monkeypatch.setattr(lava_backend, "wire", no_wiring)
    kw = dict(coefficients={"y0*x1": 2 ** -4, "x0*y1": -2 ** -5}, x1_tau=8.0, y1_tau=6.0, w_min=0.0, w_max=1.0)
    kw.update(change)
    with pytest.raises(QuantizationError, match=message):
        mapping.compile(stdp_network(LearningRule(**kw)), "loihi2-sim-fixed")


def test_impulse_below_resolution_and_options():
    rule = pair_stdp(a_plus=2 ** -4, a_minus=2 ** -5, w_min=0.0, w_max=1.0)
    net = stdp_network(rule)
    with pytest.raises(QuantizationError, match=r"y1_impulse = 1 is below the chip's trace resolution: 0.5 units at "
                                                r"trace scale 0.5"):
        mapping.compile(net, "loihi2-sim-fixed", wire=False, learning={"trace_scales": {"pre_post": {"y1": 0.5}}})
    with pytest.raises(ValueError, match=r"compile: learning has unknown option\(s\) seed"):
        mapping.compile(net, "loihi2-sim-fixed", learning={"seed": 1})
    # a smaller headroom gives a finer trace (y1 is fed by post spikes: worst case by default)
    coarse = mapping.compile(net, "loihi2-sim-fixed", wire=False).learning["pre_post"].scales.trace[2]
    fine = mapping.compile(net, "loihi2-sim-fixed", wire=False,
                           learning={"trace_headroom": {"pre_post": {"y1": 2.0}}}).learning["pre_post"].scales.trace[2]
    assert (coarse, fine) == (4.0, 32.0)
    other = mapping.compile(net, "loihi2-sim-fixed", wire=False, learning={"rng_seed": 7})
    assert other.learning["pre_post"].lava_rule_kwargs()["rng_seed"] == 7


def test_stand_in_rules_and_sparse_plastic_weights_are_rejected_on_fixed_point(constant_rule):
    net = stdp_network(constant_rule("x0"))
    with pytest.raises(ValueError, match=r"Projection 'pre_post': fixed-point learning needs a neurochip.plasticity."
                                         r"LearningRule .*, got StandInRule"):
        mapping.compile(net, "loihi2-sim-fixed")


# --------------------------------------------------------------------------- the few-shot network
OUT = OutputParams(0.5, 0.2, 1.0, 1.0, 0.3, 4)


@pytest.mark.parametrize("n_out,n_in,bounds", [(3, 36, (-1.0, 1.0)), (5, 48, (0.0, 1.0)), (2, 97, (-0.5, 2.0))])
def test_the_wta_twin_quantizes_like_the_mapper(n_out, n_in, bounds):
    rule = supervised_hebbian(eta=2 ** -6, decay=0.0, w_min=bounds[0], w_max=bounds[1])
    raster = np.zeros((16, n_in), bool)
    raster[np.arange(16), np.arange(16) % n_in] = True
    net = wta_network(np.full((n_out, n_in), 0.02), OUT, raster=raster, label=1, rule=rule)
    q = mapping.compile(net, "loihi2-sim-fixed", wire=False).quantized
    wta = FW.quantize_wta(n_out, n_in, OUT, w_min=bounds[0], w_max=bounds[1])
    qp = q.populations["out"]
    assert (wta.scale, wta.lif.du_int, wta.lif.dv_int, wta.lif.vth_mant) == (qp.scale, qp.du_int, qp.dv_int,
                                                                                qp.vth_mant)
    assert wta.teacher == int(qp.bias_mant[1]) << int(qp.bias_exp[1])
    lateral = q.projections["wta"]
    np.testing.assert_array_equal(wta.lateral_mant, lateral.weight_mant)
    assert wta.lateral_exp == lateral.weight_exp and lateral.sign_mode == "inhibitory"
    assert wta.weight_exp == q.projections["plastic"].weight_exp


def test_wta_twin_learns_the_weights_lava_fixed_learns_shot_by_shot():
    """Several shots, one Lava fixed-point run each (the classifier's per-shot backend): same integers."""
    rule = LearningRule(coefficients={"u0*x1*y3": 2 ** -5, "u0*x1*y3*w": -2 ** -3, "y0*x1": -2 ** -7},
                        x1_impulse=1.0, x1_tau=5.0, y1_impulse=1.0, y1_tau=4.0, y3_impulse=1.0, y3_tau=2.0,
                        w_min=-1.0, w_max=1.0, name="proto")
    rng = np.random.default_rng(0)
    n_out, n_in, shots = 3, 24, 4
    rasters = np.zeros((shots, 16, n_in), bool)
    for s in range(shots):
        rasters[s, rng.integers(0, 16, n_in), np.arange(n_in)] = rng.random(n_in) < 0.6
    labels = np.array([0, 1, 2, 1])
    wta = FW.quantize_wta(n_out, n_in, OUT, w_min=-1.0, w_max=1.0)
    W0 = rng.uniform(0, 0.05, (n_out, n_in))
    events = FW.rule_events(rasters, OUT)
    plan, = FW.plan_rules([rule], wta, events)
    W_twin, _, _, _ = FW.simulate_outputs_fixed(FW.initial_weights(W0, wta), rasters, OUT, wta, rule=plan.fixed,
                                                labels=labels)
    W = W0
    run = get_runner("lava-fixed")
    for s in range(shots):
        net = wta_network(W, OUT, raster=rasters[s], label=int(labels[s]), rule=rule)
        with warnings.catch_warnings():
            warnings.simplefilter("error", QL.DeployedRuleWarning)
            res = run(net, sample_steps(rasters[s], OUT))
        W = np.array(res.info["weights"]["plastic"])
    w_lava = np.array(res.info["weight_mant"]["plastic"])
    assert np.abs(w_lava - FW.initial_weights(W0, wta)).max() > 20
    np.testing.assert_array_equal(w_lava, W_twin)
