"""The integer LIF step, the numpy bit-accurate network model against Lava, the gain compensation, the choice."""
import numpy as np
import pytest
import scipy.sparse as sp
from brian2 import ms

import mapping
from mapping import quantization as qz
from mapping.calibration import agreement, choose, exact_scale, matched_within_one
from mapping.fixed_point import overflow_total, simulate_fixed
from neurochip import Network, Population, Projection, SpikeSource, compare_spikes, reference
from neurochip.lif import FixedLIFParams, FixedLIFState, lif_step_fixed
from neurochip.results import SimulationResult, Spikes
from neurochip.testing import make_fixed_point_job

STEPS = 120


# ------------------------------------------------------------------ the integer step
def test_integer_step_gold_values():
    # u: trunc(u * (4096 - du_int - 1) / 4096) toward zero, then + a_in << 6
    state = FixedLIFState(np.array([1000, -1000, 0]), np.array([0, 0, 0]))
    params = FixedLIFParams(du_int=2047, dv_int=1024, vth_mant=100, bias=np.array([0, 0, 3 << 2]))
    new, spikes = lif_step_fixed(state, np.array([0, 0, 1]), params)
    np.testing.assert_array_equal(new.u, [500, -500, 64])  # 1000 * 2048 / 4096; -500, not -501; 1 << 6
    np.testing.assert_array_equal(new.v, [500, -500, 64 + 12])  # v = 0 * ... + u + bias
    assert not spikes.any()
    # -999 * 2048 / 4096 = -499.5 truncates toward zero
    assert lif_step_fixed(FixedLIFState(np.array([-999]), np.array([0])), 0, params)[0].u[0] == -499
    # du_int 4095: u decays to 0 in one step; spike when v > vth_mant << 6 (6400), then v = 0
    s2, spk = lif_step_fixed(FixedLIFState(np.array([6401, 6400]), np.array([0, 0])), 0,
                             FixedLIFParams(du_int=4095, dv_int=4095, vth_mant=100))
    np.testing.assert_array_equal(s2.u, [0, 0])
    s3, spk = lif_step_fixed(FixedLIFState(np.array([0, 0]), np.array([0, 0])), np.array([101, 100]),
                             FixedLIFParams(du_int=0, dv_int=4095, vth_mant=100))
    np.testing.assert_array_equal(spk, [True, False])  # 101 << 6 = 6464 > 6400; 100 << 6 == 6400
    np.testing.assert_array_equal(s3.v, [0, 6400])


def test_overflow_of_a_step_is_found_as_lava_wraps_and_clips():
    from mapping.fixed_point import _overflow

    lim = 2 ** 23
    params = FixedLIFParams(du_int=0, dv_int=0, vth_mant=2 ** 17 - 1)
    prev = FixedLIFState(np.array([lim - 1, lim - 10, 0, 0]), np.array([0, 0, -lim + 5, lim - 2]))
    a_in = np.array([100, 0, -100, 100])
    new, spikes = lif_step_fixed(prev, a_in, params)
    assert new.u[0] == (lim - 1) * 4095 // 4096 + 6400 - 2 * lim  # wrapped into the negative range
    assert new.v[2] == -lim + 1  # clipped at the bottom
    assert spikes.tolist() == [False, False, False, True]  # the top clip still spikes
    assert _overflow(prev, a_in, params, new, spikes) == (1, 1, 1)


# ------------------------------------------------------------------ the network model against Lava
@pytest.mark.parametrize("seed,parts", [(0, 1), (1, 1), (2, 2), (3, 2), (5, 2)])
def test_integer_model_is_bit_exact_to_lava(seed, parts, random_network):
    # Dense, Sparse, DelayDense, two weight parts, recurrent: spikes and every v identical.
    net = random_network(seed)
    dep = mapping.compile(net, "loihi2-sim-fixed", weight_parts=parts, calibrate_steps=0, compensate=False)
    probes = {"a": ["u", "v"], "b": ["u", "v"]}
    lava = mapping.run(dep, STEPS, probes=probes)
    model = simulate_fixed(net, dep.quantized, STEPS, probes=probes)
    for pop in ("a", "b"):
        assert model.spikes[pop].steps.size > 0
        np.testing.assert_array_equal(model.raster(pop), lava.raster(pop))
        scale = dep.quantized.populations[pop].scale
        for var in ("u", "v"):
            np.testing.assert_array_equal(np.round(model.traces[pop][var] * scale),
                                          np.round(lava.traces[pop][var] * scale))
    # (the plain rule's worst-case bounds have no v bound: seeds 3 and 5 clip v at -2**23 + 1, as Lava does)
    counts = overflow_total(model)
    assert counts["u_wrapped"] == 0 and counts["a_in_over_16_bit"] == 0


