"""The ``neurochip`` command.

    neurochip run NAME [--config FILE.json] [--set KEY=VALUE ...] [--tiny]
    neurochip list
    neurochip raster RESULTS_DIR [-o raster.png]
    neurochip versions
"""
from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from pathlib import Path


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("neurochip", "brian2", "lava-nc", "numpy", "scipy", "matplotlib", "Cython"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        out["lava-loihi (Intel extension)"] = metadata.version("lava-loihi")
    except metadata.PackageNotFoundError:
        out["lava-loihi (Intel extension)"] = "not installed (Loihi hardware runs unavailable)"
    return out


def cmd_versions(args) -> int:
    for name, version in _versions().items():
        print(f"{name:32s} {version}")
    return 0


def cmd_list(args) -> int:
    from neurochip.experiment import experiments_dir, find_experiment, list_experiments

    folder = experiments_dir(args.experiments_dir)
    for name in list_experiments(folder):
        try:
            doc = (find_experiment(name, folder).__doc__ or "").strip().splitlines()
        except Exception as err:  # a broken script should not hide the others
            doc = [f"(cannot import: {err})"]
        print(f"{name:24s} {doc[0] if doc else ''}")
    return 0


def cmd_run(args) -> int:
    from neurochip.experiment import find_experiment, load_config

    module = find_experiment(args.name, args.experiments_dir)
    tiny = getattr(module, "TINY", {}) if args.tiny else None
    config = load_config(module.Config, args.config, args.overrides, base=tiny)
    run_dir = module.main(config)
    print(f"results: {run_dir}")
    return 0


def cmd_raster(args) -> int:
    from neurochip import plotting
    from neurochip.experiment import save_figure
    from neurochip.results import SimulationResult

    folder = Path(args.results)
    files = [folder] if folder.is_file() else sorted(folder.glob("*.npz"))
    if not files:
        raise ValueError(f"no result file (*.npz) in {folder}; pass a run folder written by an experiment")
    for path in files:
        result = SimulationResult.load(path)
        out = Path(args.output) if args.output and len(files) == 1 else path.with_name(f"{path.stem}_raster.png")
        save_figure(plotting.raster_result(result, title=f"{path.parent.name}/{path.name}"), out)
        print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from neurochip.experiment import add_config_arguments

    parser = argparse.ArgumentParser(prog="neurochip", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run an experiment by name")
    p.add_argument("name", help="experiment name (a script experiments/NAME.py)")
    add_config_arguments(p)
    p.add_argument("--experiments-dir", help="folder of experiment scripts (default: ./experiments)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list the experiments")
    p.add_argument("--experiments-dir")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("raster", help="plot the spike raster of a saved result")
    p.add_argument("results", help="a run folder (results/NAME/TIMESTAMP) or a result .npz file")
    p.add_argument("-o", "--output", help="PNG file to write (default: beside the result)")
    p.set_defaults(func=cmd_raster)
    p = sub.add_parser("versions", help="print the versions of the toolchain")
    p.set_defaults(func=cmd_versions)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"neurochip {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
