"""Compression (issue 15): accuracy / agreement, cores, memory and energy per (sparsity, bits) point, and costs.

Runs the sweeps of ``experiments/compression.py`` (the same functions, its default config unless
overridden here) and prints them as tables:

1. the few-shot classifier, post-training compression of its learned ``W_``: accuracy on held-out
   twin drift tasks and on recorded gas batch 2 (mean +- sd, number of tasks / draws), batch 1's
   choice, Loihi 1 / 2 cores, synaptic memory and energy per inference of its output network;
2. the feed-forward network sized to need 130 Loihi 1 cores: spike agreement with the
   uncompressed float run, cores, memory, energy; then ``fit=True`` onto 128 cores;
3. wall time of ``mapping.compress`` on that network (medians of ``--repeats``) and of the
   ``PlacementError`` with its computed suggestion.

Writes ``benchmarks/out/bench_compression.json``.
Run: ``python benchmarks/bench_compression.py [--tasks 20] [--draws 5] [--quick]``
(``--quick``: the experiment's tiny config, seconds).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages before an installed copy

import numpy as np  # noqa: E402

from experiments import compression as exp  # noqa: E402
from neurochip.io import write_json  # noqa: E402


#: Parts of the benchmark (``--parts``).
PARTS = ("classifier", "ff", "timings", "deploy")


def timings(cfg, repeats: int) -> dict:
    """Wall time of compress on the feed-forward network, of fit, and of a PlacementError's suggestion."""
    import mapping
    from mapping.placement import LOIHI1

    net = exp.ff_network(cfg)
    chip = replace(LOIHI1, cores=cfg.fit_chip_cores)
    out = {"synapses": int(net["in_hid"].weights.size)}
    for label, kwargs in (("sparsity=0.5", dict(sparsity=0.5)), ("weight_bits=4", dict(weight_bits=4)),
                          ("weight_bits=4, clip='mse'", dict(weight_bits=4, clip="mse")),
                          ("structured={'hid': 0.1}", dict(structured={"hid": 0.1}))):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            mapping.compress(net, **kwargs)
            times.append(time.perf_counter() - t)
        out[label] = float(np.median(times))
    t = time.perf_counter()
    try:
        mapping.place(net, chip)
        out["placement_error"] = None
    except mapping.PlacementError as err:
        out["placement_error"] = {"seconds": time.perf_counter() - t, "message": str(err),
                                  "suggestion": {k: v for k, v in err.suggestion.items() if k != "message"}}
    return out


def print_classifier(m: dict, points: list) -> None:
    res = m["resources"]
    print("\nfew-shot classifier (post-training compression of W_; accuracy %, mean +- sd over n)")
    print(f"{'point':>11} | {'twin tasks':>16} | {'gas batch 2':>16} | {'batch 1':>7} | {'nnz':>6} | "
          f"{'L1 cores':>8} | {'L2 cores':>8} | {'memory L1 B':>11} | {'energy J':>9}")
    for p in points:
        t, g = m["twin"][p], m["gas_batch2_check"][p]
        r = res[p]
        print(f"{p:>11} | {t['mean']:6.2f} +- {t['sd']:4.2f} ({t['n']}) | {g['mean']:6.2f} +- {g['sd']:4.2f} ({g['n']}) | "
              f"{100 * m['gas_batch1_choose'][p]:7.2f} | {r['nnz']:6d} | {r['cores_loihi1']:8.0f} | "
              f"{r['cores_loihi2']:8.0f} | {r['synaptic_memory_bytes_loihi1']:11.0f} | {r['energy_j']:9.3e}")
    print(f"chosen on batch 1 (least energy within the tolerance of 8-bit dense): {m['chosen_on_batch1']}")


