"""Benchmark: encoder throughput, numpy reference versus Brian2 model.

Encodes ``--sensors`` twin signals of ``--seconds`` at 1 kHz (default 1,000
sensors x 10 s = 10 million samples) with the delta, rate and latency encoders,
and ``--sensors`` steady-state features with the population encoder (8 fields,
100 ms window), each with the numpy reference and the Brian2 model (Cython
target, warm cache: one untimed warm-up run first). Prints the median wall time
of ``--repeats`` runs, throughput in input samples per second and the real-time
factor (simulated seconds per wall second; for the population encoder, inputs
are features and the simulated time is its 100 ms window), checks that both give the same
spikes, and writes ``benchmarks/out/bench_encoders.json``.

Run: ``python benchmarks/bench_encoders.py [--sensors 1000] [--seconds 10] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
from brian2 import mmolar, ms, second

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _timing import timed  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from sensors import (DeltaEncoder, LatencyEncoder, PopulationEncoder, RateEncoder, SensorArray,  # noqa: E402
                     Step)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sensors", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "bench_encoders.json"))
    args = p.parse_args(argv)

    dt = 1 * ms
    t0 = time.perf_counter()
    arr = SensorArray.random(args.sensors, ("A", "B", "C"), random_state=args.seed)
    x = arr.simulate([Step("A", 0.2 * mmolar, onset=0.1 * args.seconds * second,
                           duration=0.5 * args.seconds * second),
                      Step("B", 0.1 * mmolar, onset=0.4 * args.seconds * second)],
                     duration=args.seconds * second, dt=dt, random_state=args.seed)
    gen_time = time.perf_counter() - t0
    n_samples = x.size
    print(f"twin: {args.sensors} sensors x {x.shape[1]} steps generated in {gen_time:.2f} s; "
          f"noise floor {arr.noise_floor(dt=dt):.2e}")
    features = x[:, -200:].mean(axis=1) - x[:, :100].mean(axis=1)

    encoders = {
        "delta": (DeltaEncoder(threshold=5 * arr.noise_floor(dt=dt), dt=dt).fit(x), x),
        "rate": (RateEncoder(random_state=args.seed, dt=dt).fit(x), x),
        "latency": (LatencyEncoder(t_min=5 * ms, dt=dt).fit(x), x),
        "population": (PopulationEncoder(n_fields=8, window=100 * ms, dt=dt).fit(features[None]), features),
    }
    rows = {}
    print(f"{'encoder':<11}{'backend':<9}{'median s':>10}{'inputs/s':>12}{'x realtime':>12}{'spikes':>11}")
    for name, (enc, data) in encoders.items():
        inputs = data.size
        sim_seconds = args.seconds if name != "population" else 0.1
        res = {}
        for backend in ("numpy", "brian2"):
            fn = enc.transform if backend == "numpy" else enc.transform_brian
            if backend == "brian2":
                fn(data)                                   # warm-up (compiles on a cold cache)
            out, med, times = timed(lambda: fn(data), args.repeats)
            res[backend] = {"median_s": med, "times_s": times, "spikes": int(out.steps.size),
                            "input_samples_per_s": inputs / med, "realtime_factor": sim_seconds / med}
            res[backend]["_out"] = out
            print(f"{name:<11}{backend:<9}{med:>10.3f}{inputs / med:>12.3g}{sim_seconds / med:>12.1f}"
                  f"{out.steps.size:>11}")
        same = res["numpy"].pop("_out") == res["brian2"].pop("_out")
        res["identical_spikes"] = bool(same)
        res["input_samples"] = int(inputs)
        rows[name] = res
        if not same:
            print(f"WARNING: {name}: numpy and Brian2 spikes differ")
    import brian2
    payload = {"sensors": args.sensors, "seconds": args.seconds, "dt_ms": 1.0, "repeats": args.repeats,
               "twin_generation_s": gen_time, "input_samples": int(n_samples), "results": rows,
               "machine": {"python": platform.python_version(), "numpy": np.__version__,
                           "brian2": brian2.__version__, "processor": platform.processor() or platform.machine()}}
    path = write_json(args.out, payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
