"""Deploy a NIR graph from another tool to Lava fixed point: read, import, compile, run, compare.

The graph is a NIR file (``nir_file``), for instance one exported by snnTorch or
Norse. Without one, the experiment first writes ``model.nir`` into the run folder:
a recurrent, branching network of CubaLIF nodes built with the ``nir`` package
in snnTorch's export conventions (``r = tau_mem / dt``, ``w_in = tau_syn / dt``,
time in seconds), standing in for a graph trained elsewhere. Then:

1. ``neurochip.from_nir`` turns the graph into a Network (Loihi's forward-Euler
   discretization with step ``dt_ms``; docs/nir.md), with Poisson spikes on each
   ``Input`` node;
2. the numpy reference runs it in float;
3. :func:`mapping.compile` deploys it to ``loihi2-sim-fixed`` and :func:`mapping.run`
   runs it on Lava's fixed-point simulator;
4. spikes are compared (exactly and within ``tolerance_steps``).

Writes ``results/nir_deploy/<timestamp>/``: ``raster.png`` (float reference and
Lava fixed point side by side), ``network.json`` (the imported network),
``quantization_report.json``, ``metrics.json`` (agreement, spike counts, what the
import made of each node).

Run: ``neurochip run nir_deploy [--tiny] [--set nir_file=my_model.nir --set dt_ms=1]``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from neurochip.io import write_json  # noqa: E402


@dataclass
class Config:
    """Deploy a NIR graph (from a file, or a stand-in written first) to Lava fixed point."""

    name: str = param("nir_deploy", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    nir_file: str = param("", "NIR file (HDF5) to deploy; '' writes and deploys the stand-in graph")
    dt_ms: float = param(1.0, "time step of the discretization (ms), when the file does not carry one", gt=0)
    seed: int = param(0, "seed of the stand-in graph's weights and of the input spikes", min=0)
    steps: int = param(500, "steps to run", min=1)
    input_rate_hz: float = param(40.0, "Poisson rate of every input channel (Hz)", min=0)
    n_input: int = param(32, "stand-in graph: input channels", min=1)
    n_hidden: int = param(64, "stand-in graph: recurrent hidden CubaLIF neurons", min=1)
    n_output: int = param(10, "stand-in graph: output CubaLIF neurons", min=1)
    weight_parts: int = param(2, "fixed-point weight parts (1: plain 8-bit; 2: 8-bit plus residual)", min=1, max=2)
    timeout_s: float = param(600.0, "time limit of the Lava run (s)", gt=0)
    tolerance_steps: int = param(1, "spike timing tolerance of the agreement (steps)", min=0)


#: Overrides that make the experiment run in seconds (used by the tests and `--tiny`).
TINY = {"steps": 120, "n_input": 12, "n_hidden": 20, "n_output": 4}


def standin_graph(cfg: Config):
    """A recurrent, branching NIR graph in snnTorch's export conventions (dt = ``cfg.dt_ms``, seconds).

    input -> fc1 -> hidden (CubaLIF) with recurrent weights rec; hidden -> fc2 -> output (CubaLIF);
    a skip connection input -> skip -> delay -> output; output -> Output node.
    """
    import nir

    rng = np.random.default_rng(cfg.seed)
    dt = cfg.dt_ms * 1e-3
    n_in, n_h, n_o = cfg.n_input, cfg.n_hidden, cfg.n_output

    def cuba(n, tau_syn, tau_mem, vth):
        return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt),
                           v_leak=np.zeros(n), v_threshold=np.full(n, vth), v_reset=np.zeros(n),
                           w_in=np.full(n, tau_syn / dt))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc1": nir.Affine(weight=rng.normal(0.1, 0.1, (n_h, n_in)), bias=np.zeros(n_h)),
        "hidden": cuba(n_h, 5 * dt, 20 * dt, 1.0),
        "rec": nir.Linear(weight=rng.normal(-0.02, 0.08, (n_h, n_h))),
        "fc2": nir.Linear(weight=rng.normal(0.004, 0.03, (n_o, n_h))),
        "skip": nir.Linear(weight=rng.normal(0.02, 0.04, (n_o, n_in))),
        "skip_delay": nir.Delay(delay=np.full(n_o, 3 * dt)),
        "output": cuba(n_o, 4 * dt, 10 * dt, 1.0),
        "out": nir.Output(output_type={"output": np.array([n_o])}),
    }
    edges = [("input", "fc1"), ("fc1", "hidden"), ("hidden", "rec"), ("rec", "hidden"), ("hidden", "fc2"),
             ("fc2", "output"), ("input", "skip"), ("skip", "skip_delay"), ("skip_delay", "output"),
             ("output", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@experiment_main
def main(cfg: Config) -> Path:
    from brian2 import Hz, ms, second

    import mapping
    from neurochip import SpikeSource
    from neurochip import nir as nc_nir
    from neurochip.plotting import raster_panels
    from neurochip.reference import simulate
    from neurochip.results import compare_spikes

    start = time.perf_counter()
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    path = Path(cfg.nir_file) if cfg.nir_file else nc_nir.write(run_dir / "model.nir", standin_graph(cfg))
    graph = nc_nir.read_graph(path)
    import nir

    rng = np.random.default_rng(cfg.seed + 1)
    inputs = {key: SpikeSource.poisson("x", int(np.prod(node.input_type["input"])), rate=cfg.input_rate_hz * Hz,
                                       steps=cfg.steps, random_state=rng)
              for key, node in graph.nodes.items() if isinstance(node, nir.Input)}
    net = nc_nir.from_nir(graph, dt=cfg.dt_ms * ms, inputs=inputs, name="nir_model")
    net.save(run_dir / "network.json")

    ref = simulate(net, cfg.steps)
    target = mapping.get_target("loihi2-sim-fixed").with_options(timeout=cfg.timeout_s * second)
    t0 = time.perf_counter()
    dep = mapping.compile(net, target, weight_parts=cfg.weight_parts)
    compile_s = time.perf_counter() - t0
    lava = mapping.run(dep, cfg.steps)
    pops = net.population_names
    agreement = {p: compare_spikes(ref, lava, p, tolerance_steps=cfg.tolerance_steps) for p in pops}

    sizes = {n: ref.sizes[n] for n in [*(s.name for s in net.sources), *pops]}
    panels = {"float (numpy reference)": ref.spikes, f"Lava fixed point ({cfg.weight_parts}-part weights)": lava.spikes}
    notes = {f"Lava fixed point ({cfg.weight_parts}-part weights)":
             f"agreement with float (±{cfg.tolerance_steps} step):\n"
             + ", ".join(f"{p} {agreement[p]['agreement']:.3f}" for p in pops)}
    save_figure(raster_panels(panels, sizes, steps=cfg.steps, notes=notes,
                              title=f"NIR graph {path.name} on Lava fixed point"), run_dir / "raster.png")
    write_json(run_dir / "quantization_report.json", dep.report["quantization"])
    metrics = {
        "nir_file": str(path),
        "dt_ms": cfg.dt_ms,
        "steps": cfg.steps,
        "imported": {"populations": {p.name: {"size": p.size, "du": p.du, "dv": p.dv, "vth": p.vth} for p in
                                     net.populations},
                     "projections": {p.name: {"pre": p.pre, "post": p.post, "delay": p.delay,
                                              "shape": list(p.shape)} for p in net.projections},
                     "sources": {s.name: s.size for s in net.sources}},
        "spike_counts": {"float": {p: int(ref.spikes[p].steps.size) for p in pops},
                         "lava_fixed": {p: int(lava.spikes[p].steps.size) for p in pops}},
        "fixed_vs_float": {p: {k: agreement[p][k] for k in ("agreement", "exact", "n_a", "n_b")} for p in pops},
        "timings_s": {"compile": compile_s, "lava_run": lava.wall_time, "total": time.perf_counter() - start},
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    print(f"nir_deploy: {path.name}: " + ", ".join(f"{p} {agreement[p]['agreement']:.3f}" for p in pops)
          + f" of float spikes matched within ±{cfg.tolerance_steps} on Lava fixed point; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
