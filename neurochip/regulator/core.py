"""Pure functions of the meta-regulator, on count arrays (no simulator inside).

Time is cut into windows of ``W`` steps: window ``w`` holds steps
``[w W, (w + 1) W)`` and *completes* at step ``(w + 1) W - 1``; events are
stamped with that step. For every monitored population ``p`` the regulator
keeps the spike count ``c_p`` of the running window and, when a window
completes, updates its state with :func:`window_step`::

    above = c > high          below = c < low          zero = c == 0
    run_high = (run_high + 1) * above          # consecutive windows above the band
    run_low  = (run_low + 1) * below
    run_zero = (run_zero + 1) * zero
    ok       = !above & !below & (!zero | alarm != SILENCE)
    run_ok   = (run_ok + 1) * ok
    kind     = HIGH     if run_high >= persist
               SILENCE  elif run_zero >= silence_windows
               LOW      elif run_low >= persist
               0        otherwise
    event    = kind       if kind != 0 and kind != alarm      (a new alarm)
               RECOVERED  elif alarm != 0 and run_ok >= persist
               0          otherwise
    alarm    = kind if event == kind, 0 if event == RECOVERED, else unchanged
    c = 0

The band ``[low, high]`` and ``silence_windows`` are learned by
:func:`fit_band` from the counts of a calibration period. The same update is
written three times: here (numpy, the reference), in Brian2 abstract code
(:mod:`neurochip.regulator.brian`) and in the Lava process model
(``mapping/lava_regulator/``, which calls this function); tests check that
all agree event for event.

After the window update, :func:`action_step` is the policy's response, the
state of the regulator's three actuators for the steps that follow::

    vth[p]  *= clip(c[p] / mean[p], 0.25, 4)   where event[p] is HIGH or LOW,
                                               p a population, policy recalibrate
    gate     = any(alarm != 0)                 (gated plasticity learns while open)
    hold     = any(alarm != 0)                 policy safe_mode (outputs withheld), else 0

A window that completes at step ``s`` acts from step ``s + 1``. Every backend
(numpy, Brian2, Lava) calls this one function, so thresholds are the same
doubles everywhere.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np

from neurochip._validation import check_float, check_int, describe

HIGH, LOW, SILENCE, RECOVERED = 1, 2, 3, 4
#: Event kind codes and names.
KINDS = {HIGH: "high", LOW: "low", SILENCE: "silence", RECOVERED: "recovered"}

VTH, GATE, HOLD = 1, 2, 3
#: Actuator codes of action records ``(step, code, node index, value)`` and their names.
ACTUATORS = {VTH: "vth", GATE: "gate", HOLD: "hold"}
#: Range of one threshold scaling factor ``count / mean``.
FACTOR_RANGE = (0.25, 4.0)


class BandParams(NamedTuple):
    """Learned normal band, per monitored population (arrays of shape ``(n,)``).

    ``low``/``high`` are spike counts per window; ``silence_windows`` is the
    number of consecutive empty windows that raises ``SILENCE``; ``persist`` is the
    number of consecutive out-of-band windows that raises ``HIGH``/``LOW`` (and
    in-band windows that clear an alarm).
    """

    window: int
    low: np.ndarray
    high: np.ndarray
    silence_windows: np.ndarray
    persist: int


class RegulatorState(NamedTuple):
    """Running state, per monitored population (int64 arrays of shape ``(n,)``)."""

    count: np.ndarray
    run_high: np.ndarray
    run_low: np.ndarray
    run_zero: np.ndarray
    run_ok: np.ndarray
    alarm: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> "RegulatorState":
        return cls(*(np.zeros(n, dtype=np.int64) for _ in cls._fields))


def window_step(state: RegulatorState, params: BandParams) -> tuple[np.ndarray, RegulatorState]:
    """Close the running window: ``(event codes of shape (n,), new state)``.

    See the module docstring for the update. ``state.count`` holds the spike
    counts of the window that just completed; the new state has ``count = 0``.
    """
    c = state.count
    above = c > params.high
    below = c < params.low
    zero = c == 0
    run_high = (state.run_high + 1) * above
    run_low = (state.run_low + 1) * below
    run_zero = (state.run_zero + 1) * zero
    ok = ~above & ~below & (~zero | (state.alarm != SILENCE))
    run_ok = (state.run_ok + 1) * ok
    kind = np.where(run_high >= params.persist, HIGH,
                    np.where(run_zero >= params.silence_windows, SILENCE,
                             np.where(run_low >= params.persist, LOW, 0)))
    new_alarm = (kind != 0) & (kind != state.alarm)
    recovered = ~new_alarm & (state.alarm != 0) & (run_ok >= params.persist)
    event = np.where(new_alarm, kind, np.where(recovered, RECOVERED, 0)).astype(np.int64)
    alarm = np.where(new_alarm, kind, np.where(recovered, 0, state.alarm)).astype(np.int64)
    return event, RegulatorState(np.zeros_like(c), run_high.astype(np.int64), run_low.astype(np.int64),
                                 run_zero.astype(np.int64), run_ok.astype(np.int64), alarm)


def window_counts(indices_steps, n_steps: int, window: int, *, start_step: int = 0) -> np.ndarray:
    """Spike counts per complete window: shape ``(n_windows,)``.

    ``indices_steps`` is a :class:`~neurochip.results.Spikes` or an ``(indices, steps)`` pair;
    windows start at ``start_step`` and only complete windows before ``n_steps`` count.
    """
    steps = np.asarray(indices_steps[1], dtype=np.int64)
    n_windows = max(0, (n_steps - start_step) // window)
    rel = steps - start_step
    rel = rel[(rel >= 0) & (rel < n_windows * window)]
    return np.bincount(rel // window, minlength=n_windows).astype(np.int64)


def fit_band(counts: np.ndarray, *, window: int, k: float = 4.0, min_std: float = 1.0,
             persist: int = 2, alpha: float = 1e-6) -> BandParams:
    """Learn the normal band from calibration counts of shape ``(n_windows, n)``.

    ``low, high = mean -/+ k * max(std, min_std)`` (counts per window), and
    ``silence_windows = ceil(log(alpha) / log(p0))`` with ``p0 = (n_zero + 1) /
    (n_windows + 2)`` the (Laplace-smoothed) calibration probability of an empty
    window, so that a run of empty windows that long has probability below
    ``alpha`` under normal operation (at least ``persist``).
    """
    owner = "fit_band"
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"{owner}: counts should have shape (n_windows, n_populations), got {describe(counts)}")
    if counts.shape[0] == 0:
        raise ValueError(f"{owner}: empty calibration: no complete window of {window} steps "
                         f"(calibrate over at least one window)")
    window = check_int(owner, "window", window, minimum=1)
    k = check_float(owner, "k", k, low=0.0, low_open=True)
    min_std = check_float(owner, "min_std", min_std, low=0.0)
    persist = check_int(owner, "persist", persist, minimum=1)
    alpha = check_float(owner, "alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    counts = counts.astype(float)
    mean = counts.mean(axis=0)
    std = np.maximum(counts.std(axis=0), min_std)
    n = counts.shape[0]
    p0 = ((counts == 0).sum(axis=0) + 1.0) / (n + 2.0)
    silence = np.array([max(persist, math.ceil(math.log(alpha) / math.log(p))) for p in p0], dtype=np.int64)
    return BandParams(window=window, low=mean - k * std, high=mean + k * std,
                      silence_windows=silence, persist=persist)


def run_windows(counts: np.ndarray, params: BandParams, state: RegulatorState | None = None):
    """Apply :func:`window_step` to counts of shape ``(n_windows, n)``.

    Returns ``(events, state)`` with ``events`` an int array ``(m, 3)`` of
    ``(window index, population index, kind)`` rows.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if state is None:
        state = RegulatorState.zeros(counts.shape[1])
    rows = []
    for w in range(counts.shape[0]):
        state = state._replace(count=counts[w])
        event, state = window_step(state, params)
        for p in np.nonzero(event)[0]:
            rows.append((w, p, event[p]))
    return np.array(rows, dtype=np.int64).reshape(-1, 3), state


