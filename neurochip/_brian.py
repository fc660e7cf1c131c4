"""Every Brian2 run neurochip starts goes through :func:`run_network`.

It does three things a bare ``brian2.Network.run`` does not:

1. **No silent truncation.** Brian2 installs a SIGINT handler that stops a
   running network gracefully and *returns normally*; a caller that collects
   the monitors then gets a result covering fewer steps than asked. After the
   run, :func:`run_network` checks how far the network got and raises
   :class:`KeyboardInterrupt` (Ctrl-C) or :class:`RuntimeError` (any other
   early stop) instead of returning.
2. **A code-generation target chosen for the run** (``codegen_target``):
   ``"numpy"`` compiles nothing; ``"cython"`` compiles C++ on the first run of
   a network structure (a minute or more on a cold cache), then reuses
   ``~/.cython/brian_extensions`` and runs 1.3 (1,000 steps) to 3 (10,000
   steps) times faster. ``"auto"``
   (the default) takes Cython only when the time one run saves would repay a
   cold compile (:func:`numpy_extra_seconds`, measured by
   ``benchmarks/bench_codegen.py``), numpy otherwise. Precedence: an explicit
   ``"numpy"`` / ``"cython"`` argument, then the environment variable
   ``NEUROCHIP_BRIAN_TARGET``, then ``brian2.prefs.codegen.target`` when the
   user set it to something other than Brian2's ``"auto"``, then the rule.
3. **A one-line notice when Brian2 starts compiling Cython** (on stderr, with
   the cache folder), so that a cold first run is not silent.

Functions that build Brian2 objects are decorated with :func:`building`, so
that set-up code that runs once (``Synapses.connect``) is never compiled.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import signal
import sys
import time

import brian2 as b2

#: Environment variable that overrides the automatic choice ("auto", "numpy" or "cython").
TARGET_ENV = "NEUROCHIP_BRIAN_TARGET"
TARGETS = ("auto", "numpy", "cython")

#: When compiling pays, measured by ``benchmarks/bench_codegen.py`` (the demo's structure,
#: 22 Cython modules, 2 shared cores): a numpy run takes longer than a warm-cache Cython run by
#: about this much per step and per step and element (neuron, spike source or synapse), and a
#: cold-cache compile costs about ``COLD_COMPILE_S``. "auto" compiles when one run's saving
#: would repay a cold compile: in practice only runs of hundreds of thousands of steps, or of
#: tens of thousands of steps on networks of millions of synapses.
NUMPY_EXTRA_S_PER_STEP = 1.8e-4
NUMPY_EXTRA_S_PER_ELEMENT_STEP = 3.0e-10
COLD_COMPILE_S = 90.0


def check_target(codegen_target, owner: str = "codegen_target") -> str | None:
    """``None`` or one of :data:`TARGETS`; anything else is a ValueError."""
    if codegen_target is not None and codegen_target not in TARGETS:
        raise ValueError(f"{owner} should be one of {', '.join(map(repr, TARGETS))} or None, "
                         f"got {codegen_target!r}")
    return codegen_target


def run_size(brian_net: b2.Network, duration) -> tuple[int, int]:
    """``(steps, elements)`` of running ``brian_net`` for ``duration``: steps of its finest clock,
    and its neurons, spike-source neurons and synapses."""
    elements, dt = 0, None
    for obj in brian_net.objects:
        if isinstance(obj, (b2.NeuronGroup, b2.SpikeGeneratorGroup, b2.PoissonGroup, b2.Synapses)):
            elements += len(obj)
        clock_dt = getattr(getattr(obj, "clock", None), "dt_", None)
        if clock_dt:
            dt = clock_dt if dt is None else min(dt, clock_dt)
    steps = int(round(float(duration / b2.second) / dt)) if dt else 0
    return steps, elements


def numpy_extra_seconds(steps: int, elements: int) -> float:
    """Predicted extra wall time of the numpy target over warm-cache Cython for one run."""
    return steps * (NUMPY_EXTRA_S_PER_STEP + NUMPY_EXTRA_S_PER_ELEMENT_STEP * elements)


#: True while a :func:`building` function runs (the target preference is then ours, not the user's).
_building: contextvars.ContextVar[bool] = contextvars.ContextVar("neurochip_brian_building", default=False)


def _chosen_target() -> str | None:
    """The user's choice: ``$NEUROCHIP_BRIAN_TARGET``, else a ``brian2.prefs.codegen.target`` they set."""
    env = os.environ.get(TARGET_ENV, "").strip()
    if env:
        check_target(env, f"${TARGET_ENV}")
        return None if env == "auto" else env
    if not _building.get() and b2.prefs.codegen.target in ("numpy", "cython"):
        return b2.prefs.codegen.target
    return None


def choose_target(codegen_target: str | None = None, *, steps: int = 0, elements: int = 0) -> str:
    """The target a run uses: ``"numpy"`` or ``"cython"`` (see the module docstring for the order)."""
    check_target(codegen_target)
    if codegen_target in ("numpy", "cython"):
        return codegen_target
    chosen = _chosen_target()
    if chosen is not None:
        return chosen
    return "cython" if numpy_extra_seconds(steps, elements) >= COLD_COMPILE_S else "numpy"


