"""Robustness of a fixed network to memristive device non-idealities.

A fixed feed-forward network (Poisson inputs -> LIF outputs, signed random
weights) is run once with ideal float weights, then with the weights a crossbar
of devices realizes (``DeviceModel.snapshot_weights``) while one non-ideality
grows at a time from the base preset:

* device-to-device sigma of ``g_min`` and ``g_max`` (``sigma_g_min = sigma_g_max``),
* number of levels (``n_levels = n_levels_d``),
* stuck-at fraction (half at ``g_min``, half at ``g_max``).

Weights are written open loop (``n`` pulses from reset, accumulating the
cycle-to-cycle noise of ``n`` pulses) or with write-verify (``write_verify``).

The metric is the output-rate error ``sum_j |r_j - r_j^ideal| / sum_j r_j^ideal``
over output neurons (0: identical rates), averaged over ``repeats`` device
seeds; the weight mapping error (RMS, relative to ``max|w|``) is reported too.
Runs use the numpy reference simulator (weights are fixed after writing).

Writes ``results/device_robustness/<timestamp>/``: ``config.json``,
``metrics.json``, ``raster.png`` (ideal run, first figure), ``robustness.png``,
``pulse_response.png``, ``conductance_histogram.png``, ``drift.png``.

Run: ``python experiments/device_robustness.py [--tiny] [--set preset=pcm]``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from brian2 import Hz, ms, second

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.devices import mapping_error, plots, presets
from neurochip.experiment import (experiment_main, param, parse_config, save_figure, start_run,
                                  write_metrics)
from neurochip.progress import bar


@dataclass
class Config:
    """Sweep device sigma, levels and stuck-at fraction on a fixed network."""

    name: str = param("device_robustness", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of inputs, weights and devices", min=0)
    preset: str = param("ag_a_si", "memristor preset (neurochip.devices.presets)")
    write_verify: str = param("preset", "write-verify programming: the preset's choice, on or off",
                              choices=("preset", "on", "off"))
    steps: int = param(1000, "steps of 1 ms per run", min=1)
    n_input: int = param(200, "Poisson input neurons", min=1)
    n_output: int = param(100, "output LIF neurons", min=1)
    input_rate_hz: float = param(20.0, "rate of each input (Hz)", min=0)
    w_mean: float = param(0.003, "mean ideal weight")
    w_spread: float = param(0.008, "spread (std) of the ideal weights", min=0)
    tau_u_ms: float = param(5.0, "synaptic time constant (ms)", gt=0)
    tau_v_ms: float = param(20.0, "membrane time constant (ms)", gt=0)
    vth: float = param(1.0, "firing threshold", gt=0)
    sigmas: list[float] = param([0.0, 0.05, 0.1, 0.2, 0.3, 0.5], "device-to-device spreads swept", min=0)
    levels: list[int] = param([4, 8, 16, 32, 64, 128, 256], "conductance levels swept", min=2)
    stuck_fractions: list[float] = param([0.0, 0.01, 0.02, 0.05, 0.1, 0.2], "stuck-at fractions swept",
                                         min=0, max=1)
    repeats: int = param(5, "device draws per sweep point", min=1)


#: Overrides that make the experiment run in a few seconds (CI).
TINY = {"steps": 200, "n_input": 40, "n_output": 20, "w_mean": 0.015, "w_spread": 0.04, "sigmas": [0.0, 0.3],
        "levels": [4, 64], "stuck_fractions": [0.0, 0.1], "repeats": 2}


def build_network(cfg: Config, weights: np.ndarray | None = None) -> tuple[Network, np.ndarray]:
    """The fixed network (seeded by ``cfg.seed``) and its ideal weights; ``weights`` replaces them."""
    rng = np.random.default_rng(cfg.seed)
    dt = 1 * ms
    w_ideal = cfg.w_mean + cfg.w_spread * rng.standard_normal((cfg.n_output, cfg.n_input))
    inputs = SpikeSource.poisson("input", cfg.n_input, rate=cfg.input_rate_hz * Hz, steps=cfg.steps, dt=dt,
                                 random_state=rng)
    out = Population.from_time_constants("output", cfg.n_output, tau_u=cfg.tau_u_ms * ms,
                                         tau_v=cfg.tau_v_ms * ms, dt=dt, vth=cfg.vth)
    w = w_ideal if weights is None else weights
    net = Network(name="device_robustness", dt=dt, sources=[inputs], populations=[out],
                  projections=[Projection("input_output", "input", "output", w)])
    return net, w_ideal


def _run(net: Network, steps: int):
    from neurochip.reference import simulate

    return simulate(net, steps)


def rate_error(counts: np.ndarray, ideal: np.ndarray) -> float:
    """``sum |counts - ideal| / sum ideal`` (0 when both are silent)."""
    total = float(np.sum(ideal))
    diff = float(np.sum(np.abs(counts - ideal)))
    return diff / total if total > 0 else (0.0 if diff == 0 else np.inf)


def _counts(result, n: int) -> np.ndarray:
    return np.bincount(result.spikes["output"].indices, minlength=n).astype(float)


def sweep(cfg: Config, base, w_ideal: np.ndarray, ideal_counts: np.ndarray, param: str, values) -> dict:
    """Rate and mapping errors for each value of one non-ideality, over ``cfg.repeats`` device seeds."""
    rate_err = np.zeros((len(values), cfg.repeats))
    map_err = np.zeros((len(values), cfg.repeats))
    scale = float(np.max(np.abs(w_ideal)))
    for i, value in enumerate(values):
        if param == "sigma":
            changes = {"sigma_g_min": float(value), "sigma_g_max": float(value)}
        elif param == "levels":
            changes = {"n_levels": int(value), "n_levels_d": int(value)}
        else:
            changes = {"stuck_at_min": float(value) / 2, "stuck_at_max": float(value) / 2}
        for r in bar(range(cfg.repeats), desc=f"{param} = {value}", unit="draw"):
            device = base.replace(seed=1000 * cfg.seed + r, **changes)
            w = device.snapshot_weights(w_ideal)
            net, _ = build_network(cfg, weights=w)
            rate_err[i, r] = rate_error(_counts(_run(net, cfg.steps), cfg.n_output), ideal_counts)
            map_err[i, r] = mapping_error(w_ideal, w)["rms"] / scale
    return {"values": list(values), "rate_error": rate_err.tolist(), "rate_error_mean": rate_err.mean(1).tolist(),
            "mapping_rms_relative": map_err.tolist(), "mapping_rms_relative_mean": map_err.mean(1).tolist()}


@experiment_main
def main(cfg: Config) -> Path:
    from neurochip import plotting

    start = time.perf_counter()
    if cfg.write_verify not in ("preset", "on", "off"):
        raise ValueError(f"write_verify should be 'preset', 'on' or 'off', got {cfg.write_verify!r}")
    base = presets.get(cfg.preset)
    if cfg.write_verify != "preset":
        base = base.replace(write_verify=cfg.write_verify == "on")
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    net, w_ideal = build_network(cfg)
    ideal = _run(net, cfg.steps)
    ideal_counts = _counts(ideal, cfg.n_output)
    save_figure(plotting.raster_result(ideal, title=f"ideal weights: {cfg.steps} steps, seed {cfg.seed}"),
                run_dir / "raster.png")
    # the preset as it is, then one non-ideality at a time
    w_preset = base.replace(seed=cfg.seed).snapshot_weights(w_ideal)
    preset_counts = _counts(_run(build_network(cfg, weights=w_preset)[0], cfg.steps), cfg.n_output)
    sweeps = {
        "sigma": sweep(cfg, base, w_ideal, ideal_counts, "sigma", cfg.sigmas),
        "levels": sweep(cfg, base, w_ideal, ideal_counts, "levels", cfg.levels),
        "stuck": sweep(cfg, base, w_ideal, ideal_counts, "stuck", cfg.stuck_fractions),
    }
    save_figure(plots.robustness(
        [cfg.sigmas, cfg.levels, cfg.stuck_fractions],
        [np.array(sweeps[k]["rate_error"]) for k in ("sigma", "levels", "stuck")],
        xlabels=["device-to-device sigma of g_min, g_max", "levels", "stuck-at fraction"],
        log_x=[False, True, False], title=f"{cfg.preset} ({'write-verify' if base.write_verify else 'open-loop writes'}): "
              "output-rate error vs device non-ideality"),
        run_dir / "robustness.png")
    data = plots.pulse_response_data(base.replace(sigma_g_min=0.1, sigma_g_max=0.1), n_devices=200,
                                     random_state=cfg.seed)
    save_figure(plots.pulse_response(data["pulses"], data["potentiation"], data["depression"],
                                     title=f"{cfg.preset}, d2d sigma 0.1"), run_dir / "pulse_response.png")
    m = base.replace(seed=cfg.seed).map_weights(w_ideal.T.ravel())
    save_figure(plots.conductance_histogram([m.g_plus, m.g_minus], labels=["G+", "G-"],
                                            title=f"{cfg.preset}: conductances of the mapped weights\n"
                                                  "(differential pair: w = k (G+ - G-))"),
                run_dir / "conductance_histogram.png")
    # drift of the run's preset; PCM beside it for comparison when the run used another preset
    dd = plots.drift_data(base.replace(seed=cfg.seed), n_devices=500)
    reference = None
    if cfg.preset != "pcm":
        pcm = presets.pcm(seed=cfg.seed)
        pd = plots.drift_data(pcm, n_devices=500)
        reference = {"times": pd["times"], "g": pd["g"], "label": "pcm (for comparison)",
                     "t0": float(pcm.drift_t0 / second), "nu": pcm.drift_nu}
    drift_note = f"drift nu = {base.drift_nu:g}" if base.drift_nu else "no drift modelled, nu = 0"
    save_figure(plots.drift(dd["times"], dd["g"], t0=float(base.drift_t0 / second), nu=base.drift_nu,
                            label=cfg.preset, reference=reference,
                            title=f"{cfg.preset} ({drift_note}): mid-range devices after programming"),
                run_dir / "drift.png")
    metrics = {
        "preset": cfg.preset,
        "write_verify": base.write_verify,
        "ideal_output_spikes": int(ideal_counts.sum()),
        "ideal_output_rate_hz": float(ideal_counts.mean() / (cfg.steps * 1e-3)),
        "preset_rate_error": rate_error(preset_counts, ideal_counts),
        "preset_mapping_error": mapping_error(w_ideal, w_preset),
        "sweeps": sweeps,
        "wall_time_s": time.perf_counter() - start,
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    print(f"device_robustness ({cfg.preset}): ideal {metrics['ideal_output_rate_hz']:.1f} Hz, preset rate error "
          f"{metrics['preset_rate_error']:.3f}; sigma sweep {np.round(sweeps['sigma']['rate_error_mean'], 3)}, "
          f"levels sweep {np.round(sweeps['levels']['rate_error_mean'], 3)}, stuck sweep "
          f"{np.round(sweeps['stuck']['rate_error_mean'], 3)}; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