def print_ff(ff: dict) -> None:
    print(f"\nfeed-forward {ff['inputs']} -> {ff['hidden']} (dense), {ff['reference_spikes']} reference spikes")
    print(f"{'point':>11} | {'agreement %':>11} | {'L1 cores':>8} | {'L2 cores':>8} | {'memory L1 B':>12} | "
          f"{'energy J':>9}")
    for p, r in ff["points"].items():
        print(f"{p:>11} | {100 * r['agreement']:11.2f} | {r['cores_loihi1']:8d} | {r['cores_loihi2']:8d} | "
              f"{r['synaptic_memory_bytes_loihi1']:12.0f} | {r['energy_j']:9.3e}")
    f = ff["fit"]
    print(f"fit=True onto a Loihi 1 of {f['chip_cores']} cores: needs {f['before'].get('cores_needed')} -> uses "
          f"{f['after'].get('cores_used')}; applied {f['fit']['applied']} ({f['fit']['why']}); candidates "
          + "; ".join(f"{k}: {v}" for k, v in f["fit"].items() if k in ("magnitude", "structured"))
          + f"; agreement with the uncompressed float run {100 * f['agreement']:.3f} %; {f['seconds']:.1f} s")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=None, help="twin tasks (default: the experiment's)")
    ap.add_argument("--draws", type=int, default=None, help="gas batch 2 shot draws (default: the experiment's)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of each timed compress call")
    ap.add_argument("--quick", action="store_true", help="the experiment's tiny config")
    ap.add_argument("--folder", default="", help="folder of batch<N>.csv.gz")
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="what to run")
    ap.add_argument("--deploy", nargs=2, type=float, default=None, metavar=("SPARSITY", "BITS"),
                    help="classifier point deployed on Lava (default: the experiment's)")
    args = ap.parse_args(argv)
    cfg = exp.Config(**(exp.TINY if args.quick else {}))
    cfg = replace(cfg, folder=args.folder, **({"twin_tasks": args.tasks} if args.tasks else {}),
                  **({"gas_draws": args.draws} if args.draws else {}))
    pts = exp.points(cfg)
    names = [exp.key(s, b) for s, b in pts]
    out = {"config": vars(cfg)}
    if "classifier" in args.parts:
        out["classifier"], _ = exp.classifier_sweep(cfg, pts)
        print_classifier(out["classifier"], names)
        if out["classifier"]["target_4bit_50pct"]:
            lt, lb = out["classifier"]["target_4bit_50pct"]["twin"], out["classifier"]["target_4bit_50pct"]["batch2"]
            print(f"8-bit dense minus 4-bit 50 %: twin {lt['mean']:.2f} +- {lt['sd']:.2f} points ({lt['n']} tasks), "
                  f"gas batch 2 {lb['mean']:.2f} +- {lb['sd']:.2f} points ({lb['n']} draws)")
            mag = out["classifier"]["target_4bit_50pct"].get("by_magnitude")
            if mag:
                print(f"  the same point pruned by magnitude: twin {mag['twin']['mean']:.2f} +- {mag['twin']['sd']:.2f}, "
                      f"gas batch 2 {mag['batch2']['mean']:.2f} +- {mag['batch2']['sd']:.2f} points")
    if "ff" in args.parts:
        t0 = time.perf_counter()
        out["feed_forward"] = exp.ff_sweep(cfg, pts)
        out["feed_forward"]["seconds"] = time.perf_counter() - t0
        print_ff(out["feed_forward"])
    if "timings" in args.parts:
        cost = out["timings"] = timings(cfg, args.repeats)
        print(f"\ncompress wall time on {cost['synapses']} synapses (median of {args.repeats}): "
              + ", ".join(f"{k}: {v:.2f} s" for k, v in cost.items() if isinstance(v, float)))
        if cost["placement_error"]:
            print(f"PlacementError with its suggestion in {cost['placement_error']['seconds']:.1f} s: "
                  f"{cost['placement_error']['message']}")
    if "deploy" in args.parts:
        if args.deploy:
            cfg = replace(cfg, deploy_sparsity=args.deploy[0], deploy_bits=int(args.deploy[1]))
        clf, Xq, imp = exp.batch2_classifier(cfg, cfg.gas_draws - 1)
        out["lava_deploy"], _ = exp.lava_deploy(cfg, clf, Xq, imp)
        a = out["lava_deploy"]["agreement_total"]
        print(f"\nLava fixed point, classifier at {out['lava_deploy']['point']} ({out['lava_deploy']['steps']} steps): "
              f"{a['exact']} of {a['n_a']} numpy float spikes exact, {a['within_tolerance']} within 1 step, "
              f"{a['n_b']} Lava spikes")
    path = write_json(ROOT / "benchmarks" / "out" / "bench_compression.json", out)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
