"""Helpers shared by experiment scripts: configs, run folders, provenance, discovery.

An experiment is a module ``experiments/<name>.py`` with

- a ``@dataclass Config`` whose fields all have defaults, declared with
  :func:`param` (type from the annotation, range and one-line help in the
  field's metadata) so that every value from ``--config`` / ``--set`` is
  checked before any work starts (:func:`check_config`);
- a dict ``TINY`` of overrides that makes it run in seconds;
- ``main(config) -> Path``, decorated with :func:`experiment_main`, that starts
  its run folder with :func:`start_run` and returns it.

Run folders (``<results_root>/<name>/<timestamp>/``) hold ``config.json`` and a
``metrics.json`` whose ``"status"`` is ``"running"`` from the start, and
becomes ``"complete"`` only after ``main`` returned (``"interrupted"`` on
Ctrl-C or SIGTERM, ``"failed"`` on an error): a folder of a killed run never
looks complete. ``metrics.json`` also records the provenance of the run
(:func:`provenance`: git commit and dirty flag, package versions, seed,
command line).

Experiments are listed without executing them (:func:`list_experiments` reads
names and docstrings with :mod:`ast`); only the one a user names is imported
(:func:`find_experiment`). They are the modules of the ``experiments``
package (found with :func:`importlib.util.find_spec`; the source tree's
``experiments/`` folder when that package is not importable), or the ``*.py``
files of a folder given explicitly (``--experiments-dir``). The current
folder's ``./experiments`` and ``$NEUROCHIP_EXPERIMENTS`` are not scanned.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import contextvars
import dataclasses
import datetime as _dt
import functools
import importlib
import importlib.util
import io
import json
import math
import numbers
import os
import pkgutil
import signal
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

#: No longer read (experiments are not discovered from the environment); see :func:`list_experiments`.
EXPERIMENTS_ENV = "NEUROCHIP_EXPERIMENTS"
#: Package whose modules are the experiments.
PACKAGE = "experiments"
SOURCE_TREE = Path(__file__).resolve().parents[1]

#: Distributions whose versions every run records (and ``neurochip versions`` prints).
VERSIONED = ("neurochip", "numpy", "scipy", "cma", "brian2", "lava-nc", "matplotlib", "Cython", "distributed")


# --------------------------------------------------------------------------- run folders
def new_run_dir(name: str, root: str | os.PathLike = "results") -> Path:
    """Create and return ``root/name/<YYYYmmdd-HHMMSS>[-n]/`` (never reuses a folder)."""
    base = Path(root) / name
    base.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {base}")


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    from neurochip.io import atomic_write_bytes

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


class Terminated(KeyboardInterrupt):
    """SIGTERM during an experiment: unwinds like Ctrl-C (temporary files removed, status written)."""

    signum = signal.SIGTERM


def package_versions() -> dict[str, str]:
    """Python and the versions of :data:`VERSIONED` (read from metadata: nothing is imported)."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(SOURCE_TREE), *args], capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def provenance(config=None) -> dict:
    """What reproduces a run: git commit of the source tree and whether it had uncommitted changes,
    package versions, the seed (``config.seed``), the command line and the start time (UTC)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status),
            "source_tree": str(SOURCE_TREE), "versions": package_versions(),
            "seed": getattr(config, "seed", None), "command": list(sys.argv),
            "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


_runs: contextvars.ContextVar[list | None] = contextvars.ContextVar("neurochip_runs", default=None)


def start_run(config) -> Path:
    """Create the run folder of ``config`` (``config.name`` under ``config.results_root``).

    Writes ``config.json`` and ``metrics.json`` with ``"status": "running"``
    and the :func:`provenance`; :func:`experiment_main` sets the final status.
    """
    check_config(config)
    run_dir = new_run_dir(config.name, getattr(config, "results_root", "results"))
    from neurochip.io import write_json

    write_json(run_dir / "config.json", config_dict(config))
    write_json(run_dir / "metrics.json", {"status": "running", "provenance": provenance(config)})
    runs = _runs.get()
    if runs is not None:
        runs.append(run_dir)
    return run_dir


def write_metrics(run_dir: str | os.PathLike, metrics: dict) -> Path:
    """Write an experiment's ``metrics.json``; the status stays ``"running"`` until ``main`` returns."""
    from neurochip.io import read_json, write_json

    path = Path(run_dir) / "metrics.json"
    try:
        previous = read_json(path)
    except ValueError:
        previous = {}
    prov = previous.get("provenance") if isinstance(previous, dict) else None
    return write_json(path, {"status": "running", **metrics, "provenance": prov or provenance()})


