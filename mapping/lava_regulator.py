"""The meta-regulator as a Lava process fed by the network's spike ports.

:class:`RegulatorProcess` has one ``InPort`` per monitored population,
``s_in0``, ``s_in1``, ... (at most :data:`MAX_POPULATIONS`; Lava 0.10 does not
compile ``concat_with`` ports): connect the monitored populations' ``s_out``
ports to them in the regulator's population order (:func:`connect_spike_ports`).
Its ``PyLoihiProcessModel`` counts spikes per population on every step (the
spikes arrive as events on the port; nothing is polled) and, when a window
completes (on its last step ``(w + 1) W - 1``), applies
:func:`neurochip.regulator.core.window_step`, writes new events to a compact
log ``Var`` (``step, population, kind, count`` rows: read back cheaply, see
DESIGN.md's Lava read-out pitfall) and sends the safe-mode flags (1 while a
population is in alarm) on ``safe_out`` every step.

Lava step ``t`` (``time_step``, from 1) is neurochip step ``t - 1``.

:func:`run_bounded` is a small local bounded-run wrapper (timeout, always
stopped in ``finally``, original exception kept); the mapping package's own
safe-run helper should replace it once both are merged.
"""
from __future__ import annotations

import threading
import warnings
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from neurochip._validation import check_float, check_int, describe
from neurochip.regulator.core import BandParams, RegulatorState, window_step
from neurochip.regulator.model import MetaRegulator, RegulatorLog

#: InPorts of a RegulatorProcess (unused ones stay unconnected and receive nothing).
MAX_POPULATIONS = 8

__all__ = ["MAX_POPULATIONS", "RegulatorProcess", "regulator_process", "connect_spike_ports", "read_log", "run_bounded",
           "replay_regulated"]

