"""Encoders: analytic properties, numpy reference == Brian2 model, errors."""
import math

import numpy as np
import pytest
from brian2 import DimensionMismatchError, Hz, ms, second

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.reference import simulate as simulate_reference
from sensors import DeltaEncoder, LatencyEncoder, PopulationEncoder, RateEncoder, delta_encode, hold, resample


def smooth_signals(rng, shape, n_modes=6):
    """Random sums of sinusoids along the last axis."""
    t = np.arange(shape[-1])
    out = np.zeros(shape)
    for _ in range(n_modes):
        f = rng.uniform(0.5, 8) / shape[-1]
        out += rng.normal(size=shape[:-1] + (1,)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, shape[:-1] + (1,)))
    return out


def noisy_signals(rng, shape):
    return np.cumsum(rng.normal(0, 1, shape), axis=-1) + rng.normal(0, 0.5, shape)


# ------------------------------------------------------------------------ delta
def test_delta_error_bounded_by_threshold_at_every_sample():
    rng = np.random.default_rng(0)
    x = smooth_signals(rng, (4, 6, 3000))
    delta = 1.01 * np.max(np.abs(np.diff(x, axis=-1)))     # slew limit holds: <= delta per step
    delta = max(delta, 0.05)
    enc = DeltaEncoder(threshold=delta).fit(x)
    src = enc.transform(x)
    x_hat = enc.inverse_transform(src, n_steps=x.shape[-1], initial=x[:, :, 0])
    assert np.max(np.abs(x - x_hat)) < delta
    rep = enc.evaluate(x)
    assert rep.max_abs_error < delta and rep.extra["slew_violations"] == 0
    assert rep.n_spikes == sum(s.steps.size for s in src)
    # the decoder reproduces the encoder's tracked level exactly up to rounding
    _, _, level = delta_encode(x, delta)
    assert np.allclose(level, x_hat, atol=1e-12 * x.shape[-1])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_delta_count_of_monotone_signal_is_variation_over_delta_within_one(sign):
    rng = np.random.default_rng(1)
    delta = 0.1
    x = sign * np.cumsum(rng.uniform(0, 0.1, (5, 2000)), axis=-1)     # steps <= delta
    up, down, _ = delta_encode(x, delta)
    tv = np.abs(x[:, -1] - x[:, 0]) / delta
    moving, still = (up, down) if sign > 0 else (down, up)
    assert np.all(np.abs(moving.sum(-1) - tv) <= 1) and still.sum() == 0


def test_delta_count_bounds_for_signals_with_reversals():
    # Per monotone stretch of rise R: R/delta - 2 < count < R/delta + 1 (UP), likewise DOWN.
    rng = np.random.default_rng(2)
    x = smooth_signals(rng, (20, 4000))
    delta = 1.01 * np.max(np.abs(np.diff(x, axis=-1)))
    up, down, level = delta_encode(x, delta)
    d = np.diff(x, axis=-1)
    pv, nv = np.clip(d, 0, None).sum(-1) / delta, np.clip(-d, 0, None).sum(-1) / delta
    turns = np.sum(np.diff(np.sign(d), axis=-1) != 0, axis=-1)
    m = turns // 2 + 1                                  # monotone stretches per direction (at most)
    assert np.all(up.sum(-1) < pv + m) and np.all(up.sum(-1) > pv - 2 * m)
    assert np.all(down.sum(-1) < nv + m) and np.all(down.sum(-1) > nv - 2 * m)
    # exact identity: net events = net level change / delta
    assert np.allclose(up.sum(-1) - down.sum(-1), (level[:, -1] - x[:, 0]) / delta)


def test_delta_fit_threshold_from_noise_floor():
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(0, 0.01, (3, 4, 5000)), axis=-1) * 0.01 + rng.normal(0, 2e-3, (3, 4, 5000))
    enc = DeltaEncoder(factor=4.0).fit(x)
    assert enc.noise_floor_ == pytest.approx(2e-3, rel=0.05)
    assert enc.threshold_ == pytest.approx(4 * enc.noise_floor_)
    assert DeltaEncoder(noise_floor=1e-3, factor=2.5).fit(x).threshold_ == pytest.approx(2.5e-3)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cython", "numpy"])
def test_delta_brian_matches_reference_exactly(target):
    rng = np.random.default_rng(4)
    x = noisy_signals(rng, (3, 5, 400))
    enc = DeltaEncoder(threshold=0.9).fit(x)
    a, b = enc.transform(x), enc.transform_brian(x, codegen_target=target)
    assert sum(s.steps.size for s in a) > 500
    assert np.diff(x, axis=-1).max() > 0.9                # slew-limited steps are covered too
    for sa, sb in zip(a, b):
        assert sa == sb


