"""Fixed point: quantization bounds, agreement with float (the integer model against Lava: test_fixed_point_model.py)."""
import numpy as np
import pytest
import scipy.sparse as sp

import mapping
from mapping.quantization import QuantizationError, dequantize, quantize
from neurochip import Network, Population, Projection, SpikeSource, reference
from neurochip.testing import make_fixed_point_job

STEPS = 120


@pytest.mark.slow
def test_fixed_point_agrees_with_float_on_random_recurrent_networks(random_network):
    # Recurrent random networks amplify any difference: a float spike decided by a
    # margin of 1e-5 of the threshold (below fixed-point resolution) changes the
    # recurrent input of every later step. The default compile (integers chosen on a
    # 200-step calibration run), measured: 11 of 12 seeds >= 99 %, seed 5 (first
    # difference: a float spike 2.6e-5 above threshold at step 5) 82.9 %; pooled 97.5 %
    # within one step, 96.1 % exact (before: plain 8-bit 4 of 12 >= 95 %; 2-part calibrated,
    # the best option then, 11 of 12). We require 11 of 12 >= 95 % and pooled >= 97 % within
    # one step and >= 95 % exact.
    results = []
    pooled_n = pooled_ok = pooled_exact = 0
    for seed in range(12):
        dep = mapping.compile(random_network(seed), "loihi2-sim-fixed")
        assert dep.report["calibration"]["steps"] == 200 and dep.report["calibration"]["candidates"]
        assert not any(p["overflow_risk"] for p in dep.report["quantization"]["populations"].values())
        out = mapping.verify(dep, STEPS)
        total = out["total"]
        assert total["n_a"] > 20  # not vacuous
        assert out["breakdown"]["integer_model_matches_run"]
        assert out["breakdown"]["overflow"]["u_wrapped"] == 0
        results.append(total["agreement"])
        pooled_n += max(total["n_a"], total["n_b"])
        pooled_ok += total["within_tolerance"]
        pooled_exact += total["exact"]
    assert sum(r >= 0.95 for r in results) >= 11, results
    assert pooled_ok / pooled_n >= 0.97, results
    assert pooled_exact / pooled_n >= 0.95, results


def feedforward_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    src = SpikeSource.poisson("src", 40, rate=__import__("brian2").Hz * 80, steps=STEPS, random_state=rng)
    hid = Population("a", 60, du=rng.uniform(0.1, 0.5), dv=rng.uniform(0.05, 0.3), vth=1.0,
                     bias=rng.uniform(0, 0.02, 60))
    out = Population("b", 20, du=0.3, dv=0.1, vth=1.0)
    return Network(sources=[src], populations=[hid, out], projections=[
        Projection("src_a", "src", "a", rng.normal(0.25, 0.2, (60, 40))),
        Projection("a_b", "a", "b", rng.normal(0.1, 0.15, (20, 60)), delay=2)])


@pytest.mark.parametrize("seed,parts", [(0, None), (1, None), (2, None), (0, 1), (1, 1), (2, 1), (0, 2)])
def test_fixed_point_agrees_on_feedforward_networks(seed, parts):
    net = feedforward_network(seed)
    # weight_parts=1: plain 8-bit Loihi weights; verify_steps: float and fixed side by side at compile.
    # Measured: 100.0 % within one step for every case, >= 99.9 % exact.
    dep = mapping.compile(net, "loihi2-sim-fixed", weight_parts=parts, verify_steps=STEPS)
    total = dep.report["agreement"]["total"]
    assert dep.report["agreement"]["steps"] == STEPS
    assert total["n_a"] > 100
    assert total["agreement"] >= (0.99 if parts is None else 0.95), total


@pytest.mark.parametrize("n_in,n_out,exact,within", [
    (100, 200, 0.985, 0.995),
    pytest.param(1000, 2000, 0.985, 0.995, marks=pytest.mark.slow)])
