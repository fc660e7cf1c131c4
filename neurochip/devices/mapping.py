"""Weight mapping: float weights <-> differential conductance pairs quantized to device levels.

A signed weight is stored as ``w = k (G+ - G-)``. With the nominal range
``R = g_max - g_min`` and ``k = max|w| / R`` (unless given):

* ``w >= 0``: ``G+ = g_min + |w| / k``, ``G- = g_min``; ``w < 0``: the mirror image;
* the target conductance is quantized to the nearest level of the nominal
  potentiation curve (devices are written from reset by ``n`` potentiation pulses);
* :func:`map_weights` then writes real devices drawn from the model (their own
  bounds and curves, stuck-at faults), either open loop (``n`` pulses from reset,
  with the cycle-to-cycle noise of ``n`` pulses, ``c2c_sigma (g_max - g_min)
  sqrt(n)``) or with write-verify (each device ends on its own level nearest
  the target; the verify loop removes cycle-to-cycle noise), adds the write
  noise ``write_sigma g_max`` and reads them back (optional drift and read noise).

The mapping error is reported as max and RMS of ``w_realized - w_target``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import Quantity, second, siemens

from neurochip._validation import check_float, check_quantity
from neurochip.devices import functional as F


def mapping_error(target, realized) -> dict:
    """``{"max": max |realized - target|, "rms": sqrt(mean((realized - target)^2))}`` (0 for no weights)."""
    target = np.asarray(target, dtype=float)
    realized = np.asarray(realized, dtype=float)
    if target.shape != realized.shape:
        raise ValueError(f"mapping_error: shapes differ, {target.shape} and {realized.shape}")
    if target.size == 0:
        return {"max": 0.0, "rms": 0.0}
    err = realized - target
    return {"max": float(np.max(np.abs(err))), "rms": float(np.sqrt(np.mean(err ** 2)))}


def weight_scale(model, weights) -> float:
    """Default ``k = max|w| / (g_max - g_min)`` (weight per siemens); ``1/R`` for all-zero weights."""
    span = model.g_max_s - model.g_min_s
    wmax = float(np.max(np.abs(weights))) if np.size(weights) else 0.0
    return (wmax if wmax > 0 else 1.0) / span


def _check_weights(weights) -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"weights should be an array of numbers, got {type(weights).__name__}") from None
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weights should be finite, got {int(np.sum(~np.isfinite(w)))} non-finite values")
    return w


def _nearest_level(y, grid: np.ndarray) -> np.ndarray:
    """Index of the value of the increasing ``grid`` nearest to each ``y``."""
    idx = np.clip(np.searchsorted(grid, y), 1, grid.size - 1)
    left, right = grid[idx - 1], grid[idx]
    return np.where(np.abs(y - left) <= np.abs(right - y), idx - 1, idx)


def weights_to_conductances(model, weights, *, k: float | None = None):
    """Nominal quantized pairs: ``(g_plus, g_minus, pulses_plus, pulses_minus, k)``.

    ``g_plus``/``g_minus`` are float arrays in siemens on the nominal potentiation
    levels; ``pulses_*`` are the level indices (pulses from reset).
    """
    w = _check_weights(weights)
    k = weight_scale(model, w) if k is None else check_float("weights_to_conductances", "k", k, low=0, low_open=True)
    span = model.g_max_s - model.g_min_s
    grid = F.levels(0.0, 1.0, model.a_p, model.n_levels)
    n = _nearest_level(np.clip(np.abs(w) / (k * span), 0.0, 1.0), grid)
    n_plus = np.where(w > 0, n, 0).astype(np.int64)
    n_minus = np.where(w < 0, n, 0).astype(np.int64)
    g_plus = model.g_min_s + span * grid[n_plus]
    g_minus = model.g_min_s + span * grid[n_minus]
    return g_plus, g_minus, n_plus, n_minus, k


def conductances_to_weights(g_plus, g_minus, k: float) -> np.ndarray:
    """``w = k (G+ - G-)`` (conductances as floats in siemens or Quantities)."""
    gp = g_plus / siemens if isinstance(g_plus, Quantity) else np.asarray(g_plus, dtype=float)
    gm = g_minus / siemens if isinstance(g_minus, Quantity) else np.asarray(g_minus, dtype=float)
    return k * (np.asarray(gp, dtype=float) - np.asarray(gm, dtype=float))


@dataclass
class WeightMapping:
    """Result of :func:`map_weights` (all conductances floats in siemens).

    Attributes
    ----------
    k : float
        Weight per siemens.
    weights_target, weights_quantized, weights_realized : ndarray
        Targets; after quantization to nominal levels only; as realized by the
        drawn devices (and read at ``t``).
    g_plus, g_minus : ndarray
        Conductances read back (what ``weights_realized`` is made of).
    pulses_plus, pulses_minus : ndarray of int
        Potentiation pulses written from reset.
    arrays_plus, arrays_minus : DeviceArrays
    state_plus, state_minus : DeviceState
        Programmed state (before drift and read noise).
    """

    k: float
    weights_target: np.ndarray
    weights_quantized: np.ndarray
    weights_realized: np.ndarray
    g_plus: np.ndarray
    g_minus: np.ndarray
    pulses_plus: np.ndarray
    pulses_minus: np.ndarray
    arrays_plus: F.DeviceArrays
    arrays_minus: F.DeviceArrays
    state_plus: F.DeviceState
    state_minus: F.DeviceState

    @property
    def quantization_error(self) -> dict:
        """Max / RMS error of quantizing to the nominal levels only."""
        return mapping_error(self.weights_target, self.weights_quantized)

    @property
    def error(self) -> dict:
        """Max / RMS error of the realized weights."""
        return mapping_error(self.weights_target, self.weights_realized)


def _verify_pulses(model, arrays: F.DeviceArrays, g_target: np.ndarray) -> np.ndarray:
    """Per device, the potentiation level nearest ``g_target`` on the device's own curve."""
    p = model.n_levels - 1
    span = arrays.g_max - arrays.g_min
    y = np.clip((g_target - arrays.g_min) / span, 0.0, 1.0)
    x = F.inverse_curve(y, arrays.a_p) * p
    lo = np.clip(np.floor(x), 0, p)
    hi = np.clip(lo + 1, 0, p)
    g_lo = F.curve(lo / p, arrays.a_p)
    g_hi = F.curve(hi / p, arrays.a_p)
    return np.where(np.abs(y - g_lo) <= np.abs(g_hi - y), lo, hi).astype(np.int64)


