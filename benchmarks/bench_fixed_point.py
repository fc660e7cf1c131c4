"""Fixed point against float: agreement of spike trains for the quantization options.

Reproduces the agreement table of docs/mapping.md: the 12 random recurrent
networks of the mapping tests (``neurochip.testing.make_random_network``, 120 steps) and the
ei_demo network (400 exc / 100 inh, 300 steps), each compiled for
``loihi2-sim-fixed`` with plain 8-bit weights, 2-part weights, and 2-part weights
with calibrated scaling, and compared with the numpy float reference by
``mapping.verify`` (spikes within +-1 step). Prints a table and writes
``benchmarks/out/bench_fixed_point.json``. Run: ``python benchmarks/bench_fixed_point.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mapping  # noqa: E402
from experiments._common import EINetworkConfig, ei_network  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from neurochip.testing import make_random_network  # noqa: E402

VARIANTS = {"8-bit": {}, "2-part": {"weight_parts": 2}, "2-part calibrated": {"weight_parts": 2, "calibrate": True}}


def agreement(net, steps, kw):
    kw = dict(kw)
    if kw.pop("calibrate", False):
        kw["calibrate_steps"] = steps
    dep = mapping.compile(net, "loihi2-sim-fixed", wire=False, **kw)
    out = mapping.verify(dep, steps)
    return {"total": out["total"]["agreement"], "exact": out["total"]["exact_fraction"],
            "populations": {p: v["agreement"] for p, v in out["populations"].items()}}


def main() -> Path:
    make = make_random_network
    results = {"random_recurrent": {}, "ei_demo_300_steps": {}}
    for label, kw in VARIANTS.items():
        rows = [agreement(make(seed), 120, kw)["total"] for seed in range(12)]
        results["random_recurrent"][label] = rows
        print(f"random recurrent, {label:18s}: " + " ".join(f"{r:.3f}" for r in rows)
              + f"  ({sum(r >= 0.95 for r in rows)} of 12 >= 0.95)", flush=True)
    net = ei_network(EINetworkConfig(steps=300))
    for label, kw in VARIANTS.items():
        r = agreement(net, 300, kw)
        results["ei_demo_300_steps"][label] = r
        print(f"ei_demo 300 steps, {label:18s}: " + ", ".join(f"{p} {v:.3f}" for p, v in r["populations"].items())
              + f" (exact {r['exact']:.3f})", flush=True)
    path = write_json(ROOT / "benchmarks" / "out" / "bench_fixed_point.json", results)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