def _finish(run_dir: Path, status: str, error: BaseException | None = None) -> None:
    from neurochip.io import read_json, write_json

    path = run_dir / "metrics.json"
    try:
        metrics = read_json(path)
    except ValueError:
        metrics = {}
    metrics = metrics if isinstance(metrics, dict) else {}
    metrics.pop("status", None)
    prov = metrics.pop("provenance", None) or provenance()
    out = {"status": status, **metrics}
    if error is not None:
        out["error"] = f"{type(error).__name__}: {error}"
    prov["finished_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    out["provenance"] = prov
    write_json(path, out)


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread.

    Once: later SIGTERMs are ignored until the block ends (the clean-up and the
    status write run to the end); the previous handler is restored on exit.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def experiment_main(main):
    """Decorator of an experiment's ``main(config)``: checks the config, and sets the status of the
    run folders it started (:func:`start_run`) to ``"complete"`` after it returns, ``"interrupted"``
    (Ctrl-C, SIGTERM) or ``"failed"`` when it raises (the error is re-raised)."""

    @functools.wraps(main)
    def wrapper(config, *args, **kwargs):
        check_config(config)
        runs: list = []
        token = _runs.set(runs)
        try:
            with terminate_as_interrupt():
                try:
                    result = main(config, *args, **kwargs)
                except BaseException as err:
                    status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
                    for run_dir in runs:
                        _finish(run_dir, status, err)
                    raise
                for run_dir in runs:
                    _finish(run_dir, "complete")
        finally:
            _runs.reset(token)
        return result

    return wrapper


# --------------------------------------------------------------------------- configs
def param(default, help: str = "", *, min=None, max=None, gt=None, lt=None, choices=None):
    """A config field: ``default`` (lists are copied per instance), a one-line ``help`` and a range.

    ``min`` / ``max`` are inclusive bounds, ``gt`` / ``lt`` exclusive ones,
    ``choices`` the allowed values; for lists and tuples they apply to every element.
    """
    meta = {k: v for k, v in (("help", help), ("min", min), ("max", max), ("gt", gt), ("lt", lt),
                                ("choices", tuple(choices) if choices is not None else None)) if v is not None}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=functools.partial(_copy, default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _copy(value):
    return json.loads(json.dumps(value))


def _is_int(value) -> bool:
    import numpy as np

    return not isinstance(value, bool) and isinstance(value, (numbers.Integral, np.integer))


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a JSON object"}


def _expected(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _NAMES:
        return _NAMES[tp]
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _expected(a) for a in args)
    if origin in (list, tuple) or tp in (list, tuple):
        elem = args[0] if args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)) else None
        if elem is None:
            return "a list"
        word = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}.get(elem)
        return f"a list of {word or _expected(elem)} (JSON, e.g. {'[1, 2]' if elem in (int, float) else '[...]'})"
    return getattr(tp, "__name__", str(tp))


def _convert(label: str, value, tp, default):
    """``value`` checked against the annotation ``tp`` (and converted: int -> float, list -> tuple)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    fail = ValueError(f"{label} should be {_expected(tp)}, got {_describe(value)}")
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is not type(None):
                try:
                    return _convert(label, value, a, default)
                except ValueError:
                    continue
        raise fail
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail
    if tp is int:
        if _is_int(value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise fail
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise fail
        if not math.isfinite(float(value)):
            raise ValueError(f"{label} should be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise fail
    if tp in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail
        container = tuple if (tp is tuple or origin is tuple) else list
        if args and origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(f"{label} should have {len(args)} elements, got {len(value)}")
            elems = args
        else:
            elem = args[0] if args else _element_type(default)
            elems = [elem] * len(value)
        return container(_convert(f"{label}[{k}]", v, e, None) if e is not None else v
                         for k, (v, e) in enumerate(zip(value, elems)))
    return value


def _element_type(default):
    """Element type of a bare ``list`` / ``tuple`` annotation, from its default's elements."""
    if not default:
        return None
    if all(_is_int(v) for v in default):
        return int
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in default):
        return float
    if all(isinstance(v, str) for v in default):
        return str
    return None


