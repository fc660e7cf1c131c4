"""sensors.calibration (the gas-array twin and its calibration), DriftSpec, GasDriftTaskSampler, recorded shots."""

import numpy as np
import pytest

from sensors import load_gas_drift
from sensors.calibration import (GasArrayTwin, calibrate_gas_twin, calibration_report, default_gas_twin,
                                 first_half, transient_features)
from sensors.randomization import DRIFT_KINDS, DriftSpec, collision_drift, derangement
from sensors.tasks import GasDriftTaskSampler, recorded_shots

from _gas_data import DATA, needs_data


def stepped_features(rho, tau_rise, tau_decay, r0, *, dt, t_rise, t_total, alphas=(0.001, 0.01, 0.1)):
    """The features by simulating the transient sample by sample (the definition, no closed form)."""
    K, T = int(round(t_rise / dt)), int(round(t_total / dt))
    k = np.arange(T)
    top = rho * (1 - np.exp(-dt / tau_rise) ** K)
    r = np.where(k <= K, rho * (1 - np.exp(-k * dt / tau_rise)), top * np.exp(-(k - K) * dt / tau_decay))
    d = np.diff(r, prepend=r[0])
    out = [r0 * r[K - 1], r[K - 1]]
    rise, decay = [], []
    for a in alphas:
        y, ys = 0.0, np.zeros(T)
        for i in range(T):
            y = (1 - a) * y + a * d[i]
            ys[i] = y
        rise.append(ys[1:K].max())
        decay.append(ys[K:].min())
    return np.array(out + rise + decay)


@pytest.mark.parametrize("rho, tau_rise, tau_decay", [(2.0, 0.7, 3.0), (0.3, 15.0, 0.2), (5.0, 0.1, 0.1),
                                                      (1.0, 1 / np.log(1 / 0.99) * 0.01, 40.0)])
def test_closed_form_features_equal_the_stepped_transient(rho, tau_rise, tau_decay):
    kw = dict(dt=0.01, t_rise=20.0, t_total=60.0)
    exact = stepped_features(rho, tau_rise, tau_decay, 1500.0, **kw)
    np.testing.assert_allclose(transient_features(rho, tau_rise, tau_decay, 1500.0, **kw), exact, rtol=1e-7,
                               atol=1e-12)


def test_features_scale_with_the_response_and_the_twin_samples_rays():
    F1 = transient_features(1.0, 2.0, 5.0, 10.0)
    np.testing.assert_allclose(transient_features(3.0, 2.0, 5.0, 10.0), 3 * F1, rtol=1e-12)
    assert F1[1] > 0 and np.all(F1[2:5] > 0) and np.all(F1[5:] < 0)    # the recordings' signs
    twin = default_gas_twin()
    assert twin.n_features == 128 and twin.sensitivity.shape == (16, 6)
    X = twin.sample(["Ethanol"] * 3, [10.0, 100.0, 1000.0], variability=False)
    theta = np.array([10.0, 100.0, 1000.0])[:, None] / (np.array([10.0, 100.0, 1000.0])[:, None]
                                                          + twin.k_d[:, 4][None])     # Langmuir
    np.testing.assert_allclose(X[:, 1::8], twin.sensitivity[:, 4] * theta * (1 - np.exp(-0.01 / twin.tau_rise[:, 4])
                                                                             ** 9999), rtol=1e-9)


def synthetic_recording(twin, n_per_gas=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.array(twin.gases), n_per_gas)
    conc = rng.choice([10.0, 25.0, 50.0, 100.0, 200.0, 400.0], labels.size)
    return twin.sample(labels, conc, random_state=rng), labels, conc