def map_weights(model, weights, *, k: float | None = None, random_state=None, t: Quantity | None = None,
                read_noise: bool = False) -> WeightMapping:
    """Write float ``weights`` (any shape) into differential pairs of devices drawn from ``model``.

    Parameters
    ----------
    model : DeviceModel
    weights : array
        Target weights; element ``i`` uses devices ``i`` (``G+``) and ``size + i`` (``G-``).
    k : float, optional
        Weight per siemens (default :func:`weight_scale`).
    random_state : int or Generator, optional
        Default: the model's seed. Order of draws: devices, write (cycle-to-cycle and
        write) noise, read noise.
    t : Quantity (second), optional
        Read time after programming (drift); ``None``: no drift.
    read_noise : bool
        Add one read's noise to the realized weights.

    Returns
    -------
    WeightMapping
    """
    w = _check_weights(weights)
    shape = w.shape
    w = w.ravel()
    n = w.size
    g_plus_q, g_minus_q, n_plus, n_minus, k = weights_to_conductances(model, w, k=k)
    rng = model.rng(random_state)
    arrays = model.sample(2 * n, random_state=rng)
    arrays_plus, arrays_minus = arrays.take(slice(0, n)), arrays.take(slice(n, 2 * n))
    pulses = np.concatenate([n_plus, n_minus])
    if model.write_verify:
        pulses = np.where(pulses > 0, _verify_pulses(model, arrays, np.concatenate([g_plus_q, g_minus_q])), 0)
    if model.write_verify:
        # the verify loop lands each device on its level: no accumulated cycle-to-cycle noise
        state = F.program_levels(arrays, pulses, model.pulse_params._replace(c2c_sigma=0.0))
    else:
        state = F.program_levels(arrays, pulses, model.pulse_params, rng if model.c2c_sigma > 0 else None)
    if model.write_sigma > 0:
        noisy = np.clip(state.g + model.write_sigma * model.g_max_s * rng.standard_normal(2 * n),
                        arrays.g_min, arrays.g_max)
        state = F.DeviceState(np.where(arrays.stuck == F.FREE, noisy, state.g), state.t_prog)
    tt = None if t is None else float(check_quantity("map_weights", "t", t, second) / second)
    g = F.read(state, arrays, model.read_params, t=tt, rng=rng if read_noise else None)
    realized = k * (g[:n] - g[n:])
    return WeightMapping(
        k=k, weights_target=w.reshape(shape), weights_quantized=(k * (g_plus_q - g_minus_q)).reshape(shape),
        weights_realized=realized.reshape(shape), g_plus=g[:n].reshape(shape), g_minus=g[n:].reshape(shape),
        pulses_plus=pulses[:n].reshape(shape), pulses_minus=pulses[n:].reshape(shape),
        arrays_plus=arrays_plus, arrays_minus=arrays_minus,
        state_plus=F.DeviceState(state.g[:n], state.t_prog[:n]),
        state_minus=F.DeviceState(state.g[n:], state.t_prog[n:]))