def count_matrix(spikes: Mapping, populations, n_steps: int, window: int, *, start_step: int = 0) -> np.ndarray:
    """Counts per window of each population: shape ``(n_windows, len(populations))``."""
    return np.stack([window_counts(spikes[p], n_steps, window, start_step=start_step)
                     for p in populations], axis=1) if populations else np.zeros((0, 0), np.int64)


class ActionParams(NamedTuple):
    """What the policy may do (arrays of shape ``(n,)`` over the monitored nodes).

    ``mean`` is the calibration mean count per window, ``scalable`` marks the
    populations whose threshold the policy scales (``recalibrate``); ``safe_mode``
    makes alarms hold the outputs.
    """

    mean: np.ndarray
    scalable: np.ndarray
    recalibrate: bool
    safe_mode: bool


class ActionState(NamedTuple):
    """State of the actuators: thresholds of the monitored nodes (``nan`` for spike sources),
    plasticity gate and output hold (0 or 1)."""

    vth: np.ndarray
    gate: int
    hold: int


def threshold_factor(count, mean) -> np.ndarray:
    """``clip(count / mean, 0.25, 4)`` (a mean below 1e-12 counts as 1e-12)."""
    return np.clip(np.asarray(count) / np.maximum(np.asarray(mean, dtype=float), 1e-12), *FACTOR_RANGE)


def action_step(state: ActionState, event: np.ndarray, count: np.ndarray, alarm: np.ndarray,
                params: ActionParams) -> ActionState:
    """The actuators after a window closed with ``event``, ``count`` and the new ``alarm`` (see the module docstring)."""
    vth = np.array(state.vth, dtype=float, copy=True)
    if params.recalibrate:
        scale = np.asarray(params.scalable, dtype=bool) & ((event == HIGH) | (event == LOW))
        if scale.any():
            vth[scale] = vth[scale] * threshold_factor(count, params.mean)[scale]
    on = int(np.any(np.asarray(alarm) != 0))
    return ActionState(vth, on, on if params.safe_mode else 0)


def action_changes(old: ActionState, new: ActionState, step: int) -> list[tuple]:
    """Rows ``(step, actuator code, node index, value)`` of what changed (index -1 for gate and hold)."""
    rows = [(step, VTH, int(p), float(new.vth[p])) for p in np.nonzero(~(old.vth == new.vth)
                                                                         & np.isfinite(new.vth))[0]]
    if new.gate != old.gate:
        rows.append((step, GATE, -1, float(new.gate)))
    if new.hold != old.hold:
        rows.append((step, HOLD, -1, float(new.hold)))
    return rows

