"""Pure physics of a nanosensor, as step functions on float arrays in SI units.

Everything here works on plain ``numpy`` arrays in SI base units (seconds,
kelvin, mol/m^3, ohm, pascal seconds) and broadcasts over leading axes, so that
a whole Monte-Carlo batch (samples x sensors x analytes) advances in one call.
The unit-checked public API is :mod:`sensors.twin`; these functions are its
engine and are tested against analytic solutions.

Models
------
Transport (diffusion through a stagnant boundary layer of thickness ``L``),
as a first-order lag of the surface concentration ``c_s`` behind the bulk
concentration ``c``::

    dc_s/dt = (c - c_s) / tau_D,   tau_D = L^2 / (2 D),   D = k_B T / (6 pi eta r)

(Stokes-Einstein diffusion coefficient of a sphere of hydrodynamic radius ``r``
in a fluid of viscosity ``eta``; ``L^2 = 2 D t`` is the 1-D mean square
displacement).

Binding (Langmuir kinetics, one class of independent sites per analyte)::

    d theta/dt = k_on c_s (1 - theta) - k_off theta

integrated exactly for a concentration held constant within a step::

    theta[k] = theta_eq + (theta[k-1] - theta_eq) exp(-(k_on c_s + k_off) dt)
    theta_eq = k_on c_s / (k_on c_s + k_off)

Desorption is thermally activated (Arrhenius)::

    k_off(T) = k_off(T_ref) exp(-E_a / R (1/T - 1/T_ref))

Thermal (Johnson-Nyquist) noise of a resistor ``R`` over a bandwidth ``df``::

    <v_n^2> = 4 k_B T R df

Flicker (1/f) noise: Gaussian noise whose power spectral density falls as
``1/f`` between ``1/(n dt)`` and the Nyquist frequency ``1/(2 dt)``, scaled to a
given standard deviation. Baseline drift: a linear ramp plus a random walk
(Wiener process) ``slope t + sigma_w W(t)``.
"""
from __future__ import annotations

import numpy as np

#: Boltzmann constant (J/K), exact in SI 2019.
K_B = 1.380649e-23
#: Molar gas constant (J/(mol K)), exact in SI 2019.
R_GAS = 8.314462618
#: Reference temperature of rate constants (K), 25 degC.
T_REF = 298.15


def diffusion_coefficient(temperature, viscosity, radius):
    """Stokes-Einstein diffusion coefficient ``D = k_B T / (6 pi eta r)`` in m^2/s.

    Parameters are in K, Pa s and m. For a small molecule (r = 0.5 nm) in water
    at 25 degC (eta = 0.89 mPa s), D is about 4.9e-10 m^2/s.
    """
    return K_B * np.asarray(temperature, float) / (6 * np.pi * np.asarray(viscosity, float)
                                                    * np.asarray(radius, float))


def transport_time_constant(diffusion, thickness):
    """Diffusion time across a boundary layer, ``tau_D = L^2 / (2 D)`` in s."""
    return np.asarray(thickness, float) ** 2 / (2 * np.asarray(diffusion, float))


def arrhenius(rate_ref, activation_energy, temperature, t_ref: float = T_REF):
    """``k(T) = k(T_ref) exp(-E_a / R (1/T - 1/T_ref))`` (E_a in J/mol, T in K)."""
    return np.asarray(rate_ref, float) * np.exp(
        -np.asarray(activation_energy, float) / R_GAS * (1.0 / np.asarray(temperature, float) - 1.0 / t_ref))


def lag_factor(tau, dt: float):
    """Per-step retention ``exp(-dt / tau)`` of a first-order lag (0 for ``tau == 0``)."""
    tau = np.asarray(tau, float)
    with np.errstate(divide="ignore"):
        return np.where(tau > 0, np.exp(-dt / np.where(tau > 0, tau, 1.0)), 0.0)


def transport_step(c_surface, c_bulk, retention):
    """One step of the first-order transport lag: ``c_s + (c - c_s) (1 - retention)``.

    Exact for a bulk concentration constant within the step when
    ``retention = exp(-dt / tau_D)`` (see :func:`lag_factor`).
    """
    return c_bulk + (c_surface - c_bulk) * retention