def _check_range(label: str, value, meta: dict):
    if isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _check_range(f"{label}[{k}]", v, meta)
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        names = [repr(c) for c in choices]
        text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"{label} should be {text}, got {_describe(value)}")
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return
    lo, hi, gt, lt = (meta.get(k) for k in ("min", "max", "gt", "lt"))
    ok = ((lo is None or value >= lo) and (hi is None or value <= hi) and (gt is None or value > gt)
          and (lt is None or value < lt))
    if not ok:
        parts = [f">= {lo}" if lo is not None else None, f"> {gt}" if gt is not None else None,
                 f"<= {hi}" if hi is not None else None, f"< {lt}" if lt is not None else None]
        if lo is not None and hi is not None and gt is None and lt is None:
            bound = f"in [{lo}, {hi}]"
        else:
            bound = " and ".join(p for p in parts if p)
        raise ValueError(f"{label} should be {bound}, got {value!r}")


def _hints(config_cls) -> dict:
    try:
        return typing.get_type_hints(config_cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to checking by default
        return {}


def check_field(config_cls, name: str, value):
    """``value`` for field ``name`` of ``config_cls``, checked (type, range) and converted."""
    field = {f.name: f for f in dataclasses.fields(config_cls)}[name]
    default = (field.default if field.default is not dataclasses.MISSING
               else field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
    tp = _hints(config_cls).get(name, Any)
    if isinstance(tp, str) or tp is Any:  # unresolved: the type of the default
        tp = type(default) if default is not None else Any
    label = f"config.{name}"
    value = _convert(label, value, tp, default)
    _check_range(label, value, dict(field.metadata))
    return value


def check_config(config):
    """Check (and convert in place) every field of a config dataclass; then its ``validate()`` if any.

    Raises ValueError ``config.<field> should be <expected>, got <value>``.
    """
    for f in dataclasses.fields(config):
        setattr(config, f.name, check_field(type(config), f.name, getattr(config, f.name)))
    if callable(getattr(config, "validate", None)):
        config.validate()
    return config


def make_config(config_cls, values: dict | None = None):
    """Build ``config_cls`` from a dict, rejecting unknown keys with the list of known ones; checked."""
    values = dict(values or {})
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)} for {config_cls.__qualname__}; "
                         f"known: {', '.join(names)}")
    return check_config(config_cls(**values))


def _parse_text(config_cls, name: str, text: str):
    """A ``--set`` value: raw text for string fields, true/false for booleans, else JSON (or raw text)."""
    tp = _hints(config_cls).get(name)
    if tp is str:
        return text
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def load_config(config_cls, path: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                base: dict | None = None):
    """Config from defaults, then ``base``, then a JSON file, then ``key=value`` overrides.

    Every value is checked against its field's type and range before the config
    is returned; errors say where the value came from (``--set steps=many:
    config.steps should be an integer, got 'many'``).
    """
    from neurochip.io import read_json

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    values: dict = {}
    origin: dict = {}
    for key, value in dict(base or {}).items():
        values[key], origin[key] = value, "tiny config"
    if path is not None:
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} should hold a JSON object, got {type(data).__name__}")
        for key, value in data.items():
            values[key], origin[key] = value, f"config file {path}"
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        if key not in fields:
            raise ValueError(f"unknown config key {key!r} (--set {item}); known: {', '.join(fields)}")
        values[key], origin[key] = _parse_text(config_cls, key, text), f"--set {item}"
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)} in {origin[unknown[0]]}; "
                         f"known: {', '.join(fields)}")
    for key in values:
        try:
            values[key] = check_field(config_cls, key, values[key])
        except ValueError as err:
            raise ValueError(f"{origin[key]}: {err}") from None
    return make_config(config_cls, values)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON file of config values")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value (repeatable; lists as JSON, e.g. ks=[1,5])")
    parser.add_argument("--tiny", action="store_true", help="use the tiny config (seconds; for CI)")


def parse_config(config_cls, argv: Sequence[str] | None = None, *, tiny: dict | None = None):
    """Command line of an experiment script: ``--config FILE``, ``--set k=v``, ``--tiny``."""
    if tiny is None:
        tiny = getattr(sys.modules.get(config_cls.__module__), "TINY", {})
    parser = argparse.ArgumentParser(description=(config_cls.__doc__ or "").strip().splitlines()[0]
                                     if config_cls.__doc__ else None)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return load_config(config_cls, args.config, args.overrides, base=tiny if args.tiny else None)
    except ValueError as err:
        parser.error(str(err))


def config_dict(config) -> dict:
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------- discovery
@dataclasses.dataclass(frozen=True)
class ExperimentInfo:
    """An experiment found without running it: name, first docstring line, file, import name."""

    name: str
    summary: str
    path: Path
    module: str | None = None  # e.g. "experiments.ei_demo"; None: loaded from ``path``


