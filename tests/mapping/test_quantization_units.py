"""The pure functions of mapping.quantization, one quantity each, against hand-computed values."""
import numpy as np
import pytest
import scipy.sparse as sp

from mapping import quantization as qz
from mapping.quantization import QuantizationError
from neurochip import Population, Projection


def test_decays_are_12_bit_with_loihis_plus_one_on_du():
    assert qz.quantize_decays(0.5, 0.25) == (2047, 1024)  # du: 2048 - 1, dv: 0.25 * 4096
    assert qz.quantize_decays(1.0, 1.0) == (4095, 4095)  # clipped: dv = 1 becomes 4095 / 4096
    assert qz.quantize_decays(0.0, 0.0) == (0, 0)  # du = 0 becomes 1 / 4096
    rep = qz.decay_report(0.0, 1.0, 0, 4095)
    assert rep["du"] == {"float": 0.0, "du_int": 0, "effective": 1 / 4096, "abs_error": 1 / 4096,
                         "error_bound": 1 / 4096}
    assert rep["dv"]["dv_int"] == 4095 and rep["dv"]["abs_error"] == rep["dv"]["error_bound"] == 1 / 4096
    assert qz.decay_report(0.3, 0.3, *qz.quantize_decays(0.3, 0.3))["du"]["error_bound"] == 0.5 / 4096


def test_hard_limits_name_each_quantity_with_its_largest_scale():
    pop = Population("p", 2, du=0.5, dv=0.5, vth=2.0, bias=[0.0, -0.5], v_init=[0.25, 0.0])
    limits = qz.hard_scale_limits(pop, {"a": np.array([[1.0, -0.5], [0.0, 0.0]]), "b": np.zeros((2, 3))},
                                  vth_bits=20)
    assert limits["threshold"] == 2 ** 20 / 2.0
    assert limits["vth_mant"] == (2 ** 17 - 1) * 64 / 2.0
    assert limits["bias"] == 4095 * 2 ** 7 / 0.5
    assert limits["initial state"] == (2 ** 23 - 1) / 0.25
    assert limits["weights of 'a'"] == min(64 * 128 * 2 * 127 / 1.0, 64 * 128 * 2 * 128 / 0.5)  # mixed signs
    assert limits["weights of 'b'"] == np.inf  # all zero: no limit


def test_hard_scale_is_the_smallest_limit_and_fails_below_the_floor():
    assert qz.hard_scale("P", 1.0, {"threshold": 2.0 ** 20, "bias": 2.0 ** 15}, min_vth_bits=12) == (2.0 ** 15,
                                                                                                      "bias")
    with pytest.raises(QuantizationError, match=r"P: bias cannot be represented next to threshold 1: it needs an "
                                                r"effective threshold below 2\*\*12 \(by a factor 16\)"):
        qz.hard_scale("P", 1.0, {"threshold": 2.0 ** 20, "bias": 2.0 ** 8}, min_vth_bits=12)


def test_soft_limits_lower_the_scale_down_to_the_floor_and_report_the_risk():
    assert qz.soft_scale_limits(0.0, 0.0, 0.0) == {}
    soft = qz.soft_scale_limits(0.5, 16.0, 0.0)
    assert soft == {"16-bit input per step": (2 ** 15 - 1) * 64 / 0.5, "24-bit current u": (2 ** 23 - 1) / 16.0}
    scale, by, risks = qz.apply_soft_limits(2.0 ** 20, "threshold", soft, vth=1.0, min_vth_bits=12)
    assert (scale, by, risks) == ((2 ** 23 - 1) / 16.0, "24-bit current u", [])  # the input limit is above 2**20
    scale, by, risks = qz.apply_soft_limits(2.0 ** 20, "threshold", {"24-bit current u": 2.0 ** 10}, vth=1.0,
                                            min_vth_bits=12)
    assert scale == 2.0 ** 12 and by == "24-bit current u (floor 2**12)"
    assert risks == ["24-bit current u: overflows if more than 25.0 % of the worst-case input arrives in one "
                     "step / accumulates"]


