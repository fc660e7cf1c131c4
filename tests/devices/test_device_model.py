"""Device models: validation, serialization, seeded variability statistics."""
import json

import numpy as np
import pytest
from brian2 import DimensionMismatchError, Hz, ms, nS, second, uS

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.devices import DeviceModel, LinearDevice, PCMDevice, SoftBoundedDevice, presets
from neurochip.devices import functional as F

N = 10_000


def base(**kw):
    params = dict(g_min=1 * nS, g_max=10 * nS, n_levels=32)
    params.update(kw)
    return SoftBoundedDevice(**params)


@pytest.mark.parametrize("kw, match", [
    (dict(g_min=10 * nS, g_max=10 * nS), "g_min should be < g_max"),
    (dict(g_min=20 * nS), "g_min should be < g_max"),
    (dict(g_min=-1 * nS), "g_min should be >= 0"),
    (dict(n_levels=-3), "n_levels should be >= 2"),
    (dict(n_levels=1), "n_levels should be >= 2"),
    (dict(n_levels=2.5), "n_levels should be an integer"),
    (dict(n_levels_d=0), "n_levels_d should be >= 2"),
    (dict(sigma_g_min=-0.1), "sigma_g_min should be >= 0"),
    (dict(sigma_g_max=-0.1), "sigma_g_max should be >= 0"),
    (dict(sigma_nonlinearity=-1), "sigma_nonlinearity should be >= 0"),
    (dict(c2c_sigma=-0.01), "c2c_sigma should be >= 0"),
    (dict(read_sigma=-0.01), "read_sigma should be >= 0"),
    (dict(drift_nu=-0.05), "drift_nu should be >= 0"),
    (dict(stuck_at_min=1.5), r"stuck_at_min should be <= 1.0"),
    (dict(stuck_at_max=-0.1), r"stuck_at_max should be >= 0.0"),
    (dict(stuck_at_min=0.6, stuck_at_max=0.6), r"stuck_at_min \+ stuck_at_max should be <= 1"),
    (dict(nonlinearity_p=12), r"nonlinearity_p should be <= 9.0"),
    (dict(d2d_distribution="uniform"), "d2d_distribution should be one of lognormal, normal"),
    (dict(update_scheme="both"), "update_scheme should be one of pair, set_only"),
    (dict(write_verify="yes"), "write_verify should be True or False"),
    (dict(seed=-1), "seed should be >= 0"),
    (dict(drift_t0=0 * second), "drift_t0 should be > 0"),
])
def test_invalid_parameters_give_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        base(**kw)


@pytest.mark.parametrize("kw, match", [
    (dict(g_min=1 * ms), "g_min should have units"),
    (dict(g_max=10.0), "g_max should have units"),
    (dict(drift_t0=5 * Hz), "drift_t0 should have units"),
])
def test_units_are_checked(kw, match):
    with pytest.raises(DimensionMismatchError, match=match):
        base(**kw)


def test_family_constraints():
    with pytest.raises(ValueError, match="a linear device has nonlinearity_p"):
        LinearDevice(g_min=1 * nS, g_max=2 * nS, nonlinearity_p=1.0)
    with pytest.raises(ValueError, match="drift_nu should be > 0"):
        PCMDevice(g_min=0 * nS, g_max=2 * nS, drift_nu=0.0)
    with pytest.raises(ValueError, match="unknown device preset 'rram'"):
        presets.get("rram")


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_presets_cite_sources_and_round_trip_through_network_json(name, tmp_path):
    dev = presets.get(name, seed=4)
    assert dev.source and dev.label == name
    net = Network(sources=[SpikeSource("in", 2, indices=[0], steps=[1])],
                  populations=[Population("out", 3, du=0.5, dv=0.1, vth=1.0)],
                  projections=[Projection("p", "in", "out", np.ones((3, 2)), device=dev)])
    path = net.save(tmp_path / "net.json")
    back = Network.load(path)
    assert back == net
    assert type(back["p"].device) is type(dev)
    assert back["p"].device.g_max == dev.g_max
    assert len(json.dumps(dev.to_dict())) < 2000  # parameters and a seed, not device arrays


