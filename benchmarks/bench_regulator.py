"""Wall-time overhead of the meta-regulator attached to a run: each backend with and without it.

Network: Poisson source (``n_in`` neurons, 20 Hz) -> LIF population (``n_pop``),
``steps`` steps of 1 ms, regulator monitoring both with windows of 10 steps, attached to the
run (``regulator=``, policy ``recalibrate``: it listens, judges every window and acts on
thresholds). Side by side in one run: Brian2 (``neurochip.simulate``), the numpy reference
(``neurochip.reference.simulate``) and a Lava float deployment (``mapping.compile`` +
``mapping.run``), each plain and regulated; plus the replays of a recorded run (numpy
``MetaRegulator.detect``, the Lava process fed by ``RingBuffer``s). Medians of ``repeats``
runs after one warm-up run (Brian2's compiled code cached).

Run: ``python benchmarks/bench_regulator.py [--steps 5000] [--repeats 5] [--no-lava]``.
Prints the figures and writes ``benchmarks/out/bench_regulator.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from brian2 import Hz

from _timing import timed
from neurochip import Network, Population, Projection, SpikeSource
from neurochip import reference
from neurochip.brian_backend import simulate
from neurochip.io import write_json
from neurochip.regulator import MetaRegulator


def network(n_in: int, n_pop: int, steps: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    src = SpikeSource.poisson("in", n_in, rate=20 * Hz, steps=steps, random_state=rng)
    w = (rng.random((n_pop, n_in)) < 0.2) * rng.uniform(0, 0.2, (n_pop, n_in))
    return Network(sources=[src], populations=[Population("pop", n_pop, du=0.2, dv=0.05, vth=1.0)],
                   projections=[Projection("in_pop", "in", "pop", w)])


def median_time(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call (compilation, caches)."""
    return timed(fn, repeats, warmup=True)[1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--n-in", type=int, default=100)
    parser.add_argument("--n-pop", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "bench_regulator.json"))
    args = parser.parse_args(argv)
    net = network(args.n_in, args.n_pop, args.steps, 0)
    calib = simulate(net, args.steps)
    reg = MetaRegulator(window=10, policy="recalibrate").fit(net, calib)
    out = {"steps": args.steps, "n_in": args.n_in, "n_pop": args.n_pop, "repeats": args.repeats,
           "spikes": calib.spike_counts(), "policy": reg.policy}
    out["brian2_plain_s"] = median_time(lambda: simulate(net, args.steps), args.repeats)
    out["brian2_regulated_s"] = median_time(lambda: simulate(net, args.steps, regulator=reg), args.repeats)
    out["numpy_plain_s"] = median_time(lambda: reference.simulate(net, args.steps), args.repeats)
    out["numpy_regulated_s"] = median_time(lambda: reference.simulate(net, args.steps, regulator=reg),
                                           args.repeats)
    out["numpy_replay_s"] = median_time(lambda: reg.detect(calib), args.repeats)
    if not args.no_lava:
        import mapping
        from mapping.lava_regulator import replay_regulated

        out["lava_plain_s"] = median_time(lambda: mapping.run(mapping.compile(net, "loihi2-sim-float"), args.steps),
                                          args.repeats)
        out["lava_regulated_s"] = median_time(
            lambda: mapping.run(mapping.compile(net, "loihi2-sim-float", regulator=reg), args.steps), args.repeats)
        out["lava_replay_s"] = median_time(lambda: replay_regulated(reg, calib.spikes, args.steps, timeout=300),
                                           args.repeats)
        out["lava_us_per_step"] = out["lava_replay_s"] / args.steps * 1e6
        out["lava_overhead_fraction"] = out["lava_regulated_s"] / out["lava_plain_s"] - 1
    out["brian2_overhead_fraction"] = out["brian2_regulated_s"] / out["brian2_plain_s"] - 1
    out["numpy_overhead_fraction"] = out["numpy_regulated_s"] / out["numpy_plain_s"] - 1
    for k, v in out.items():
        print(f"{k:28s} {v:.4g}" if isinstance(v, float) else f"{k:28s} {v}")
    path = Path(args.out)
    write_json(path, out)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
