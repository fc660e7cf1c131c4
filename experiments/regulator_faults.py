"""Meta-regulator on a sensor array with injected faults: detection delay and false alarms.

Signal chain: nanosensor array (``sensors.twin`` digital twin: Langmuir binding,
Johnson + 1/f noise) with analyte pulses -> send-on-delta encoding
(``sensors.encoders.delta_encode``, threshold ``delta_factor`` x the array's noise
floor, plus a coarse level at ``levels[1]`` x that; an UP and a DOWN spike source
per sensor, one neuron per level) -> ``hidden`` LIF population -> ``out`` LIF population,
run in Brian2 with the meta-regulator attached (:func:`neurochip.regulator.run_regulated`),
monitoring every sensor's encoder and both populations.

1. Calibration: ``calibration_s`` of normal operation; the regulator learns the band.
2. Faults: for each kind (``stuck`` sensor, ``drift`` ramp, noise ``burst``) and
   each of ``repeats`` seeds, a run of ``test_s`` with the fault injected into
   sensor ``faulty_sensor`` at ``fault_onset_s`` plus a random 0 .. window-1 steps
   (so onsets fall anywhere in a window); then smaller drift slopes (``drift_sweep_per_s``). Detection delay = first alarm
   (high / low / silence) on any monitored node at or after the onset, minus the onset.
   An alarm before the onset counts as a false alarm. The first ``warmup_windows``
   windows of every run (the network's start-up transient) are not judged.
3. False alarms: ``normal_s`` (600 s = 10 min by default) of normal operation;
   false-alarm rate = alarms / (windows x monitored nodes), the fraction of
   node-time flagged and the fraction of time the outputs were held (withheld
   during the run, ``result.info["regulator"]["held_steps"]``).

Also checked on every run: the attached regulator's events equal the numpy
reference's replay of the run's spikes (withheld ones included). Energy (Loihi 1
profile, ``neurochip.energy``) of the network and of the regulator (an item of the
same report), per population and kind of operation, are reported.

Run: ``python experiments/regulator_faults.py [--tiny] [--set normal_s=60]``.
Writes ``results/regulator_faults/<timestamp>/``: ``config.json``,
``metrics.json``, ``raster.png`` (first figure), ``overview.png`` (raster,
spike density with band, energy per window and events on one figure),
``energy.png``, ``regulator.json``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from brian2 import ms, second

from neurochip import Network, Population, Projection, SpikeSource, simulate
from neurochip.energy import LOIHI1, REGULATOR, estimate_energy, plot_energy, report_bars
from neurochip.experiment import (experiment_main, param, parse_config, save_figure, start_run,
                                  write_metrics)
from neurochip.io import write_json
from neurochip.progress import bar
from neurochip.regulator import MetaRegulator, RegulatorLog, regulator_cost
from sensors import twin
from sensors.encoders import delta_encode

FAULT_KINDS = ("stuck", "drift", "burst")


@dataclass
class Config:
    """Meta-regulator on a faulty sensor array: detection delay and false-alarm rate."""

    name: str = param("regulator_faults", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = param(0, "seed of the sensor twin and the network", min=0)
    dt_ms: float = param(1.0, "time step (ms)", gt=0)
    n_sensors: int = param(6, "sensors of the array", min=1)
    delta_factor: float = param(0.5, "encoder threshold, in noise floors", gt=0)
    levels: tuple[int, ...] = param((1, 4), "encoder magnitude levels (multiples of the threshold)", min=1)
    n_hidden: int = param(30, "hidden LIF neurons", min=1)
    n_out: int = param(4, "output LIF neurons", min=1)
    p_connect: float = param(0.5, "connection probability", min=0, max=1)
    w_in_total: float = param(0.08, "input weight x n_sensors (hidden rate independent of n_sensors)")
    w_out_total: float = param(0.45, "hidden -> out weight x n_hidden")
    calibration_s: float = param(30.0, "normal operation the regulator calibrates on (s)", gt=0)
    test_s: float = param(2.0, "duration of each fault run (s)", gt=0)
    fault_onset_s: float = param(1.0, "fault onset within a fault run (s)", min=0)
    normal_s: float = param(600.0, "normal operation judged for false alarms (s)", gt=0)
    repeats: int = param(5, "runs per fault kind", min=1)
    faulty_sensor: int = param(0, "index of the faulty sensor", min=0)
    burst_rms_factor: float = param(5.0, "burst noise, in noise floors", min=0)
    drift_slope_per_s: float = param(0.5, "drift ramp of dG/G0 per second")
    drift_sweep_per_s: tuple[float, ...] = param((0.2, 0.1, 0.05, 0.02), "smaller drifts: which are detected?")
    window: int = param(10, "regulator window (steps)", min=1)
    warmup_windows: int = param(5, "start-up windows of every run not judged", min=0)
    k: float = param(3.0, "band half-width in standard deviations", gt=0)
    persist: int = param(2, "windows out of band before an event", min=1)
    alpha: float = param(1e-4, "false-alarm probability of the band", gt=0, lt=1)
    policy: str = param("safe_mode", "action on an event", choices=("safe_mode", "recalibrate"))
    target_delay_ms: float = param(50.0, "target detection delay (ms)", gt=0)
    target_false_alarm: float = param(0.01, "target false alarms per window", min=0, max=1)


#: Overrides that make the experiment run in seconds (CI, ``--tiny``).
TINY = {"n_sensors": 3, "n_hidden": 10, "n_out": 2, "calibration_s": 3.0, "test_s": 0.4, "fault_onset_s": 0.2,
        "normal_s": 3.0, "repeats": 1, "drift_sweep_per_s": [0.1]}


# ---------------------------------------------------------------- signals
def sensor_signals(cfg: Config, duration_s: float, fault: dict | None, seed: int):
    """``(signals (n_sensors, steps), noise_floor, source label)`` of normal operation plus a fault.

    ``fault`` is ``None`` or ``{"kind": "stuck" | "drift" | "burst", "onset_step": int,
    "slope": drift in dG/G0 per s}``, on sensor ``cfg.faulty_sensor``.
    """
    from brian2 import mmolar

    dt = cfg.dt_ms * ms
    rng = np.random.default_rng(seed)
    n_steps = int(round(duration_s * 1e3 / cfg.dt_ms))
    arr = twin.SensorArray.random(cfg.n_sensors, ("A", "B"), random_state=cfg.seed)
    floor = arr.noise_floor(dt=dt)
    pulses, t = [], 0.5
    while t < duration_s:        # analyte pulses: the normal, varying input
        pulses.append(twin.Pulse(str(rng.choice(["A", "B"])), float(rng.uniform(0.05, 0.3)) * mmolar,
                                 onset=t * second, duration=float(rng.uniform(0.5, 2.0)) * second))
        t += float(rng.uniform(1.0, 4.0))
    faults = [] if fault is None else [_twin_fault(cfg, fault, floor)]
    y = arr.simulate(pulses, duration=n_steps * dt, dt=dt, faults=faults, random_state=rng)
    return y, floor, "sensors.twin digital twin"


def _twin_fault(cfg: Config, fault: dict, floor: float):
    onset = fault["onset_step"] * cfg.dt_ms * ms
    kind = fault["kind"]
    if kind == "stuck":
        return twin.Fault("stuck", cfg.faulty_sensor, onset)
    if kind == "burst":
        return twin.Fault("burst", cfg.faulty_sensor, onset, rms=cfg.burst_rms_factor * floor)
    if kind == "drift":
        return twin.Fault("drift", cfg.faulty_sensor, onset, slope=fault["slope"] / second)
    raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")


def encode(y: np.ndarray, floor: float, cfg: Config) -> list[dict]:
    """Send-on-delta encoding of every sensor (``sensors.encoders.delta_encode``), one encoder per level.

    Level ``l`` has threshold ``levels[l] * delta_factor * floor``; per sensor the UP outputs of all
    levels form source ``s<k>_up`` (neuron ``l`` = level ``l``), the DOWN outputs ``s<k>_down``.
    A coarse level (4 x the fine threshold) sees large jumps (noise bursts) that the
    fine level, limited to one event per step, cannot count.
    """
    per_level = [delta_encode(y, lev * cfg.delta_factor * floor)[:2] for lev in cfg.levels]
    out = []
    for s in range(y.shape[0]):
        enc = {}
        for name, which in (("up", 0), ("down", 1)):
            raster = np.stack([lv[which][s] for lv in per_level])        # (levels, steps)
            idx, st = np.nonzero(raster)
            enc[name] = (idx.astype(np.int64), st.astype(np.int64))
        out.append(enc)
    return out


# ---------------------------------------------------------------- network
def build_network(cfg: Config, encoded) -> Network:
    rng = np.random.default_rng(cfg.seed + 1000)   # same weights for every run
    dt = cfg.dt_ms * ms
    n_levels = len(cfg.levels)
    sources = [SpikeSource(f"s{s}_{d}", n_levels, indices=enc[d][0], steps=enc[d][1])
               for s, enc in enumerate(encoded) for d in ("up", "down")]
    hidden = Population.from_time_constants("hidden", cfg.n_hidden, tau_u=5 * ms, tau_v=20 * ms, dt=dt, vth=1.0)
    out = Population.from_time_constants("out", cfg.n_out, tau_u=5 * ms, tau_v=20 * ms, dt=dt, vth=1.0)
    projections = []
    w_in = cfg.w_in_total / cfg.n_sensors
    for src in sources:
        mask = rng.random((cfg.n_hidden, n_levels)) < cfg.p_connect
        projections.append(Projection(f"{src.name}_hidden", src.name, "hidden",
                                      sp.csr_matrix(mask * rng.uniform(0.5, 1.5, mask.shape) * w_in)))
    mask = rng.random((cfg.n_out, cfg.n_hidden)) < cfg.p_connect
    projections.append(Projection("hidden_out", "hidden", "out",
                                  sp.csr_matrix(mask * rng.uniform(0.5, 1.5, mask.shape) * cfg.w_out_total / cfg.n_hidden)))
    return Network(name="regulator_faults", dt=dt, sources=sources, populations=[hidden, out],
                   projections=projections)


def regulated_run(cfg: Config, regulator, duration_s: float, fault: dict | None, seed: int):
    y, floor, label = sensor_signals(cfg, duration_s, fault, seed)
    net = build_network(cfg, encode(y, floor, cfg))
    steps = y.shape[1]
    if regulator is None:
        return net, simulate(net, steps), None, label
    result = simulate(net, steps, regulator=regulator)     # the regulator acts during the run
    log = RegulatorLog.from_dict(result.info["regulator"]["log"])
    ref = regulator.detect(result)                           # replay of the spikes (withheld ones included)
    if not np.array_equal(ref.rows(), log.rows()):
        raise RuntimeError("Brian2 regulator and numpy reference disagree; this is a bug")
    return net, result, log, label


# ---------------------------------------------------------------- figures
def overview_figure(result, regulator, log, *, fault_step: int | None, title: str, highlight=None):
    """Raster, spike density per window with the normal band, energy per window and events.

    Densities of the nodes in ``highlight`` are drawn in color with their band's upper
    edge (dashed); the other nodes in light grey.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from neurochip.plotting import colors, legend_outside

    names = regulator.populations_
    counts = regulator.window_counts(result)
    ends = (np.arange(counts.shape[0]) + 1) * regulator.window - 1
    fig, axes = plt.subplots(4, 1, figsize=(11.5, 10), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 1.5, 1.2]})
    nodes = [*result.sources, *result.populations]
    palette = colors(nodes)
    ax = axes[0]
    offset = 0
    for name in nodes:
        s = result.spikes[name]
        ax.scatter(s.steps, s.indices + offset, s=2, marker="|", color=palette[name])
        ax.text(1.005, offset + result.sizes[name] / 2, name, transform=ax.get_yaxis_transform(), fontsize=7,
                color=palette[name], va="center")
        offset += result.sizes[name]
    ax.set_ylabel("neuron")
    ax.set_title(title, fontsize=10)
    ax = axes[1]
    dens = regulator.density(counts)
    highlight = list(highlight) if highlight is not None else names
    for k, name in enumerate(names):
        if name not in highlight:
            ax.plot(ends, dens[:, k], color="0.8", lw=0.5, zorder=1)
    handles = []
    for name in highlight:
        k = names.index(name)
        ax.plot(ends, dens[:, k], color=palette[name], lw=0.9, zorder=2)
        ax.axhline(regulator.density(regulator.band_.high)[k], color=palette[name], lw=0.6, ls="--")
        handles.append(Line2D([], [], color=palette[name], label=name))
    handles += [Line2D([], [], color="0.8", label="other nodes"),
                Line2D([], [], color="0.3", ls="--", lw=0.6, label="upper edge of the normal band\n(same colour)"),
                Line2D([], [], color="#D55E00", alpha=0.6, label="fault onset")]
    legend_outside(ax, handles=handles, labels=[h.get_label() for h in handles])
    ax.set_ylabel("density (Hz/neuron)")
    ax = axes[2]
    ax.plot(ends, regulator.window_energy(counts).sum(axis=1) * 1e9, color="k", lw=0.8)
    ax.set_ylabel("energy / window (nJ)")
    ax = axes[3]
    marker = {"high": "^", "low": "v", "silence": "x", "recovered": "o"}
    meaning = {"high": "density above the band", "low": "density below the band", "silence": "silence",
               "recovered": "back in the band"}
    for e in log.events:
        ax.scatter(e.step, names.index(e.population), marker=marker[e.kind],
                   color="#D55E00" if e.kind != "recovered" else "#009E73", s=30)
    kinds = sorted({e.kind for e in log.events}, key=list(marker).index)
    ev_handles = [Line2D([], [], ls="", marker=marker[k], color="#D55E00" if k != "recovered" else "#009E73",
                         label=f"event: {meaning[k]}") for k in kinds] or [Line2D([], [], ls="", label="no events")]
    legend_outside(ax, handles=ev_handles, labels=[h.get_label() for h in ev_handles])
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=6)
    ax.set_ylabel("events")
    ax.set_xlabel(f"step ({regulator.dt_s_ * 1e3:g} ms)")
    for a in axes:
        if fault_step is not None:
            a.axvline(fault_step, color="#D55E00", lw=0.8, alpha=0.6)
    ax.set_xlim(0, result.steps)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- main