def _read_static(name: str, path: Path, module: str | None) -> ExperimentInfo | None:
    """Parse ``path`` (never execute it): an experiment defines ``class Config`` and ``def main``."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as err:
        return ExperimentInfo(name, f"(cannot read: {type(err).__name__}: {err})", path, module)
    defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    if not {"Config", "main"} <= defined:
        return None
    doc = (ast.get_docstring(tree) or "").strip().splitlines()
    return ExperimentInfo(name, doc[0] if doc else "", path, module)


def _package_locations() -> list[Path]:
    try:
        spec = importlib.util.find_spec(PACKAGE)  # top-level: finds, does not import
    except (ImportError, ValueError):
        return []
    # a regular package only (an ``__init__.py``): a bare ``experiments/`` folder that happens to be on
    # sys.path (e.g. in the current folder under ``python -m``) is a namespace package, not ours
    if spec is None or not spec.submodule_search_locations or not spec.origin \
            or Path(spec.origin).name != "__init__.py":
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def experiment_sources(folder: str | os.PathLike | None = None) -> tuple[str, list[Path], bool]:
    """``(description, folders, as_package)``: where experiments are looked up."""
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"experiments folder {folder} does not exist")
        return f"folder {folder}", [folder], False
    locations = _package_locations()
    if locations:
        return f"package '{PACKAGE}' ({', '.join(map(str, locations))})", locations, True
    tree = SOURCE_TREE / PACKAGE
    if tree.is_dir():
        return f"source tree folder {tree}", [tree], False
    raise FileNotFoundError(f"no experiments found: the '{PACKAGE}' package is not importable and "
                            f"{tree} does not exist; pass --experiments-dir")


def list_experiments(folder: str | os.PathLike | None = None) -> list[ExperimentInfo]:
    """Experiments in ``folder`` (its ``*.py``) or in the ``experiments`` package, read statically."""
    _, folders, as_package = experiment_sources(folder)
    found: dict[str, ExperimentInfo] = {}
    if as_package:
        for info in pkgutil.iter_modules([str(p) for p in folders]):
            path = Path(info.module_finder.path) / f"{info.name}.py"
            if info.ispkg or info.name.startswith("_") or info.name in found or not path.is_file():
                continue
            exp = _read_static(info.name, path, f"{PACKAGE}.{info.name}")
            if exp is not None:
                found[info.name] = exp
    else:
        for path in sorted(folders[0].glob("*.py")):
            if not path.stem.startswith("_") and path.stem.isidentifier():
                exp = _read_static(path.stem, path, None)
                if exp is not None:
                    found[path.stem] = exp
    return sorted(found.values(), key=lambda e: e.name)


def find_experiment(name: str, folder: str | os.PathLike | None = None):
    """Import the experiment ``name`` (and only it) as a module."""
    where, _, _ = experiment_sources(folder)
    known = {e.name: e for e in list_experiments(folder)}
    if name not in known:
        raise ValueError(f"no experiment named {name!r} in {where} (available: {', '.join(known) or 'none'})")
    exp = known[name]
    if exp.module is not None:
        module = importlib.import_module(exp.module)
    else:
        spec = importlib.util.spec_from_file_location(f"neurochip_experiment_{name}", exp.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    for attr in ("Config", "main"):
        if not hasattr(module, attr):
            raise ValueError(f"experiment {exp.path} has no {attr}; see neurochip.experiment for the contract")
    return module


# --------------------------------------------------------------------------- describing configs
@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One config key as ``neurochip show-config`` lists it: name, type, default, range and help."""

    name: str
    type: str
    default: Any
    help: str = ""
    limits: str = ""


def _type_text(tp) -> str:
    if isinstance(tp, str):
        return tp
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _limits_text(meta: Mapping) -> str:
    parts = [f"{op} {meta[key]!r}" for key, op in (("min", ">="), ("gt", ">"), ("max", "<="), ("lt", "<"))
             if meta.get(key) is not None]
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    return ", ".join(parts)