def test_calibration_recovers_the_parameters_of_a_known_twin():
    rng = np.random.default_rng(3)
    # unit factors: one for dR, one for dR / R0 and one for the six moving averages of each sensor (they are
    # all computed from the same resistance signal, so their ratios across alpha carry the time constants)
    unit = np.exp(rng.normal(0, 1, (16, 3)))[:, [0, 1, 2, 2, 2, 2, 2, 2]].ravel()
    truth = default_gas_twin()
    truth = truth.replace(sensitivity=rng.uniform(0.5, 5, (16, 6)), k_d=np.exp(rng.uniform(np.log(20), np.log(500),
                                                                                           (16, 6))),
                          tau_rise=np.exp(rng.uniform(np.log(0.5), np.log(20), (16, 6))),
                          tau_decay=np.exp(rng.uniform(np.log(0.5), np.log(20), (16, 6))),
                          log_r0_mean=rng.uniform(6, 10, 16), log_r0_sd=np.full(16, 0.3),
                          unit=unit, gain_sd=np.full(6, 0.02))
    X, labels, conc = synthetic_recording(truth)
    fit = calibrate_gas_twin(X, labels, conc, rank=0)
    assert fit.gases == truth.gases
    # dose response: within the grid and the 2 % gain noise (K_D grid 81 points over 4 decades); the
    # sensitivity only together with the unit factor of dR / R0 (the recording's scale of that feature)
    np.testing.assert_allclose(np.log(fit.k_d), np.log(truth.k_d), atol=0.35)
    end = 1 - np.exp(-0.01 / truth.tau_rise) ** 9999
    np.testing.assert_allclose(np.log(fit.sensitivity * fit.unit[1::8, None]),
                               np.log(truth.sensitivity * truth.unit[1::8, None] * end), atol=0.25)
    # time constants from the unit-free shapes (grid 121 points over 3.8 decades: step 0.073 in log)
    for name in ("tau_rise", "tau_decay"):
        np.testing.assert_allclose(np.log(getattr(fit, name)), np.log(getattr(truth, name)), atol=0.2, err_msg=name)
    np.testing.assert_allclose(fit.log_r0_mean + np.log(fit.unit[::8] / fit.unit[1::8]),
                               truth.log_r0_mean + np.log(truth.unit[::8] / truth.unit[1::8]), atol=0.1)
    np.testing.assert_allclose(fit.log_r0_sd, 0.3, atol=0.1)
    # the features the fitted twin predicts are those of the truth
    clean = truth.sample(labels, conc, variability=False)
    np.testing.assert_allclose(np.median(np.abs(np.log(np.abs(fit.sample(labels, conc, variability=False) / clean)))),
                               0.0, atol=0.05)


def test_twin_file_round_trip_and_errors(tmp_path):
    twin = default_gas_twin()
    back = GasArrayTwin.load(twin.save(tmp_path / "twin.json"))
    np.testing.assert_array_equal(back.sample(["Toluene"], [5.0], random_state=1),
                                  twin.sample(["Toluene"], [5.0], random_state=1))
    with pytest.raises(ValueError, match=r"sensitivity should have shape \(n_sensors, 6\), got shape \(16, 5\)"):
        twin.replace(sensitivity=np.ones((16, 5)))
    with pytest.raises(ValueError, match="k_d should be finite and > 0"):
        twin.replace(k_d=np.zeros((16, 6)))
    with pytest.raises(ValueError, match="unknown gas 'Methane'"):
        twin.sample(["Methane"], [10.0])
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a twin file"):
        GasArrayTwin.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="X should be"):
        calibrate_gas_twin(np.ones((3, 7)), ["a"] * 3, [1.0] * 3)


@needs_data
def test_calibrated_twin_is_close_to_batch_1_and_held_out_rows():
    b1 = load_gas_drift(DATA / "batch1.csv.gz")
    rep = calibration_report(b1.features, b1.labels, b1.concentration)
    d = rep["distances"]
    before, physics = d["default twin (before calibration)"], d["calibrated physics, independent gains"]
    after, floor = d["calibrated twin (rank 10 variability)"], d["floor: half of the recording vs the other half"]
    assert before["ks_median"] > 0.9 and before["mmd2"] > 0.5                 # measured 1.00 / 1.10
    assert physics["ks_median"] < 0.3 and physics["mmd2"] < 0.1               # 0.21 / 0.047
    assert after["ks_median"] < 1.3 * floor["ks_median"] and after["mmd2"] < 2 * floor["mmd2"]   # 0.092 / 0.0055
    v = rep["validation"]
    held, vfloor = v["calibrated on the first half, vs the second half"], v["floor: first half vs second half"]
    assert held["ks_median"] < 2 * vfloor["ks_median"] and held["mmd2"] < 0.05 * before["mmd2"]   # 0.121 / 0.0085


def small_twin():
    rng = np.random.default_rng(0)
    twin = default_gas_twin(gases=("A", "B", "C"), n_sensors=4, concentrations={g: [50.0, 100.0] for g in "ABC"})
    return twin.replace(offset=rng.normal(0, 0.1, (3, 32)))


def test_drift_kinds():
    twin = small_twin()
    none = DriftSpec(**{k: (0.0, 0.0) for k in DRIFT_KINDS})
    same, m = none.draw(twin, np.random.default_rng(0))
    for f in GasArrayTwin.ARRAYS:
        np.testing.assert_allclose(getattr(same, f), getattr(twin, f), rtol=1e-12, err_msg=f)
    assert set(m) == {*DRIFT_KINDS, "partner"} and m["collision"] == 0.0
    full, m = DriftSpec(**{k: (0.0, 0.0) for k in DRIFT_KINDS if k != "collision"},
                        collision=(1.0, 1.0)).draw(twin, np.random.default_rng(1))
    p = np.array(m["partner"])
    assert np.all(p != np.arange(3))
    for f in ("sensitivity", "k_d", "tau_rise", "tau_decay"):
        np.testing.assert_allclose(getattr(full, f), getattr(twin, f)[:, p], rtol=1e-12)
    np.testing.assert_allclose(full.offset, twin.offset[p])
    np.testing.assert_allclose(full.sample(["A"], [50.0], variability=False),
                               twin.sample([twin.gases[p[0]]], [50.0], variability=False), rtol=1e-9)
    gains, m = DriftSpec(**{k: (0.0, 0.0) for k in DRIFT_KINDS if k != "sensor_gain"},
                         sensor_gain=(0.3, 0.3)).draw(twin, np.random.default_rng(2))
    ratio = gains.sensitivity / twin.sensitivity
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 3)), rtol=1e-12)   # common to every gas
    with pytest.raises(ValueError, match=r"DriftSpec: collision should be a range 0 <= low <= high, got \(0.5, 0.1\)"):
        DriftSpec(collision=(0.5, 0.1))
    with pytest.raises(ValueError, match="DriftSpec: kinetics should be a \\(low, high\\) range, got 0.3"):
        DriftSpec(kinetics=0.3)
    with pytest.raises(ValueError, match="derangement: n should be >= 2"):
        derangement(1, np.random.default_rng(0))


