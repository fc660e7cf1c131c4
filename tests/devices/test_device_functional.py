"""Pure step functions against closed forms."""
import numpy as np
import pytest
from brian2 import nS, second

from neurochip.devices import DeviceArray, LinearDevice, PCMDevice, SoftBoundedDevice, presets
from neurochip.devices import functional as F

# NeuroSim's table of normalized A against the nonlinearity label
# (MLP_NeuroSim_V3.0, formula.cpp getParamA / documents/Nonlinearity-NormA.htm).
NEUROSIM_A = {0.01: 126.268958, 1.0: 1.251653, 1.51: 0.8195, 3.01: 0.3853, 4.51: 0.2266, 6.01: 0.1351,
              7.51: 0.0702}


@pytest.mark.parametrize("nl", sorted(NEUROSIM_A))
def test_nonlinearity_label_reproduces_neurosim_table(nl):
    assert F.nonlinearity_to_a(nl) == pytest.approx(NEUROSIM_A[nl], rel=1e-3)
    assert F.nonlinearity_to_a(-nl) == pytest.approx(-NEUROSIM_A[nl], rel=1e-3)


def test_zero_nonlinearity_is_linear():
    assert F.nonlinearity_to_a(0.0) == F.A_LINEAR
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(F.curve(x, F.A_LINEAR), x, atol=1e-8)


def test_curve_and_inverse_are_inverse():
    x = np.linspace(0, 1, 101)
    for a in (0.05, 0.4, 3.0, -0.2, -2.0, F.A_LINEAR):
        np.testing.assert_allclose(F.inverse_curve(F.curve(x, a), a), x, atol=1e-9)


def test_linear_device_after_k_pulses_is_analytic():
    dev = LinearDevice(g_min=1 * nS, g_max=11 * nS, n_levels=11)
    devs = DeviceArray(dev, 1)
    for k in range(1, 15):
        devs.program(1)
        assert devs.read()[0] == pytest.approx(min(1 + k, 11) * 1e-9, rel=1e-9)
    for k in range(1, 4):
        devs.program(-1)
        assert devs.read()[0] == pytest.approx((11 - k) * 1e-9, rel=1e-9)


def test_nonlinear_device_follows_closed_form():
    """G(P) = B (1 - exp(-P/A)) + Gmin with A = a (L-1), B = (Gmax - Gmin)/(1 - exp(-(L-1)/A))."""
    dev = presets.ag_a_si(c2c_sigma=0.0)
    gmin, gmax = 3.08e-9, 38.46e-9
    devs = DeviceArray(dev, 1)
    A = F.nonlinearity_to_a(2.4) * 96
    B = (gmax - gmin) / (1 - np.exp(-96 / A))
    for p in range(1, 97):
        devs.program(1)
        assert devs.read()[0] == pytest.approx(B * (1 - np.exp(-p / A)) + gmin, rel=1e-9)
    # depression from Gmax follows the mirrored curve with A_d < 0, P counted down from L_d - 1 = 99
    Ad = F.nonlinearity_to_a(-4.88) * 99
    Bd = (gmax - gmin) / (1 - np.exp(-99 / Ad))
    for q in range(1, 100):
        devs.program(-1)
        assert devs.read()[0] == pytest.approx(Bd * (1 - np.exp(-(99 - q) / Ad)) + gmin, rel=1e-9, abs=1e-18)
    # saturating potentiation: big first step; mirrored depression: big first step down from Gmax
    assert devs.read()[0] == pytest.approx(gmin)


def test_drift_follows_power_law():
    dev = PCMDevice(g_min=0 * nS, g_max=25000 * nS, n_levels=64, drift_nu=0.05, drift_t0=20 * second)
    devs = DeviceArray(dev, 5)
    devs.program(40)
    g0 = devs.read()
    for t in (1.0, 20.0, 200.0, 2e4, 2e7):
        expected = g0 * (max(t, 20.0) / 20.0) ** -0.05
        np.testing.assert_allclose(devs.read(t=t * second), expected, rtol=1e-12)
    # drift counts from the last programming event
    devs.program(1, t=1000 * second)
    np.testing.assert_allclose(devs.read(t=1020 * second), devs.read(), rtol=1e-12)


def _random_trains(rng, n_dev, steps):
    return rng.integers(-7, 8, (steps, n_dev)) * (rng.random((steps, n_dev)) < 0.7)


