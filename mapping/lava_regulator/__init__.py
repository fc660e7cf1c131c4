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

:func:`run_bounded` runs it through the mapping package's bounded run
primitive (:func:`mapping.lava.runs.run_process`).
"""
from __future__ import annotations

import warnings
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np

import mapping.lava  # noqa: F401  (first: imports Lava whatever multiprocessing start method is set)
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.run_configs import Loihi2SimCfg

from neurochip._validation import check_float, check_int, describe
from neurochip.regulator.model import MetaRegulator, RegulatorLog

from mapping.lava.side_effects import no_new_log_handlers
from mapping.lava_regulator.process import (MAX_POPULATIONS, PyRegulatorModelFixed, PyRegulatorModelFloat,
                                            RegulatorProcess)

__all__ = ["MAX_POPULATIONS", "RegulatorProcess", "regulator_process", "connect_spike_ports", "read_log", "run_bounded",
           "replay_regulated"]

T = TypeVar("T")


def regulator_process(regulator: MetaRegulator, *, max_events: int = 256) -> RegulatorProcess:
    """A :class:`RegulatorProcess` with the band of a fitted :class:`MetaRegulator`."""
    if not isinstance(regulator, MetaRegulator):
        raise ValueError(f"regulator_process: regulator should be a MetaRegulator, got {describe(regulator)}")
    regulator._check_fitted()
    b = regulator.band_
    with no_new_log_handlers():  # Lava adds one root-logger handler per process
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


def run_bounded(proc: AbstractProcess, steps: int, *, read: Callable[[], T], timeout: float = 120.0,
                run_cfg=None) -> T:
    """Run ``proc``'s network for ``steps`` steps with a wall-time bound, read results, always stop.

    ``read()`` is called after the run and before the stop (Lava Vars are readable
    only while the runtime lives). Uses the mapping package's run primitive
    :func:`mapping.lava.runs.run_process`: a timeout raises
    :class:`~mapping.lava.runs.LavaTimeoutError`, a child's exception becomes
    :class:`~mapping.lava.runs.LavaRunError` with the original as ``__cause__``,
    and children and shared memory are always released.
    """
    from mapping.lava.runs import run_process

    steps = check_int("run_bounded", "steps", steps, minimum=1)
    timeout = check_float("run_bounded", "timeout", timeout, low=0.0, low_open=True)
    run_cfg = run_cfg or Loihi2SimCfg(select_tag="floating_pt")
    return run_process(proc, run_cfg, steps, timeout=timeout, read=read)


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
        with no_new_log_handlers():
            sources.append(RingBuffer(data=raster))
    proc = regulator_process(regulator, max_events=max_events)
    connect_spike_ports(proc, [src.s_out for src in sources])
    return run_bounded(proc, n_steps, timeout=timeout, read=lambda: read_log(proc, regulator, n_steps))
