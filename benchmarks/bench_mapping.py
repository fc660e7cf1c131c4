"""Benchmark of the Lava mapping: compile time, Lava steps per second, readout, Brian2 side by side.

For networks of 10^3 to 10^6 synapses (a 20 Hz Poisson source of n neurons into
n LIF neurons through one dense projection, n^2 synapses), measures in one run:

* ``mapping.compile`` time (float and fixed point: placement, quantization, wiring);
* Lava setup (Lava compiler + child processes) and stepping rate, and our bulk
  readout time (spikes recorded in the child, shipped once at stop);
* the same network in plain Brian2 (``neurochip.simulate``; warm: code cached);
* for one size, the readout of the same spikes with Lava's ``Monitor`` (one value
  per message), the baseline our readout replaces;
* fixed point against float on a 1,000 -> 2,000 feed-forward network (DESIGN.md's
  measured pitfall), with plain 8-bit weights, 2-part weights and calibration.

Medians of ``--repeats`` repeats. Prints a table and writes
``benchmarks/out/bench_mapping.json``. Run: ``python benchmarks/bench_mapping.py
[--repeats 3] [--steps 500] [--quick]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
from brian2 import Hz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mapping  # noqa: E402
from _timing import timed  # noqa: E402
from neurochip import Network, Population, Projection, SpikeSource, compare_spikes  # noqa: E402
from neurochip import brian_backend  # noqa: E402
from neurochip.io import write_json  # noqa: E402


def network(n_synapses: int, steps: int, seed: int = 0) -> Network:
    n = int(round(np.sqrt(n_synapses)))
    rng = np.random.default_rng(seed)
    src = SpikeSource.poisson("in", n, rate=20 * Hz, steps=steps, random_state=rng)
    pop = Population("out", n, du=0.2, dv=0.05, vth=1.0)
    w = rng.normal(1.5, 1.0, size=(n, n)) / np.sqrt(n)
    return Network(sources=[src], populations=[pop], projections=[Projection("in_out", "in", "out", w)],
                   name=f"bench{n}")


def feedforward(steps: int, seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    src = SpikeSource.poisson("in", 1000, rate=20 * Hz, steps=steps, random_state=rng)
    pop = Population("out", 2000, du=0.2, dv=0.05, vth=1.0, bias=rng.uniform(0, 0.02, 2000))
    w = rng.normal(0.0006, 0.0015, size=(2000, 1000))  # about 35 Hz out
    return Network(sources=[src], populations=[pop], projections=[Projection("in_out", "in", "out", w)],
                   name="ff1000x2000")


def median(xs):
    return float(statistics.median(xs))



def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="sizes 1e3, 1e4 only, one repeat")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    sizes = [10 ** 3, 10 ** 4] if args.quick else [10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6]
    steps = args.steps
    rows = []
    for n_syn in sizes:
        net = network(n_syn, steps)
        dep, compile_float, _ = timed(lambda: mapping.compile(net, "loihi2-sim-float"), repeats)
        _, compile_fixed, _ = timed(lambda: mapping.compile(net, "loihi2-sim-fixed"), repeats)
        runs = [mapping.run(dep, steps) for _ in range(repeats)]
        setup = median([r.info["lava_setup_seconds"] for r in runs])
        run_s = median([r.info["lava_run_seconds"] for r in runs])
        readout = median([r.info["lava_readout_seconds"] for r in runs])
        total = median([r.wall_time for r in runs])
        brian_runs = [brian_backend.simulate(net, steps) for _ in range(repeats + 1)][1:]  # first: code cache
        brian_s = median([r.wall_time for r in brian_runs])
        exact = compare_spikes(brian_runs[0], runs[0], "out")["exact"] == runs[0].spikes["out"].steps.size \
            == brian_runs[0].spikes["out"].steps.size
        row = {"synapses": int(net.projections[0].weights.size), "neurons": net.populations[0].size,
               "steps": steps, "spikes_out": int(runs[0].spikes["out"].steps.size),
               "compile_float_s": compile_float, "compile_fixed_s": compile_fixed,
               "lava_setup_s": setup, "lava_run_s": run_s, "lava_steps_per_s": steps / run_s,
               "lava_readout_s": readout, "lava_total_s": total,
               "brian2_total_s": brian_s, "brian2_steps_per_s": steps / brian_s,
               "lava_float_identical_to_brian2": bool(exact)}
        rows.append(row)
        print(f"{row['synapses']:>8} syn | compile float {compile_float * 1e3:7.1f} ms, fixed "
              f"{compile_fixed * 1e3:7.1f} ms | Lava setup {setup:5.2f} s, {row['lava_steps_per_s']:7.0f} steps/s, "
              f"readout {readout * 1e3:6.1f} ms, total {total:5.2f} s | Brian2 {brian_s:5.2f} s "
              f"({row['brian2_steps_per_s']:7.0f} steps/s) | identical {exact}", flush=True)

    # Readout: our bulk path against Lava's Monitor on the same network.
    from mapping import lava_backend

    n_syn = 10 ** 4 if args.quick else 10 ** 5
    net = network(n_syn, steps)
    dep = mapping.compile(net, "loihi2-sim-float")
    ours = mapping.run(dep, steps)
    mon = lava_backend.monitor_readout(dep, steps, "out")
    same = np.array_equal(mon["raster"].T if mon["raster"].shape[0] != steps else mon["raster"],
                          ours.raster("out"))
    readout = {"synapses": n_syn, "neurons": net.populations[0].size, "steps": steps,
               "values_read_by_monitor": mon["values"], "monitor_read_s": mon["read_seconds"],
               "monitor_values_per_s": mon["values"] / mon["read_seconds"],
               "bulk_readout_s": ours.info["lava_readout_seconds"],
               "spike_events": int(ours.spikes["out"].steps.size), "same_spikes": bool(same)}
    print(f"readout of {readout['neurons']} neurons x {steps} steps: Monitor {mon['read_seconds']:.2f} s "
          f"({readout['monitor_values_per_s']:.0f} values/s) vs bulk {readout['bulk_readout_s'] * 1e3:.1f} ms; "
          f"same spikes {same}", flush=True)

    # Fixed point vs float on 1,000 -> 2,000 feed-forward.
    ff_steps = 200
    ff = feedforward(ff_steps)
    agreement = {}
    for label, kw in {"8-bit": {}, "2-part": {"weight_parts": 2},
                      "2-part calibrated": {"weight_parts": 2, "calibrate_steps": ff_steps}}.items():
        dep = mapping.compile(ff, "loihi2-sim-fixed", **kw)
        total = mapping.verify(dep, ff_steps)["total"]
        agreement[label] = {"within_1_step": total["agreement"], "exact": total["exact_fraction"],
                            "spikes_float": total["n_a"], "spikes_fixed": total["n_b"]}
        print(f"fixed vs float, 1000 -> 2000 feed-forward, {label}: exact {total['exact_fraction']:.3f}, "
              f"within +-1 step {total['agreement']:.3f} ({total['n_a']} float spikes)", flush=True)

    out = {"sizes": rows, "readout": readout, "fixed_vs_float_feedforward_1000x2000": agreement,
           "repeats": repeats, "machine": {"cpus": os.cpu_count()}}
    path = write_json(ROOT / "benchmarks" / "out" / "bench_mapping.json", out)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
