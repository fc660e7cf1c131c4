"""neurochip.encoding: the one Gaussian receptive-field / latency implementation, used by both encoders."""
import math

import numpy as np
import pytest
from brian2 import ms

from neurochip.encoding import LatencyPopulationEncoder, check_features, first_spike_steps, gaussian_activation
from sensors import PopulationEncoder


def test_activation_and_latency_analytic():
    centers = np.array([[0.0, 0.5, 1.0]])
    sigma = 0.5
    a = gaussian_activation(np.array([[0.5]]), centers, np.array([1 / (2 * sigma ** 2)]))
    # one sigma away on both sides, exactly on center in the middle
    np.testing.assert_allclose(a[0, 0], [math.exp(-0.5), 1.0, math.exp(-0.5)], rtol=1e-15)
    x = np.random.default_rng(0).uniform(-1, 2, (50, 1))
    a = gaussian_activation(x, centers, np.array([2.0]))
    expected = [[math.exp(-((v - c) * (v - c)) * 2.0) for c in centers[0]] for v in x[:, 0]]
    np.testing.assert_array_equal(a[:, 0], expected)          # libm exp, bit for bit (as compiled C code)
    # latency floor((1 - a)(window - 1) + 0.5): a = 1 at step 0, halves round up, below min: no spike
    k = first_spike_steps(np.array([1.0, 0.75, 0.5, 0.3, 0.29]), 3, 0.3)
    assert k.tolist() == [0, 1, 1, 1, -1]
    assert first_spike_steps(np.array([0.3]), 11, 0.3).tolist() == [7]   # 0.7 * 10 = 7 (+0.5 floors to 7)


def old_latency_encoder(X, n_centers, steps, threshold, low, high):
    """The classifier's encoder as it was written before (numpy exp, banker's rounding, strict threshold)."""
    z = np.clip((X - low) / (high - low), 0.0, 1.0)
    mu = np.linspace(0.0, 1.0, n_centers)
    sigma = 1.0 / (n_centers - 1)
    a = np.exp(-(z[:, :, None] - mu) ** 2 / (2 * sigma ** 2)).reshape(X.shape[0], -1)
    t = np.round((1 - a) * (steps - 1)).astype(int)
    raster = np.zeros((X.shape[0], steps, a.shape[1]), dtype=bool)
    s, i = np.nonzero(a > threshold)
    raster[s, t[s, i], i] = True
    return raster


@pytest.mark.parametrize("n_centers, steps, threshold", [(6, 16, 0.2), (3, 11, 0.2), (4, 16, 0.05), (8, 25, 0.5)])
def test_latency_encoder_spikes_as_before(n_centers, steps, threshold):
    rng = np.random.default_rng(n_centers)
    X = rng.uniform(-1.2, 1.2, (400, 8))
    X[:, :3] = np.round(X[:, :3], 1)                           # grid values (e.g. features at exactly +-1)
    enc = LatencyPopulationEncoder(n_centers=n_centers, steps=steps, threshold=threshold,
                                   feature_range=(-1.0, 1.0)).fit(X)
    np.testing.assert_array_equal(enc.transform(X), old_latency_encoder(X, n_centers, steps, threshold, -1.0, 1.0))


def test_both_encoders_share_the_receptive_fields():
    """Same fields, same window: the classifier's code and sensors.PopulationEncoder spike alike."""
    rng = np.random.default_rng(1)
    X = np.vstack([np.zeros(5), np.ones(5), rng.uniform(0, 1, (60, 5))])   # min 0, max 1 per feature
    lat = LatencyPopulationEncoder(n_centers=5, steps=12, threshold=0.1, feature_range=(0.0, 1.0)).fit(X)
    pop = PopulationEncoder(n_fields=5, width=1.0, window=12 * ms, min_activation=0.1).fit(X)
    np.testing.assert_array_equal(pop.centers_, lat.centers_)
    np.testing.assert_array_equal(np.swapaxes(lat.transform(X), 1, 2), pop.encode_numpy(X))


def test_feature_checks():
    with pytest.raises(ValueError, match=r"enc: X should have shape \(n_samples >= 1, n_features\), got shape \(3,\)"):
        check_features("enc", np.zeros(3))
    with pytest.raises(ValueError, match="enc: X should be finite, got 1 non-finite values"):
        check_features("enc", [[1.0, np.nan]])
    with pytest.raises(ValueError, match=r"enc: X should have 3 features \(as in fit\), got 2"):
        check_features("enc", np.zeros((1, 2)), 3)
    with pytest.raises(ValueError, match="enc: X should be a 2-D array of numbers"):
        check_features("enc", [["a"]])