# ------------------------------------------------------------------------- rate
@pytest.mark.slow
def test_rate_brian_matches_reference_exactly():
    rng = np.random.default_rng(5)
    x = noisy_signals(rng, (3, 5, 400))
    enc = RateEncoder(max_rate=300 * Hz, min_rate=10 * Hz, random_state=11).fit(x)
    a, b = enc.transform(x), enc.transform_brian(x)
    assert sum(s.steps.size for s in a) > 500
    assert all(sa == sb for sa, sb in zip(a, b))


def test_rate_is_seeded_and_matches_the_set_rate():
    x = np.full((8, 20000), 0.5)
    x[:, 0], x[:, 1] = 0.0, 1.0            # fit range [0, 1] from the data
    enc = RateEncoder(max_rate=200 * Hz, min_rate=20 * Hz, quantiles=(0, 1), random_state=1).fit(x)
    s1, s2 = enc.transform(x), enc.transform(x)
    assert s1 == s2
    enc2 = RateEncoder(max_rate=200 * Hz, min_rate=20 * Hz, quantiles=(0, 1), random_state=2).fit(x)
    assert enc2.transform(x) != s1
    p = (20 + 180 * 0.5) * 1e-3
    n = 8 * (20000 - 2)
    count = np.sum(s1.steps >= 2)
    assert abs(count - n * p) < 5 * np.sqrt(n * p * (1 - p))
    # the windowed decoder gets closer with a longer window
    errs = [RateEncoder(max_rate=200 * Hz, quantiles=(0, 1), decode_window=w, random_state=1).fit(x).evaluate(x).rmse
            for w in (10, 100, 1000)]
    assert errs[0] > errs[1] > errs[2]


# ---------------------------------------------------------------------- latency
def test_latency_of_constant_input_and_decoding_bracket():
    rng = np.random.default_rng(6)
    xn = rng.uniform(0.05, 1.0, size=40)
    t_min = 5
    xn = xn[np.abs(t_min / xn - np.round(t_min / xn)) > 1e-6]     # avoid exact ties of the float sum
    x = hold(np.concatenate([[0.0, 1.0], xn]), 200)
    ranges = np.repeat([[0.0, 1.0]], x.shape[0], axis=0)             # every channel's range is [0, 1]
    enc = LatencyEncoder(t_min=t_min * ms, quantiles=(0, 1)).fit(ranges)
    src = enc.transform(x)
    steps = np.full(x.shape[0], -1)
    steps[src.indices] = src.steps
    expected = np.ceil(t_min / xn).astype(int) - 1
    assert np.array_equal(steps[2:], expected)
    assert steps[0] == -1 and steps[1] == t_min - 1         # zero never fires; full scale at t_min
    dec = enc.inverse_transform(src, n_steps=200)[0, 2:]
    # spike at step k  <=>  t_min/(k+1) <= xn < t_min/k; the decoder returns the lower edge
    assert np.all(dec <= xn + 1e-12) and np.all(xn < dec * (expected + 1) / np.maximum(expected, 1))
    assert src.steps.size == x.shape[0] - 1                  # at most one spike per channel


@pytest.mark.slow
def test_latency_brian_matches_reference_exactly():
    rng = np.random.default_rng(7)
    x = noisy_signals(rng, (3, 5, 300)) + 3
    enc = LatencyEncoder(t_min=4 * ms).fit(x)
    a, b = enc.transform(x), enc.transform_brian(x)
    assert sum(s.steps.size for s in a) >= 12
    assert all(sa == sb for sa, sb in zip(a, b))


# ------------------------------------------------------------------- population
def test_population_latencies_are_analytic_and_decoding_is_accurate():
    enc = PopulationEncoder(n_fields=5, width=1.0, window=21 * ms, min_activation=0.05).fit(
        np.array([[0.0], [4.0]]))
    assert np.allclose(enc.centers_[0], [0, 1, 2, 3, 4])
    lat = enc.latency_steps(np.array([[2.0]]))[0]
    expected_neighbor = math.floor((1 - math.exp(-0.5)) * 20 + 0.5)
    assert lat[2] == 0 and lat[1] == lat[3] == expected_neighbor
    assert lat[0] == lat[4] == math.floor((1 - math.exp(-2.0)) * 20 + 0.5)
    rng = np.random.default_rng(8)
    f = rng.uniform(-1, 1, size=(50, 6))
    enc = PopulationEncoder(n_fields=8, window=100 * ms).fit(f)
    rep = enc.evaluate(f)
    spacing = 2.0 / 7
    assert rep.max_abs_error < spacing / 10
    src = enc.transform(f)
    assert len(src) == 50 and all(s.size == 48 for s in src)