def test_default_compile_reaches_the_targets_of_issue_17(n_in, n_out, exact, within):
    # Issue 17's job, 1,000 steps: integer weights and biases, du = dv = 0.1 (409.6 / 4096).
    # Measured with the default compile: small 99.43 % exact / 99.73 % within one step, large
    # 99.13 % / 99.78 % (before: 98.9 / 99.7 and 73.8 / 92.9; targets 98 / 99.5 and 95 / 99).
    # Asserted: 98.5 % / 99.5 %, about half a point under the measured figures.
    net = make_fixed_point_job(0, n_in=n_in, n_out=n_out)
    dep = mapping.compile(net, "loihi2-sim-fixed", wire=False)
    out = mapping.verify(dep, 1000)
    assert out["total"]["n_a"] > 2900 * n_in // 100
    assert out["total"]["exact_fraction"] >= exact, out["total"]
    assert out["total"]["agreement"] >= within, out["total"]
    # the weights are exact (a power-of-two scale, one part); what remains is parameter
    # resolution (the decays), arithmetic (truncation) costs under 0.1 point
    rep = dep.report["quantization"]
    assert rep["projections"]["in_out"]["max_abs_error"] == 0.0 and rep["weight_parts"] == 1
    breakdown = out["breakdown"]
    assert breakdown["integer_model_matches_run"]
    assert breakdown["arithmetic"]["exact"] >= 0.999
    assert breakdown["overflow"] == {"u_wrapped": 0, "v_clipped_low": 0, "v_clipped_high": 0, "a_in_over_16_bit": 0}


@pytest.mark.parametrize("parts", [1, 2])
def test_reported_error_bounds_hold(parts, random_network):
    for seed in range(10):
        net = random_network(seed)
        q = quantize(net, weight_parts=parts)
        rep = q.report
        for pop in net.populations:
            r = rep["populations"][pop.name]
            d = q.populations[pop.name].dequantized()
            assert abs(d["vth"] - pop.vth) <= 1e-12 * pop.vth  # the scale makes vth exact
            assert abs(d["du"] - pop.du) <= r["du"]["error_bound"] + 1e-15
            assert abs(d["dv"] - pop.dv) <= r["dv"]["error_bound"] + 1e-15
            assert np.max(np.abs(d["bias"] - pop.bias)) <= r["bias"]["error_bound"] * (1 + 1e-9)
            assert r["a_in_bound"] <= r["a_in_limit"] * (1 + 1e-9) and r["u_int_bound"] <= r["uv_limit"] * (1 + 1e-9)
            # integer ranges of Loihi
            qp = q.populations[pop.name]
            assert 0 <= qp.du_int <= 4095 and 0 <= qp.dv_int <= 4095 and 1 <= qp.vth_mant <= 2 ** 17 - 1
            assert qp.bias_mant.min() >= -4096 and qp.bias_mant.max() <= 4095
            assert qp.bias_exp.min() >= 0 and qp.bias_exp.max() <= 7
        for proj in net.projections:
            r = rep["projections"][proj.name]
            qw = q.projections[proj.name]
            eff = qw.effective_weights()
            w = proj.weights
            err = np.abs((eff - w).toarray() if sp.issparse(w) else eff - w)
            assert err.max() <= r["error_bound"] * (1 + 1e-9)
            assert np.isclose(err.max(), r["max_abs_error"])
            W = qw.weight_mant.data if sp.issparse(qw.weight_mant) else qw.weight_mant
            if qw.sign_mode == "mixed":
                assert W.min() >= -256 and W.max() <= 254 and np.all(W % 2 == 0)
            else:
                assert np.abs(W).max() <= 255
            assert -8 <= qw.weight_exp <= 7
            assert r["saturated"] == 0


def test_dequantized_network_in_float_explains_most_of_the_difference(random_network):
    # The float run of the dequantized parameters is the chip without integer
    # arithmetic: it agrees with the fixed-point run at least as well as the original.
    net = random_network(4)
    dep = mapping.compile(net, "loihi2-sim-fixed")
    fixed = mapping.run(dep, STEPS)
    deq = reference.simulate(dequantize(net, dep.quantized), STEPS)
    from neurochip import compare_spikes

    assert compare_spikes(deq, fixed, "a", tolerance_steps=1)["agreement"] >= 0.95


def test_known_integer_values():
    net = Network(sources=[SpikeSource("s", 2, indices=[0], steps=[1])],
                  populations=[Population("p", 2, du=0.5, dv=0.25, vth=1.0, bias=[0.0, 0.125])],
                  projections=[Projection("sp", "s", "p", [[0.5, 0.25], [0.0, 0.5]])])
    q = quantize(net, vth_bits=20)
    qp = q.populations["p"]
    assert (qp.du_int, qp.dv_int) == (2047, 1024)  # du: 2048 - 1 (Loihi adds 1), dv: 0.25 * 4096
    assert qp.vth_mant == 2 ** 14 and qp.scale == 2 ** 20
    np.testing.assert_array_equal(qp.bias_mant << qp.bias_exp, [0, 2 ** 17])
    qw = q.projections["sp"]
    assert qw.sign_mode == "excitatory"
    # 0.5 * 2**20 / 64 = 8192 = 255-range mantissa 128 << 6
    np.testing.assert_array_equal(qw.weight_mant * 2 ** qw.weight_exp, [[8192, 4096], [0, 8192]])