def test_integer_model_is_bit_exact_to_lava_on_the_chosen_default():
    # The small job of issue 17 with the default compile (chosen scale, decays and compensation).
    net = make_fixed_point_job(0, n_in=100, n_out=200, steps=200)
    dep = mapping.compile(net, "loihi2-sim-fixed")
    assert len(dep.report["calibration"]["candidates"]) >= 4
    lava = mapping.run(dep, 200, probes={"out": ["v"]})
    model = simulate_fixed(net, dep.quantized, 200, probes={"out": ["v"]})
    assert lava.spikes["out"].steps.size > 300
    np.testing.assert_array_equal(model.raster("out"), lava.raster("out"))
    scale = dep.quantized.populations["out"].scale
    np.testing.assert_array_equal(np.round(model.traces["out"]["v"] * scale), np.round(lava.traces["out"]["v"] * scale))


def test_integer_model_counts_overflow():
    # 400 strong inputs at once overflow the 16-bit input and wrap u; the model counts what Lava does not say.
    n = 400
    net = Network(sources=[SpikeSource("s", n, indices=np.arange(n), steps=np.zeros(n, int))],
                  populations=[Population("p", 1, du=0.01, dv=0.5, vth=1.0)],
                  projections=[Projection("sp", "s", "p", np.full((1, n), 200.0))])
    q = qz.quantize(net)
    got = simulate_fixed(net, q, 5)
    counts = overflow_total(got)
    assert counts["a_in_over_16_bit"] == 1
    assert got.info["overflow"]["p"]["a_in_over_16_bit"] == 1
    with pytest.raises(ValueError, match="simulate_fixed: the quantized network has no integers for q"):
        simulate_fixed(Network(populations=[Population("q", 1, du=0.5, dv=0.5, vth=1.0)]), q, 5)


def test_fast_agreement_equals_compare_spikes():
    rng = np.random.default_rng(1)
    for _ in range(100):
        steps, n = int(rng.integers(1, 30)), int(rng.integers(1, 6))
        ra, rb = rng.random((steps, n)) < rng.uniform(0, 0.8), rng.random((steps, n)) < rng.uniform(0, 0.8)

        def result(r):
            return SimulationResult(steps=steps, dt=1 * ms, sizes={"p": n}, populations=["p"],
                                    spikes={"p": Spikes.from_raster(r)})

        a, b = result(ra), result(rb)
        c0, c1 = compare_spikes(a, b, "p"), compare_spikes(a, b, "p", tolerance_steps=1)
        got = agreement(a, b, ["p"])
        assert got["spikes"] == max(c0["n_a"], c0["n_b"])
        assert matched_within_one(ra, rb) == c1["within_tolerance"]
        if got["spikes"]:
            assert got["exact"] * got["spikes"] == pytest.approx(c0["exact"])
            assert got["within_1"] == pytest.approx(c1["agreement"])


# ------------------------------------------------------------------ gain compensation (analytic)
@pytest.mark.parametrize("du,dv", [(0.1, 0.1), (0.2, 0.05), (0.37, 0.0123), (1.0, 0.5), (0.5, 1.0), (0.0, 0.3)])
def test_compensated_steady_state_gain_equals_the_float_one(du, dv):
    # Constant input x and bias b: float u* = x / du, v* = (u* + b) / dv. The rounded decays hold
    # u' = x / du', v' = (u' + lam b) / dv'; compensated, v' = kappa v* exactly (and the threshold is kappa vth).
    for du_int, dv_int in qz.decay_candidates(du, dv):
        kappa, lam = qz.gain_compensation(du, dv, du_int, dv_int)
        du_eff, dv_eff = (du_int + 1) / 4096, dv_int / 4096
        x, b = 0.37, 0.05
        if du == 0:
            assert lam == 1.0  # an integrator cannot be compensated
            continue
        u_float, u_chip = x / du, x / du_eff
        assert u_chip == pytest.approx(lam * u_float, rel=1e-12)
        if dv_eff > 0:
            assert (u_chip + lam * b) / dv_eff == pytest.approx(kappa * (u_float + b) / dv, rel=1e-12)


