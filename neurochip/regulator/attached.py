"""The meta-regulator attached to a running network: its actuators and what the result says.

During a run (``neurochip.reference.simulate(..., regulator=reg)``,
``neurochip.simulate(..., regulator=reg)``, ``mapping.compile(net, target,
regulator=reg)`` + ``mapping.run``) the regulator counts the spikes of the
monitored nodes, closes a window every ``W`` steps (:func:`~neurochip.regulator.core.window_step`)
and sets its actuators with :func:`~neurochip.regulator.core.action_step`: a window
completed at step ``s`` acts from step ``s + 1``:

* **thresholds** (``recalibrate``): the scaled ``vth`` of a monitored population is the
  threshold the neurons compare ``v`` with from then on;
* **plasticity gate** (every policy): projections with ``gated=True`` apply their rule's
  weight updates only at steps where the gate is open (traces always evolve);
* **output hold** (``safe_mode``): the spikes of the held populations (the regulator's
  ``outputs``) at held steps are withheld from ``result.spikes``; the neurons still
  spike and drive the network (so the regulator sees a recovery), and the withheld
  spikes are listed in ``result.info["regulator"]["held_spikes"]``.

Every backend records the changes as rows ``(step, actuator, node index, value)``
(:func:`~neurochip.regulator.core.action_changes`, the step from which the value holds);
:func:`run_info` turns them and the log into ``result.info["regulator"]``, the same
dictionary on every backend (tests compare them).
"""
from __future__ import annotations

import numpy as np

from neurochip._validation import describe
from neurochip.network import Network
from neurochip.regulator.core import (ACTUATORS, GATE, HOLD, VTH, RegulatorState, action_changes,
                                      action_step, window_step)
from neurochip.regulator.model import MetaRegulator, RegulatorLog


def check_attachable(regulator, net: Network, owner: str) -> MetaRegulator:
    """A fitted :class:`MetaRegulator` whose monitored nodes are in ``net`` with their sizes."""
    if not isinstance(regulator, MetaRegulator):
        raise ValueError(f"{owner}: regulator should be a fitted neurochip.regulator.MetaRegulator, "
                         f"got {describe(regulator)}")
    regulator._check_fitted()
    regulator.action_params(net)  # names and sizes
    return regulator


class Actuation:
    """The actuators of one regulated run, changed once per closed window.

    Parameters
    ----------
    regulator : MetaRegulator
        Fitted.
    net : Network
        The network that runs (its thresholds are the initial ones).

    Attributes
    ----------
    state : ActionState
    rows : list of (step, actuator code, node index, value)
        Changes, each holding from its step on.
    outputs : list of str
        Populations the hold applies to.
    gated : list of str
        Projections the gate applies to.
    """

    def __init__(self, regulator: MetaRegulator, net: Network):
        self.regulator = regulator
        self.params, self.state = regulator.action_params(net)
        self.outputs = regulator.held_outputs(net)
        self.gated = [p.name for p in net.projections if p.gated]
        self.rows: list[tuple] = []

    def close(self, step: int, event: np.ndarray, count: np.ndarray, alarm: np.ndarray) -> list[tuple]:
        """Act on a window closed with ``event``, ``count``, ``alarm``; changes hold from ``step`` on."""
        new = action_step(self.state, np.asarray(event), np.asarray(count), np.asarray(alarm), self.params)
        rows = action_changes(self.state, new, step)
        self.state = new
        self.rows += rows
        return rows