def test_out_of_range_parameters_give_clear_errors():
    src = SpikeSource("s", 1, indices=[0], steps=[0])
    big_bias = Network(sources=[src], populations=[Population("p", 1, du=0.5, dv=0.5, vth=1.0, bias=1000.0)],
                       projections=[Projection("sp", "s", "p", [[0.5]])])
    with pytest.raises(QuantizationError, match=r"Population 'p': bias cannot be represented next to threshold 1"):
        quantize(big_bias)
    big_w = Network(sources=[src], populations=[Population("p", 1, du=0.5, dv=0.5, vth=1.0)],
                    projections=[Projection("sp", "s", "p", [[5000.0]])])
    with pytest.raises(QuantizationError, match=r"weights of 'sp' cannot be represented"):
        mapping.compile(big_w, "loihi2-sim-fixed")
    long_delay = Network(sources=[src], populations=[Population("p", 1, du=0.5, dv=0.5, vth=1.0)],
                         projections=[Projection("sp", "s", "p", [[0.5]], delay=70)])
    with pytest.raises(QuantizationError, match=r"delay 70 exceeds the fixed-point maximum 64 steps .* by 6"):
        quantize(long_delay)
    big_init = Network(populations=[Population("p", 1, du=0.5, dv=0.5, vth=1.0, v_init=1e6)])
    with pytest.raises(QuantizationError, match="initial state cannot be represented"):
        quantize(big_init)
    with pytest.raises(ValueError, match="min_vth_bits <= vth_bits <= 23"):
        quantize(big_init, vth_bits=30)


def test_overflow_risk_is_reported_not_silent():
    # 400 strong inputs at once cannot fit the 16-bit input; the report says so.
    n = 400
    net = Network(sources=[SpikeSource("s", n, indices=[0], steps=[0])],
                  populations=[Population("p", 1, du=0.01, dv=0.5, vth=1.0)],
                  projections=[Projection("sp", "s", "p", np.full((1, n), 200.0))])
    rep = quantize(net).report["populations"]["p"]
    assert rep["overflow_risk"] is True
    assert any("16-bit input per step" in r or "24-bit current u" in r for r in rep["risks"])


def test_calibration_uses_observed_ranges_and_says_so(random_network):
    net = random_network(6)
    worst = quantize(net)
    cal = reference.simulate(net, STEPS, probes={"a": ["u", "v"], "b": ["u", "v"]})
    calibrated = quantize(net, calibration=cal, margin=2.0)
    for pop in ("a", "b"):
        w, c = worst.report["populations"][pop], calibrated.report["populations"][pop]
        assert w["bounds"].startswith("worst case") and c["bounds"] == f"calibrated ({STEPS} steps, margin 2)"
        assert c["observed"]["input"] * 2.0 == pytest.approx(c["input_bound"])
        assert c["input_bound"] <= w["input_bound"]  # observed input never exceeds the worst case
        assert c["a_in_bound"] <= c["a_in_limit"] * (1 + 1e-9)
    with pytest.raises(ValueError, match=r"calibration should have 'u' and 'v' traces of population 'a'"):
        quantize(net, calibration=reference.simulate(net, 10))
    with pytest.raises(ValueError, match="margin should be >= 1, got 0.5"):
        quantize(net, calibration=cal, margin=0.5)


def test_integers_are_checked_before_every_fixed_point_deployment(random_network):
    from mapping.quantization import check_ranges

    dep = mapping.compile(random_network(1), "loihi2-sim-fixed", wire=False)
    check_ranges(dep.quantized)  # what quantize produced is in range
    dep.quantized.populations["a"].du_int = 0.25  # a float decay would hang Lava's fixed-point LIF
    with pytest.raises(QuantizationError, match=r"Population 'a' \(fixed point\): du_int should be integers"):
        mapping.run(dep, 5)
    dep.quantized.populations["a"].du_int = 100
    dep.quantized.projections["src_a"].weight_exp = 9
    with pytest.raises(QuantizationError, match=r"Projection 'src_a' \(fixed point\): weight_exp should be "
                                                r"in \[-8, 7\], got values in \[9, 9\]"):
        mapping.run(dep, 5)