def test_the_threshold_is_made_exact():
    vth_mant, scale = qz.exact_threshold(1000.3, 0.7)
    assert vth_mant == int(np.floor(1000.3 * 0.7 / 64)) == 10
    assert 64 * vth_mant / scale == pytest.approx(0.7, rel=1e-15)
    assert qz.exact_threshold(1.0, 1.0)[0] == 1  # at least one mantissa step


def test_bias_takes_the_smallest_exponent_that_fits_13_bits():
    mant, exp = qz.quantize_bias("P", np.array([0.0, 4095.0, 4096.0, -4097.0, 100000.0]), 1.0)
    np.testing.assert_array_equal(exp, [0, 0, 1, 1, 5])
    np.testing.assert_array_equal(mant, [0, 4095, 2048, -2048, 3125])  # -4097 / 2 rounds to the even -2048
    with pytest.raises(QuantizationError, match=r"P: bias up to 1e\+06 does not fit 13-bit mantissa with "
                                                r"exponent <= 7 at scale 1"):
        qz.quantize_bias("P", np.array([1e6]), 1.0)


def test_state_is_rounded_per_neuron():
    np.testing.assert_array_equal(qz.quantize_state(0.5, 3.0, 2), [2, 2])  # 1.5 rounds to even
    np.testing.assert_array_equal(qz.quantize_state([0.1, -0.2], 100.0, 2), [10, -20])
    assert qz.quantize_state(0.1, 100.0, 3).dtype == np.int64


def test_state_bounds_worst_case_and_calibrated():
    assert qz.state_bounds(3.0, 0.25, None) == ("worst case (every pre neuron spiking in one step)", 3.0, 12.0, 0.0)
    assert qz.state_bounds(0.0, 0.25, None)[1:] == (0.0, 0.0, 0.0)
    label, i, u, v = qz.state_bounds(3.0, 0.25, {"input": 1.0, "u": 2.0, "v": 0.5}, steps=40, margin=1.5)
    assert (label, i, u, v) == ("calibrated (40 steps, margin 1.5)", 1.5, 3.0, 0.75)


def test_weight_format_picks_sign_mode_and_exponent():
    # excitatory: need = 1.0 * 2**14 / 64 / 255 = 1.004 -> exponent 1
    assert qz.weight_format(1.0, 0.0, 2.0 ** 14)[:3] == ("excitatory", 0, 1)
    assert qz.weight_format(0.0, 1.0, 2.0 ** 14)[:3] == ("inhibitory", 0, 1)
    assert qz.weight_format(0.5, 1.0, 2.0 ** 14)[:3] == ("mixed", 1, 0)  # 1.0 * 2**14 / 64 / 256 = 1
    assert qz.weight_format(1e-9, 0.0, 1.0)[2] == -8  # clipped to the smallest exponent
    assert qz.weight_format(0.0, 0.0, 1.0)[2:] == (0, 0.0)


def test_sparse_weights_with_explicit_zeros_quantize_in_two_parts():
    # A device snapshot can store exact zeros; adding the residual part drops them from the sum.
    w = sp.csr_matrix((np.array([0.3, 0.0, 0.2, 0.17]), np.array([0, 1, 2, 1]), np.array([0, 3, 4])), shape=(2, 3))
    q, rep = qz.quantize_weights("p", w, 997.0, parts=2)
    err = np.abs((q.effective_weights() - w).toarray()).max()
    assert rep["max_abs_error"] == pytest.approx(err) and err <= rep["error_bound"] * (1 + 1e-9)
    assert rep["zeroed"] == 0 and len(q.parts()) == 2


def test_input_error_bound_adds_weight_bounds_and_floored_parts():
    projs = [Projection("a", "s", "p", np.full((1, 4), 0.1)), Projection("b", "t", "p", np.full((1, 2), 0.1))]
    reports = {"a": {"error_bound": 0.01}, "b": {"error_bound": 0.02}}
    quantized = {"a": qz.QuantizedProjection("a", np.zeros((1, 4), np.int64), -2, "excitatory", 64.0),
                 "b": qz.QuantizedProjection("b", np.zeros((1, 2), np.int64), 3, "excitatory", 64.0)}
    # 0.01 * 4 + 0.02 * 2, plus one a_in unit (64 / 64) for the negative exponent of 'a'
    assert qz.input_error_bound(projs, reports, quantized, 64.0) == pytest.approx(0.08 + 1.0)
