"""Lava backend of :func:`mapping.compile` and :func:`mapping.run`: wire, run, collect.

Lowering is one function per node kind, looked up in a registry
(:mod:`mapping.lava.registry`; the families in :mod:`mapping.lava.populations`,
:mod:`~mapping.lava.sources`, :mod:`~mapping.lava.projections`,
:mod:`~mapping.lava.links`); :func:`wire` is the loop over them.

Runs (:func:`run`) go through :func:`mapping.lava.runs.run_process`: bounded by the
target's timeout, always stopped (also on ``KeyboardInterrupt``), an error in a
Lava child process becomes :class:`LavaRunError` carrying the child's exception as
``__cause__`` and its traceback, and every child and shared-memory segment of the
run is released. The recording process models (:mod:`mapping.lava.models`) write
spikes, traces and learned weights when stopped; :func:`run` reads them and
returns a :class:`~neurochip.results.SimulationResult`.
"""
from __future__ import annotations

import importlib.util
import time

import numpy as np

from neurochip.results import SimulationResult, Spikes

from mapping.lava import models
from mapping.lava.children import record_folder
from mapping.lava.registry import Wired
from mapping.lava.runs import LAST_RUN_SEGMENTS, LavaRunError, LavaTimeoutError, run_process
from mapping.lava.side_effects import no_new_log_handlers
from mapping.lava.wiring import wire

__all__ = ["check_platform", "wire", "run", "monitor_readout", "run_process", "Wired", "LavaRunError",
           "LavaTimeoutError", "LavaUnavailableError", "LAST_RUN_SEGMENTS"]


class LavaUnavailableError(RuntimeError):
    """The requested Lava platform is not installed."""


HW_MODULE = "lava.magma.compiler.subcompilers.nc.ncproc_compiler"


def check_platform(target) -> None:
    """Raise :class:`LavaUnavailableError` if ``target`` needs software that is missing."""
    if target.platform == "hw":
        try:
            found = importlib.util.find_spec(HW_MODULE) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise LavaUnavailableError(
                f"target '{target.name}' runs on Loihi 2 hardware (Loihi2HwCfg), which needs Intel's "
                f"lava-loihi extension: module {HW_MODULE} is not importable. Install lava-loihi "
                f"(available to Intel INRC members) on a host with Loihi 2 access, or use target "
                f"'loihi2-sim-fixed' for the bit-accurate simulator")


def _run_config(deployment):
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.lif.process import LIF, LearningLIF

    fixed = deployment.target.precision == "fixed"
    if deployment.target.platform == "hw":  # pragma: no cover - needs lava-loihi and a Loihi 2
        check_platform(deployment.target)
        raise LavaUnavailableError(
            f"target '{deployment.target.name}': compiling for Loihi 2 hardware works (quantization, "
            f"placement, wiring), but running there is not implemented in this version: the spike "
            f"readout uses Python ProcessModels that do not run on neuro cores, and it was not tested "
            f"without hardware; run Loihi2HwCfg() yourself on deployment.wired, or use 'loihi2-sim-fixed'")
    # Looked up at each call (tests swap a model class to inject faults).
    chosen = {LIF: models.RecordingLifFixed if fixed else models.RecordingLifFloat,
              LearningLIF: models.LabelTraceLifFixed if fixed else models.LabelTraceLifFloat,
              LearningDense: (models.DumpingLearningDenseFixed if fixed
                              else models.DumpingLearningDenseFloat)}
    return Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt",
                        exception_proc_model_map=chosen)


def run(deployment, wired: Wired, steps: int, probes: dict) -> SimulationResult:
    """Run ``wired`` for ``steps`` steps within the target's time bound (:func:`run_process`)."""
    start = time.perf_counter()
    wired.used = True
    info = {"lava_processes": len(wired.processes())}
    files = {}
    with record_folder(wired.record_dir):
        run_process(wired.root, _run_config(deployment), steps, timeout=deployment.target.timeout_seconds,
                    info=info)
        # The recording models write their events when stopped: read the files after the stop.
        t0 = time.perf_counter()
        for name, path in wired.paths.items():
            with np.load(path) as data:
                files[name] = {k: data[k] for k in data.files}
        info["lava_readout_seconds"] = time.perf_counter() - t0
    return _collect(deployment, wired, steps, files, probes, time.perf_counter() - start, info)


def _collect(deployment, wired, steps, files, probes, wall, info) -> SimulationResult:
    net = deployment.network
    fixed = deployment.target.precision == "fixed"
    spikes, traces, trace_indices = {}, {}, {}
    for pop in net.populations:
        data = files[pop.name]
        spikes[pop.name] = Spikes.sorted(data["indices"], data["steps"])
        if pop.name in probes:
            scale = deployment.quantized.populations[pop.name].scale if fixed else 1.0
            traces[pop.name] = {var: data["trace_" + var] / scale for var in probes[pop.name]}
            trace_indices[pop.name] = np.arange(pop.size)
    for src in net.sources:
        keep = src.steps < steps
        spikes[src.name] = Spikes(src.indices[keep].copy(), src.steps[keep].copy())
    weights, mantissas = {}, {}
    for proj in net.projections:
        if proj.plasticity is not None:
            w = files[proj.name]["var_weights"]
            if fixed:
                qw = deployment.quantized.projections[proj.name]
                mantissas[proj.name] = np.asarray(w).astype(np.int64).tolist()
                w = w * 2.0 ** qw.weight_exp * 64 / qw.scale
            weights[proj.name] = np.asarray(w, dtype=float).tolist()
    if weights:
        # As the Brian2 backend: learned weights (n_post, n_pre) as lists, so info stays JSON.
        info["weights"] = weights
    if mantissas:
        # Fixed point: the learned integer mantissas themselves (weights = mantissa * LSB).
        info["weight_mant"] = mantissas
    for read in wired.readers:   # e.g. the attached regulator's log and actions
        info.update(read(files, steps))
    sizes = {n.name: n.size for n in [*net.populations, *net.sources]}
    return SimulationResult(steps=steps, dt=net.dt, sizes=sizes, populations=net.population_names,
                            spikes=spikes, traces=traces, trace_indices=trace_indices,
                            backend=f"lava-{deployment.target.name}", wall_time=wall, info=info)


def monitor_readout(deployment, steps: int, population: str) -> dict:
    """Baseline for benchmarks: read ``population``'s spikes with Lava's own ``Monitor``.

    Runs the deployment with a ``lava.proc.monitor.process.Monitor`` probing the
    LIF's ``s_out`` for ``steps`` steps and reads the dense raster back through
    ``Monitor.get_data()`` (one value per message), inside the same bounded,
    always-stopped run machinery as :func:`run`. Returns the raster and the
    seconds spent stepping and reading.
    """
    from lava.proc.monitor.process import Monitor

    from mapping import _horizon

    wired = wire(deployment, horizon=_horizon(deployment.network, steps), probes={})
    lif = wired.lifs[population]
    with no_new_log_handlers():
        monitor = Monitor()
        monitor.probe(lif.s_out, steps)
    info: dict = {}
    with record_folder(wired.record_dir):
        data = run_process(wired.root, _run_config(deployment), steps,
                           timeout=deployment.target.timeout_seconds, read=monitor.get_data, info=info)
    run_s, read_s = info["lava_run_seconds"], info["lava_read_seconds"]
    raster = np.asarray(data[lif.name]["s_out"]).astype(bool)
    return {"raster": raster, "run_seconds": run_s, "read_seconds": read_s, "values": int(raster.size)}
