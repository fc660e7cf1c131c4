"""Lava backend: wire a deployment's plan into Lava processes and run them safely.

Lowering, one rule per node type:

* :class:`~neurochip.network.Population` -> ``lava.proc.lif.process.LIF``
  (float: ``du``, ``dv``, ``vth``, ``bias_mant = bias``; fixed: the integers of
  :mod:`mapping.quantization`), run by :mod:`mapping._lava_models` subclasses of
  Lava's own LIF models that record spikes in the child process;
* :class:`~neurochip.network.SpikeSource` -> ``lava.proc.io.source.RingBuffer``
  (Lava time step ``t`` sends column ``t - 1``, our step ``t - 1``);
* :class:`~neurochip.network.Projection`: ``delay == 1`` -> ``Dense`` (dense
  weights) or ``Sparse`` (sparse weights); ``delay > 1`` -> ``DelayDense`` with
  synaptic delay ``delay - 1`` (Lava's ``Dense`` already adds one step);
  plastic -> ``LearningDense`` with ``Loihi2FLearningRule(**proj.plasticity.lava_rule_kwargs())``
  and the post population's spikes as back-propagating action potentials; with a label /
  reward third factor (a spike source of the post size), ``Loihi3FLearningRule`` and the
  post population a ``LearningLIF`` that owns the y traces and receives the third-factor
  spikes (:class:`mapping._lava_models.LabelTraceLifFloat`; float targets);
  memristive -> ``Dense``/``Sparse`` of the device's conductance snapshot.

Runs (:func:`run`) are bounded by the target's timeout, always stopped (also on
``KeyboardInterrupt``), turn an error in a Lava child process into
:class:`LavaRunError` carrying the child's exception as ``__cause__`` and its
traceback, and release every shared-memory segment of the run.
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import scipy.sparse as sp

from neurochip.results import SimulationResult, Spikes

from mapping import _lava_models


class LavaRunError(RuntimeError):
    """A Lava run failed; ``__cause__`` is the original exception, ``child_traceback`` its traceback."""

    def __init__(self, message: str, child_traceback: str = ""):
        super().__init__(message)
        self.child_traceback = child_traceback


class LavaTimeoutError(LavaRunError, TimeoutError):
    """A Lava run did not finish within its time bound."""


class LavaUnavailableError(RuntimeError):
    """The requested Lava platform is not installed."""


T = TypeVar("T")

HW_MODULE = "lava.magma.compiler.subcompilers.nc.ncproc_compiler"

#: Names of the shared-memory segments of the most recent run (for leak checks).
LAST_RUN_SEGMENTS: list = []


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


@dataclass
class Wired:
    """Lava processes of one deployment, ready for one run."""

    lifs: dict
    sources: dict
    connections: dict
    links: list
    extras: list
    horizon: int
    probes: dict
    record_dir: Path
    paths: dict = field(default_factory=dict)
    used: bool = False

    @property
    def root(self):
        return next(iter(self.lifs.values()), None)

    def processes(self) -> list:
        return [*self.lifs.values(), *self.sources.values(), *self.connections.values(), *self.links,
                *self.extras]


def _lava_sign_mode(mode: str):
    from lava.utils.weightutils import SignMode

    return {"excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY,
            "mixed": SignMode.MIXED}[mode]


def wire(deployment, *, horizon: int, probes: dict) -> Wired:
    """Build and connect the Lava processes of ``deployment`` (no run)."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule
    from lava.proc.dense.process import DelayDense, Dense, LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LearningLIF
    from lava.proc.sparse.process import Sparse

    net = deployment.network
    fixed = deployment.target.precision == "fixed"
    q = deployment.quantized
    if fixed:
        from mapping.quantization import check_ranges

        check_ranges(q)
    record_dir = Path(tempfile.gettempdir()) / f"neurochip-lava-{uuid.uuid4().hex}"
    paths = {}
    lifs = {}
    # Label / reward third factors (Loihi3F): the post population owns the y traces (compile
    # allows one such projection per population, float targets only).
    from mapping import third_factor_of

    third_of = {proj.post: proj for proj in net.projections if third_factor_of(proj) is not None}
    for k, pop in enumerate(net.populations):
        paths[pop.name] = str(record_dir / f"pop{k}.npz")
        common = dict(shape=(pop.size,), name=f"neurochip_{pop.name}", nc_record=paths[pop.name],
                      nc_spikes=True, nc_probe=tuple(probes.get(pop.name, ())))
        if fixed:
            qp = q.populations[pop.name]
            lifs[pop.name] = LIF(du=qp.du, dv=qp.dv, vth=qp.vth, bias_mant=qp.bias_mant.copy(),
                                 bias_exp=qp.bias_exp.copy(), u=qp.u_init.copy(), v=qp.v_init.copy(),
                                 **common)
        else:
            kind = LIF
            if pop.name in third_of:
                kind = LearningLIF
                common["learning_rule"] = Loihi2FLearningRule(**third_of[pop.name].plasticity.lava_rule_kwargs())
            lifs[pop.name] = kind(du=pop.du, dv=pop.dv, vth=pop.vth,
                                  bias_mant=np.broadcast_to(np.asarray(pop.bias, float), (pop.size,)).copy(),
                                  bias_exp=0, u=np.broadcast_to(np.asarray(pop.u_init, float), (pop.size,)).copy(),
                                  v=np.broadcast_to(np.asarray(pop.v_init, float), (pop.size,)).copy(), **common)
    used_sources = ({p.pre for p in net.projections}
                    | {third_factor_of(p) for p in third_of.values()}) - set(lifs)
    sources = {}
    for src in net.sources:
        if src.name not in used_sources:
            continue
        data = np.zeros((src.size, max(1, horizon)), dtype=np.int32 if fixed else float)
        keep = src.steps < horizon
        data[src.indices[keep], src.steps[keep]] = 1
        sources[src.name] = RingBuffer(data=data)
    conns = {}
    extras = []
    for k, proj in enumerate(net.projections):
        name = f"neurochip_{proj.name}"
        w = deployment.weights[proj.name]
        pre = lifs[proj.pre] if proj.pre in lifs else sources[proj.pre]
        if fixed:
            parts = [(part.weights, dict(weight_exp=part.weight_exp, num_weight_bits=part.num_weight_bits,
                                         sign_mode=_lava_sign_mode(part.sign_mode)))
                     for part in q.projections[proj.name].parts()]
        else:
            parts = [(w, {})]
        for j, (pw, extra) in enumerate(parts):
            pname = name if j == 0 else f"{name}_part{j}"
            if proj.plasticity is not None:
                if j > 0:  # pragma: no cover - compile rejects fixed-point plasticity
                    raise ValueError(f"Projection '{proj.name}': plastic projections have one weight part")
                kw = proj.plasticity.lava_rule_kwargs()
                third = third_factor_of(proj)
                if third is None:
                    rule = Loihi2FLearningRule(**kw)
                else:
                    rule = Loihi3FLearningRule(**{key: kw[key] for key in ("dw", "x1_impulse", "x1_tau",
                                                                          "x2_impulse", "x2_tau", "t_epoch")})
                paths[proj.name] = str(record_dir / f"proj{k}.npz")
                dense_w = pw.toarray() if sp.issparse(pw) else np.asarray(pw)
                conn = LearningDense(weights=dense_w.copy(), learning_rule=rule, name=pname,
                                     nc_record=paths[proj.name], nc_dump=("weights",), **extra)
                post = lifs[proj.post]
                if third is None:
                    post.s_out.connect(conn.s_in_bap)
                else:
                    sources[third].s_out.connect(post.a_third_factor_in)
                    post.s_out_bap.connect(conn.s_in_bap)
                    post.s_out_y1.connect(conn.s_in_y1)
                    post.s_out_y2.connect(conn.s_in_y2)
                    post.s_out_y3.connect(conn.s_in_y3)
            elif proj.delay > 1:
                dense_w = pw.toarray() if sp.issparse(pw) else np.asarray(pw)
                conn = DelayDense(weights=dense_w.copy(),
                                  delays=np.full(dense_w.shape, proj.delay - 1, dtype=int), name=pname, **extra)
            elif sp.issparse(pw):
                conn = Sparse(weights=sp.csr_matrix(pw).copy(), name=pname, **extra)
            else:
                conn = Dense(weights=np.asarray(pw).copy(), name=pname, **extra)
            pre.s_out.connect(conn.s_in)
            conn.a_out.connect(lifs[proj.post].a_in)
            if j == 0:
                conns[proj.name] = conn
            else:
                extras.append(conn)
    # Lava compiles the processes connected to one root: join disconnected parts
    # with all-zero Dense links (they add exactly 0 to a_in).
    parent = {name: name for name in [*lifs, *sources]}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for proj in net.projections:
        parent[find(proj.pre)] = find(proj.post)
    for post, proj in third_of.items():
        parent[find(third_factor_of(proj))] = find(post)
    links = []
    roots_seen = {}
    for name in lifs:
        r = find(name)
        if r not in roots_seen:
            roots_seen[r] = name
    heads = list(roots_seen.values())
    for other in heads[1:]:
        a, b = lifs[heads[0]], lifs[other]
        zeros = np.zeros((b.a_in.shape[0], a.s_out.shape[0]), dtype=np.int32 if fixed else float)
        link = Dense(weights=zeros, name=f"neurochip_link_{other}")
        a.s_out.connect(link.s_in)
        link.a_out.connect(b.a_in)
        links.append(link)
    return Wired(lifs=lifs, sources=sources, connections=conns, links=links, extras=extras, horizon=horizon,
                 probes={k: tuple(v) for k, v in probes.items()}, record_dir=record_dir, paths=paths)


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
    models = {LIF: _lava_models.RecordingLifFixed if fixed else _lava_models.RecordingLifFloat,
              LearningLIF: _lava_models.LabelTraceLifFloat,
              LearningDense: (_lava_models.DumpingLearningDenseFixed if fixed
                              else _lava_models.DumpingLearningDenseFloat)}
    return Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt",
                        exception_proc_model_map=models)