def test_quantized_threshold_carries_the_gain_within_its_bound(random_network):
    # The deployed integers: vth_eff / (du' dv') against vth / (du dv), i.e. the threshold in units of the
    # steady-state gain; equal within half a threshold mantissa step (the stated target_error_bound).
    for seed in range(6):
        net = random_network(seed)
        for du_dv in (None, "other"):
            choices = {}
            for pop in net.populations:
                pairs = qz.decay_candidates(pop.du, pop.dv)
                du_int, dv_int = pairs[-1] if du_dv else pairs[0]
                choices[pop.name] = qz.ScaleChoice(du_int=du_int, dv_int=dv_int, compensate=True)
            q = qz.quantize(net, choices=choices)
            for pop in net.populations:
                r = q.report["populations"][pop.name]
                d = q.populations[pop.name].dequantized()
                assert r["vth"]["target_error"] <= r["vth"]["target_error_bound"] * (1 + 1e-9)
                ratio = (d["vth"] * d["du"] * d["dv"]) / (pop.vth * pop.du * pop.dv)
                assert abs(ratio - 1) <= r["vth"]["target_error_bound"] / r["vth"]["target"] * (1 + 1e-9) + 1e-15
                # bias follows u's gain: bias_eff du' / du == bias within the bias rounding bound (scaled alike)
                bias = np.broadcast_to(pop.bias, (pop.size,))
                err = np.abs(d["bias"] * d["du"] / pop.du - bias)
                assert err.max() <= r["bias"]["error_bound"] * d["du"] / pop.du * (1 + 1e-9) + 1e-15


def test_compensated_integer_model_reaches_the_float_steady_state():
    # A constant bias drives u = 0 and v to bias / dv in float; the compensated chip holds kappa times that,
    # within the truncation of the decay (at most 1 / dv' state units below).
    pop = Population("p", 1, du=0.1, dv=0.1, vth=1000.0, bias=1.0)
    net = Network(populations=[pop])
    du_int, dv_int = 408, 410
    q = qz.quantize(net, choices={"p": qz.ScaleChoice(scale=1024.0, du_int=du_int, dv_int=dv_int,
                                                      compensate=True)})
    kappa, lam = qz.gain_compensation(0.1, 0.1, du_int, dv_int)
    got = simulate_fixed(net, q, 400, probes={"p": ["v"]})
    v_int = got.traces["p"]["v"][-1, 0] * 1024.0
    bias_int = float(q.populations["p"].bias_mant[0] << q.populations["p"].bias_exp[0])
    assert bias_int == pytest.approx(lam * 1024.0, abs=0.5 * 2 ** q.populations["p"].bias_exp[0])
    target = kappa * 1.0 / 0.1 * 1024.0  # kappa * float steady state, in integers
    assert target - 4096 / dv_int - abs(bias_int - lam * 1024.0) / (dv_int / 4096) - 1 <= v_int <= target + 1


def test_decay_candidates_are_the_neighbours_nearest_first():
    assert qz.decay_candidates(0.1, 0.1) == [(409, 410), (409, 409), (408, 410), (408, 409)]
    assert qz.decay_candidates(0.5, 0.25) == [(2047, 1024)]  # on the grid: one pair
    assert qz.decay_candidates(1.0, 1.0) == [(4095, 4095)]
    assert qz.decay_candidates(0.0, 0.0) == [(0, 0)]


# ------------------------------------------------------------------ choices and the measured choice
def test_exact_scale_finds_the_power_of_two_grid_of_integer_weights():
    net = make_fixed_point_job(0, n_in=100, n_out=200, steps=100)
    pop, w = net.populations[0], net.projections[0].weights
    s = exact_scale(pop, {"in_out": w}, 2 ** 23 / pop.vth, floor=1.0)
    assert s == 2.0 ** np.floor(np.log2(2 ** 23 / pop.vth))
    assert qz.quantize_weights("w", w, s)[1]["max_abs_error"] == 0.0
    generic = np.random.default_rng(0).normal(0.1, 0.2, (3, 4))
    assert exact_scale(Population("g", 3, du=0.1, dv=0.1, vth=1.0), {"w": generic}, 2.0 ** 20, floor=1.0) is None


def test_chosen_scale_and_unknown_populations_give_clear_errors(random_network):
    net = random_network(0)
    with pytest.raises(ValueError, match="choices name populations that network 'random0' does not have: zz"):
        qz.quantize(net, choices={"zz": qz.ScaleChoice()})
    with pytest.raises(qz.QuantizationError, match=r"Population 'a': the chosen scale 1e\+12 is above the "
                                                   r"largest that .* allows"):
        qz.quantize(net, choices={"a": qz.ScaleChoice(scale=1e12)})
    with pytest.raises(ValueError, match=r"choose: steps should be an integer >= 1 \(the calibration run\), got 0"):
        choose(net, steps=0)
    with pytest.raises(ValueError, match=r"choose: weight_parts should be a sequence of 1 and/or 2, got \(3,\)"):
        choose(net, weight_parts=(3,))
    with pytest.raises(ValueError, match="compile: weight_parts should be 1, 2 or None"):
        mapping.compile(net, "loihi2-sim-fixed", weight_parts=3, wire=False)
    with pytest.raises(ValueError, match="compile: compensate should be True, False or None"):
        mapping.compile(net, "loihi2-sim-fixed", compensate="yes", wire=False)


