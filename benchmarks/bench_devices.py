"""Benchmark: programming 10^6 devices x 100 pulses with the vectorized step function.

Prints and writes ``benchmarks/out/bench_devices.json``: the median over
``--repeats`` runs of the wall time (and process CPU time) of 100 calls of
``neurochip.devices.functional.program`` on 10^6 Ag:a-Si devices (nonlinear,
device-to-device spread, cycle-to-cycle noise, stuck-at faults; one pulse per
device and call, of random sign), the throughput in device-pulses per second,
and the time of
one ``snapshot_weights`` of a 1000 x 1000 weight matrix (2 x 10^6 devices).

Run: ``python benchmarks/bench_devices.py [--devices 1000000] [--pulses 100] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from neurochip.devices import functional as F
from neurochip.devices import presets
from neurochip.io import write_json


def bench_program(n_devices: int, n_pulses: int, seed: int = 0) -> tuple[float, float]:
    model = presets.ag_a_si(sigma_g_min=0.1, sigma_g_max=0.1, sigma_nonlinearity=0.5, stuck_at_min=0.01,
                            stuck_at_max=0.01, seed=seed)
    rng = np.random.default_rng(seed)
    arrays = model.sample(n_devices, random_state=rng)
    state = F.initial_state(arrays)
    params = model.pulse_params
    pulses = rng.choice(np.array([-1, 1]), size=(8, n_devices))  # reused cyclically: not part of the timing
    start, cpu = time.perf_counter(), time.process_time()
    for k in range(n_pulses):
        state = F.program(state, pulses[k % 8], arrays, params, rng)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert np.all((state.g >= arrays.g_min) & (state.g <= arrays.g_max))
    return elapsed, cpu


def bench_snapshot(n: int, seed: int = 0) -> float:
    model = presets.ag_a_si(sigma_g_min=0.1, sigma_g_max=0.1, seed=seed)
    w = np.random.default_rng(seed).uniform(-1, 1, (n, n))
    start = time.perf_counter()
    model.snapshot_weights(w)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--pulses", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--snapshot-size", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_devices.json"))
    args = parser.parse_args(argv)
    runs = [bench_program(args.devices, args.pulses, seed=r) for r in range(args.repeats)]
    times, cpus = [r[0] for r in runs], [r[1] for r in runs]
    snaps = [bench_snapshot(args.snapshot_size, seed=r) for r in range(args.repeats)]
    med = float(np.median(times))
    result = {
        "devices": args.devices, "pulses": args.pulses, "repeats": args.repeats,
        "program_times_s": times, "program_median_s": med, "program_cpu_times_s": cpus,
        "program_cpu_median_s": float(np.median(cpus)),
        "device_pulses_per_s": args.devices * args.pulses / med,
        "snapshot_size": args.snapshot_size, "snapshot_times_s": snaps,
        "snapshot_median_s": float(np.median(snaps)),
        "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
    }
    write_json(args.out, result)
    print(f"program {args.devices:,} devices x {args.pulses} pulses: median {med:.2f} s over "
          f"{args.repeats} runs -> {result['device_pulses_per_s'] / 1e6:.1f} M device-pulses/s "
          f"(process CPU time median {result['program_cpu_median_s']:.2f} s)")
    print(f"snapshot_weights {args.snapshot_size}x{args.snapshot_size} (2 x {args.snapshot_size ** 2:,} devices): "
          f"median {result['snapshot_median_s']:.2f} s; wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