def test_from_dict_rejects_unknown_fields():
    d = presets.ideal().to_dict()
    d["colour"] = "red"
    with pytest.raises(ValueError, match="unknown field"):
        LinearDevice.from_dict(d)


def test_preset_values():
    ag = presets.ag_a_si()
    assert (ag.g_max / nS, ag.g_min / nS, ag.n_levels, ag.n_levels_d) == pytest.approx((38.46, 3.08, 97, 100))
    assert (ag.nonlinearity_p, ag.nonlinearity_d, ag.c2c_sigma) == (2.4, -4.88, 0.035)
    p = presets.pcm()
    assert p.g_max / uS == pytest.approx(25) and p.drift_nu == 0.05 and p.drift_t0 == 20 * second


def test_same_seed_same_devices_other_seed_other_devices():
    dev = base(sigma_g_min=0.2, sigma_g_max=0.2, sigma_nonlinearity=0.5, stuck_at_min=0.1, drift_nu=0.05,
               drift_nu_sigma=0.01, seed=3)
    a, b = dev.sample(100), dev.sample(100)
    c = dev.replace(seed=4).sample(100)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.g_max, c.g_max)


@pytest.mark.parametrize("dist", ["lognormal", "normal"])
def test_device_to_device_spread_matches_sigma(dist):
    sigma = 0.15
    dev = base(sigma_g_min=sigma, sigma_g_max=sigma / 2, d2d_distribution=dist, seed=8)
    arr = dev.sample(N)
    if dist == "lognormal":
        s_min, s_max = np.std(np.log(arr.g_min / 1e-9)), np.std(np.log(arr.g_max / 1e-8))
        assert np.median(arr.g_min) == pytest.approx(1e-9, rel=0.01)
    else:
        s_min, s_max = np.std(arr.g_min / 1e-9), np.std(arr.g_max / 1e-8)
        assert np.mean(arr.g_min) == pytest.approx(1e-9, rel=0.01)
    # standard error of a sample sd is sigma / sqrt(2N) ~ 0.7 %; allow 4 %
    assert s_min == pytest.approx(sigma, rel=0.04)
    assert s_max == pytest.approx(sigma / 2, rel=0.04)


def test_nonlinearity_and_drift_spread_match_sigma():
    dev = base(nonlinearity_p=2.0, nonlinearity_d=-2.0, sigma_nonlinearity=0.3, drift_nu=0.1, drift_nu_sigma=0.02,
               seed=2)
    arr = dev.sample(N)
    # back from a to the label: max deviation / 0.0989949
    a = arr.a_p
    d = -np.expm1(-1 / a)
    nl = ((1 - a * d) / d + a * np.log(a * d)) / F.NL_DEVIATION_PER_UNIT
    assert np.std(nl) == pytest.approx(0.3, rel=0.04)
    assert np.mean(nl) == pytest.approx(2.0, abs=0.02)
    assert np.std(arr.nu) == pytest.approx(0.02, rel=0.04)
    assert np.mean(arr.nu) == pytest.approx(0.1, abs=0.001)


@pytest.mark.parametrize("f_min, f_max", [(0.01, 0.02), (0.1, 0.0), (0.05, 0.3)])
def test_stuck_at_fractions_within_binomial_tolerance(f_min, f_max):
    arr = base(stuck_at_min=f_min, stuck_at_max=f_max, seed=5).sample(N)
    for code, f in ((F.STUCK_MIN, f_min), (F.STUCK_MAX, f_max)):
        count = np.sum(arr.stuck == code)
        assert abs(count - N * f) <= 4 * np.sqrt(N * f * (1 - f)) + 1e-9
    assert np.all(arr.nu[arr.stuck != F.FREE] == 0)


def test_initial_state_takes_conductances_with_units():
    dev = base(stuck_at_max=0.5, seed=1)
    arr = dev.sample(50)
    state = dev.initial_state(arr, 5 * nS)
    free = arr.stuck == F.FREE
    np.testing.assert_allclose(state.g[free], 5e-9)
    np.testing.assert_allclose(state.g[~free], arr.g_max[~free])
    with pytest.raises(DimensionMismatchError, match="g should have units"):
        dev.initial_state(arr, 5e-9)
