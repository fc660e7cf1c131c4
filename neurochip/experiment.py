"""Helpers shared by experiment scripts: configs, run folders, figures.

An experiment is a script ``experiments/<name>.py`` with a ``@dataclass Config``
(every field with a default), a dict ``TINY`` of overrides that makes it run in
seconds, and ``main(config) -> Path`` returning its run folder
``<results_root>/<name>/<timestamp>/``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from neurochip.io import atomic_write_bytes, read_json

#: Folder name of the experiment scripts (looked up by :func:`find_experiment`).
EXPERIMENTS_ENV = "NEUROCHIP_EXPERIMENTS"


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

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _coerce(field: dataclasses.Field, text: str) -> Any:
    """Parse a ``--set key=value`` value with the type of the field's default."""
    default = field.default if field.default is not dataclasses.MISSING else None
    if isinstance(default, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {field.name}: expected true/false, got {text!r}")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def make_config(config_cls, values: dict | None = None):
    """Build ``config_cls`` from a dict, rejecting unknown keys with the list of known ones."""
    values = dict(values or {})
    names = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)} for {config_cls.__qualname__}; "
                         f"known: {', '.join(names)}")
    return config_cls(**values)


def load_config(config_cls, path: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                base: dict | None = None):
    """Config from defaults, then ``base``, then a JSON file, then ``key=value`` overrides."""
    values: dict = dict(base or {})
    if path is not None:
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} should hold a JSON object")
        values.update(data)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        if key not in fields:
            raise ValueError(f"unknown config key {key!r}; known: {', '.join(fields)}")
        try:
            values[key] = _coerce(fields[key], text)
        except ValueError as err:
            raise ValueError(f"--set {key}: {err}") from None
    return make_config(config_cls, values)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="JSON file of config values")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value (repeatable)")
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


def experiments_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where experiment scripts live: explicit, $NEUROCHIP_EXPERIMENTS, ./experiments, or the source tree."""
    candidates = []
    if explicit:
        candidates.append(Path(explicit))
    if os.environ.get(EXPERIMENTS_ENV):
        candidates.append(Path(os.environ[EXPERIMENTS_ENV]))
    candidates.append(Path.cwd() / "experiments")
    candidates.append(Path(__file__).resolve().parents[1] / "experiments")
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("no experiments folder found; run from the neurochip source tree, "
                            f"set ${EXPERIMENTS_ENV}, or pass --experiments-dir")


def list_experiments(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def find_experiment(name: str, folder: str | os.PathLike | None = None):
    """Import ``experiments/<name>.py`` as a module."""
    folder = experiments_dir(folder)
    path = folder / f"{name}.py"
    if not path.is_file():
        known = ", ".join(list_experiments(folder)) or "none"
        raise ValueError(f"no experiment named {name!r} in {folder} (available: {known})")
    spec = importlib.util.spec_from_file_location(f"neurochip_experiment_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for attr in ("Config", "main"):
        if not hasattr(module, attr):
            raise ValueError(f"experiment {path} has no {attr}; see neurochip.experiment for the contract")
    return module