def config_fields(config_cls) -> list[ConfigField]:
    """The keys of an (imported) config dataclass, from its fields' annotations and :func:`param` metadata."""
    hints = _hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        default = (f.default if f.default is not dataclasses.MISSING
                   else f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out.append(ConfigField(f.name, _type_text(hints.get(f.name, f.type)), default,
                               str(f.metadata.get("help", "")), _limits_text(f.metadata)))
    return out


class _NotStatic(Exception):
    """The config cannot be read without running its module (then it is imported)."""


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise _NotStatic(ast.unparse(node)) from None


def _module_tree(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as err:
        raise _NotStatic(str(err)) from None


def _imported_from(tree: ast.Module, name: str, path: Path) -> Path | None:
    """The file of the sibling module ``name`` is imported from (``from experiments._common import name``)."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == name and a.asname is None for a in node.names):
            module = (node.module or "").split(".")[-1]
            candidate = path.parent / f"{module}.py"
            if candidate.is_file():
                return candidate
    return None


def _class_fields(tree: ast.Module, cls_name: str, path: Path, depth: int = 0) -> list[ConfigField]:
    if depth > 8:
        raise _NotStatic("class hierarchy too deep")
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name), None)
    if cls is None:
        source = _imported_from(tree, cls_name, path)
        if source is None:
            raise _NotStatic(f"class {cls_name} not found")
        return _class_fields(_module_tree(source), cls_name, source, depth + 1)
    fields: dict[str, ConfigField] = {}
    for base in cls.bases:
        if not isinstance(base, ast.Name):
            raise _NotStatic(ast.unparse(base))
        for f in _class_fields(tree, base.id, path, depth + 1):
            fields[f.name] = f
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        fields[stmt.target.id] = _field_from(tree, stmt, path, depth)
    return list(fields.values())


def _field_from(tree: ast.Module, stmt: ast.AnnAssign, path: Path, depth: int) -> ConfigField:
    name, tp = stmt.target.id, ast.unparse(stmt.annotation)
    call = stmt.value
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        if call is None:
            raise _NotStatic(f"{name} has no default")
        return ConfigField(name, tp, _literal(call))
    if call.func.id == "param":
        args = [_literal(a) for a in call.args]
        kw = {k.arg: _literal(k.value) for k in call.keywords}
        default = args[0] if args else kw.pop("default")
        help_text = args[1] if len(args) > 1 else kw.pop("help", "")
        return ConfigField(name, tp, default, help_text, _limits_text(kw))
    # a helper returning another config class's field, e.g. ``ei_param("seed")``: that class's field
    if len(call.args) == 1 and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        source = _imported_from(tree, call.func.id, path) or path
        other = _module_tree(source)
        for cls in (n for n in other.body if isinstance(n, ast.ClassDef)):
            for f in _class_fields(other, cls.name, source, depth + 1):
                if f.name == call.args[0].value:
                    return dataclasses.replace(f, type=tp)
    raise _NotStatic(ast.unparse(call))


def describe_config(name: str, folder: str | os.PathLike | None = None) -> tuple[ExperimentInfo, list[ConfigField], dict]:
    """``(experiment, fields, tiny overrides)`` of experiment ``name``.

    Read from the source with :mod:`ast` when the ``Config`` class is written with
    :func:`param` (or helpers returning another config's field), so that listing a
    config imports neither the experiment nor Brian2; otherwise the module is imported.
    """
    where, _, _ = experiment_sources(folder)
    known = {e.name: e for e in list_experiments(folder)}
    if name not in known:
        raise ValueError(f"no experiment named {name!r} in {where} (available: {', '.join(known) or 'none'})")
    exp = known[name]
    try:
        tree = _module_tree(exp.path)
        fields = _class_fields(tree, "Config", exp.path)
        tiny = next((_literal(n.value) for n in tree.body if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "TINY" for t in n.targets)), {})
    except _NotStatic:
        module = find_experiment(name, folder)
        fields, tiny = config_fields(module.Config), dict(getattr(module, "TINY", {}))
    return exp, fields, tiny


def format_config(exp: ExperimentInfo, fields: Sequence[ConfigField], tiny: Mapping, *, width: int = 100) -> str:
    """Plain-text table of config keys: name, type, default, meaning and allowed values."""
    import textwrap

    lines = [f"{exp.name}: {exp.summary}", "",
             f"Config keys of `neurochip run {exp.name}` (--set KEY=VALUE, lists and tuples as JSON; "
             f"--config FILE.json):", ""]
    name_w = max([len("key")] + [len(f.name) for f in fields])
    type_w = max([len("type")] + [len(f.type) for f in fields])
    indent = " " * (name_w + 6)
    head = f"  {'key':<{name_w}}  {'type':<{type_w}}  default"
    lines += [head, indent + "meaning [allowed values]", "  " + "-" * (width - 2)]
    for f in fields:
        default = json.dumps(f.default) if not isinstance(f.default, str) else repr(f.default)
        lines.append(f"  {f.name:<{name_w}}  {f.type:<{type_w}}  {default}")
        text = f.help + (f" [{f.limits}]" if f.limits else "")
        if text:
            lines += textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent)
    if tiny:
        lines += ["", "--tiny sets: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in tiny.items())]
    return "\n".join(lines)