def langmuir_step(theta, c_surface, k_on, k_off, dt: float):
    """One exact step of Langmuir kinetics for a concentration constant within the step.

    ``theta`` is the fractional coverage in [0, 1]; ``c_surface`` in mol/m^3,
    ``k_on`` in m^3/(mol s), ``k_off`` in 1/s, ``dt`` in s. Broadcasts.
    """
    bound = k_on * c_surface
    rate = bound + k_off
    theta_eq = bound / np.maximum(rate, 1e-300)     # rate == 0: theta_eq = 0, exp(0) = 1: theta unchanged
    return theta_eq + (theta - theta_eq) * np.exp(-rate * dt)


def langmuir_equilibrium(concentration, k_on, k_off):
    """Steady-state coverage ``theta_eq = k_on c / (k_on c + k_off)`` (``d theta/dt = 0``); broadcasts.

    The limit of :func:`langmuir_step` for a held concentration, ``c / (c + K_D)``
    with the dissociation constant ``K_D = k_off / k_on``.
    """
    bound = np.asarray(k_on, float) * np.asarray(concentration, float)
    return bound / np.maximum(bound + np.asarray(k_off, float), 1e-300)


def langmuir_step_response(t, concentration, k_on, k_off):
    """Analytic coverage after a concentration step at ``t = 0`` from ``theta = 0``.

    ``theta(t) = theta_eq (1 - exp(-(k_on c + k_off) t))``.
    """
    rate = k_on * concentration + k_off
    return k_on * concentration / rate * (1 - np.exp(-rate * np.asarray(t, float)))


def johnson_rms(temperature, resistance, bandwidth):
    """RMS Johnson-Nyquist voltage ``sqrt(4 k_B T R df)`` in V (T in K, R in ohm, df in Hz)."""
    return np.sqrt(4 * K_B * np.asarray(temperature, float) * np.asarray(resistance, float)
                   * np.asarray(bandwidth, float))


def white_noise(shape, rms, rng: np.random.Generator):
    """Gaussian white noise of standard deviation ``rms`` (broadcast over the leading axes)."""
    return rng.standard_normal(shape) * np.asarray(rms, float)[..., None]


def flicker_noise(shape, rms, rng: np.random.Generator, exponent: float = 1.0):
    """Gaussian ``1/f**exponent`` noise along the last axis, each series scaled to std ``rms``.

    Built by shaping the spectrum of white noise with ``f**(-exponent/2)``
    (frequencies ``1/(n dt) .. 1/(2 dt)``; the DC bin is zero), then normalizing
    every series to zero mean and the requested standard deviation (so the
    statistics do not depend on ``dt``).
    """
    shape = tuple(shape)
    n = shape[-1]
    rms = np.asarray(rms, float)
    if n < 2:
        return np.zeros(shape)
    spec = rng.standard_normal(shape[:-1] + (n // 2 + 1,)) + 1j * rng.standard_normal(shape[:-1] + (n // 2 + 1,))
    f = np.arange(n // 2 + 1, dtype=float)
    scale = np.zeros_like(f)
    scale[1:] = f[1:] ** (-exponent / 2)
    x = np.fft.irfft(spec * scale, n=n, axis=-1)
    x -= x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return x / np.where(std > 0, std, 1.0) * rms[..., None]


def drift(shape, dt: float, slope, walk, rng: np.random.Generator):
    """Baseline drift ``slope t + walk W(t)`` along the last axis (t = k dt, W a Wiener process).

    ``slope`` (signal units per s) and ``walk`` (signal units per sqrt(s))
    broadcast over the leading axes. The value at step 0 is 0.
    """
    shape = tuple(shape)
    n = shape[-1]
    t = np.arange(n) * dt
    out = np.asarray(slope, float)[..., None] * t
    walk = np.asarray(walk, float)
    if np.any(walk != 0):
        steps = rng.standard_normal(shape) * np.sqrt(dt)
        steps[..., 0] = 0.0
        out = out + np.cumsum(steps, axis=-1) * walk[..., None]
    return np.broadcast_to(out, shape).copy()
