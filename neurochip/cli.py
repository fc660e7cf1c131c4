"""The ``neurochip`` command.

    neurochip run NAME [--config FILE.json] [--set KEY=VALUE ...] [--tiny] [--experiments-dir DIR]
    neurochip run NAME --help                    (the options, then NAME's config keys)
    neurochip show-config NAME [--experiments-dir DIR]
    neurochip list [--experiments-dir DIR]
    neurochip raster RESULTS_DIR [-o raster.png]
    neurochip versions

``list``, ``show-config``, ``versions`` and ``--help`` import neither Brian2
nor Lava (they start in a fraction of a second); ``list`` reads the
experiments' names and docstrings and ``show-config`` an experiment's config
keys (type, default, meaning, allowed values) without running them, and
``run`` imports only the experiment it is given. Errors in what the user gave (a config value, a file) print one
line and exit with status 2; Ctrl-C exits with 130 (SIGTERM with 143) after
the run folder is marked ``"interrupted"``; a closed output pipe
(``neurochip list | head -1``) ends the command quietly.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _versions() -> dict[str, str]:
    from importlib import metadata

    from neurochip.experiment import package_versions

    out = package_versions()
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
    from neurochip.experiment import list_experiments

    for exp in list_experiments(args.experiments_dir):
        print(f"{exp.name:24s} {exp.summary}")
    return 0


def cmd_show_config(args) -> int:
    from neurochip.experiment import describe_config, format_config

    print(format_config(*describe_config(args.name, args.experiments_dir)))
    return 0


class _RunHelp(argparse.Action):
    """``run NAME --help``: argparse's help of ``run``, then the config keys of NAME."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "name", None)
        if name:
            print()
            try:
                cmd_show_config(argparse.Namespace(name=name, experiments_dir=getattr(namespace, "experiments_dir",
                                                                                      None)))
            except (ValueError, FileNotFoundError) as err:
                print(f"neurochip run: error: {err}", file=sys.stderr)
                parser.exit(2)
        else:
            print("\n`neurochip run NAME --help` (or `neurochip show-config NAME`) lists NAME's config keys.")
        parser.exit(0)


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
    # a run folder's result files (a meta-learning checkpoint.npz is not a result)
    files = [folder] if folder.is_file() else sorted(p for p in folder.glob("*.npz")
                                                     if not p.name.startswith("checkpoint"))
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
    dir_help = ("a folder of your own experiment scripts (read without running them; default: the "
                "'experiments' package, or the source tree's experiments/ folder)")
    p = sub.add_parser("run", help="run an experiment by name", add_help=False)
    p.add_argument("-h", "--help", action=_RunHelp, help="show this help and the config keys of NAME, then exit")
    p.add_argument("name", help="experiment name (see `neurochip list`)")
    add_config_arguments(p)
    p.add_argument("--experiments-dir", help=dir_help)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("list", help="list the experiments (without running them)")
    p.add_argument("--experiments-dir", help=dir_help)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show-config", help="list an experiment's config keys: type, default, meaning")
    p.add_argument("name", help="experiment name (see `neurochip list`)")
    p.add_argument("--experiments-dir", help=dir_help)
    p.set_defaults(func=cmd_show_config)
    p = sub.add_parser("raster", help="plot the spike raster of a saved result")
    p.add_argument("results", help="a run folder (results/NAME/TIMESTAMP) or a result .npz file")
    p.add_argument("-o", "--output", help="PNG file to write (default: beside the result)")
    p.set_defaults(func=cmd_raster)
    p = sub.add_parser("versions", help="print the versions of the toolchain")
    p.set_defaults(func=cmd_versions)
    return parser


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (``| head``): stop writing, exit quietly (status 141)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + 13  # 128 + SIGPIPE, what a shell reports for a writer stopped by a closed pipe


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from neurochip.experiment import EXPERIMENTS_ENV

    if os.environ.get(EXPERIMENTS_ENV) and args.command in ("run", "list", "show-config"):
        print(f"neurochip {args.command}: note: ${EXPERIMENTS_ENV} is no longer read; "
              f"pass --experiments-dir {os.environ[EXPERIMENTS_ENV]}", file=sys.stderr)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (ValueError, FileNotFoundError) as err:
        print(f"neurochip {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        from neurochip.experiment import Terminated

        terminated = isinstance(err, Terminated)
        what = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
        print(f"neurochip {args.command}: {what}; nothing was completed"
              + (": the run folder says status 'interrupted'" if args.command == "run" else ""), file=sys.stderr)
        return 143 if terminated else 130


if __name__ == "__main__":
    sys.exit(main())