# --------------------------------------------------------------------------- safe run
def _actors(runtime) -> list:
    mi = getattr(runtime, "_messaging_infrastructure", None)
    return list(getattr(mi, "actors", []) or []) if mi is not None else []


def _child_errors(runtime, grace: float) -> list:
    """(exception, traceback) of actors that failed, waiting up to ``grace`` seconds.

    A failing child sends ERROR, then its exception through a pipe, then exits:
    wait for the exception unless a child already exited without sending one.
    """
    end = time.monotonic() + grace
    while True:
        errors, silent = [], False
        for actor in _actors(runtime):
            try:
                if actor._pconn.poll():
                    actor._exception = actor._pconn.recv()
            except (OSError, EOFError, ValueError):
                pass
            exc = getattr(actor, "_exception", None)
            if exc:
                errors.append(exc)
            elif actor.exitcode not in (None, 0):
                silent = True
        if errors or silent or time.monotonic() > end:
            return errors
        time.sleep(0.01)


def _raise_child_error(runtime, what: str):
    errors = _child_errors(runtime, grace=3.0)
    dead = [a for a in _actors(runtime) if a.exitcode not in (None, 0)]
    if errors:
        exc, tb = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise LavaRunError(
            f"a Lava process failed during {what}: {type(exc).__name__}: {exc}{more}\n"
            f"--- child traceback ---\n{tb}", child_traceback=tb) from exc
    if dead:
        codes = ", ".join(str(a.exitcode) for a in dead)
        raise LavaRunError(f"a Lava child process died during {what} (exit codes {codes}) without "
                           f"reporting an exception")
    raise LavaRunError(f"Lava reported an error during {what} but no child exception was received")