class NumpyRegulator(Actuation):
    """The regulator inside the numpy reference's step loop.

    The loop reads :attr:`state` (thresholds, gate, hold) for step ``k``, then calls
    :meth:`end_step` with the monitored nodes' spike counts of step ``k``.
    """

    def __init__(self, regulator: MetaRegulator, net: Network):
        super().__init__(regulator, net)
        self.counter = RegulatorState.zeros(len(regulator.populations_))
        self.table: list[tuple] = []

    def end_step(self, k: int, counts: np.ndarray) -> list[tuple]:
        """Count step ``k``; if it completes a window, judge it and act from ``k + 1``. Returns the changes."""
        reg = self.regulator
        self.counter = self.counter._replace(count=self.counter.count + counts)
        if (k + 1) % reg.window:
            return []
        if (k + 1) // reg.window - 1 < reg.warmup_windows:
            self.counter = self.counter._replace(count=np.zeros_like(counts))   # warm-up: closed, not judged
            return []
        closed = self.counter.count
        event, self.counter = window_step(self.counter, reg.band_)
        self.table += [(k, int(p), int(event[p]), int(closed[p])) for p in np.nonzero(event)[0]]
        return self.close(k + 1, event, closed, self.counter.alarm)

    def log(self, n_steps: int, backend: str) -> RegulatorLog:
        return self.regulator.make_log(np.array(self.table, dtype=np.int64).reshape(-1, 4), n_steps=n_steps,
                                       backend=backend)


def held_spikes_info(held: dict) -> dict:
    """``{population: {"indices": [...], "steps": [...]}}`` of withheld spikes (JSON lists)."""
    return {p: {"indices": np.asarray(s[0], dtype=np.int64).tolist(), "steps": np.asarray(s[1], dtype=np.int64).tolist()}
            for p, s in held.items()}


def intervals(rows: list, code: int, n_steps: int) -> list[list[int]]:
    """``[start, stop)`` intervals where actuator ``code`` (gate or hold) is on."""
    out, start = [], None
    for step, c, _, value in rows:
        if c != code:
            continue
        if value and start is None:
            start = int(step)
        elif not value and start is not None:
            out.append([start, int(step)])
            start = None
    if start is not None:
        out.append([start, int(n_steps)])
    return out


def run_info(regulator: MetaRegulator, net: Network, log: RegulatorLog, rows, n_steps: int, *,
             held: dict | None = None) -> dict:
    """``result.info["regulator"]`` of a regulated run (JSON-ready).

    Parameters
    ----------
    regulator, net
        The attached regulator and the network that ran.
    log : RegulatorLog
    rows : sequence of (step, actuator code, node index, value)
        Actuator changes of the run; those from step ``n_steps`` on act on no step and are dropped.
    n_steps : int
    held : dict of population to (indices, steps), optional
        Withheld output spikes.

    Returns
    -------
    dict
        ``policy``, ``log`` (:meth:`RegulatorLog.to_dict`), ``actions`` (the changes as
        ``{"step", "actuator", "node", "value"}``), ``thresholds`` (per monitored population:
        ``[[step, vth], ...]`` from step 0), ``gate_intervals`` and ``held_intervals``
        (``[start, stop)`` steps), ``gate_open_steps``, ``held_steps``, ``outputs``,
        ``gated_projections``, ``held_spikes``.
    """
    rows = sorted((int(s), int(c), int(i), float(v)) for s, c, i, v in rows if int(s) < n_steps)
    params, state = regulator.action_params(net)
    names = regulator.populations_
    thresholds = {p: [[0, float(state.vth[k])]] for k, p in enumerate(names) if params.scalable[k]}
    for step, code, index, value in rows:
        if code == VTH:
            thresholds[names[index]].append([step, value])
    gate = intervals(rows, GATE, n_steps)
    hold = intervals(rows, HOLD, n_steps)
    return {
        "policy": regulator.policy,
        "log": log.to_dict(),
        "actions": [{"step": s, "actuator": ACTUATORS[c], "node": names[i] if i >= 0 else None, "value": v}
                    for s, c, i, v in rows],
        "thresholds": thresholds,
        "gate_intervals": gate,
        "gate_open_steps": int(sum(b - a for a, b in gate)),
        "held_intervals": hold,
        "held_steps": int(sum(b - a for a, b in hold)),
        "outputs": regulator.held_outputs(net),
        "gated_projections": [p.name for p in net.projections if p.gated],
        "held_spikes": held_spikes_info(held or {}),
    }


def open_mask(info: dict, key: str, n_steps: int) -> np.ndarray:
    """Boolean array over steps from ``info[key]`` intervals (``"gate_intervals"`` or ``"held_intervals"``)."""
    mask = np.zeros(n_steps, dtype=bool)
    for a, b in info.get(key, []):
        mask[a:b] = True
    return mask
