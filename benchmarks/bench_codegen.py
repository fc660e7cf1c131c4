"""Where compiling pays: Brian2's numpy target vs Cython on a cold and on a warm cache.

Network (the demo's structure, scaled): a Poisson source into an excitatory and an
inhibitory LIF population, exc -> inh, delayed inh -> exc, sparse with a fixed
fan-in (so synapses grow linearly with ``scale``; scale 1 is the demo: 200 inputs,
400 exc, 100 inh, about 18,000 synapses). Every measurement is one
``brian_backend.simulate`` (build, code generation, compile if needed, run) in
a fresh Python process, so nothing is cached in memory:

- ``numpy``: the numpy target (compiles nothing);
- ``cython_cold``: Cython with an empty cache folder (every module compiled);
- ``cython_warm``: Cython again with that now-filled cache folder (modules loaded).

The generated code does not depend on the sizes, so one cold compile per
structure is measured by default (``--cold-all`` measures it at every size).
From the figures it fits ``t = a + b * steps + c * steps * elements`` per target
(``elements`` = neurons + source neurons + synapses, as
:func:`neurochip._brian.run_size` counts them) and prints the numpy-minus-Cython
cost per step and per step and element, and the run lengths from which one
run's saving repays a cold compile (the constants of :mod:`neurochip._brian`
are set from them).

Run: ``python benchmarks/bench_codegen.py [--scales 0.2,1,5,20] [--steps 1000,10000] [--cold-all]``.
Prints the figures and writes ``benchmarks/out/bench_codegen.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def network(scale: float, steps: int, seed: int = 0):
    """The demo's E/I structure with ``scale`` times its sizes and a fixed fan-in."""
    import scipy.sparse as sp
    from brian2 import Hz

    from neurochip import Network, Population, Projection, SpikeSource

    rng = np.random.default_rng(seed)
    n_in, n_exc, n_inh = (max(2, int(round(n * scale))) for n in (200, 400, 100))

    def sparse(n_post, n_pre, weight, fan_in):
        mask = rng.random((n_post, n_pre)) < min(1.0, fan_in / n_pre)
        return sp.csr_matrix(weight * rng.uniform(0.5, 1.5, (n_post, n_pre)) * mask)

    src = SpikeSource.poisson("input", n_in, rate=20 * Hz, steps=steps, random_state=rng)
    exc = Population("exc", n_exc, du=0.2, dv=0.05, vth=1.5)
    inh = Population("inh", n_inh, du=0.2, dv=0.1, vth=1.5)
    return Network(name="bench_codegen", sources=[src], populations=[exc, inh], projections=[
        Projection("input_exc", "input", "exc", sparse(n_exc, n_in, 0.07, 20)),
        Projection("input_inh", "input", "inh", sparse(n_inh, n_in, 0.07, 20)),
        Projection("exc_inh", "exc", "inh", sparse(n_inh, n_exc, 0.03, 40)),
        Projection("inh_exc", "inh", "exc", sparse(n_exc, n_inh, -0.1, 10), delay=2)])


def worker(scale: float, steps: int, target: str, cache: str | None) -> dict:
    """One timed simulate in this (fresh) process."""
    import brian2 as b2

    from neurochip import _brian, brian_backend

    if cache:
        b2.prefs.codegen.runtime.cython.cache_dir = cache
    net = network(scale, steps)
    run_steps, elements = _brian.run_size(brian_backend.build(net).brian, steps * net.dt)
    t0 = time.perf_counter()
    result = brian_backend.simulate(net, steps, codegen_target=target)
    seconds = time.perf_counter() - t0
    spikes = {n: [s.indices.tolist(), s.steps.tolist()] for n, s in result.spikes.items()}
    return {"scale": scale, "steps": steps, "target": target, "seconds": seconds, "elements": elements,
            "synapses": int(sum(p.weights.nnz for p in net.projections)),
            "neurons": int(sum(n.size for n in [*net.populations, *net.sources])),
            "compiled_modules": _brian.compiled_modules, "backend": result.backend,
            "spike_digest": hashlib.sha1(json.dumps(spikes).encode()).hexdigest(),
            "spikes": int(sum(result.spike_counts().values()))}