@pytest.mark.parametrize("preset", ["ideal", "ag_a_si", "pcm"])
def test_conductance_stays_within_each_devices_bounds(preset):
    dev = presets.get(preset, sigma_g_min=0.3, sigma_g_max=0.3, sigma_nonlinearity=1.0 if preset == "ag_a_si" else 0,
                      c2c_sigma=0.05, stuck_at_min=0.05, stuck_at_max=0.05, seed=2)
    rng = np.random.default_rng(0)
    devs = DeviceArray(dev, 2000)
    for pulses in _random_trains(rng, 2000, 60):
        devs.program(pulses)
        g = devs.state.g
        assert np.all(g >= devs.arrays.g_min) and np.all(g <= devs.arrays.g_max)
    stuck = devs.arrays.stuck
    np.testing.assert_array_equal(devs.state.g[stuck == F.STUCK_MIN], devs.arrays.g_min[stuck == F.STUCK_MIN])
    np.testing.assert_array_equal(devs.state.g[stuck == F.STUCK_MAX], devs.arrays.g_max[stuck == F.STUCK_MAX])


@pytest.mark.parametrize("n_levels", [2, 5, 16, 97])
def test_exactly_the_configured_number_of_levels_is_reachable(n_levels):
    """A shared curve (linear, or the same a both ways): any pulse train visits exactly n_levels values."""
    rng = np.random.default_rng(n_levels)
    for dev in (LinearDevice(g_min=1 * nS, g_max=9 * nS, n_levels=n_levels),
                SoftBoundedDevice(g_min=1 * nS, g_max=9 * nS, n_levels=n_levels, nonlinearity_p=3.0,
                                  nonlinearity_d=3.0)):
        devs = DeviceArray(dev, 200)
        seen = {float(g) for g in devs.state.g}
        for pulses in _random_trains(rng, 200, 300):
            devs.program(pulses)
            seen.update(devs.state.g.tolist())
        grid = dev.levels("p") / nS * 1e-9
        assert len(seen) == n_levels
        np.testing.assert_allclose(sorted(seen), grid, rtol=1e-12)


def test_asymmetric_device_levels_per_direction():
    """Ag:a-Si: potentiation-only from Gmin visits 97 values, depression-only from Gmax 100."""
    dev = presets.ag_a_si(c2c_sigma=0.0)
    devs = DeviceArray(dev, 1)
    seen = {devs.read()[0]}
    for _ in range(150):
        devs.program(1)
        seen.add(devs.read()[0])
    assert len(seen) == 97
    seen = {devs.read()[0]}
    for _ in range(150):
        devs.program(-1)
        seen.add(devs.read()[0])
    assert len(seen) == 100


def test_pulses_never_move_a_noise_free_device_the_wrong_way():
    dev = presets.ag_a_si(c2c_sigma=0.0, sigma_nonlinearity=1.0, seed=4)
    rng = np.random.default_rng(3)
    devs = DeviceArray(dev, 500)
    for pulses in _random_trains(rng, 500, 80):
        before = devs.state.g.copy()
        devs.program(pulses)
        assert np.all(devs.state.g[pulses > 0] >= before[pulses > 0])
        assert np.all(devs.state.g[pulses < 0] <= before[pulses < 0])


def test_cycle_to_cycle_noise_has_configured_spread():
    dev = presets.ideal(c2c_sigma=0.02, seed=9)
    devs = DeviceArray(dev, 10_000)
    devs.program(16)  # from Gmin, 16 pulses: sd = 0.02 * range * sqrt(16)
    span = dev.g_max_s - dev.g_min_s
    mean = dev.g_min_s + 16 / 63 * span
    sd = np.std(devs.state.g) / span
    assert sd == pytest.approx(0.02 * 4, rel=0.03)
    assert np.mean(devs.state.g) == pytest.approx(mean, abs=4 * 0.08 * span / 100)


def test_read_noise_has_configured_spread_and_same_seed_same_output():
    dev = presets.ideal(read_sigma=0.05, seed=1)
    devs = DeviceArray(dev, 10_000)
    devs.program(63)
    r = devs.read() / devs.state.g - 1
    assert np.std(r) == pytest.approx(0.05, rel=0.03)
    np.testing.assert_array_equal(devs.read(noise=False), devs.state.g)
    first, second_ = DeviceArray(dev, 100), DeviceArray(dev, 100)
    first.program(63)
    second_.program(63)
    np.testing.assert_array_equal(first.read(), second_.read())
    assert not np.array_equal(first.read(), first.read())  # a new draw per read


def test_program_needs_rng_for_noise():
    arrays = presets.ideal().nominal(3)
    with pytest.raises(ValueError, match="needs a random generator"):
        F.program(F.initial_state(arrays), 1, arrays, F.PulseParams(64, 64, 0.1), None)
