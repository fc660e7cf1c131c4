"""Weight mapping: quantization to levels, realized weights, errors, snapshot for the Lava mapper."""
import numpy as np
import pytest
from brian2 import nS, second

from neurochip.devices import (LinearDevice, conductances_to_weights, map_weights, mapping_error, presets,
                               weights_to_conductances)
from neurochip.devices import functional as F


def test_mapping_error_values():
    assert mapping_error([0, 1, 2], [0, 1, 2]) == {"max": 0.0, "rms": 0.0}
    e = mapping_error([0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 1.0, 3.0])
    assert e["max"] == 3.0 and e["rms"] == pytest.approx(np.sqrt(12 / 4))
    with pytest.raises(ValueError, match="shapes differ"):
        mapping_error([1, 2], [1])


def test_linear_quantization_is_round_to_nearest_level():
    dev = LinearDevice(g_min=1 * nS, g_max=11 * nS, n_levels=11)
    w = np.array([-1.0, -0.54, -0.05, 0.0, 0.04, 0.26, 0.37, 1.0])
    gp, gm, npl, nmi, k = weights_to_conductances(dev, w)
    assert k == pytest.approx(1.0 / 10e-9)
    back = conductances_to_weights(gp, gm, k)
    np.testing.assert_allclose(back, np.round(w * 10) / 10, atol=1e-12)
    np.testing.assert_array_equal(npl - nmi, np.round(w * 10).astype(int))
    assert np.all((gp == 1e-9) | (gm == 1e-9))  # one device of each pair at g_min


def test_quantization_error_bounded_by_half_the_largest_step():
    dev = presets.ag_a_si(c2c_sigma=0.0)
    w = np.random.default_rng(0).uniform(-2, 2, 5000)
    m = map_weights(dev, w)
    steps = np.diff(dev.levels("p") / nS) * 1e-9
    k = m.k
    assert m.quantization_error["max"] <= k * steps.max() / 2 * (1 + 1e-9)
    assert m.quantization_error["rms"] > 0
    # nominal devices, no noise: realized == quantized
    np.testing.assert_allclose(m.weights_realized, m.weights_quantized, atol=1e-12)
    assert m.error == pytest.approx(m.quantization_error)


def test_more_levels_smaller_error():
    w = np.random.default_rng(1).uniform(-1, 1, 2000)
    errs = [map_weights(presets.ideal(n_levels=n), w).error["rms"] for n in (4, 16, 64, 256)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    # uniform quantization of a uniform weight: rms = step / sqrt(12), step = 1/(n-1)
    assert errs[-1] == pytest.approx(1 / 255 / np.sqrt(12), rel=0.1)


def test_stuck_devices_and_variability_raise_error_and_write_verify_reduces_it():
    w = np.random.default_rng(2).uniform(-1, 1, 4000)
    clean = map_weights(presets.ideal(), w).error["rms"]
    stuck = map_weights(presets.ideal(stuck_at_max=0.05), w)
    assert stuck.error["rms"] > 5 * clean
    # a stuck-at-max G+ gives weight k (g_max_i - G-): with w's sign irrelevant
    idx = stuck.arrays_plus.stuck == F.STUCK_MAX
    np.testing.assert_allclose(stuck.g_plus[idx], stuck.arrays_plus.g_max[idx])
    open_loop = map_weights(presets.ag_a_si(c2c_sigma=0, sigma_g_max=0.2, sigma_g_min=0.2), w).error["rms"]
    verified = map_weights(presets.ag_a_si(c2c_sigma=0, sigma_g_max=0.2, sigma_g_min=0.2, write_verify=True),
                           w).error["rms"]
    assert verified < open_loop


def test_snapshot_weights_shape_seed_and_drift():
    W = np.random.default_rng(3).uniform(-1, 1, (5, 7))
    dev = presets.pcm(seed=1)
    a = dev.snapshot_weights(W)
    assert a.shape == W.shape
    np.testing.assert_array_equal(a, dev.snapshot_weights(W))  # same seed, same output
    assert not np.array_equal(a, dev.snapshot_weights(W, random_state=2))
    assert mapping_error(W, a)["max"] < 0.25
    late = dev.snapshot_weights(W, t=20 * 1e6 * second)  # (1e6)^-0.05 ~ 0.5
    ratio = np.sum(np.abs(late)) / np.sum(np.abs(a))
    assert 0.4 < ratio < 0.65
    noisy = dev.snapshot_weights(W, read_noise=True)
    assert not np.array_equal(noisy, a)
    with pytest.raises(ValueError, match="weights should be 2-D"):
        dev.snapshot_weights(np.ones(3))


def test_snapshot_ideal_device_recovers_weights_on_the_grid():
    dev = presets.ideal()
    W = np.round(np.random.default_rng(4).uniform(-63, 63, (4, 6))) / 63
    W[0, 0] = 1.0
    np.testing.assert_allclose(dev.snapshot_weights(W), W, atol=1e-12)


def test_bad_weights():
    with pytest.raises(ValueError, match="non-finite"):
        map_weights(presets.ideal(), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="k should be > 0"):
        weights_to_conductances(presets.ideal(), np.ones(2), k=-1.0)


def test_open_loop_writes_accumulate_cycle_to_cycle_noise_write_verify_does_not():
    w = np.random.default_rng(5).uniform(0, 1, 4000)
    dev = presets.ag_a_si()  # c2c 3.5 % of the range per pulse
    open_loop = map_weights(dev, w)
    verified = map_weights(dev.replace(write_verify=True), w)
    # open loop: sd of G+ around its level = 0.035 * range * sqrt(pulses)
    span = dev.g_max_s - dev.g_min_s
    n = open_loop.pulses_plus
    mid = (n > 20) & (n < 60)  # away from the clipping bounds
    resid = (open_loop.g_plus - F.levels(dev.g_min_s, dev.g_max_s, dev.a_p, 97)[n])[mid] / (span * np.sqrt(n[mid]))
    assert np.std(resid) == pytest.approx(0.035, rel=0.1)
    assert verified.error["rms"] < open_loop.error["rms"] / 5
    np.testing.assert_allclose(verified.weights_realized, verified.weights_quantized, atol=1e-12)


def test_snapshot_time_needs_units():
    from brian2 import DimensionMismatchError
    with pytest.raises(DimensionMismatchError, match="t should have units"):
        presets.pcm().snapshot_weights(np.ones((2, 2)), t=100.0)
