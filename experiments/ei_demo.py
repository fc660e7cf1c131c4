"""Demo: Poisson inputs into excitatory and inhibitory LIF populations.

Feed-forward input -> exc and input -> inh, exc -> inh, and recurrent inhibition
inh -> exc, all Loihi-style CUBA LIF, run with the Brian2 backend. Writes
``results/ei_demo/<timestamp>/`` with ``config.json``, ``metrics.json``,
``raster.png`` (first figure), ``rates.png``, ``traces.png``, ``network.json``
and ``spikes.npz`` (the full result, readable with
``neurochip.SimulationResult.load``).

Run: ``neurochip run ei_demo`` or ``python experiments/ei_demo.py [--tiny] [--set steps=500]``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brian2 import Hz  # noqa: E402

from neurochip import Network  # noqa: E402
from neurochip.experiment import (experiment_main, param, parse_config, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from experiments._common import EINetworkConfig, ei_network  # noqa: E402


@dataclass
class Config(EINetworkConfig):
    """Poisson inputs into an excitatory and an inhibitory LIF population."""

    name: str = param("ei_demo", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    n_traced: int = param(3, "exc neurons whose voltage is plotted", min=0)
    backend: str = param("brian2", "simulator", choices=("brian2", "reference"))


#: Overrides that make the demo run in seconds (used by the tests and `--tiny`).
TINY = {"steps": 200, "n_input": 40, "n_exc": 60, "n_inh": 20, "p_connect": 0.3}


#: The demo network of a config (``experiments._common.ei_network``).
build_network = ei_network


def simulate(net: Network, cfg: Config):
    probes = {"exc": ["v", "u"]}
    if cfg.backend == "brian2":
        from neurochip.brian_backend import simulate as run
        return run(net, cfg.steps, probes)   # a progress bar on a terminal (neurochip.progress)
    if cfg.backend == "reference":
        from neurochip.reference import simulate as run
        return run(net, cfg.steps, probes)
    raise ValueError(f"backend should be 'brian2' or 'reference', got {cfg.backend!r}")  # pragma: no cover


@experiment_main
def main(cfg: Config) -> Path:
    from neurochip import plotting

    if cfg.backend not in ("brian2", "reference"):
        raise ValueError(f"backend should be 'brian2' or 'reference', got {cfg.backend!r}")
    start = time.perf_counter()
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    net = build_network(cfg)
    net.save(run_dir / "network.json")
    print(f"ei_demo: simulating {cfg.steps} steps ({cfg.backend})", flush=True)
    result = simulate(net, cfg)
    result.save(run_dir / "spikes.npz")
    counts = result.spike_counts()
    rates = {name: float(r / Hz) for name, r in result.rates().items()}
    save_figure(plotting.raster_result(result, title=f"ei_demo: {cfg.steps} steps, seed {cfg.seed}"),
                run_dir / "raster.png")
    save_figure(plotting.rates_result(result, bin_steps=max(1, cfg.steps // 100)), run_dir / "rates.png")
    n = min(cfg.n_traced, cfg.n_exc)
    save_figure(plotting.traces(result.traces["exc"]["v"][:, :n], dt=result.dt, threshold=cfg.vth,
                                labels=[f"exc neuron {j}" for j in range(n)], title="exc membrane voltage",
                                population="exc"),
                run_dir / "traces.png")
    metrics = {
        "backend": result.backend,
        "steps": result.steps,
        "dt_ms": cfg.dt_ms,
        "spike_counts": counts,
        "rates_hz": rates,
        "simulation_wall_time_s": result.wall_time,
        "wall_time_s": time.perf_counter() - start,
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    print(f"ei_demo: {sum(counts[p] for p in result.populations)} spikes "
          + ", ".join(f"{p} {rates[p]:.1f} Hz" for p in result.populations)
          + f"; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
