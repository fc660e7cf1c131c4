"""The twin's physics against analytic solutions and statistics."""
import numpy as np
import pytest
from brian2 import DimensionMismatchError, Hz, kelvin, meter, mmolar, molar, ms, ohm, pascal, second, volt

from sensors import physics
from sensors.twin import (Conditions, Fault, Pulse, Ramp, SensorArray, Step, fault_mask, inject_faults,
                          render_profiles)

K_ON = 1e4 / (molar * second)   # 10 m^3/(mol s)
K_OFF = 1.0 / second


def single(boundary_layer=0 * meter, **kw):
    return SensorArray(analytes=("A",), k_on=[[1e4]] / (molar * second), k_off=[[1.0]] / second,
                       sensitivity=[[0.05]], boundary_layer=boundary_layer, **kw)


def test_langmuir_step_response_matches_analytic_solution():
    # Exact per-step integration: theta at the end of step k equals the analytic
    # solution at t = (k + 1) dt to rounding (tolerance 1e-12 absolute).
    arr = single()
    c = 0.2 * mmolar
    y, theta = arr.simulate([Step("A", c)], duration=3 * second, dt=1 * ms, noise=False, return_coverage=True)
    t = (np.arange(3000) + 1) * 1e-3
    expected = physics.langmuir_step_response(t, 0.2, 10.0, 1.0)        # c in mol/m^3, k_on in m^3/(mol s)
    assert np.max(np.abs(theta[0, 0] - expected)) < 1e-12
    # theta_eq = k_on c / (k_on c + k_off) = 2/3, signal = S theta
    assert expected[-1] == pytest.approx(2 / 3, rel=1e-3)
    assert np.max(np.abs(y[0] - 0.05 * expected)) < 1e-13


def test_langmuir_step_with_coarse_steps_is_still_exact():
    theta = 0.0
    for k in range(10):
        theta = physics.langmuir_step(theta, 0.3, 5.0, 2.0, 0.05)
    assert theta == pytest.approx(physics.langmuir_step_response(0.5, 0.3, 5.0, 2.0), abs=1e-14)


def test_transport_lag_is_first_order_with_stokes_einstein_time_constant():
    d = physics.diffusion_coefficient(298.15, 0.89e-3, 0.5e-9)
    assert d == pytest.approx(1.380649e-23 * 298.15 / (6 * np.pi * 0.89e-3 * 0.5e-9), rel=1e-12)
    assert 4.5e-10 < d < 5.3e-10        # small molecule in water: ~5e-10 m^2/s
    tau = physics.transport_time_constant(d, 10e-6)
    c_s, keep, dt = 0.0, physics.lag_factor(tau, 1e-3), 1e-3
    out = []
    for _ in range(500):
        c_s = physics.transport_step(c_s, 1.0, keep)
        out.append(c_s)
    t = (np.arange(500) + 1) * dt
    assert np.max(np.abs(np.array(out) - (1 - np.exp(-t / tau)))) < 1e-12
    # hotter / less viscous: faster transport
    assert physics.diffusion_coefficient(318.15, 0.6e-3, 0.5e-9) > d


def test_transport_delays_the_sensor_response():
    fast = single(boundary_layer=0 * meter).simulate([Step("A", 0.2 * mmolar)], duration=0.3 * second,
                                                     noise=False)
    slow = single(boundary_layer=30e-6 * meter).simulate([Step("A", 0.2 * mmolar)], duration=0.3 * second,
                                                         noise=False)
    assert np.all(slow[0, 1:] < fast[0, 1:])


def test_arrhenius_desorption():
    assert physics.arrhenius(2.0, 40e3, physics.T_REF) == pytest.approx(2.0)
    t = np.array([290.0, 300.0, 320.0])
    slope = np.polyfit(1 / t, np.log(physics.arrhenius(1.0, 40e3, t)), 1)[0]
    assert slope == pytest.approx(-40e3 / physics.R_GAS, rel=1e-9)


def test_johnson_noise_variance_is_4kTR_df():
    # 8 sensors x 40,000 samples; the sample variance has relative sd sqrt(2/n) = 0.25 %,
    # tolerance 2 % (8 sd).
    r, v_bias, temp = 2e6, 20e-3, 310.0
    arr = SensorArray.random(8, ("A",), random_state=0, resistance=r * ohm, bias_voltage=v_bias * volt)
    y = arr.simulate([], duration=40 * second, dt=1 * ms, random_state=1,
                     conditions=Conditions(temperature=temp * kelvin, flicker_rms=0.0))
    var_v = np.var(y * v_bias)
    expected = 4 * physics.K_B * temp * r * 500.0       # bandwidth: Nyquist of 1 ms sampling
    assert var_v == pytest.approx(expected, rel=0.02)
    assert physics.johnson_rms(300, 1e3, 1.0) == pytest.approx(np.sqrt(4 * 1.380649e-23 * 300 * 1e3))
    # an explicit bandwidth
    arr2 = SensorArray.random(8, ("A",), random_state=0, resistance=r * ohm, bias_voltage=v_bias * volt,
                              bandwidth=100 * Hz)
    y2 = arr2.simulate([], duration=10 * second, random_state=2,
                       conditions=Conditions(temperature=temp * kelvin, flicker_rms=0.0))
    assert np.var(y2 * v_bias) == pytest.approx(4 * physics.K_B * temp * r * 100.0, rel=0.03)