T = TypeVar("T")


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
    """

    def __init__(self, *, sizes: Sequence[int], window: int, low, high, silence_windows, persist: int,
                 warmup_windows: int = 0, max_events: int = 256, name: str | None = None):
        # Lava's __del__ calls stop(), which needs the base initialised even if validation fails.
        super().__init__(name=name)
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
        arrays = {}
        for field, value in (("low", low), ("high", high), ("silence_windows", silence_windows)):
            arr = np.asarray(value, dtype=float)
            if arr.shape != (n,):
                raise ValueError(f"RegulatorProcess: {field} should have shape ({n},), got {describe(arr)}")
            arrays[field] = arr
        for k in range(MAX_POPULATIONS):
            setattr(self, f"s_in{k}", InPort(shape=(sizes[k] if k < n else 1,)))
        self.n_ports = n
        self.safe_out = OutPort(shape=(n,))
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

    def run_spk(self) -> None:
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
            for field in RegulatorState._fields:
                getattr(self, field)[:] = getattr(new, field)
        self.safe_out.send((self.alarm != 0).astype(self.safe_out_dtype))


@implements(proc=RegulatorProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRegulatorModelFloat(_PyRegulatorBase):
    """Float model: spikes arrive as 0/1 floats."""

    s_in0: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in1: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in2: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in3: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in4: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in5: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in6: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_in7: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    safe_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    safe_out_dtype = float


@implements(proc=RegulatorProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRegulatorModelFixed(_PyRegulatorBase):
    """Fixed-point model: spikes arrive as 0/1 integers (the counting logic is integer anyway)."""

    s_in0: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in1: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in2: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in3: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in4: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in5: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in6: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_in7: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    safe_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    safe_out_dtype = np.int32


def regulator_process(regulator: MetaRegulator, *, max_events: int = 256) -> RegulatorProcess:
    """A :class:`RegulatorProcess` with the band of a fitted :class:`MetaRegulator`."""
    if not isinstance(regulator, MetaRegulator):
        raise ValueError(f"regulator_process: regulator should be a MetaRegulator, got {describe(regulator)}")
    regulator._check_fitted()
    b = regulator.band_
    return RegulatorProcess(sizes=regulator.sizes_.tolist(), window=b.window, low=b.low, high=b.high,
                            silence_windows=b.silence_windows, persist=b.persist,
                            warmup_windows=regulator.warmup_windows, max_events=max_events,
                            name="neurochip_regulator")


def connect_spike_ports(proc: RegulatorProcess, ports: Sequence) -> None:
    """Connect the monitored populations' spike ``OutPort``s (in the regulator's order) to ``proc.s_in0``, ``proc.s_in1``, ..."""
    ports = list(ports)
    if len(ports) != proc.n_ports:
        raise ValueError(f"connect_spike_ports: the regulator monitors {proc.n_ports} populations, "
                         f"got {len(ports)} ports")
    for k, port in enumerate(ports):
        target = getattr(proc, f"s_in{k}")
        if tuple(port.shape) != tuple(target.shape):
            raise ValueError(f"connect_spike_ports: port {k} has shape {tuple(port.shape)}, the regulator "
                             f"expects {tuple(target.shape)} (population order of the regulator)")
        port.connect(target)


def read_log(proc: RegulatorProcess, regulator: MetaRegulator, n_steps: int) -> RegulatorLog:
    """Read the event log Var (call before the process is stopped)."""
    n = int(np.asarray(proc.n_events.get()).ravel()[0])
    rows = np.asarray(proc.log.get(), dtype=np.int64).reshape(-1, 4)
    if n > rows.shape[0]:
        warnings.warn(f"lava regulator log overflowed: {n} events, capacity {rows.shape[0]}; "
                      f"the later events are lost (raise max_events)", RuntimeWarning, stacklevel=2)
    return regulator.make_log(rows[:min(n, rows.shape[0])], n_steps=n_steps, backend="lava")


def _stop(proc, timeout: float) -> None:
    errors = []

    def target():
        try:
            proc.stop()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        warnings.warn(f"Lava stop() did not return within {timeout} s", RuntimeWarning, stacklevel=3)


def run_bounded(proc: AbstractProcess, steps: int, *, read: Callable[[], T], timeout: float = 120.0,
                run_cfg=None) -> T:
    """Run ``proc``'s network for ``steps`` steps with a wall-time bound, read results, always stop.

    ``read()`` is called after the run and before ``stop()`` (Lava Vars are readable
    only while the runtime lives). On timeout raises ``TimeoutError``; an
    exception of the run is re-raised as is. Local stand-in for the mapping
    package's safe-run helper.
    """
    steps = check_int("run_bounded", "steps", steps, minimum=1)
    timeout = check_float("run_bounded", "timeout", timeout, low=0.0, low_open=True)
    run_cfg = run_cfg or Loihi2SimCfg(select_tag="floating_pt")
    errors: list[BaseException] = []

    def target():
        try:
            proc.run(condition=RunSteps(num_steps=steps), run_cfg=run_cfg)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(err)

    th = threading.Thread(target=target, daemon=True, name="neurochip-lava-run")
    try:
        th.start()
        th.join(timeout)
        if th.is_alive():
            raise TimeoutError(f"Lava run of {steps} steps did not finish within {timeout} s")
        if errors:
            raise errors[0]
        return read()
    finally:
        _stop(proc, timeout=min(timeout, 30.0))


def replay_regulated(regulator: MetaRegulator, spikes: Mapping, n_steps: int, *, timeout: float = 120.0,
                     max_events: int = 256) -> RegulatorLog:
    """Feed given spike trains to the Lava regulator and return its log.

    ``spikes[p]`` is a :class:`~neurochip.results.Spikes` (or ``(indices, steps)``) of every
    monitored population ``p``; one ``RingBuffer`` per population replays them.
    """
    from lava.proc.io.source import RingBuffer

    regulator._check_fitted()
    n_steps = check_int("replay_regulated", "n_steps", n_steps, minimum=1)
    sources = []
    for p, size in zip(regulator.populations_, regulator.sizes_):
        if p not in spikes:
            raise ValueError(f"replay_regulated: no spikes given for monitored population {p!r}")
        idx, st = (np.asarray(a, dtype=np.int64) for a in (spikes[p][0], spikes[p][1]))
        keep = st < n_steps
        raster = np.zeros((int(size), n_steps))
        raster[idx[keep], st[keep]] = 1.0
        sources.append(RingBuffer(data=raster))
    proc = regulator_process(regulator, max_events=max_events)
    connect_spike_ports(proc, [src.s_out for src in sources])
    return run_bounded(proc, n_steps, timeout=timeout, read=lambda: read_log(proc, regulator, n_steps))