def building(fn):
    """Decorator of functions that build Brian2 objects: their set-up code (``Synapses.connect``
    and the like, run once) is generated for the numpy target, unless the user chose a target
    (``$NEUROCHIP_BRIAN_TARGET``, ``brian2.prefs.codegen.target``). Compiling code that runs once
    never pays; without this a cold first run compiles a module per projection before it starts.
    The run's own target is still chosen by :func:`run_network`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = b2.prefs.codegen.target
        b2.prefs.codegen.target = _chosen_target() or "numpy"
        token = _building.set(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _building.reset(token)
            b2.prefs.codegen.target = old

    return wrapper


def cache_dir() -> str:
    """Folder of Brian2's compiled Cython modules."""
    from brian2.codegen.runtime.cython_rt.extension_manager import get_cython_cache_dir

    return os.path.expanduser(get_cython_cache_dir())


#: Number of Cython modules compiled by runs of this process (counted by :func:`_compile_notice`).
compiled_modules = 0


@contextlib.contextmanager
def _compile_notice(stream=None):
    """Print one line to ``stream`` (stderr) when Brian2 starts compiling a Cython module."""
    from brian2.codegen.runtime.cython_rt import extension_manager as em

    manager = em.cython_extension_manager
    original = manager._load_module
    told = []

    def load_module(module_path, *args, **kwargs):
        global compiled_modules
        if not os.path.isfile(module_path):
            compiled_modules += 1
            if not told:
                told.append(True)
                print(f"neurochip: Brian2 is compiling Cython code into {os.path.dirname(module_path)} "
                      f"(first run of this network structure; later runs reuse it; it may take 1-2 "
                      f"minutes, about 4 s per module on 2 cores; "
                      f"{TARGET_ENV}=numpy skips compiling)", file=stream or sys.stderr, flush=True)
        return original(module_path, *args, **kwargs)

    manager._load_module = load_module
    try:
        yield
    finally:
        manager._load_module = original


def _ignored(signum, frame):  # the SIGINT disposition was "ignore": keep ignoring
    return None


def _repair_interrupt_chain() -> None:
    """Brian2 chains Ctrl-C to the handler found at import; SIG_IGN there (pytest-xdist workers,
    ``nohup``) makes its handler raise TypeError between runs. Chain to a no-op instead."""
    handler = getattr(b2, "_int_handler", None)
    if handler is not None and handler.previous_handler == signal.SIG_IGN:
        handler.previous_handler = _ignored


_repair_interrupt_chain()


def run_network(brian_net: b2.Network, duration, *, codegen_target: str | None = None,
                report=None, namespace: dict | None = None) -> str:
    """Run ``brian_net`` for ``duration`` and check that it ran to the end.

    Parameters
    ----------
    brian_net : brian2.Network
    duration : Quantity
        Simulated time to run (e.g. ``steps * dt``).
    codegen_target : {"auto", "numpy", "cython"}, optional
        See the module docstring; ``None`` is ``"auto"``.
    report : optional
        Brian2's progress report (``"text"``, ``"stderr"``, a callable); default: a
        :mod:`neurochip.progress` bar of the steps (drawn only on a terminal, after 2 s).
    namespace : dict, optional
        Brian2 namespace (default: empty; every neurochip model is self-contained).

    Returns
    -------
    str
        The code-generation target used (``"numpy"`` or ``"cython"``).

    Raises
    ------
    KeyboardInterrupt
        Ctrl-C (SIGINT) stopped the run: Brian2 returned early, the result is incomplete.
    RuntimeError
        Something else stopped the run early (``Network.stop``, Brian2's maximum run time).
    """
    steps, elements = run_size(brian_net, duration)
    target = choose_target(codegen_target, steps=steps, elements=elements)
    t_start = float(brian_net.t / b2.second)
    t_end = t_start + float(duration / b2.second)
    old_target = b2.prefs.codegen.target
    b2.prefs.codegen.target = target
    start = time.perf_counter()
    try:
        from neurochip.progress import brian_report  # a bar of the steps when stderr is a terminal

        with _compile_notice(), brian_report(f"Brian2 {brian_net.name}", steps if report is None else 0) as bar:
            kw = {"report": report} if bar[0] is None else {"report": bar[0], "report_period": bar[1]}
            brian_net.run(duration, namespace={} if namespace is None else namespace, **kw)
    finally:
        b2.prefs.codegen.target = old_target
    reached = float(brian_net.t / b2.second)
    if reached < t_end - 1e-9 * max(1.0, abs(t_end)):
        where = (f"Brian2 network '{brian_net.name}' stopped at t = {reached:g} s of "
                 f"[{t_start:g}, {t_end:g}] s after {time.perf_counter() - start:.1f} s")
        if b2.Network._globally_stopped:
            raise KeyboardInterrupt(f"{where}: interrupted (Ctrl-C); the partial run is discarded")
        raise RuntimeError(f"{where}: the run was stopped early; the partial run is discarded")
    return target
