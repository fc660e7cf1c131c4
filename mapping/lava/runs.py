"""The one way this package runs Lava: bounded, always stopped, always released.

:func:`run_process` compiles and runs the Lava network of one process within a
wall-clock bound. Every Lava run of neurochip goes through it: deployments
(:func:`mapping.lava_backend.run`), the Lava meta-regulator
(:func:`mapping.lava_regulator.run_bounded`) and the ``Monitor`` baseline
(:func:`mapping.lava_backend.monitor_readout`). Lava's own ``run``/``stop`` block
without a bound when a child fails (lava issues 83, 231, 236); here every wait
polls with a deadline, an exception in a child becomes :class:`LavaRunError`
with the child's exception as ``__cause__``, and children and shared-memory
segments are released in every case.

Released means: children joined (terminated, then killed), each child's pipe pair
and sentinel and the exception queues closed (Lava's unbounded
``SystemProcess.join()`` is never called), the shared-memory manager shut down and
leftover segments unlinked, the run's processes dropped from Lava's global
registries (:mod:`mapping.lava.side_effects`). SIGTERM during a run, and the death
of this process, are handled by :mod:`mapping.lava.children`.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Callable, TypeVar

from neurochip.progress import activity

from mapping.lava.children import forking_children, reaper, sigterm_as_exit
from mapping.lava.side_effects import (COMPILER_LOGGER, connected_processes, fork_context, forget_processes,
                                      no_new_log_handlers)


class LavaRunError(RuntimeError):
    """A Lava run failed; ``__cause__`` is the original exception, ``child_traceback`` its traceback."""

    def __init__(self, message: str, child_traceback: str = ""):
        super().__init__(message)
        self.child_traceback = child_traceback


class LavaTimeoutError(LavaRunError, TimeoutError):
    """A Lava run did not finish within its time bound."""


T = TypeVar("T")

#: Longest path a Unix socket can bind to on Linux (``sun_path`` is 108 bytes with its NUL).
UNIX_SOCKET_PATH_MAX = 107


def check_socket_folder() -> None:
    """Raise a clear error where Lava's shared-memory manager could not listen.

    The manager listens on a Unix socket ``<tmp>/pymp-XXXXXXXX/listener-XXXXXXXX``; with a
    long ``TMPDIR`` that path exceeds what Linux allows, and Lava then fails in a child with
    a bare ``EOFError`` (the child's ``OSError: AF_UNIX path too long`` only in its traceback).
    """
    from multiprocessing import util

    folder = util.get_temp_dir()
    longest = os.path.join(folder, "listener-" + "x" * 8)
    if len(longest) > UNIX_SOCKET_PATH_MAX:
        raise LavaRunError(
            f"the temporary folder is too long for a Unix socket: Lava's shared-memory manager would listen on "
            f"{longest!r} ({len(longest)} characters; Linux allows {UNIX_SOCKET_PATH_MAX}). Set TMPDIR to a "
            f"shorter folder (for example TMPDIR=/tmp) before starting Python")

#: Names of the shared-memory segments of the most recent run (for leak checks).
LAST_RUN_SEGMENTS: list = []


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
        with fork_context(), forking_children():
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


def _close_actor(actor) -> None:
    """Close an exited actor's pipe pair and sentinel, as ``SystemProcess.join()`` does (which has no bound).

    Joining through the base ``multiprocessing.Process.join(timeout=...)`` skips
    that, and each run of a 5-process network then kept 24 descriptors open.
    """
    for conn in (getattr(actor, "_pconn", None), getattr(actor, "_cconn", None)):
        if conn is not None:
            conn.close()
    try:
        multiprocessing.Process.close(actor)  # the sentinel; refuses while the child runs
    except ValueError:
        return
    actor._is_done = True  # SystemProcess.join() would join and close again


def _close_queues(runtime) -> None:
    """Close the per-child exception queues that ``Runtime.initialize`` leaves behind when it fails.

    ``Queue.close()`` only stops the feeder thread (which then closes the writing
    end); the pipe's ends are closed when the queue is garbage, and a traceback that
    holds ``initialize``'s frame keeps one alive: close them here.
    """
    for queue in list(getattr(runtime, "exception_q", []) or []):
        queue.cancel_join_thread()  # nobody reads them any more: do not wait to flush
        queue.close()
        queue._reader.close()
        if queue._thread is None:  # no feeder thread to close the writing end
            queue._writer.close()
    runtime.exception_q = []


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
        _close_actor(actor)
    _close_queues(runtime)
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


def _owned(runtime) -> dict:
    """What an initialized run owns: child pids (actors, shared-memory manager), segments, the manager's folder.

    The manager listens on a socket in a ``pymp-*`` folder of its own, which it
    removes when it exits normally (a killed manager leaves it).
    """
    pids = [a.pid for a in _actors(runtime)]
    smm = getattr(getattr(runtime, "_messaging_infrastructure", None), "_smm", None)
    manager = getattr(smm, "_manager", None)
    folders = []
    if manager is not None:
        pids.append(manager._process.pid)
        if isinstance(manager.address, str) and os.path.basename(os.path.dirname(manager.address)).startswith("pymp-"):
            folders.append(os.path.dirname(manager.address))
    return {"pids": pids, "segments": [h.name for h in getattr(smm, "_shared_memory_handles", [])],
            "folders": folders}


def run_process(root, run_cfg, steps: int, *, timeout: float, read: Callable[[], T] | None = None,
                info: dict | None = None) -> T | None:
    """Compile and run the Lava network of process ``root`` for ``steps`` steps, bounded and always released.

    The one run primitive of this package: the whole run (compile, initialize,
    ``steps`` steps, ``read()``, stop) must finish within ``timeout`` seconds or
    :class:`LavaTimeoutError` is raised; an exception in a child process becomes
    :class:`LavaRunError` with the child's exception as ``__cause__``; children
    and shared-memory segments are released in every case (errors, timeouts,
    ``KeyboardInterrupt``, and SIGTERM, which then exits with status 143), with
    every descriptor closed and the run's processes dropped from Lava's global
    registries; children die with this process, and the reaper cleans up after
    it if it is killed (:mod:`mapping.lava.children`). ``read()`` is called after the last step and before
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
    runtime, stopped, value, owned = None, False, None, {}
    LAST_RUN_SEGMENTS.clear()
    with sigterm_as_exit():
        try:
            check_socket_folder()
            t0 = time.perf_counter()
            with no_new_log_handlers(COMPILER_LOGGER):
                executable = root.compile(run_cfg)
            runtime = Runtime(executable, ActorType.MultiProcessing)
            executable.assign_runtime_to_all_processes(runtime)
            _guard_initialize(runtime, deadline, timeout)
            owned = _owned(runtime)
            reaper().register(**owned)
            info["lava_setup_seconds"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            with activity(f"Lava run of {steps} steps"):   # elapsed time on a terminal (neurochip.progress)
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
            if owned:
                reaper().unregister(**owned)
            forget_processes(connected_processes(root))
    return value