def _wait_for(runtime, expected, deadline: float, what: str, timeout: float):
    """Poll every runtime service for ``expected``; bounded, fails fast on child errors."""
    from lava.magma.runtime.mgmt_token_enums import MGMT_RESPONSE, enum_equal

    pending = list(runtime.service_to_runtime)
    while pending:
        progressed = False
        for port in list(pending):
            if port.probe():
                data = port.recv()
                progressed = True
                if enum_equal(data, expected):
                    pending.remove(port)
                elif enum_equal(data, MGMT_RESPONSE.ERROR):
                    _raise_child_error(runtime, what)
                else:
                    raise LavaRunError(f"Lava runtime service answered {data} during {what}")
        if not pending:
            runtime._is_running = False  # as Runtime._get_resp_for_run does: Vars are readable now
            return
        if any(a.exitcode not in (None, 0) for a in _actors(runtime)):
            _raise_child_error(runtime, what)
        if time.monotonic() > deadline:
            raise LavaTimeoutError(f"Lava: {what} did not finish within the time bound of "
                                   f"{timeout:g} s (target timeout); the run was stopped")
        if not progressed:
            time.sleep(0.0005)


def _guard_initialize(runtime, deadline: float, timeout: float):
    """``Runtime.initialize`` blocks on one queue per child: unblock them at the deadline."""
    done = threading.Event()

    def watch():
        if done.wait(max(0.0, deadline - time.monotonic())):
            return
        err = LavaTimeoutError(f"Lava initialization did not finish within {timeout:g} s")
        err.trace = ""
        for queue in list(getattr(runtime, "exception_q", []) or []):
            try:
                queue.put(err)
            except Exception:  # pragma: no cover - queue already closed
                pass

    thread = threading.Thread(target=watch, name="neurochip-lava-init-guard", daemon=True)
    thread.start()
    try:
        runtime.initialize()
    except LavaRunError:
        raise
    except Exception as exc:
        tb = getattr(exc, "trace", "")
        raise LavaRunError(f"a Lava process failed during initialization: {type(exc).__name__}: {exc}\n"
                           f"--- child traceback ---\n{tb}", child_traceback=tb) from exc
    finally:
        done.set()
        thread.join()


