"""Sensors demo: twin signals for a few analytes, their delta spikes, and the co-design trade-off.

1. A random cross-sensitive nanosensor array (``RandomizationSpec``) sees each
   analyte in turn (a concentration step at ``onset_s`` for ``exposure_s``).
2. The co-design sweep encodes domain-randomized recordings and noise-only
   recordings with a delta (send-on-delta, UP/DOWN) encoder for thresholds from
   0.5 to 30 times the measured noise floor, and recommends the smallest
   threshold whose false-event rate stays under ``max_false_rate_hz``.
3. The analyte recordings are encoded at the recommended threshold by the numpy
   reference and by the Brian2 model (their spikes are compared).

Writes ``results/sensors_codesign/<timestamp>/`` with ``config.json``,
``metrics.json``, ``raster.png`` (first figure: UP/DOWN spikes per analyte),
``signals.png`` (twin signals), ``codesign.png`` (the trade-off) and
``reconstruction.png`` (signal and delta-decoded signal of one sensor).

Run: ``python experiments/sensors_codesign.py [--tiny] [--set n_sensors=16]``
or ``neurochip run sensors_codesign``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from brian2 import Hz, mmolar, ms, second

from neurochip.experiment import (experiment_main, param, parse_config, save_figure, start_run,
                                  write_metrics)
from neurochip.results import Spikes


@dataclass
class Config:
    """Nanosensor twin, delta-encoder co-design and spike raster."""

    name: str = param("sensors_codesign", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of the twin", min=0)
    n_sensors: int = param(8, "sensors of the array", min=1)
    analytes: str = param("NH3,NO2,H2S", "comma-separated analytes of the twin's library")
    duration_s: float = param(2.0, "duration of each recording (s)", gt=0)
    dt_ms: float = param(1.0, "sampling step (ms)", gt=0)
    onset_s: float = param(0.2, "exposure onset (s)", min=0)
    exposure_s: float = param(1.2, "exposure duration (s)", gt=0)
    concentration_mM: float = param(0.2, "analyte concentration (mM)", gt=0)
    n_samples: int = param(24, "recordings of the co-design sweep", min=1)
    shifted: bool = param(False, "record in the twin's shifted (out-of-training) conditions")
    max_false_rate_hz: float = param(1.0, "largest spike rate on noise alone (Hz) of a chosen threshold", min=0)
    min_factor: float = param(0.5, "smallest threshold swept, in noise floors", gt=0)
    max_factor: float = param(30.0, "largest threshold swept, in noise floors", gt=0)
    n_factors: int = param(15, "thresholds swept (geometric)", min=1)
    brian: bool = param(True, "also encode with the Brian2 model (and check it equals numpy)")


#: Overrides that make the experiment run in seconds (CI).
TINY = {"n_sensors": 4, "duration_s": 0.6, "onset_s": 0.1, "exposure_s": 0.4, "n_samples": 4, "n_factors": 6}


def _signals_figure(t_ms, signals, analytes, window_ms):
    """One panel per analyte: every sensor's response (one colour per sensor), the exposure window shaded."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from neurochip.plotting import legend_outside

    n_sensors = signals.shape[1]
    fig, axes = plt.subplots(len(analytes), 1, figsize=(8.6, 1.9 * len(analytes) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    sensor_colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, n_sensors))
    for ax, name, y in zip(axes, analytes, signals):
        ax.axvspan(*window_ms, color="0.92", lw=0)
        for n in range(y.shape[0]):
            ax.plot(t_ms, y[n] * 100, lw=0.7, color=sensor_colors[n], label=f"sensor {n}")
        ax.set_ylabel("dG/G0 (%)")
        ax.set_title(f"exposure to {name}", fontsize=9, loc="left")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Patch(color="0.92", label="exposure window"))
    legend_outside(axes[0], handles=handles, labels=[*labels, "exposure window"])
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle("digital twin: sensor array responses", fontsize=10)
    fig.tight_layout()
    return fig


def _reconstruction_figure(t_ms, x, x_hat, threshold, title):
    import matplotlib.pyplot as plt

    from neurochip.plotting import legend_outside

    fig, ax = plt.subplots(figsize=(8.6, 3))
    ax.plot(t_ms, x * 100, lw=0.7, color="#0072B2", label="signal")
    ax.step(t_ms, x_hat * 100, where="post", lw=1.0, color="#D55E00", label="delta decoder")
    ax.fill_between(t_ms, (x_hat - threshold) * 100, (x_hat + threshold) * 100, step="post", alpha=0.15,
                    color="#D55E00", label="decoder ± threshold")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("dG/G0 (%)")
    legend_outside(ax)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