def test_the_choice_is_the_best_measured_candidate_and_the_report_says_why(random_network):
    net = random_network(2)
    q, rep = choose(net, steps=150)
    rows = [r for r in rep["candidates"] if "error" not in r]
    assert len(rows) >= 4 and rep["steps"] == 150
    best = max(r["score"] for r in rows)
    assert rep["chosen_agreement"]["score"] == best
    assert rep["chosen"] == next(r["label"] for r in rows if r["score"] == best)  # first of the ties
    assert rep["why"].startswith("best agreement with the float reference on the calibration run (150 steps)")
    assert "note" not in rep  # the sources (120 steps) end within the run
    late = choose(net, steps=60)[1]
    assert late["note"].endswith("calibrate_steps= covering the inputs avoids this")
    assert late["note"].startswith(f"{int(sum(np.count_nonzero(s.steps >= 60) for s in net.sources))} of ")
    # the chosen integers are what was measured: the integer model on the calibration run gives the score
    ref = reference.simulate(net, 150)
    assert agreement(ref, simulate_fixed(net, q, 150), net.population_names)["score"] == best


def test_explicit_options_override_the_choice(random_network):
    net = random_network(3)
    dep = mapping.compile(net, "loihi2-sim-fixed", weight_parts=1, wire=False)
    assert {r["weight_parts"] for r in dep.report["calibration"]["candidates"]} == {1}
    assert all(q.residual is None for q in dep.quantized.projections.values())
    dep = mapping.compile(net, "loihi2-sim-fixed", compensate=False, wire=False)
    for pop in net.populations:
        r = dep.report["quantization"]["populations"][pop.name]
        assert not r["gain_compensation"]["applied"]
        assert (r["du"]["du_int"], r["dv"]["dv_int"]) == qz.quantize_decays(pop.du, pop.dv)
        assert r["vth"]["abs_error"] <= 1e-12 * pop.vth
    dep = mapping.compile(net, "loihi2-sim-fixed", vth_bits=16, weight_parts=1, compensate=False, wire=False)
    ref_q = qz.quantize(net, vth_bits=16, calibration=reference.simulate(net, 200, {"a": ["u", "v"],
                                                                                      "b": ["u", "v"]}))
    for pop in ("a", "b"):
        assert dep.quantized.populations[pop].scale == ref_q.populations[pop].scale
    plain = mapping.compile(net, "loihi2-sim-fixed", calibrate_steps=0, weight_parts=1, compensate=False,
                            wire=False)
    old = qz.quantize(net)  # the plain quantization of earlier versions
    for pop in ("a", "b"):
        assert plain.quantized.populations[pop].scale == old.populations[pop].scale
        assert plain.quantized.populations[pop].vth_mant == old.populations[pop].vth_mant
    assert plain.report["calibration"]["steps"] == 0


def test_two_parts_are_dropped_when_they_do_not_fit():
    from mapping.placement import PlacementError

    # One neuron with 150,000 dense inputs: 1.2 Mbit of 8-bit weights fit a 192 KB Loihi 2 core, twice that does not.
    n = 150_000
    rng = np.random.default_rng(0)
    net = Network(sources=[SpikeSource("s", n, indices=rng.integers(0, n, 300), steps=np.repeat(np.arange(30), 10))],
                  populations=[Population("p", 1, du=0.1, dv=0.1, vth=1.0)],
                  projections=[Projection("sp", "s", "p", rng.normal(0.01, 0.02, (1, n)))])
    with pytest.raises(PlacementError, match="more than the 192 KB per core of loihi2"):
        mapping.compile(net, "loihi2-sim-fixed", weight_parts=2, calibrate_steps=30, wire=False)
    dep = mapping.compile(net, "loihi2-sim-fixed", calibrate_steps=30, wire=False)
    assert dep.report["calibration"]["two_parts"].startswith("two weight parts do not fit loihi2")
    assert {r["weight_parts"] for r in dep.report["calibration"]["candidates"]} == {1}