def _graceful_stop(runtime, deadline: float, timeout: float):
    from lava.magma.runtime.mgmt_token_enums import MGMT_COMMAND, MGMT_RESPONSE

    for port in runtime.runtime_to_service:
        port.send(MGMT_COMMAND.STOP)
    _wait_for(runtime, MGMT_RESPONSE.TERMINATED, deadline, "stop", timeout)
    for actor in _actors(runtime):
        # SystemProcess.join() takes no timeout: call the base class's bounded join.
        multiprocessing.Process.join(actor, timeout=max(0.1, deadline - time.monotonic()))
    if any(a.is_alive() for a in _actors(runtime)):
        raise LavaTimeoutError("Lava child processes did not exit after stop")
    runtime.join()
    _release(runtime)


def _release(runtime):
    """Terminate children, shut the shared-memory manager down, unlink leftovers."""
    mp = multiprocessing
    actors = _actors(runtime)
    for actor in actors:
        try:
            if actor.is_alive():
                actor.terminate()
        except (ValueError, AssertionError):
            pass
    for actor in actors:
        try:
            mp.Process.join(actor, timeout=2.0)
            if actor.is_alive():
                actor.kill()
                mp.Process.join(actor, timeout=2.0)
        except (ValueError, AssertionError):
            pass
    mi = getattr(runtime, "_messaging_infrastructure", None)
    smm = getattr(mi, "_smm", None) if mi is not None else None
    names = []
    if smm is not None:
        for handle in list(getattr(smm, "_shared_memory_handles", [])):
            names.append(handle.name)
            LAST_RUN_SEGMENTS.append(handle.name)
            try:
                handle.close()
            except Exception:  # pragma: no cover
                pass
        smm._shared_memory_handles = []
        manager = getattr(smm, "_manager", None)
        if manager is not None:
            try:
                manager.shutdown()
            except Exception:  # pragma: no cover - manager process already gone
                pass
            smm._manager = None
    if names:
        from multiprocessing import shared_memory

        for name in names:
            try:
                seg = shared_memory.SharedMemory(name=name)
            except FileNotFoundError:
                continue
            seg.close()
            seg.unlink()
    wd = getattr(runtime, "_watchdog_manager", None)
    if wd is not None:
        try:
            wd.stop()
        except Exception:  # pragma: no cover
            pass
    # Runtime.__del__ would call stop() (blocking) on a started runtime.
    runtime._is_started = False
    runtime._is_running = False