@experiment_main
def main(cfg: Config) -> Path:
    from neurochip import plotting
    from sensors import Conditions, DeltaEncoder, RandomizationSpec, Step
    from sensors.codesign import codesign, plot_codesign

    start = time.perf_counter()
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    analytes = tuple(a.strip() for a in cfg.analytes.split(",") if a.strip())
    dt = cfg.dt_ms * ms
    spec = RandomizationSpec(analytes=analytes, n_sensors=cfg.n_sensors, array_seed=cfg.seed,
                             duration=cfg.duration_s * second, dt=dt, onset=cfg.onset_s * second,
                             exposure=cfg.exposure_s * second,
                             feature_window=min(0.2, cfg.exposure_s / 2) * second)
    rng = np.random.default_rng(cfg.seed)

    # 1. one recording per analyte, nominal conditions
    signals = np.stack([
        spec.array.simulate([Step(a, cfg.concentration_mM * mmolar, onset=cfg.onset_s * second,
                                  duration=cfg.exposure_s * second)],
                            duration=cfg.duration_s * second, dt=dt, conditions=Conditions(), random_state=rng)
        for a in analytes])                                                      # (n_analytes, n_sensors, T)
    n_steps = signals.shape[-1]

    # 2. co-design sweep on domain-randomized recordings
    t0 = time.perf_counter()
    result = codesign(spec, n_samples=cfg.n_samples, random_state=rng, shifted=cfg.shifted,
                      factors=np.geomspace(cfg.min_factor, cfg.max_factor, cfg.n_factors),
                      max_false_rate=cfg.max_false_rate_hz * Hz)
    codesign_time = time.perf_counter() - t0

    # 3. encode the analyte recordings at the recommended threshold
    enc = DeltaEncoder(threshold=result.recommended_threshold, dt=dt, name="sensors").fit(signals)
    t0 = time.perf_counter()
    spikes = enc.transform(signals)
    numpy_time = time.perf_counter() - t0
    brian_match, brian_time = None, None
    if cfg.brian:
        t0 = time.perf_counter()
        spikes_b = enc.transform_brian(signals)
        brian_time = time.perf_counter() - t0
        brian_match = all(a == b for a, b in zip(spikes, spikes_b))
    report = enc.evaluate(signals)
    x_hat = enc.inverse_transform(spikes, n_steps=n_steps, initial=signals[:, :, 0])

    # figures: raster first
    save_figure(plotting.raster({a: Spikes(s.indices, s.steps) for a, s in zip(analytes, spikes)},
                                {a: 2 * cfg.n_sensors for a in analytes}, dt=dt, steps=n_steps,
                                title=f"delta encoder spikes (UP: 0..{cfg.n_sensors - 1}, DOWN: "
                                      f"{cfg.n_sensors}..{2 * cfg.n_sensors - 1}), threshold "
                                      f"{result.recommended_threshold:.2e}"),
                run_dir / "raster.png")
    t_ms = np.arange(n_steps) * cfg.dt_ms
    window_ms = (cfg.onset_s * 1e3, min(cfg.onset_s + cfg.exposure_s, cfg.duration_s) * 1e3)
    save_figure(_signals_figure(t_ms, signals, analytes, window_ms), run_dir / "signals.png")
    save_figure(plot_codesign(result), run_dir / "codesign.png")
    a0, n0 = 0, int(np.argmax(np.abs(signals[0, :, -n_steps // 3]).ravel()))
    save_figure(_reconstruction_figure(t_ms, signals[a0, n0], x_hat[a0, n0], result.recommended_threshold,
                                       f"sensor {n0}, {analytes[a0]}: signal and delta reconstruction"),
                run_dir / "reconstruction.png")

    metrics = {
        "analytes": list(analytes), "n_sensors": cfg.n_sensors, "n_steps": n_steps, "dt_ms": cfg.dt_ms,
        "twin_noise_floor": spec.array.noise_floor(dt=dt),
        "codesign": result.to_dict(),
        "encoding": {**report.as_dict(),
                     "spike_counts": {a: int(s.steps.size) for a, s in zip(analytes, spikes)},
                     "max_error_below_threshold": bool(report.max_abs_error < enc.threshold_)},
        "brian_matches_numpy": brian_match,
        "wall_time_s": {"codesign": codesign_time, "encode_numpy": numpy_time, "encode_brian": brian_time,
                        "total": time.perf_counter() - start},
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    print(f"sensors_codesign: noise floor {result.noise_floor:.2e}, recommended threshold "
          f"{result.recommended_threshold:.2e} ({result.factors[result.recommended_index]:.1f} x floor): "
          f"{result.spikes_per_second[result.recommended_index]:.1f} spikes/s per sensor, "
          f"{result.false_spikes_per_second[result.recommended_index]:.2f} false/s, RMSE "
          f"{result.rmse[result.recommended_index]:.2e}; Brian2 == numpy: {brian_match}; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