def measure(scale: float, steps: int, target: str, cache: str | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", f"{scale},{steps},{target},{cache or ''}"]
    # the workers import the same neurochip as this script (this source tree first)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("NEUROCHIP_BRIAN_TARGET", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {cmd[-1]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit(rows: list[dict]) -> list[float]:
    """Least-squares ``seconds = a + b * steps + c * steps * elements`` (the model of neurochip._brian)."""
    X = np.array([[1.0, r["steps"], r["steps"] * r["elements"]] for r in rows])
    y = np.array([r["seconds"] for r in rows])
    return [float(c) for c in np.linalg.lstsq(X, y, rcond=None)[0]]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.2,1,5,20", help="network sizes relative to the demo")
    parser.add_argument("--steps", default="1000,10000", help="step counts")
    parser.add_argument("--cold-all", action="store_true", help="a cold compile at every size, not once")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        scale, steps, target, cache = args.worker.split(",")
        print(json.dumps(worker(float(scale), int(steps), target, cache or None)))
        return {}
    scales = [float(s) for s in args.scales.split(",")]
    step_counts = [int(s) for s in args.steps.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        for n, (scale, steps) in enumerate((s, k) for s in scales for k in step_counts):
            cache = str(Path(tmp) / f"cache{n if args.cold_all else 0}")
            cold_here = args.cold_all or n == 0
            for target in ("numpy", *(["cython_cold"] if cold_here else []), "cython_warm"):
                row = measure(scale, steps, "numpy" if target == "numpy" else "cython", cache)
                row["target"] = target
                rows.append(row)
                print(f"scale {scale:5g} steps {steps:6d} ({row['neurons']:6d} neurons, {row['synapses']:7d} "
                      f"synapses) {target:12s} {row['seconds']:8.2f} s "
                      f"({row['compiled_modules']} modules compiled)", flush=True)
        compiled = max(r["compiled_modules"] for r in rows if r["target"] == "cython_cold")
    by = {t: [r for r in rows if r["target"] == t] for t in ("numpy", "cython_cold", "cython_warm")}
    same = all(len({r["spike_digest"] for r in rows if (r["scale"], r["steps"]) == key}) == 1
               for key in {(r["scale"], r["steps"]) for r in rows})
    numpy_fit, cython_fit = fit(by["numpy"]), fit(by["cython_warm"])
    cold_extra = float(np.median([c["seconds"] - w["seconds"] for c in by["cython_cold"] for w in by["cython_warm"]
                                  if (c["scale"], c["steps"]) == (w["scale"], w["steps"])]))
    per_step, per_element_step = numpy_fit[1] - cython_fit[1], numpy_fit[2] - cython_fit[2]
    # steps at which one numpy run is slower than a warm Cython run by a cold compile
    break_even = {int(e): cold_extra / (per_step + per_element_step * e) for e in (1e3, 1e4, 1e5, 1e6, 1e7)}
    out = {"rows": rows, "same_spikes_all_targets": same, "modules_compiled_cold": compiled,
           "fit_numpy_s": numpy_fit, "fit_cython_warm_s": cython_fit, "model": "a + b*steps + c*steps*elements",
           "numpy_extra_s_per_step": per_step, "numpy_extra_s_per_element_step": per_element_step,
           "cold_compile_extra_s": cold_extra, "break_even_steps_by_elements": break_even}
    print(f"same spikes on every target: {same}; cold compile: {compiled} modules, +{cold_extra:.1f} s")
    for label, (a, b, c) in (("numpy", numpy_fit), ("cython warm", cython_fit)):
        print(f"{label:11s} t = {a:.3f} s + {b:.3e} s x steps + {c:.3e} s x steps x elements")
    print(f"numpy - warm cython: {per_step:.2e} s per step + {per_element_step:.2e} s per step and element")
    for e, k in break_even.items():
        print(f"  a cold compile pays within one run from {k:10.0f} steps at {e:>8d} elements")
    OUT.mkdir(exist_ok=True)
    from neurochip.io import write_json
    write_json(OUT / "bench_codegen.json", out)
    return out


if __name__ == "__main__":
    main()
