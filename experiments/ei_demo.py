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

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from brian2 import Hz, ms

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.experiment import (experiment_main, param, parse_config, save_figure, start_run,
                                  write_metrics)


@dataclass
class Config:
    """Poisson inputs into an excitatory and an inhibitory LIF population."""

    name: str = param("ei_demo", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of the inputs and the connectivity", min=0)
    steps: int = param(1000, "steps of dt to simulate", min=1)
    dt_ms: float = param(1.0, "time step (ms)", gt=0)
    n_input: int = param(200, "Poisson input neurons", min=1)
    n_exc: int = param(400, "excitatory LIF neurons", min=1)
    n_inh: int = param(100, "inhibitory LIF neurons", min=1)
    input_rate_hz: float = param(20.0, "rate of each input (Hz; rate * dt <= 1)", min=0)
    p_connect: float = param(0.1, "connection probability of every projection", min=0, max=1)
    tau_u_ms: float = param(5.0, "synaptic time constant (ms, >= dt)", gt=0)
    tau_v_ms: float = param(20.0, "membrane time constant of exc (ms; inh: half of it)", gt=0)
    vth: float = param(1.5, "firing threshold", gt=0)
    w_input: float = param(0.07, "mean input weight (uniform 0.5-1.5 times)")
    w_exc_inh: float = param(0.03, "mean exc -> inh weight")
    w_inh_exc: float = param(-0.1, "mean inh -> exc weight (negative: inhibition)")
    delay_inh_exc: int = param(2, "delay of inh -> exc (steps)", min=1)
    n_traced: int = param(3, "exc neurons whose voltage is plotted", min=0)
    backend: str = param("brian2", "simulator", choices=("brian2", "reference"))


#: Overrides that make the demo run in seconds (used by the tests and `--tiny`).
TINY = {"steps": 200, "n_input": 40, "n_exc": 60, "n_inh": 20, "p_connect": 0.3}


def build_network(cfg: Config) -> Network:
    """The demo network, seeded by ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    dt = cfg.dt_ms * ms

    def sparse(n_post, n_pre, weight):
        mask = rng.random((n_post, n_pre)) < cfg.p_connect
        w = weight * rng.uniform(0.5, 1.5, size=(n_post, n_pre)) * mask
        return sp.csr_matrix(w)

    inputs = SpikeSource.poisson("input", cfg.n_input, rate=cfg.input_rate_hz * Hz, steps=cfg.steps,
                                 dt=dt, random_state=rng)
    exc = Population.from_time_constants("exc", cfg.n_exc, tau_u=cfg.tau_u_ms * ms,
                                         tau_v=cfg.tau_v_ms * ms, dt=dt, vth=cfg.vth)
    inh = Population.from_time_constants("inh", cfg.n_inh, tau_u=cfg.tau_u_ms * ms,
                                         tau_v=cfg.tau_v_ms * ms / 2, dt=dt, vth=cfg.vth)
    return Network(
        name="ei_demo", dt=dt, sources=[inputs], populations=[exc, inh],
        projections=[
            Projection("input_exc", "input", "exc", sparse(cfg.n_exc, cfg.n_input, cfg.w_input)),
            Projection("input_inh", "input", "inh", sparse(cfg.n_inh, cfg.n_input, cfg.w_input)),
            Projection("exc_inh", "exc", "inh", sparse(cfg.n_inh, cfg.n_exc, cfg.w_exc_inh)),
            Projection("inh_exc", "inh", "exc", sparse(cfg.n_exc, cfg.n_inh, cfg.w_inh_exc),
                       delay=cfg.delay_inh_exc),
        ])


def simulate(net: Network, cfg: Config):
    probes = {"exc": ["v", "u"]}
    if cfg.backend == "brian2":
        from neurochip.brian_backend import simulate as run
        return run(net, cfg.steps, probes, report="text" if cfg.steps >= 5000 else None)
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
    result = simulate(net, cfg)
    result.save(run_dir / "spikes.npz")
    counts = result.spike_counts()
    rates = {name: float(r / Hz) for name, r in result.rates().items()}
    save_figure(plotting.raster_result(result, title=f"ei_demo: {cfg.steps} steps, seed {cfg.seed}"),
                run_dir / "raster.png")
    save_figure(plotting.rates_result(result, bin_steps=max(1, cfg.steps // 100)), run_dir / "rates.png")
    n = min(cfg.n_traced, cfg.n_exc)
    save_figure(plotting.traces(result.traces["exc"]["v"][:, :n], dt=result.dt, threshold=cfg.vth,
                                labels=[f"exc {j}" for j in range(n)], title="exc membrane voltage"),
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
