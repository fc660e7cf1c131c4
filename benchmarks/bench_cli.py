"""Start-up time of the ``neurochip`` command: ``--help``, ``list``, ``versions``, ``show-config``, ``run NAME --help``.

Each command runs in a fresh Python process (``python -m neurochip.cli ...`` from
the source tree), ``--repeats`` times; the median wall time is reported, next to
that of ``python -c "import brian2"`` measured in the same run (what a command
would pay if it imported Brian2). The target is under 2 s per command.

Run: ``python benchmarks/bench_cli.py [--repeats 5]``. Prints the figures and
writes ``benchmarks/out/bench_cli.json``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _timing import timed  # noqa: E402

from neurochip.io import write_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "list": ["list"], "versions": ["versions"],
            "show-config fewshot_metalearn": ["show-config", "fewshot_metalearn"],
            "run lava_deploy --help": ["run", "lava_deploy", "--help"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def command(extra):
        return lambda: subprocess.run([sys.executable, *extra], cwd=ROOT, env=env, check=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    out = {"repeats": args.repeats, "median_s": {}}
    for label, cmd in {**{k: ["-m", "neurochip.cli", *v] for k, v in COMMANDS.items()},
                       "python -c 'import brian2' (reference)": ["-c", "import brian2"]}.items():
        _, median, times = timed(command(cmd), args.repeats, warmup=True)
        out["median_s"][label] = median
        print(f"{label:40s} median {median:6.2f} s  (min {min(times):.2f}, max {max(times):.2f})")
    out["all_under_2s"] = all(v < 2 for k, v in out["median_s"].items() if "reference" not in k)
    write_json(OUT / "bench_cli.json", out)
    print(f"every command under 2 s: {out['all_under_2s']}; wrote {OUT / 'bench_cli.json'}")
    return out


if __name__ == "__main__":
    main()
