"""The Lava process and process models of the meta-regulator.

Kept alone in this folder: Lava looks for a process's models by executing every
module beside the process's file.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

import mapping.lava  # noqa: F401  (first: imports Lava whatever multiprocessing start method is set)
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

import os

from neurochip._validation import check_int, describe
from neurochip.regulator.core import (ActionParams, ActionState, BandParams, RegulatorState, action_changes,
                                      action_step, window_step)

#: InPorts of a RegulatorProcess (unused ones stay unconnected and receive nothing).
MAX_POPULATIONS = 8


class RegulatorProcess(AbstractProcess):
    """Meta-regulator process (see the module docstring).

    Parameters
    ----------
    sizes : sequence of int
        Sizes of the monitored populations, in the order their ports are concatenated.
    window, persist : int
    warmup_windows : int
        Windows at the start that are closed without being judged.
    low, high : array of shape (n,)
        Normal band (spike counts per window).
    silence_windows : array of int, shape (n,)
    max_events : int
        Capacity of the event log.
    mean : array of shape (n,), optional
        Calibration mean count per window (threshold factors); actuation only.
    vth : array of shape (n,), optional
        Initial thresholds of the monitored nodes (``nan`` for spike sources).
    recalibrate, safe_mode : bool
        The policy (see :func:`neurochip.regulator.core.action_step`).
    actuated : sequence of (node index, vth, held)
        One per ``act_out<j>`` port: the monitored node whose threshold it carries
        (-1: none, then ``vth`` is sent unchanged) and whether the hold applies.
    nc_record : str, optional
        File the model writes its log and actions to when stopped.
    """

    def __init__(self, *, sizes: Sequence[int], window: int, low, high, silence_windows, persist: int,
                 warmup_windows: int = 0, max_events: int = 256, name: str | None = None, mean=None, vth=None,
                 recalibrate: bool = False, safe_mode: bool = False, actuated: Sequence = (), **kwargs):
        # Lava's __del__ calls stop(), which needs the base initialised even if validation fails.
        super().__init__(name=name, **kwargs)
        sizes = [check_int("RegulatorProcess", "sizes[]", s, minimum=1) for s in sizes]
        if not sizes:
            raise ValueError("RegulatorProcess: sizes is empty; monitor at least one population")
        if len(sizes) > MAX_POPULATIONS:
            raise ValueError(f"RegulatorProcess: at most {MAX_POPULATIONS} populations per regulator process, "
                             f"got {len(sizes)}; use several regulator processes")
        n = len(sizes)
        window = check_int("RegulatorProcess", "window", window, minimum=1)
        persist = check_int("RegulatorProcess", "persist", persist, minimum=1)
        max_events = check_int("RegulatorProcess", "max_events", max_events, minimum=1)
        warmup_windows = check_int("RegulatorProcess", "warmup_windows", warmup_windows, minimum=0)
        actuated = [tuple(a) for a in actuated]
        if len(actuated) > MAX_POPULATIONS:
            raise ValueError(f"RegulatorProcess: at most {MAX_POPULATIONS} regulated populations per regulator "
                             f"process, got {len(actuated)}")
        arrays = {}
        mean = np.zeros(n) if mean is None else mean
        vth = np.full(n, np.nan) if vth is None else vth
        for field, value in (("low", low), ("high", high), ("silence_windows", silence_windows),
                             ("mean", mean), ("vth", vth)):
            arr = np.asarray(value, dtype=float)
            if arr.shape != (n,):
                raise ValueError(f"RegulatorProcess: {field} should have shape ({n},), got {describe(arr)}")
            arrays[field] = arr
        for k in range(MAX_POPULATIONS):
            setattr(self, f"s_in{k}", InPort(shape=(sizes[k] if k < n else 1,)))
        self.n_ports = n
        self.safe_out = OutPort(shape=(n,))
        for j in range(MAX_POPULATIONS):
            setattr(self, f"act_out{j}", OutPort(shape=(2,)))
        self.gate_out = OutPort(shape=(1,))
        self.n_act = Var(shape=(1,), init=np.array([len(actuated)]))
        self.mean = Var(shape=(n,), init=arrays["mean"])
        self.scalable = Var(shape=(n,), init=np.isfinite(arrays["vth"]).astype(np.int64))
        self.vth_now = Var(shape=(n,), init=arrays["vth"])
        self.policy = Var(shape=(2,), init=np.array([int(bool(recalibrate)), int(bool(safe_mode))]))
        act = np.array(actuated, dtype=float).reshape(-1, 3)
        self.act = Var(shape=(MAX_POPULATIONS, 3),
                       init=np.vstack([act, np.zeros((MAX_POPULATIONS - act.shape[0], 3))]))
        self.gate = Var(shape=(1,), init=np.zeros(1, dtype=np.int64))
        self.hold = Var(shape=(1,), init=np.zeros(1, dtype=np.int64))
        self.window = Var(shape=(1,), init=np.array([window]))
        self.persist = Var(shape=(1,), init=np.array([persist]))
        self.warmup = Var(shape=(1,), init=np.array([warmup_windows]))
        self.low = Var(shape=(n,), init=arrays["low"])
        self.high = Var(shape=(n,), init=arrays["high"])
        self.silence_windows = Var(shape=(n,), init=arrays["silence_windows"].astype(np.int64))
        for field in RegulatorState._fields:
            setattr(self, field, Var(shape=(n,), init=np.zeros(n, dtype=np.int64)))
        self.log = Var(shape=(max_events, 4), init=np.zeros((max_events, 4), dtype=np.int64))
        self.n_events = Var(shape=(1,), init=np.zeros(1, dtype=np.int64))


class _PyRegulatorBase(PyLoihiProcessModel):
    window: np.ndarray = LavaPyType(np.ndarray, np.int64)
    persist: np.ndarray = LavaPyType(np.ndarray, np.int64)
    warmup: np.ndarray = LavaPyType(np.ndarray, np.int64)
    low: np.ndarray = LavaPyType(np.ndarray, float)
    high: np.ndarray = LavaPyType(np.ndarray, float)
    silence_windows: np.ndarray = LavaPyType(np.ndarray, np.int64)
    count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    run_high: np.ndarray = LavaPyType(np.ndarray, np.int64)
    run_low: np.ndarray = LavaPyType(np.ndarray, np.int64)
    run_zero: np.ndarray = LavaPyType(np.ndarray, np.int64)
    run_ok: np.ndarray = LavaPyType(np.ndarray, np.int64)
    alarm: np.ndarray = LavaPyType(np.ndarray, np.int64)
    log: np.ndarray = LavaPyType(np.ndarray, np.int64)
    n_events: np.ndarray = LavaPyType(np.ndarray, np.int64)
    mean: np.ndarray = LavaPyType(np.ndarray, float)
    scalable: np.ndarray = LavaPyType(np.ndarray, np.int64)
    vth_now: np.ndarray = LavaPyType(np.ndarray, float)
    policy: np.ndarray = LavaPyType(np.ndarray, np.int64)
    act: np.ndarray = LavaPyType(np.ndarray, float)
    n_act: np.ndarray = LavaPyType(np.ndarray, np.int64)
    gate: np.ndarray = LavaPyType(np.ndarray, np.int64)
    hold: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._nc_rows = []

    def _send_actuators(self) -> None:
        """The actuators for this step (what windows closed before it decided), sent first."""
        for j in range(int(self.n_act[0])):
            node, vth, held = self.act[j]
            if node >= 0:
                vth = self.vth_now[int(node)]
            getattr(self, f"act_out{j}").send(np.array([vth, self.hold[0] * held], dtype=self.safe_out_dtype))
        self.gate_out.send(np.array([self.gate[0]], dtype=self.safe_out_dtype))

    def _act(self, step: int, event: np.ndarray, count: np.ndarray, alarm: np.ndarray) -> None:
        """The policy's response to a closed window; the changes hold from ``step`` on."""
        params = ActionParams(mean=self.mean, scalable=self.scalable.astype(bool),
                              recalibrate=bool(self.policy[0]), safe_mode=bool(self.policy[1]))
        old = ActionState(self.vth_now.copy(), int(self.gate[0]), int(self.hold[0]))
        new = action_step(old, event, count, alarm, params)
        self._nc_rows += action_changes(old, new, step)
        self.vth_now[:] = new.vth
        self.gate[0], self.hold[0] = new.gate, new.hold

    def _stop(self):
        # Write before acknowledging STOP: once the parent's stop returns, the file exists.
        path = self.proc_params.get("nc_record", None)
        if path:
            tmp = path + ".part.npz"
            np.savez(tmp, log=self.log[:min(int(self.n_events[0]), self.log.shape[0])], n_events=self.n_events,
                     actions=np.array(self._nc_rows, dtype=float).reshape(-1, 4))
            os.replace(tmp, path)
        super()._stop()

    def run_spk(self) -> None:
        self._send_actuators()
        for k in range(self.count.shape[0]):
            self.count[k] += int(np.count_nonzero(getattr(self, f"s_in{k}").recv()))
        step = self.time_step - 1
        window = int(self.window[0])
        if (step + 1) % window == 0 and (step + 1) // window - 1 < int(self.warmup[0]):
            self.count[:] = 0          # a warm-up window: closed, not judged
        elif (step + 1) % window == 0:
            params = BandParams(window=window, low=self.low, high=self.high,
                                silence_windows=self.silence_windows, persist=int(self.persist[0]))
            state = RegulatorState(self.count, self.run_high, self.run_low, self.run_zero, self.run_ok,
                                   self.alarm)
            event, new = window_step(state, params)
            for p in np.nonzero(event)[0]:
                k = int(self.n_events[0])
                if k < self.log.shape[0]:
                    self.log[k] = (step, p, event[p], state.count[p])
                self.n_events[0] = k + 1
            closed = state.count.copy()
            for field in RegulatorState._fields:
                getattr(self, field)[:] = getattr(new, field)
            self._act(step + 1, event, closed, new.alarm)
        self.safe_out.send((self.alarm != 0).astype(self.safe_out_dtype))


def _numbered_ports(spike: LavaPyType, out: LavaPyType):
    """Class decorator: the ``s_in<k>`` and ``act_out<j>`` port types of a model (Lava reads them with getattr)."""
    def declare(cls):
        for k in range(MAX_POPULATIONS):
            setattr(cls, f"s_in{k}", spike)
            setattr(cls, f"act_out{k}", out)
        return cls
    return declare


@implements(proc=RegulatorProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
@_numbered_ports(LavaPyType(PyInPort.VEC_DENSE, float), LavaPyType(PyOutPort.VEC_DENSE, float))
class PyRegulatorModelFloat(_PyRegulatorBase):
    """Float model: spikes arrive as 0/1 floats."""

    safe_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    gate_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    safe_out_dtype = float


@implements(proc=RegulatorProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
@_numbered_ports(LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24),
                 LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24))
class PyRegulatorModelFixed(_PyRegulatorBase):
    """Fixed-point model: spikes arrive as 0/1 integers (the counting logic is integer anyway)."""

    safe_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    gate_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    safe_out_dtype = np.int32
