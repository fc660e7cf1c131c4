"""A registry of runners: named ways to run a network description.

A *runner* is a callable ``fn(network, steps, probes=None) -> SimulationResult``.
Code in :mod:`neurochip` that runs a network somewhere it does not know (for
instance the few-shot classifier's ``backend=`` option) asks
:func:`get_runner` for it by name, so it never imports the packages above it
(``mapping`` registers its Lava runners here; DESIGN.md "Layers").

Built in: ``"numpy"`` (:func:`neurochip.reference.simulate`) and ``"brian2"``
(:func:`neurochip.brian_backend.simulate`). Other packages register theirs:

- when imported: ``register_runner("lava", run_lava_float)``, or by reference,
  ``register_runner("lava", "mapping.runner:run_lava_float")``, resolved (imported)
  the first time the name is asked for (``import mapping`` registers its
  runners this way, so that ``mapping`` need not import its adapter module);
- without being imported: an entry point of the group ``neurochip.runners`` in
  the package metadata, e.g. in ``setup.cfg``::

      [options.entry_points]
      neurochip.runners =
          lava = mapping.runner:run_lava_float

  :func:`get_runner` loads it the first time the name is asked for.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Callable, Mapping, Sequence

#: The entry-point group that :func:`get_runner` consults for names not registered.
ENTRY_POINT_GROUP = "neurochip.runners"

#: ``fn(network, steps, probes=None) -> neurochip.results.SimulationResult``
Runner = Callable[..., Any]


def _numpy(network, steps: int, probes: Mapping[str, Sequence[str]] | None = None):
    """The numpy reference (:func:`neurochip.reference.simulate`)."""
    from neurochip.reference import simulate

    return simulate(network, steps, probes)


def _brian2(network, steps: int, probes: Mapping[str, Sequence[str]] | None = None):
    """The Brian2 backend (:func:`neurochip.brian_backend.simulate`)."""
    from neurochip.brian_backend import simulate

    return simulate(network, steps, probes)


_RUNNERS: dict[str, Runner | str] = {"numpy": _numpy, "brian2": _brian2}


def _check_name(name) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"runner name should be a non-empty string, got {name!r}")
    return name


def _describe(fn) -> str:
    return fn if isinstance(fn, str) else f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', fn)}"


def register_runner(name: str, fn: Runner | str, *, replace: bool = False) -> None:
    """Register a runner under ``name``.

    Parameters
    ----------
    name : str
    fn : callable or str
        ``fn(network, steps, probes=None) -> SimulationResult``, or a reference
        ``"package.module:function"`` imported when the runner is first asked for.
    replace : bool
        Replace a different runner already registered under ``name`` (else a ValueError).
        Registering the same function or reference again is a no-op.
    """
    name = _check_name(name)
    if isinstance(fn, str):
        module, _, attr = fn.partition(":")
        if not module or not attr:
            raise ValueError(f"register_runner: runner {name!r} should be a callable or a reference "
                             f"'package.module:function', got {fn!r}")
    elif not callable(fn):
        raise ValueError(f"register_runner: runner {name!r} should be callable "
                         f"fn(network, steps, probes=None) or a 'module:function' reference, "
                         f"got {type(fn).__name__}")
    old = _RUNNERS.get(name)
    if old is not None and _describe(old) != _describe(fn) and not replace:
        raise ValueError(f"register_runner: a runner named {name!r} is already registered "
                         f"({_describe(old)}); pass replace=True to replace it")
    if old is None or replace or isinstance(old, str):
        _RUNNERS[name] = fn


def _entry_points() -> dict:
    """Entry points of :data:`ENTRY_POINT_GROUP` by name (installed package metadata)."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_runners() -> list[str]:
    """Names of the registered runners and of the runners installed as entry points (sorted)."""
    return sorted({*_RUNNERS, *_entry_points()})


def get_runner(name: str) -> Runner:
    """The runner registered as ``name``, loading an installed entry point if needed.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones).
    ImportError
        The entry point exists but its module cannot be imported (the original error is chained).
    """
    name = _check_name(name)
    if name not in _RUNNERS:
        eps = _entry_points()
        if name not in eps:
            raise ValueError(f"unknown runner {name!r}; known runners: {', '.join(available_runners())} "
                             f"(register one with neurochip.runners.register_runner, or install a package "
                             f"with a {ENTRY_POINT_GROUP!r} entry point)")
        fn = _load(name, eps[name].value, f"entry point {eps[name].name} = {eps[name].value} "
                                          f"(group {ENTRY_POINT_GROUP!r})")
        _RUNNERS.setdefault(name, fn)  # importing its module may have registered the name already
    fn = _RUNNERS[name]
    if isinstance(fn, str):
        fn = _RUNNERS[name] = _load(name, fn, f"reference {fn!r}")
    return fn


def _load(name: str, reference: str, what: str) -> Runner:
    """Import ``"module:attr"`` (an entry point's value or a registered reference)."""
    module, _, attr = reference.partition(":")
    try:
        fn = importlib.import_module(module.strip())
        for part in attr.strip().split("."):
            fn = getattr(fn, part)
    except Exception as exc:  # say which runner failed to load, keep the cause
        raise ImportError(f"runner {name!r}: loading {what} failed: {type(exc).__name__}: {exc}") from exc
    if not callable(fn):
        raise ImportError(f"runner {name!r}: {what} is a {type(fn).__name__}, not a callable")
    return fn