@experiment_main
def main(cfg: Config) -> Path:
    from neurochip.plotting import raster_result

    start = time.perf_counter()
    for f in ("calibration_s", "test_s", "normal_s", "dt_ms", "delta_factor"):
        if getattr(cfg, f) <= 0:
            raise ValueError(f"Config: {f} should be > 0, got {getattr(cfg, f)}")
    if not 0 < cfg.fault_onset_s < cfg.test_s - cfg.window * cfg.dt_ms * 1e-3:
        raise ValueError(f"Config: fault_onset_s should be in (0, test_s = {cfg.test_s}), got {cfg.fault_onset_s}")
    if not 0 <= cfg.faulty_sensor < cfg.n_sensors:
        raise ValueError(f"Config: faulty_sensor should be in [0, {cfg.n_sensors - 1}], got {cfg.faulty_sensor}")
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    rng = np.random.default_rng(cfg.seed)     # every seed and onset below is drawn from it, in order

    # 1. calibration
    net, calib, _, label = regulated_run(cfg, None, cfg.calibration_s, None, int(rng.integers(0, 2**31)))
    regulator = MetaRegulator(window=cfg.window, k=cfg.k, persist=cfg.persist, alpha=cfg.alpha,
                              policy=cfg.policy, warmup_windows=cfg.warmup_windows).fit(net, calib)
    write_json(run_dir / "regulator.json", regulator.to_dict())
    print(f"regulator_faults: calibrated on {regulator.n_calibration_windows_} windows ({label})", flush=True)

    # 2. injected faults, onsets jittered within a window
    base = int(round(cfg.fault_onset_s * 1e3 / cfg.dt_ms))

    def scenarios(kind: str, slope: float) -> tuple[dict, tuple]:
        delays, early, kinds_seen, missed, shown = [], 0, [], 0, None
        for r in bar(range(cfg.repeats), desc=f"{kind} faults", unit="run"):
            onset = base + int(rng.integers(0, cfg.window))
            fault = {"kind": kind, "onset_step": onset, "slope": slope}
            _, res, log, _ = regulated_run(cfg, regulator, cfg.test_s, fault, int(rng.integers(0, 2**31)))
            early += sum(1 for e in log.events if e.kind != "recovered" and e.step < onset)
            first = log.first(after_step=onset)
            if first is None:
                missed += 1
            else:
                delays.append((first.step - onset + 1) * cfg.dt_ms)
                kinds_seen.append(f"{first.kind}@{first.population}")
            if shown is None:
                shown = (res, log, onset)
        summary = {"detected": len(delays), "missed": missed, "runs": cfg.repeats, "delay_ms": delays,
                   "median_delay_ms": float(np.median(delays)) if delays else None,
                   "max_delay_ms": float(np.max(delays)) if delays else None,
                   "first_alarm": kinds_seen, "alarms_before_onset": early,
                   "within_target": bool(delays) and missed == 0 and max(delays) <= cfg.target_delay_ms}
        print(f"regulator_faults: {kind} (slope {slope:g}/s): delays {delays} ms, missed {missed}", flush=True)
        return summary, shown

    faults, shown = {}, {}
    for kind in FAULT_KINDS:
        faults[kind], shown[kind] = scenarios(kind, cfg.drift_slope_per_s)
    drift_sweep = {f"{slope:g}": scenarios("drift", slope)[0] for slope in cfg.drift_sweep_per_s}

    # 3. false alarms over normal operation
    net_n, normal, log_n, _ = regulated_run(cfg, regulator, cfg.normal_s, None, int(rng.integers(0, 2**31)))
    n_windows = normal.steps // cfg.window - cfg.warmup_windows
    alarms = [e for e in log_n.events if e.kind != "recovered"]
    flagged = np.mean([log_n.safe_mode_mask(p).mean() for p in regulator.populations_])
    fa_rate = len(alarms) / (n_windows * len(regulator.populations_))
    held = normal.info["regulator"]
    energy = estimate_energy(net_n, normal, LOIHI1)          # the network and the regulator item
    cost = regulator_cost(regulator, normal)
    e_reg = energy.by_item()[REGULATOR]
    if not np.isclose(e_reg, cost["energy_J"], rtol=1e-12):
        raise RuntimeError("the energy report's regulator item and regulator_cost disagree; this is a bug")
    e_total = float(energy.to_dict()["energy_J"]["total"])

    # figures: raster first, then the overview of the burst run, energy
    res_b, _, onset_b = shown["burst"]
    save_figure(raster_result(res_b, title=f"regulator_faults: noise burst on sensor {cfg.faulty_sensor} "
                                           f"at step {onset_b}"), run_dir / "raster.png")
    for kind, (res, log, onset) in shown.items():
        s = cfg.faulty_sensor
        save_figure(overview_figure(res, regulator, log, fault_step=onset,
                                    title=f"{kind} fault on sensor {s} at step {onset} ({label}); "
                                          f"grey: other sensors", highlight=[f"s{s}_up", f"s{s}_down",
                                                                             "hidden", "out"]),
                    run_dir / f"overview_{kind}.png")
    save_figure(plot_energy(*report_bars(energy), unit="µJ",
                            title=f"energy of {cfg.normal_s:g} s normal operation (Loihi 1)"),
                run_dir / "energy.png")

    metrics = {
        "signal_source": label,
        "monitored": regulator.populations_,
        "calibration_windows": regulator.n_calibration_windows_,
        "faults": faults,
        "drift_sweep": drift_sweep,
        "false_alarms": {"normal_s": cfg.normal_s, "windows_per_node": n_windows,
                         "alarms": len(alarms), "rate_per_window": fa_rate,
                         "alarms_per_minute": len(alarms) / (cfg.normal_s / 60.0),
                         "fraction_flagged": float(flagged),
                         "fraction_outputs_held": held["held_steps"] / normal.steps,
                         "outputs_withheld_spikes": len(held["held_spikes"].get("out", {}).get("steps", [])),
                         "within_target": fa_rate < cfg.target_false_alarm},
        "energy_normal_J": {"total": e_total, "network": e_total - e_reg, "regulator": e_reg,
                            "per_second_W": energy.to_dict()["energy_J"]["per_second_W"],
                            "by_count": energy.by_count(), "by_population": energy.by_population()},
        "regulator_cost": {**cost, "fraction_of_network_energy": cost["energy_J"] / (e_total - e_reg)},
        "spike_counts_normal": normal.spike_counts(),
        "wall_time_s": time.perf_counter() - start,
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    summary = ", ".join(f"{k}: median {v['median_delay_ms']} ms max {v['max_delay_ms']} ms "
                        f"({v['detected']}/{v['runs']})" for k, v in faults.items())
    slow = {k: v["detected"] for k, v in drift_sweep.items()}
    print(f"regulator_faults: slow drifts detected (of {cfg.repeats}): {slow}", flush=True)
    print(f"regulator_faults [{label}]: {summary}; false alarms {len(alarms)} in {n_windows} windows x "
          f"{len(regulator.populations_)} nodes ({fa_rate:.2e}); regulator cost "
          f"{metrics['regulator_cost']['fraction_of_network_energy']:.1%} of network energy; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
