"""Resources of one process across many Lava runs: descriptors, shared memory, children, memory.

Runs one 5-process network (a spike source, two LIF populations, two projections;
six Lava actors with the runtime service) ``--runs`` times (default 100) through
``mapping.compile`` and ``mapping.run`` in this process, and after every run records

* open file descriptors (``/proc/self/fd``),
* shared-memory segments of the runs so far still in ``/dev/shm`` (by name), and
  segments mapped into this process (``/proc/self/maps``),
* live processes below this one (``/proc``; the reaper counts as one),
* RSS, threads, Python objects (after ``gc.collect()``),
* Lava's global registries (``ProcessServer``, ``VarServer``) and root-logger handlers,

then prints a table and whether each is flat after ``--warmup`` runs, and writes
``benchmarks/out/bench_lava_leaks.json``. Run: ``python benchmarks/bench_lava_leaks.py``
(about 30-60 s for 100 runs on 2 cores).
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mapping  # noqa: E402
from mapping import lava_backend  # noqa: E402
from mapping.lava._reaper import proc_stat  # noqa: E402
from neurochip import Network, Population, Projection, SpikeSource  # noqa: E402
from neurochip.io import write_json  # noqa: E402

#: Metrics that must not change at all after the warm-up runs.
EXACT = ("descriptors", "segments_left", "segments_mapped", "children", "threads", "objects",
         "lava_processes", "lava_vars", "root_log_handlers")


def network() -> Network:
    return Network(sources=[SpikeSource("s", 3, indices=[0, 1, 2], steps=[0, 1, 2])],
                   populations=[Population("a", 4, du=0.5, dv=0.5, vth=0.5),
                                Population("b", 2, du=0.5, dv=0.5, vth=0.5)],
                   projections=[Projection("sa", "s", "a", np.ones((4, 3))),
                                Projection("ab", "a", "b", np.ones((2, 4)))])


def descendants(pid: int) -> dict:
    """Processes below ``pid`` (children, grandchildren, ...): pid -> start time."""
    stats = {int(e): st for e in os.listdir("/proc") if e.isdigit() and (st := proc_stat(int(e))) is not None}
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, st in stats.items() if st[0] in frontier and p not in found}
        found.update({p: stats[p][1] for p in frontier})
    return found


def still_alive(procs: dict) -> list:
    """The processes of ``procs`` (pid -> start time) that still run: same start time, not a zombie."""
    return [pid for pid, start in procs.items()
            if (st := proc_stat(pid)) is not None and st[1] == start and st[2] != "Z"]


def sample(seen_segments: set) -> dict:
    """The resources of this process now (see the module docstring)."""
    from mapping.lava.side_effects import registry_sizes

    gc.collect()
    with open("/proc/self/maps") as f:
        mapped = {line.split("/dev/shm/")[1].strip() for line in f if "/dev/shm/" in line}
    return {"descriptors": len(os.listdir("/proc/self/fd")),
            "segments_left": sum(os.path.exists(os.path.join("/dev/shm", n)) for n in seen_segments),
            "segments_mapped": len(mapped),
            "children": len(still_alive(descendants(os.getpid()))),
            "rss_mb": int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20,
            "threads": threading.active_count(),
            "objects": len(gc.get_objects()),
            **registry_sizes(),
            "root_log_handlers": len(logging.getLogger().handlers)}


def profile(runs: int, *, steps: int = 5) -> list:
    """One row per run (``run``, ``seconds``, spike count, the :func:`sample` figures); every run compiles anew."""
    net = network()
    seen: set = set()
    rows = []
    first = None
    for k in range(1, runs + 1):
        t0 = time.perf_counter()
        result = mapping.run(mapping.compile(net, "loihi2-sim-float"), steps)
        seconds = time.perf_counter() - t0
        spikes = result.spikes["a"].steps.tolist()
        first = first or spikes
        if spikes != first or not spikes:
            raise RuntimeError(f"bench_lava_leaks: run {k} gave other spikes than run 1")
        seen.update(lava_backend.LAST_RUN_SEGMENTS)
        rows.append({"run": k, "seconds": seconds, "segments_used": len(seen), **sample(seen)})
    return rows


def flatness(rows: list, *, warmup: int) -> dict:
    """Per metric: value after the warm-up, at the end, and whether it stayed flat; RSS slope in MB per run."""
    base, last = rows[warmup - 1], rows[-1]
    out = {name: {"after_warmup": base[name], "last": last[name], "flat": base[name] == last[name]}
           for name in EXACT}
    tail = rows[warmup - 1:]
    runs = np.array([r["run"] for r in tail], float)
    rss = np.array([r["rss_mb"] for r in tail])
    slope = float(np.polyfit(runs, rss, 1)[0]) if len(tail) > 1 else 0.0
    out["rss_mb"] = {"after_warmup": base["rss_mb"], "last": last["rss_mb"], "growth": last["rss_mb"] - base["rss_mb"],
                     "slope_mb_per_run": slope}
    return out


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    if not 1 <= args.warmup <= args.runs:
        parser.error(f"--warmup should be in 1..--runs ({args.runs}), got {args.warmup}")
    start = time.perf_counter()
    before = sample(set())
    rows = profile(args.runs)
    columns = ("descriptors", "segments_used", "segments_left", "segments_mapped", "children", "rss_mb", "threads",
               "objects", "lava_processes", "root_log_handlers")
    print("run  " + "  ".join(f"{c:>14s}" for c in columns))
    print("0    " + "  ".join(f"{before.get(c, 0):>14.4g}" for c in columns))
    for r in rows:
        if r["run"] in (1, 2, 5, args.warmup) or r["run"] % 25 == 0 or r["run"] == args.runs:
            print(f"{r['run']:<4d} " + "  ".join(f"{r[c]:>14.4g}" for c in columns))
    flat = flatness(rows, warmup=args.warmup)
    for name, v in flat.items():
        if name == "rss_mb":
            print(f"rss_mb: {v['after_warmup']:.1f} MB after run {args.warmup}, {v['last']:.1f} MB after run "
                  f"{args.runs} (+{v['growth']:.2f} MB, slope {1024 * v['slope_mb_per_run']:.1f} KB per run)")
        else:
            print(f"{name}: {v['after_warmup']} after run {args.warmup}, {v['last']} after run {args.runs}"
                  f" -> {'flat' if v['flat'] else 'GROWS'}")
    seconds = [r["seconds"] for r in rows]
    print(f"run time: median {np.median(seconds):.3f} s, total {time.perf_counter() - start:.1f} s")
    path = write_json(ROOT / "benchmarks" / "out" / "bench_lava_leaks.json",
                      {"runs": args.runs, "warmup": args.warmup, "before": before, "rows": rows, "flatness": flat,
                       "median_run_seconds": float(np.median(seconds)), "pid": os.getpid()})
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
