"""Fixed point against float: agreement of spike trains, where the rest comes from, and compile cost.

Rows (each compiled for ``loihi2-sim-fixed`` and compared with the numpy float reference by
``mapping.verify``: spikes exact and within +-1 step, and the breakdown of the disagreement
into parameter resolution, the float run of the dequantized network against the reference,
and arithmetic, the fixed-point run against that float run):

* issue 17's job (``neurochip.testing.make_fixed_point_job``, seed 0), large 1,000 -> 2,000 and
  small 100 -> 200, 1,000 steps: Lava float, the default fixed compile, the plain 8-bit
  quantization of earlier versions (the default before), 2-part calibrated on all 1,000 steps
  (the best option before) and Lava scaled by hand (weights as they are, du_int 409, dv_int 410,
  threshold ``vth << 6``);
* the 12 random recurrent networks of the mapping tests (``neurochip.testing.make_random_network``,
  120 steps), ei_demo (400 exc / 100 inh, 300 steps) and the 1,000 -> 2,000 feed-forward network
  of ``bench_mapping.py`` (200 steps): the default against the options of before (plain 8-bit,
  2-part, 2-part calibrated);
* compile time (median of 3) and peak traced memory (``tracemalloc``, over the weight bytes) of
  one dense projection of 10^6 and 10^7 synapses: default, plain and 2-part calibrated (200 steps).

Prints the tables and writes ``benchmarks/out/bench_fixed_point.json``. Run:
``python benchmarks/bench_fixed_point.py [--quick]`` (``--quick``: small job, 4 random networks,
no ei_demo, 10^6 synapses only).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mapping  # noqa: E402
from bench_mapping import feedforward, network  # noqa: E402
from experiments._common import EINetworkConfig, ei_network  # noqa: E402
from mapping.quantization import ScaleChoice, quantize  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from neurochip.testing import make_fixed_point_job, make_random_network  # noqa: E402

#: The options of before, by name (the plain 8-bit quantization was the default).
BEFORE = {"plain 8-bit (default before)": dict(calibrate_steps=0, weight_parts=1, compensate=False),
          "2-part": dict(calibrate_steps=0, weight_parts=2, compensate=False),
          "2-part calibrated": dict(weight_parts=2, compensate=False, vth_bits=23, calibrate="all")}
VARIANTS = {"default": {}, **BEFORE}


def measure(net, steps: int, kw: dict, *, quantized=None) -> dict:
    """Compile (fixed point), verify for ``steps``: agreement, breakdown, chosen candidate and wall time."""
    kw = dict(kw)
    if kw.pop("calibrate", None) == "all":
        kw["calibrate_steps"] = steps
    start = time.perf_counter()
    dep = mapping.compile(net, "loihi2-sim-fixed", wire=False, **kw)
    if quantized is not None:
        dep.quantized = quantized(net)
    compile_s = time.perf_counter() - start
    out = mapping.verify(dep, steps)
    total, parts = out["total"], out["breakdown"]
    return {"exact": total["exact_fraction"], "within_1": total["agreement"], "spikes_float": total["n_a"],
            "spikes_fixed": total["n_b"], "populations": {p: v["agreement"] for p, v in out["populations"].items()},
            "resolution": parts["resolution"], "arithmetic": parts["arithmetic"], "overflow": parts["overflow"],
            "integer_model_matches_lava": parts["integer_model_matches_run"],
            "chosen": dep.report["calibration"]["chosen"], "compile_s": compile_s,
            "wall_s": time.perf_counter() - start}


def hand_scaled(net):
    """Lava scaled by hand (the issue's row): weights as they are, du_int 409, dv_int 410, vth << 6."""
    pop = net.populations[0].name
    return quantize(net, choices={pop: ScaleChoice(scale=64.0, du_int=409, dv_int=410)})


def line(label: str, r: dict) -> str:
    return (f"  {label:34s} exact {100 * r['exact']:6.2f} %  within 1 {100 * r['within_1']:6.2f} %  | resolution "
            f"{100 * r['resolution']['exact']:6.2f} / {100 * r['resolution']['within_1']:6.2f}  arithmetic "
            f"{100 * r['arithmetic']['exact']:6.2f} / {100 * r['arithmetic']['within_1']:6.2f}  | "
            f"{r['wall_s']:5.1f} s")


def job_rows(n_in: int, n_out: int, steps: int = 1000) -> dict:
    net = make_fixed_point_job(0, n_in=n_in, n_out=n_out, steps=steps)
    start = time.perf_counter()
    ref_float = mapping.run(mapping.compile(net, "loihi2-sim-float"), steps)
    rows = {"lava float": {"wall_s": time.perf_counter() - start, "spikes": int(ref_float.spikes["out"].steps.size)}}
    print(f"issue 17 job {n_in} -> {n_out}, {steps} steps, vth {net.populations[0].vth:g}: Lava float "
          f"{rows['lava float']['wall_s']:.1f} s, {rows['lava float']['spikes']} spikes", flush=True)
    for label, kw in VARIANTS.items():
        rows[label] = measure(net, steps, kw)
        print(line(label, rows[label]), flush=True)
    rows["hand-scaled (du_int 409, dv_int 410)"] = r = measure(net, steps, dict(calibrate_steps=0, weight_parts=1,
                                                                               compensate=False),
                                                              quantized=hand_scaled)
    print(line("hand-scaled (du_int 409, dv_int 410)", r), flush=True)
    print(f"  default chose: {rows['default']['chosen']}", flush=True)
    return rows


def compile_cost(n_syn: int, repeats: int = 3) -> dict:
    net = network(n_syn, 200)
    weight_bytes = net.projections[0].weights.nbytes
    out = {"synapses": n_syn, "weight_bytes": weight_bytes}
    options = {"default": {}, "plain": BEFORE["plain 8-bit (default before)"],
               "2-part calibrated": dict(weight_parts=2, compensate=False, vth_bits=23, calibrate_steps=200)}
    for label, kw in options.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            mapping.compile(net, "loihi2-sim-fixed", wire=False, **kw)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        mapping.compile(net, "loihi2-sim-fixed", wire=False, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[label] = {"compile_s_median": statistics.median(times), "peak_over_weight_bytes": peak / weight_bytes}
        print(f"compile {n_syn:>9} dense synapses, {label:17s}: {out[label]['compile_s_median']:6.3f} s (median of "
              f"{repeats}), peak traced memory {out[label]['peak_over_weight_bytes']:.2f} x the weight bytes", flush=True)
    return out


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small job, 4 random networks, no ei_demo, 1e6 only")
    args = ap.parse_args(argv)
    results = {"issue17_small_100x200": job_rows(100, 200)}
    if not args.quick:
        results["issue17_large_1000x2000"] = job_rows(1000, 2000)
    seeds = range(4) if args.quick else range(12)
    results["random_recurrent"] = {}
    for label, kw in VARIANTS.items():
        rows = [measure(make_random_network(seed), 120, kw) for seed in seeds]
        results["random_recurrent"][label] = rows
        within = [r["within_1"] for r in rows]
        print(f"random recurrent, {label:28s}: " + " ".join(f"{r:.3f}" for r in within)
              + f"  ({sum(r >= 0.95 for r in within)} of {len(within)} >= 0.95)", flush=True)
    others = {"feedforward_1000x2000_200_steps": (feedforward(200), 200)}
    if not args.quick:
        others["ei_demo_300_steps"] = (ei_network(EINetworkConfig(steps=300)), 300)
    for key, (net, steps) in others.items():
        results[key] = {}
        print(key, flush=True)
        for label, kw in VARIANTS.items():
            results[key][label] = r = measure(net, steps, kw)
            print(line(label, r) + "  " + ", ".join(f"{p} {v:.3f}" for p, v in r["populations"].items()), flush=True)
    results["compile"] = [compile_cost(n) for n in ([10 ** 6] if args.quick else [10 ** 6, 10 ** 7])]
    path = write_json(ROOT / "benchmarks" / "out" / "bench_fixed_point.json", results)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