@needs_data
def test_drift_task_sampler():
    s = GasDriftTaskSampler(n_fit_per_gas=5, folder=str(DATA))
    hash(s)
    t = s.sample(k_shot=2, n_query=3, random_state=4)
    assert t.X_fit.shape == (30, 128) and t.X_support.shape == (12, 128) and t.X_query.shape == (18, 128)
    assert list(t.y_support[:2]) == [t.analytes[0]] * 2 and set(t.drift) == {*DRIFT_KINDS, "partner"}
    again = s.sample(k_shot=2, n_query=3, random_state=4)
    np.testing.assert_array_equal(again.X_query, t.X_query)
    other = s.sample(k_shot=2, n_query=3, split="test", random_state=4)
    assert not np.array_equal(other.X_query, t.X_query)
    with pytest.raises(ValueError, match="split should be 'train' or 'test'"):
        s.sample(k_shot=2, split="val")
    with pytest.raises(ValueError, match="drift should be a DriftSpec"):
        GasDriftTaskSampler(drift=(0, 1))


def test_recorded_shots_and_collision_drift_on_recordings():
    labels = np.array(["a"] * 5 + ["b"] * 2 + ["c"] * 8)
    s, q = recorded_shots(labels, 3, random_state=0)
    assert sorted(labels[s].tolist()) == ["a"] * 3 + ["b"] + ["c"] * 3           # at most n - 1 per label
    assert np.intersect1d(s, q).size == 0 and s.size + q.size == labels.size
    np.testing.assert_array_equal(recorded_shots(labels, 3, random_state=0)[0], s)
    twin = small_twin()
    X, y, _ = synthetic_recording(twin, 20)
    np.testing.assert_array_equal(collision_drift(X, y, X, y, 0.0, random_state=0), X)
    moved = collision_drift(X, y, X, y, 1.0, random_state=0)
    # alpha = 1: a sample's direction (after the per-sample norm) becomes its partner's median direction
    from neurochip.encoding import RayScaler
    sc = RayScaler().fit(X)
    med = {g: np.median(np.log(np.abs(sc.transform(X[y == g]))), axis=0) for g in twin.gases}
    partner_of_A = min(med, key=lambda g: np.abs(np.median(np.log(np.abs(sc.transform(moved[y == "A"]))), axis=0)
                                                  - med[g]).max())
    assert partner_of_A != "A"
    with pytest.raises(ValueError, match="no reference samples"):
        collision_drift(X, np.where(y == "A", "Z", y), X, y, 0.5)
    assert first_half(np.array(["x", "y", "x", "x", "y"])).tolist() == [True, True, False, False, False]


def test_drift_coverage_of_a_recording_by_the_randomization():
    from neurochip.encoding import RayScaler
    from sensors.calibration import drift_coverage

    twin = small_twin().replace(gain_sd=np.full(3, 0.05))
    X, y, c = synthetic_recording(twin, 40, seed=1)
    sc = RayScaler().fit(X)
    none = DriftSpec(**{k: (0.0, 0.0) for k in DRIFT_KINDS})
    own = drift_coverage(twin, X, y, c, none, scaler=sc, draws=40)
    assert 0.75 <= own["inside"] <= 1.0                  # its own samples: inside the 90 % band of sampling noise
    drifted, _ = DriftSpec(sensor_gain=(0.5, 0.5), gas_gain=(0.5, 0.5)).draw(twin, np.random.default_rng(7))
    Xd = drifted.sample(y, c, random_state=2)
    far = drift_coverage(twin, Xd, y, c, none, scaler=sc, draws=40)
    wide = drift_coverage(twin, Xd, y, c, DriftSpec(sensor_gain=(0.5, 0.5), gas_gain=(0.5, 0.5)), scaler=sc, draws=40)
    assert far["inside"] < 0.3 < wide["inside"] and far["shift_recorded"] > 5 * own["shift_recorded"]
    assert wide["shift_randomized"] > 5 * far["shift_randomized"]
