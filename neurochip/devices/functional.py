"""Pure step functions of memristive devices, on arrays (Norse style).

Every function here takes per-device arrays and returns new arrays; nothing is
stored. Conductances are floats in siemens, times floats in seconds. The thin
classes of :mod:`neurochip.devices.model` add units, validation and seeding.

Update model (NeuroSim / Querlioz soft bounds)
----------------------------------------------
A device has ``L_p`` conductance levels along its potentiation (LTP) curve and
``L_d`` along its depression (LTD) curve. With ``P = L - 1`` and the pulse
position ``p`` in ``0 .. P``, the conductance on a curve is

.. math::

    G(p) = B \\left(1 - e^{-p / A}\\right) + G_{min},\\qquad
    B = \\frac{G_{max} - G_{min}}{1 - e^{-P / A}}

(Chen, Peng & Yu, NeuroSim, IEEE TCAD 2018; Querlioz et al., IEEE Trans.
Nanotechnol. 2013). We store ``a = A / P`` (the *normalized* A) so that with
``x = p / P`` and ``y = (G - G_min) / (G_max - G_min)``::

    y = curve(x, a)  = expm1(-x / a) / expm1(-1 / a)
    x = inverse(y, a) = -a * log1p(y * expm1(-1 / a))

``a > 0`` saturates (concave, large steps near ``G_min``: usual potentiation),
``a < 0`` is the mirror image (large steps near ``G_max``: usual depression),
and ``|a| -> inf`` is linear; ``|a|`` is capped at :data:`A_LINEAR` so that the
same arithmetic serves every case (relative error below 1e-8 for linear).
The conductance of a device is ``dG/dp = (B - (G - G_min)) / A``: a soft bound.

One programming event of ``n`` pulses (``n > 0`` potentiation, ``n < 0``
depression) on a device of conductance ``G``:

1. ``p = floor(inverse(y, a) * P + 1/2)``: the nearest level of the pulse
   direction's curve (``a = a_p, P = L_p - 1`` for ``n > 0``, else ``a_d, L_d``),
2. ``p' = clip(p + n, 0, P)``, ``G' = G_min + (G_max - G_min) curve(p' / P, a)``,
3. cycle-to-cycle noise ``G' += sigma_c2c (G_max - G_min) sqrt(|n|) N(0, 1)``
   (NeuroSim's ``sigmaCtoC``), then ``G' = clip(G', G_min, G_max)``.

Without noise a device therefore always sits on one of its curves' levels: a
potentiation-only pulse train visits exactly ``L_p`` conductances and a
depression-only one exactly ``L_d``; a mixed train stays on the union of the two
grids, which is one grid of ``L`` levels when both directions share a curve
(``a_d = a_p``, ``L_d = L_p``, e.g. linear devices). A pulse never moves a
noise-free device the wrong way (the rounding moves it by at most half a level).

Read model
----------
``G_read(t) = G_0 (max(t - t_prog, t_0) / t_0)^{-nu} (1 + sigma_read N(0, 1))``:
power-law drift of phase-change memory (Ielmini et al. 2007; IBM aihwkit
``PCMLikeNoiseModel``) after the device was last programmed at ``t_prog``,
then multiplicative read noise (NeuroSim's ``sigmaReadNoise``). Stuck devices
have ``nu = 0``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Cap of ``|a|``: a curve with ``|a| = A_LINEAR`` is linear to 1e-8.
A_LINEAR = 1e8

#: Largest accepted ``|nonlinearity|`` label (NeuroSim's table covers 0.01 .. 9).
NL_MAX = 9.0

#: Maximum deviation of the normalized curve from the straight line per unit of
#: NeuroSim's nonlinearity label. Calibrated so that :func:`nonlinearity_to_a`
#: reproduces NeuroSim's ``getParamA`` table (MLP_NeuroSim_V3.0, formula.cpp) within
#: 0.1 % at NL = 0.01, 1, 1.51, 3.01, 4.51, 6.01, 7.51 (tested).
NL_DEVIATION_PER_UNIT = 0.0989949

# Stuck codes of DeviceArrays.stuck
FREE, STUCK_MIN, STUCK_MAX = 0, 1, 2


class DeviceArrays(NamedTuple):
    """Per-device parameters drawn once (device-to-device variability).

    Attributes
    ----------
    g_min, g_max : ndarray of float
        Bounds of each device (siemens), ``g_min < g_max``.
    a_p, a_d : ndarray of float
        Normalized nonlinearity ``A / P`` of the potentiation and depression
        curves (signed; ``+-A_LINEAR`` is linear).
    nu : ndarray of float
        Drift exponent (0 for no drift and for stuck devices).
    stuck : ndarray of int8
        ``FREE`` (0), ``STUCK_MIN`` (1) or ``STUCK_MAX`` (2).
    """

    g_min: np.ndarray
    g_max: np.ndarray
    a_p: np.ndarray
    a_d: np.ndarray
    nu: np.ndarray
    stuck: np.ndarray

    @property
    def size(self) -> int:
        return int(np.size(self.g_min))

    def take(self, index) -> "DeviceArrays":
        """The devices at ``index`` (any numpy index)."""
        return DeviceArrays(*(np.asarray(f)[index] for f in self))


class DeviceState(NamedTuple):
    """Dynamic state: programmed conductance ``g`` (S) and last programming time ``t_prog`` (s)."""

    g: np.ndarray
    t_prog: np.ndarray


class PulseParams(NamedTuple):
    """Parameters shared by all devices of a model, used by :func:`program`."""

    n_levels_p: int
    n_levels_d: int
    c2c_sigma: float = 0.0


class ReadParams(NamedTuple):
    """Parameters shared by all devices of a model, used by :func:`read`."""

    t0: float = 1.0
    read_sigma: float = 0.0


# ----------------------------------------------------------------------- curves
def _deviation(a: np.ndarray) -> np.ndarray:
    """Maximum of ``curve(x, a) - x`` over ``x`` in [0, 1], for ``a > 0``."""
    d = -np.expm1(-1.0 / a)
    ad = a * d
    return (1.0 - ad) / d + a * np.log(ad)


_A_GRID = np.logspace(np.log10(0.012), np.log10(A_LINEAR), 4000)
_NL_GRID = _deviation(_A_GRID) / NL_DEVIATION_PER_UNIT  # decreasing in a


def nonlinearity_to_a(nl) -> np.ndarray:
    """Normalized curve parameter ``a = A / P`` for NeuroSim nonlinearity labels.

    The label ``NL`` is proportional to the largest deviation of the normalized
    curve from the straight line, ``max_x (y(x) - x) = 0.0989949 |NL|``; its sign
    selects the branch (``NL > 0``: ``a > 0``, saturating; ``NL < 0``: mirrored).
    ``NL = 0`` gives ``A_LINEAR`` (linear).

    Parameters
    ----------
    nl : float or array
        Labels in ``[-NL_MAX, NL_MAX]``.

    Returns
    -------
    ndarray of float
    """
    nl = np.asarray(nl, dtype=float)
    mag = np.abs(nl)
    # interpolate log(a) against NL on the precomputed (monotonic) grid
    log_a = np.interp(mag, _NL_GRID[::-1], np.log(_A_GRID[::-1]),
                      left=np.log(A_LINEAR), right=np.log(_A_GRID[0]))
    a = np.exp(log_a)
    a = np.where(mag < _NL_GRID[-1], A_LINEAR, a)
    return np.where(nl < 0, -a, a)


def curve(x, a):
    """Normalized conductance ``y = expm1(-x/a) / expm1(-1/a)`` at normalized pulse position ``x``."""
    x = np.asarray(x, dtype=float)
    a = np.asarray(a, dtype=float)
    return np.expm1(-x / a) / np.expm1(-1.0 / a)


def inverse_curve(y, a):
    """Normalized pulse position ``x = -a log1p(y expm1(-1/a))`` of normalized conductance ``y``."""
    y = np.asarray(y, dtype=float)
    a = np.asarray(a, dtype=float)
    return -a * np.log1p(y * np.expm1(-1.0 / a))


def levels(g_min, g_max, a, n_levels: int) -> np.ndarray:
    """The ``n_levels`` conductances of one curve: ``G_min + (G_max - G_min) curve(k/P, a)``, k = 0..P.

    With array ``g_min``/``g_max``/``a`` of shape ``S``, the result has shape ``S + (n_levels,)``.
    """
    g_min = np.asarray(g_min, dtype=float)[..., None]
    g_max = np.asarray(g_max, dtype=float)[..., None]
    a = np.asarray(a, dtype=float)[..., None]
    x = np.arange(n_levels) / (n_levels - 1)
    y = curve(x, a)
    y[..., 0], y[..., -1] = 0.0, 1.0
    return g_min + (g_max - g_min) * y


# -------------------------------------------------------------------- programming
def program(state: DeviceState, pulses, arrays: DeviceArrays, params: PulseParams,
            rng: np.random.Generator | None = None, t: float = 0.0) -> DeviceState:
    """Apply ``pulses[i]`` programming pulses to device ``i`` (pure; returns a new state).

    Parameters
    ----------
    state : DeviceState
    pulses : int array (broadcast to the state's shape)
        Signed pulse counts: ``> 0`` potentiation, ``< 0`` depression, 0 untouched.
    arrays : DeviceArrays
    params : PulseParams
    rng : numpy Generator, optional
        Source of cycle-to-cycle noise; required when ``params.c2c_sigma > 0``.
    t : float
        Time of the programming event (s); becomes ``t_prog`` of programmed devices.

    Returns
    -------
    DeviceState
        Devices with ``pulses == 0`` and stuck devices are unchanged.

    Notes
    -----
    See the module docstring for the update; the cost is a few transcendental
    functions per device, vectorized over all devices.
    """
    g = np.asarray(state.g, dtype=float)
    n = np.broadcast_to(np.asarray(pulses), g.shape).astype(np.int64)
    up = n > 0
    span = arrays.g_max - arrays.g_min
    a = np.where(up, arrays.a_p, arrays.a_d)
    p_max = np.where(up, params.n_levels_p - 1, params.n_levels_d - 1)
    y = np.clip((g - arrays.g_min) / span, 0.0, 1.0)
    p = np.floor(inverse_curve(y, a) * p_max + 0.5)
    p_new = np.clip(p + n, 0, p_max)
    g_new = arrays.g_min + span * curve(p_new / p_max, a)
    if params.c2c_sigma > 0:
        if rng is None:
            raise ValueError("program: c2c_sigma > 0 needs a random generator (rng)")
        g_new = g_new + params.c2c_sigma * span * np.sqrt(np.abs(n)) * rng.standard_normal(g.shape)
    g_new = np.clip(g_new, arrays.g_min, arrays.g_max)
    moved = (n != 0) & (arrays.stuck == FREE)
    return DeviceState(np.where(moved, g_new, g), np.where(moved, t, state.t_prog))


def program_levels(arrays: DeviceArrays, n_pulses, params: PulseParams,
                   rng: np.random.Generator | None = None, t: float = 0.0) -> DeviceState:
    """Reset every device to ``G_min`` and apply ``n_pulses`` potentiation pulses (open-loop write)."""
    state = initial_state(arrays)
    return program(state, n_pulses, arrays, params, rng, t=t)


def initial_state(arrays: DeviceArrays, g=None, t: float = 0.0) -> DeviceState:
    """State with every free device at ``g`` (default ``G_min``), stuck devices at their stuck value."""
    g = arrays.g_min.copy() if g is None else np.broadcast_to(np.asarray(g, float), arrays.g_min.shape).copy()
    g = np.clip(g, arrays.g_min, arrays.g_max)
    g = np.where(arrays.stuck == STUCK_MIN, arrays.g_min, g)
    g = np.where(arrays.stuck == STUCK_MAX, arrays.g_max, g)
    return DeviceState(g, np.full(g.shape, float(t)))


# ---------------------------------------------------------------------- reading
def drift(g0, age, nu, t0: float):
    """Power-law drift ``G(t) = G_0 (t / t_0)^{-nu}`` for ``t = age > t_0`` (``G_0`` before)."""
    age = np.asarray(age, dtype=float)
    return np.asarray(g0, dtype=float) * (np.maximum(age, t0) / t0) ** (-np.asarray(nu, dtype=float))


def read(state: DeviceState, arrays: DeviceArrays, params: ReadParams, t: float | None = None,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """Conductance read at time ``t`` (s): drift since ``t_prog`` (none if ``t`` is None), read noise if ``rng``.

    ``G = G_0 (max(t - t_prog, t0)/t0)^{-nu} (1 + read_sigma N(0, 1))``.
    """
    g = np.asarray(state.g, dtype=float)
    if t is not None:
        g = drift(g, t - np.asarray(state.t_prog), arrays.nu, params.t0)
    if rng is not None and params.read_sigma > 0:
        g = g * (1.0 + params.read_sigma * rng.standard_normal(g.shape))
    return g


# ------------------------------------------------------------- weight updates
def dw_step(device, k: float, pulse_gain: float | None = None):
    """Weight change a rule asks for per programming pulse: ``k (g_max - g_min) / (n_levels - 1) / pulse_gain``.

    ``k (g_max - g_min) / (n_levels - 1)`` is the nominal weight change of one
    linear level; ``pulse_gain`` (default ``device.pulse_gain``, scalar or array of
    candidates) is the number of pulses sent per such level of requested change,
    the device's learning rate.
    """
    gain = getattr(device, "pulse_gain", 1.0) if pulse_gain is None else pulse_gain
    step = k * (device.g_max_s - device.g_min_s) / (device.n_levels - 1) / np.asarray(gain, dtype=float)
    return float(step) if step.ndim == 0 else step


def dw_to_pulses(dw, g_plus, g_minus, arrays_plus: DeviceArrays, arrays_minus: DeviceArrays,
                 dw_step: float, scheme: str = "pair") -> tuple[np.ndarray, np.ndarray]:
    """Signed pulse counts ``(n_plus, n_minus)`` realizing weight changes ``dw`` on pairs ``w = k (G+ - G-)``.

    ``n = sign(dw) floor(|dw| / dw_step + 1/2)`` with ``dw_step = k (G_max - G_min) / (L_p - 1) / pulse_gain``
    (the nominal weight change of one linear level, divided by the pulses per level: :func:`dw_step`). Schemes:

    ``"pair"``
        ``n > 0``: depress ``G-`` by ``n`` pulses if it is above its ``G_min``, else potentiate
        ``G+``; ``n < 0``: depress ``G+`` if above its ``G_min``, else potentiate ``G-``. One
        device of a pair stays at (or returns to) ``G_min``, as the weight mapping leaves it.
        All ``n`` pulses go to one device: pulses past its ``G_min`` are lost (a weight
        crosses zero over two updates, not one).
    ``"set_only"``
        ``n > 0`` potentiates ``G+``, ``n < 0`` potentiates ``G-`` (SET pulses only, as for PCM
        whose RESET is abrupt; Burr et al. 2015). Pairs saturate and need a refresh.
    """
    dw = np.asarray(dw, dtype=float)
    n = (np.sign(dw) * np.floor(np.abs(dw) / dw_step + 0.5)).astype(np.int64)
    pos, neg = n > 0, n < 0
    if scheme == "pair":
        m_above = g_minus > arrays_minus.g_min + 1e-6 * (arrays_minus.g_max - arrays_minus.g_min)
        p_above = g_plus > arrays_plus.g_min + 1e-6 * (arrays_plus.g_max - arrays_plus.g_min)
        n_plus = np.where((pos & ~m_above) | (neg & p_above), n, 0)
        n_minus = np.where((pos & m_above) | (neg & ~p_above), -n, 0)
    elif scheme == "set_only":
        n_plus = np.where(pos, n, 0)
        n_minus = np.where(neg, -n, 0)
    else:
        raise ValueError(f"dw_to_pulses: scheme should be 'pair' or 'set_only', got {scheme!r}")
    return n_plus, n_minus


def apply_dw(state_plus: DeviceState, state_minus: DeviceState, dw, arrays_plus: DeviceArrays,
             arrays_minus: DeviceArrays, params: PulseParams, dw_step: float, scheme: str = "pair",
             rng: np.random.Generator | None = None, t: float = 0.0) -> tuple[DeviceState, DeviceState]:
    """Turn weight changes ``dw`` into programming pulses on the pairs (the numpy twin of the Brian2 code).

    Returns the new ``(state_plus, state_minus)``; the ``G+`` devices are programmed
    before the ``G-`` devices (noise draws in that order).
    """
    n_plus, n_minus = dw_to_pulses(dw, state_plus.g, state_minus.g, arrays_plus, arrays_minus,
                                   dw_step, scheme)
    new_plus = program(state_plus, n_plus, arrays_plus, params, rng, t=t)
    new_minus = program(state_minus, n_minus, arrays_minus, params, rng, t=t)
    return new_plus, new_minus
