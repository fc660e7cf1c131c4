"""Lava's process-wide side effects, and how mapping keeps them from piling up.

Measured on lava-nc 0.10 (see DESIGN.md's pitfalls):

* Importing Lava's multiprocessing module calls ``multiprocessing.set_start_method('fork')``,
  which raises ``RuntimeError: context has already been set`` if anything chose a start
  method first (a ``ProcessPoolExecutor``, Dask, the user). :func:`import_lava` imports it
  with that one call skipped; Lava's children are forked anyway, inside
  :func:`fork_context` (:mod:`mapping.lava.runs`), and the user's choice stays as it was.
* Every Lava process adds a ``StreamHandler`` (level ERROR) to the *root* logger, every
  compile one to the compiler's logger, and nothing removes them: after 3 compile-and-runs
  of a 5-process network a ``logging.error`` of the program was printed 30 times, a
  ``logging.warning`` not at all, and the handlers stayed in memory.
  :func:`no_new_log_handlers` removes the handlers added while it is active.
* ``ProcessServer`` and ``VarServer`` keep every process and Var ever made in lists that
  nothing reads (ids come from a counter); they held each run's whole graph.
  :func:`forget_processes` drops a run's processes from them after the run, and a
  wiring's processes when its :class:`~mapping.lava.registry.Wired` is garbage (wired
  but never run, e.g. replaced by a longer wiring).

Nothing here imports Lava at module level.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import sys
import threading
from typing import Iterator

LAVA_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"
COMPILER_LOGGER = "lava.magma.compiler.compiler"

_import_lock = threading.Lock()


def import_lava() -> None:
    """Import Lava's multiprocessing module without its ``set_start_method('fork')`` (idempotent).

    Any other ``set_start_method`` call made meanwhile (another thread) goes through.
    """
    if LAVA_MP_MODULE in sys.modules:
        return
    with _import_lock:
        if LAVA_MP_MODULE in sys.modules:
            return
        real = multiprocessing.set_start_method

        def skip_lavas_call(method, force=False):
            if method == "fork" and not force:
                return  # Lava's import-time call; its children are forked by fork_context()
            real(method, force=force)

        multiprocessing.set_start_method = skip_lavas_call
        try:
            importlib.import_module(LAVA_MP_MODULE)
        finally:
            multiprocessing.set_start_method = real


@contextlib.contextmanager
def fork_context() -> Iterator[None]:
    """Make ``fork`` the default start method while Lava builds its children, then restore the user's.

    Lava's actors, queues, semaphores and shared-memory manager come from the default
    context and need ``fork`` (the builders do not pickle). A start method chosen by the
    user (``spawn``, ``forkserver`` or none) is restored when the block ends.
    """
    previous = multiprocessing.get_start_method(allow_none=True)
    if previous == "fork":
        yield
        return
    multiprocessing.set_start_method("fork", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


@contextlib.contextmanager
def no_new_log_handlers(*names: str) -> Iterator[None]:
    """Remove the plain ``StreamHandler``s added to the root logger (and ``names``) inside the block."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in names)]
    before = [set(map(id, lg.handlers)) for lg in loggers]
    try:
        yield
    finally:
        for lg, kept in zip(loggers, before):
            for handler in list(lg.handlers):
                if id(handler) not in kept and type(handler) is logging.StreamHandler:
                    lg.removeHandler(handler)
                    handler.close()


def connected_processes(root) -> list:
    """Every Lava process connected to ``root`` (what ``root.compile`` compiles)."""
    from lava.magma.compiler.compiler_graphs import find_processes

    return find_processes(root)


def forget_processes(processes) -> None:
    """Drop ``processes`` and their Vars from Lava's global registries (the objects themselves stay usable)."""
    from lava.magma.core.process.process import ProcessServer
    from lava.magma.core.process.variable import VarServer

    proc_ids = {id(p) for p in processes}
    var_ids = {id(v) for p in processes for v in p.vars}
    server = ProcessServer()
    server.processes[:] = [p for p in server.processes if id(p) not in proc_ids]
    server = VarServer()
    server.vars[:] = [v for v in server.vars if id(v) not in var_ids]


def registry_sizes() -> dict:
    """How many processes and Vars Lava's global registries hold now (a leak check reads these)."""
    from lava.magma.core.process.process import ProcessServer
    from lava.magma.core.process.variable import VarServer

    return {"lava_processes": len(ProcessServer().processes), "lava_vars": len(VarServer().vars)}