def run_process(root, run_cfg, steps: int, *, timeout: float, read: Callable[[], T] | None = None,
                info: dict | None = None) -> T | None:
    """Compile and run the Lava network of process ``root`` for ``steps`` steps, bounded and always released.

    The one run primitive of this package: the whole run (compile, initialize,
    ``steps`` steps, ``read()``, stop) must finish within ``timeout`` seconds or
    :class:`LavaTimeoutError` is raised; an exception in a child process becomes
    :class:`LavaRunError` with the child's exception as ``__cause__``; children
    and shared-memory segments are released in every case (errors, timeouts,
    ``KeyboardInterrupt``). ``read()`` is called after the last step and before
    the stop, while Lava ``Var``s are still readable; its value is returned.
    Timings go into ``info`` (``lava_setup_seconds``, ``lava_run_seconds``,
    ``lava_read_seconds``, ``lava_stop_seconds``, ``shared_memory_segments``).
    """
    from lava.magma.core.process.message_interface_enum import ActorType
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.runtime.mgmt_token_enums import MGMT_RESPONSE
    from lava.magma.runtime.runtime import Runtime

    info = {} if info is None else info
    deadline = time.monotonic() + timeout
    runtime, stopped, value = None, False, None
    LAST_RUN_SEGMENTS.clear()
    try:
        t0 = time.perf_counter()
        executable = root.compile(run_cfg)
        runtime = Runtime(executable, ActorType.MultiProcessing)
        executable.assign_runtime_to_all_processes(runtime)
        _guard_initialize(runtime, deadline, timeout)
        info["lava_setup_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        runtime.start(RunSteps(num_steps=steps, blocking=False))
        _wait_for(runtime, MGMT_RESPONSE.DONE, deadline, f"the run of {steps} steps", timeout)
        info["lava_run_seconds"] = time.perf_counter() - t0
        if read is not None:
            t0 = time.perf_counter()
            value = read()
            info["lava_read_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _graceful_stop(runtime, deadline, timeout)
        stopped = True
        info["lava_stop_seconds"] = time.perf_counter() - t0
        info["shared_memory_segments"] = len(LAST_RUN_SEGMENTS)
    finally:
        if runtime is not None and not stopped:
            _release(runtime)
    return value


def run(deployment, wired: Wired, steps: int, probes: dict) -> SimulationResult:
    """Run ``wired`` for ``steps`` steps within the target's time bound (:func:`run_process`)."""
    start = time.perf_counter()
    wired.used = True
    info = {"lava_processes": len(wired.processes())}
    files = {}
    os.makedirs(wired.record_dir, exist_ok=True)
    try:
        run_process(wired.root, _run_config(deployment), steps, timeout=deployment.target.timeout_seconds,
                    info=info)
        # The recording models write their events when stopped: read the files after the stop.
        t0 = time.perf_counter()
        for name, path in wired.paths.items():
            with np.load(path) as data:
                files[name] = {k: data[k] for k in data.files}
        info["lava_readout_seconds"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(wired.record_dir, ignore_errors=True)
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
    weights = {}
    for proj in net.projections:
        if proj.plasticity is not None:
            w = files[proj.name]["var_weights"]
            if fixed:
                qw = deployment.quantized.projections[proj.name]
                w = w * 2.0 ** qw.weight_exp * 64 / qw.scale
            weights[proj.name] = np.asarray(w, dtype=float).tolist()
    if weights:
        # As the Brian2 backend: learned weights (n_post, n_pre) as lists, so info stays JSON.
        info["weights"] = weights
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
    monitor = Monitor()
    monitor.probe(lif.s_out, steps)
    info: dict = {}
    os.makedirs(wired.record_dir, exist_ok=True)
    try:
        data = run_process(wired.root, _run_config(deployment), steps,
                           timeout=deployment.target.timeout_seconds, read=monitor.get_data, info=info)
    finally:
        shutil.rmtree(wired.record_dir, ignore_errors=True)
    run_s, read_s = info["lava_run_seconds"], info["lava_read_seconds"]
    raster = np.asarray(data[lif.name]["s_out"]).astype(bool)
    return {"raster": raster, "run_seconds": run_s, "read_seconds": read_s, "values": int(raster.size)}