def test_drift_slope_recovered_by_regression():
    arr = SensorArray.random(8, ("A",), random_state=0)
    slopes = np.linspace(-4e-3, 4e-3, 8)
    walk = 1e-4
    y = arr.simulate([], duration=10 * second, dt=1 * ms, random_state=3,
                     conditions=Conditions(flicker_rms=0.0, thermal_noise=False, drift_slope=slopes / second,
                                           drift_walk=walk * second ** -0.5))
    t = np.arange(y.shape[1]) * 1e-3
    fitted = np.polyfit(t, y.T, 1)[0]
    # OLS slope of a Wiener process over T has sd walk * sqrt(6 / (5 T)) = 3.5e-5; tolerance 6 sd
    assert np.max(np.abs(fitted - slopes)) < 6 * walk * np.sqrt(6 / 50)
    assert np.all(np.abs(y[:, 0]) < 1e-12)


def test_flicker_noise_has_one_over_f_spectrum_and_given_rms():
    rng = np.random.default_rng(0)
    x = physics.flicker_noise((200, 4096), np.full(200, 2e-3), rng)
    assert np.allclose(x.std(axis=-1), 2e-3)
    psd = np.mean(np.abs(np.fft.rfft(x, axis=-1)) ** 2, axis=0)[1:1000]
    f = np.arange(1, 1000)
    slope = np.polyfit(np.log(f), np.log(psd), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


def test_profiles_steps_pulses_ramps_and_mixtures():
    c = render_profiles([Step("A", 0.1 * mmolar, onset=10 * ms), Pulse("B", 0.2 * mmolar, onset=5 * ms,
                                                                         duration=3 * ms),
                         Ramp("A", 0.4 * mmolar, onset=20 * ms, rise=10 * ms)],
                        ("A", "B"), duration=40 * ms, dt=1 * ms)
    c = np.asarray(c / mmolar)
    assert c.shape == (2, 40)
    assert np.all(c[0, :10] == 0) and np.allclose(c[0, 10:21], 0.1)
    assert c[0, 25] == pytest.approx(0.1 + 0.2) and c[0, 35] == pytest.approx(0.5)
    assert np.allclose(c[1, 5:8], 0.2) and c[1, 8] == 0 and c[1, 4] == 0


def test_cross_sensitive_array_responds_in_pattern():
    arr = SensorArray.random(6, ("A", "B"), random_state=0)
    ya = arr.simulate([Step("A", 0.3 * mmolar)], duration=2 * second, noise=False)[:, -1]
    yb = arr.simulate([Step("B", 0.3 * mmolar)], duration=2 * second, noise=False)[:, -1]
    both = arr.simulate([Step("A", 0.3 * mmolar), Step("B", 0.3 * mmolar)], duration=2 * second,
                        noise=False)[:, -1]
    assert np.allclose(both, ya + yb)            # independent sites: responses add
    assert abs(np.corrcoef(ya, yb)[0, 1]) < 0.99 # different fingerprints


def test_faults_stuck_dead_burst_drift_and_mask():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 1000)) * 1e-3
    faults = [Fault("stuck", 0, onset=100 * ms), Fault("dead", 1, onset=200 * ms, duration=100 * ms),
              Fault("burst", 2, onset=500 * ms, duration=200 * ms, rms=0.1),
              Fault("drift", 3, onset=600 * ms, slope=2.0 / second)]
    z = inject_faults(y, faults, dt=1 * ms, random_state=1)
    assert np.all(z[0, 100:] == y[0, 99]) and np.array_equal(z[0, :100], y[0, :100])
    assert np.all(z[1, 200:300] == -1.0) and np.array_equal(z[1, 300:], y[1, 300:])
    assert 0.08 < np.std(z[2, 500:700]) < 0.12 and np.array_equal(z[2, 700:], y[2, 700:])
    slope = np.polyfit(np.arange(600, 1000) * 1e-3, z[3, 600:] - y[3, 600:], 1)[0]
    assert slope == pytest.approx(2.0, rel=1e-9)
    m = fault_mask(faults, 4, 1000, dt=1 * ms)
    assert m[0, 100:].all() and not m[0, :100].any()
    assert m[1].sum() == 100 and m[2].sum() == 200 and m[3].sum() == 400
    assert np.array_equal(y, inject_faults(y, [], dt=1 * ms))


def test_twin_input_errors():
    with pytest.raises(DimensionMismatchError, match="temperature should have units"):
        single().simulate([Step("A", 0.1 * mmolar)], duration=1 * second, conditions=Conditions(temperature=300))
    with pytest.raises(DimensionMismatchError, match="k_on should have units"):
        SensorArray(analytes=("A",), k_on=[[1.0]] / second, k_off=[[1.0]] / second, sensitivity=[[0.1]])
    with pytest.raises(ValueError, match="sensitivity should have shape"):
        SensorArray(analytes=("A", "B"), k_on=K_ON, k_off=K_OFF, sensitivity=[[0.1]])
    with pytest.raises(ValueError, match="unknown analyte 'X'"):
        single().simulate([Step("X", 0.1 * mmolar)], duration=1 * second)
    with pytest.raises(ValueError, match="duration is required"):
        single().simulate([Step("A", 0.1 * mmolar)])
    with pytest.raises(ValueError, match="concentration should be >= 0"):
        single().simulate([Step("A", -0.1 * mmolar)], duration=1 * second)
    with pytest.raises(ValueError, match="kind should be one of"):
        Fault("broken", 0, onset=0 * ms)
    with pytest.raises(ValueError, match=r"sensor should be in \[0, 1\]"):
        inject_faults(np.zeros((2, 10)), [Fault("dead", 5, onset=0 * ms)])
    with pytest.raises(ValueError, match="resistance should be > 0"):
        single(resistance=0 * ohm)
    with pytest.raises(DimensionMismatchError, match="viscosity should have units"):
        single().simulate([], duration=1 * second, conditions=Conditions(viscosity=1 * pascal))