@pytest.mark.slow
def test_population_brian_matches_reference_exactly():
    rng = np.random.default_rng(9)
    f = rng.normal(size=(6, 7))
    enc = PopulationEncoder(n_fields=6, window=30 * ms, width=0.8).fit(f)
    a, b = enc.transform(f), enc.transform_brian(f)
    assert sum(s.steps.size for s in a) > 60
    assert all(sa == sb for sa, sb in zip(a, b))


# ------------------------------------------------------------------- interfaces
def test_encoder_output_drives_a_network():
    rng = np.random.default_rng(10)
    x = noisy_signals(rng, (3, 100))
    src = DeltaEncoder(threshold=1.0, name="nose").fit(x).transform(x)
    assert isinstance(src, SpikeSource) and src.size == 6 and src.steps.dtype == np.int64
    net = Network(sources=[src], populations=[Population("out", 2, du=1.0, dv=0.5, vth=0.5)],
                  projections=[Projection("w", "nose", "out", np.ones((2, 6)))])
    res = simulate_reference(net, 100)
    assert res.spikes["nose"].steps.size == src.steps.size and res.spikes["out"].steps.size > 0


def test_resample_and_hold():
    x = np.arange(11, dtype=float)[None]                 # at 2 ms
    y = resample(x, dt_from=2 * ms, dt_to=1 * ms)
    assert y.shape == (1, 21) and np.allclose(y[0], np.arange(21) / 2)
    assert hold([1.0, 2.0], 3).tolist() == [[1, 1, 1], [2, 2, 2]]


def test_encoder_errors():
    x = np.zeros((2, 10))
    with pytest.raises(ValueError, match="DeltaEncoder: not fitted"):
        DeltaEncoder(threshold=1.0).transform(x)
    with pytest.raises(ValueError, match="X should have 2 channels"):
        DeltaEncoder(threshold=1.0).fit(x).transform(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="X should be finite"):
        DeltaEncoder(threshold=1.0).fit(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="threshold should be > 0"):
        DeltaEncoder(threshold=0.0).fit(x)
    with pytest.raises(ValueError, match="noise floor is 0"):
        DeltaEncoder().fit(x)
    with pytest.raises(ValueError, match=r"X should have shape \(n_channels, n_steps\)"):
        DeltaEncoder(threshold=1.0).fit(np.zeros(5))
    with pytest.raises(ValueError, match=r"max_rate \* dt <= 1"):
        RateEncoder(max_rate=2000 * Hz).fit(x)
    with pytest.raises(DimensionMismatchError, match="max_rate should have units"):
        RateEncoder(max_rate=200).fit(x)
    with pytest.raises(ValueError, match="t_min should be >= dt"):
        LatencyEncoder(t_min=0.5 * ms).fit(x)
    with pytest.raises(ValueError, match=r"X should have shape \(n_features,\) or \(n_samples, n_features\)"):
        PopulationEncoder().fit(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="n_fields should be >= 2"):
        PopulationEncoder(n_fields=1).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="quantiles should be"):
        RateEncoder(quantiles=(0.9, 0.1)).fit(x)
    with pytest.raises(DimensionMismatchError, match="dt should have units"):
        DeltaEncoder(threshold=1.0, dt=1.0).fit(x).transform(x)
    with pytest.raises(ValueError, match="codegen_target should be"):
        DeltaEncoder(threshold=1.0).fit(x).transform_brian(x, codegen_target="cuda")


def test_recorded_csv_data_goes_through_the_same_encoders(tmp_path):
    from sensors import RandomizationSpec, load_csv, make_dataset
    spec = RandomizationSpec(n_sensors=3, duration=0.3 * second, onset=0.05 * second, exposure=0.2 * second,
                             feature_window=0.05 * second)
    ds = make_dataset(spec, 4, random_state=0)
    ds.to_csv(tmp_path / "ts.csv", kind="timeseries")
    ds.to_csv(tmp_path / "f.csv")
    rec_ts, rec_f = load_csv(tmp_path / "ts.csv"), load_csv(tmp_path / "f.csv")
    enc = DeltaEncoder(threshold=1e-3, dt=rec_ts.dt).fit(rec_ts.signals)
    assert enc.transform(rec_ts.signals) == enc.transform(ds.signals)
    pop = PopulationEncoder(n_fields=4).fit(rec_f.features)
    assert pop.transform(rec_f.features) == pop.transform(ds.features)
