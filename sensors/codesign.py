"""Co-design of sensor and encoder: sweep the delta threshold against the sensor's noise floor.

For a sensor configuration (a :class:`~sensors.randomization.RandomizationSpec`),
:func:`codesign` simulates recordings with analyte exposures and noise-only
recordings (no analyte: noise, drift and faults of the same spec), measures the
noise floor, and encodes both with a :class:`~sensors.encoders.DeltaEncoder`
for thresholds from a fraction to many times the noise floor
(:func:`sweep_delta_thresholds` does this for any given signals). For each
threshold it reports

- spikes per second per sensor on the exposures (the useful traffic),
- spikes per second per sensor on noise-only recordings (false events),
- reconstruction error (RMS and maximum) of the delta decoder,
- spike-count cost: power ``spikes/s x n_sensors x fan_out x E_spike``
  (default ``E_spike`` = 23.6 pJ per synaptic spike operation, Loihi 1,
  Davies et al., IEEE Micro 38(1), 2018).

The recommended threshold is the smallest one whose false-event rate is at most
``max_false_rate`` per sensor (noise does not flood the network); its
reconstruction error is reported with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import Hz, Quantity, joule, mmolar, ms

from neurochip._validation import check_float, check_int, check_quantity, describe
from neurochip.progress import bar
from sensors.dataset import make_dataset
from sensors.encoders import DeltaEncoder
from sensors.randomization import Constant, RandomizationSpec

#: Energy of one synaptic spike operation on Loihi 1 (Davies et al., IEEE Micro 2018).
LOIHI_SPIKE_ENERGY = 23.6e-12 * joule


def measured_noise_floor(noise_signals: np.ndarray) -> float:
    """Median over recordings of the std of a noise-only signal after removing its linear trend."""
    x = np.asarray(noise_signals, dtype=float)
    flat = x.reshape(-1, x.shape[-1])
    t = np.arange(flat.shape[-1], dtype=float)
    a = np.vstack([t, np.ones_like(t)]).T
    coef, *_ = np.linalg.lstsq(a, flat.T, rcond=None)
    resid = flat - (a @ coef).T
    return float(np.median(resid.std(axis=-1)))


@dataclass
class CodesignResult:
    """Outcome of a threshold sweep (arrays indexed like ``thresholds``).

    Attributes
    ----------
    thresholds : ndarray
        Delta thresholds in signal units.
    factors : ndarray
        ``thresholds / noise_floor``.
    noise_floor : float
    spikes_per_second : ndarray
        Per sensor, on recordings with exposures.
    false_spikes_per_second : ndarray
        Per sensor, on noise-only recordings.
    rmse, max_abs_error : ndarray
        Delta decoder error on the exposures (signal units).
    slew_fraction : ndarray
        Fraction of steps where the signal moved by more than the threshold
        (where the error bound ``< threshold`` is not guaranteed).
    power : ndarray
        Spike-count cost in watts for the whole array.
    recommended_index : int
    criterion : str
    """

    thresholds: np.ndarray
    factors: np.ndarray
    noise_floor: float
    spikes_per_second: np.ndarray
    false_spikes_per_second: np.ndarray
    rmse: np.ndarray
    max_abs_error: np.ndarray
    slew_fraction: np.ndarray
    power: np.ndarray
    recommended_index: int
    criterion: str
    info: dict = field(default_factory=dict)

    @property
    def recommended_threshold(self) -> float:
        return float(self.thresholds[self.recommended_index])

    def to_dict(self) -> dict:
        k = self.recommended_index
        return {"noise_floor": self.noise_floor, "criterion": self.criterion,
                "recommended_threshold": self.recommended_threshold,
                "recommended_factor": float(self.factors[k]),
                "recommended_spikes_per_second_per_sensor": float(self.spikes_per_second[k]),
                "recommended_false_spikes_per_second_per_sensor": float(self.false_spikes_per_second[k]),
                "recommended_rmse": float(self.rmse[k]), "recommended_power_W": float(self.power[k]),
                "thresholds": self.thresholds, "factors": self.factors,
                "spikes_per_second": self.spikes_per_second,
                "false_spikes_per_second": self.false_spikes_per_second, "rmse": self.rmse,
                "max_abs_error": self.max_abs_error, "slew_fraction": self.slew_fraction,
                "power_W": self.power, **self.info}


def sweep_delta_thresholds(signals, noise_signals, *, noise_floor: float | None = None,
                           factors=None, dt: Quantity = 1 * ms, max_false_rate: Quantity = 1 * Hz,
                           energy_per_spike: Quantity = LOIHI_SPIKE_ENERGY, fan_out: int = 1) -> CodesignResult:
    """Encode ``signals`` and ``noise_signals`` (n_samples, n_sensors, n_steps) at each threshold.

    Thresholds are ``factors * noise_floor`` (default factors: 15 values from 0.5
    to 30, log spaced; default noise floor: :func:`measured_noise_floor` of
    ``noise_signals``).
    """
    owner = "sweep_delta_thresholds"
    x = np.asarray(signals, dtype=float)
    z = np.asarray(noise_signals, dtype=float)
    if x.ndim != 3 or z.ndim != 3 or x.shape[1] != z.shape[1]:
        raise ValueError(f"{owner}: signals and noise_signals should be (n_samples, n_sensors, n_steps) with the "
                         f"same n_sensors, got shapes {x.shape} and {z.shape}")
    floor = measured_noise_floor(z) if noise_floor is None else check_float(owner, "noise_floor", noise_floor,
                                                                             low=0.0, low_open=True)
    if floor <= 0:
        raise ValueError(f"{owner}: the noise floor is 0 (noise-free noise_signals); give noise_floor")
    factors = np.geomspace(0.5, 30, 15) if factors is None else np.asarray(factors, dtype=float)
    if factors.ndim != 1 or factors.size == 0 or np.any(factors <= 0):
        raise ValueError(f"{owner}: factors should be a non-empty 1-D array of positive numbers, got {describe(factors)}")
    limit = float(check_quantity(owner, "max_false_rate", max_false_rate, Hz) / Hz)
    e_spike = float(check_quantity(owner, "energy_per_spike", energy_per_spike, joule) / joule)
    fan_out = check_int(owner, "fan_out", fan_out, minimum=1)
    n_sensors = x.shape[1]
    rows = []
    for f in bar(factors, desc="delta thresholds", unit="threshold"):
        enc = DeltaEncoder(threshold=float(f * floor), dt=dt).fit(x)
        rep = enc.evaluate(x)
        false = enc.evaluate(z)
        rows.append((rep.spikes_per_second_per_channel, false.spikes_per_second_per_channel, rep.rmse,
                     rep.max_abs_error, rep.extra["slew_violations"] / max(1, x[..., 1:].size)))
    sps, fsps, rmse, mae, slew = (np.array(c) for c in zip(*rows))
    ok = np.nonzero(fsps <= limit)[0]
    k = int(ok[0]) if ok.size else int(np.argmin(fsps))
    crit = (f"smallest threshold with false events <= {limit:g} Hz per sensor on noise-only recordings"
            + ("" if ok.size else " (none reached it: the threshold with the fewest false events)"))
    return CodesignResult(thresholds=factors * floor, factors=factors, noise_floor=floor, spikes_per_second=sps,
                          false_spikes_per_second=fsps, rmse=rmse, max_abs_error=mae, slew_fraction=slew,
                          power=sps * n_sensors * fan_out * e_spike, recommended_index=k, criterion=crit,
                          info={"max_false_rate_hz": limit, "energy_per_spike_J": e_spike, "fan_out": fan_out})


def codesign(spec: RandomizationSpec, *, n_samples: int = 12, random_state=None, shifted: bool = False,
             factors=None, max_false_rate: Quantity = 1 * Hz, energy_per_spike: Quantity = LOIHI_SPIKE_ENERGY,
             fan_out: int = 1) -> CodesignResult:
    """Threshold sweep for a sensor configuration, on recordings simulated from ``spec``.

    ``n_samples`` exposures and ``n_samples`` noise-only recordings (the same
    spec with zero concentrations) are drawn with ``random_state``.
    """
    if not isinstance(spec, RandomizationSpec):
        raise ValueError(f"codesign: spec should be a RandomizationSpec, got {describe(spec)}")
    rng = np.random.default_rng(random_state)
    data = make_dataset(spec, n_samples, random_state=rng, shifted=shifted)
    blank_table = {"concentration": Constant(0 * mmolar), "background": Constant(0 * mmolar)}
    blank = spec.with_changes(train={**spec.train, **blank_table}, shifted={**spec.shifted, **blank_table})
    noise = make_dataset(blank, n_samples, random_state=rng, shifted=shifted)
    res = sweep_delta_thresholds(data.signals, noise.signals, factors=factors, dt=spec.dt,
                                 max_false_rate=max_false_rate, energy_per_spike=energy_per_spike, fan_out=fan_out)
    res.info.update({"n_samples": n_samples, "shifted": bool(shifted), "twin_noise_floor": spec.array.noise_floor(dt=spec.dt)})
    return res


def plot_codesign(result: CodesignResult, *, title: str | None = None):
    """Trade-off figure: spikes/s (exposure and noise-only) and reconstruction error vs threshold.

    Rates of exactly zero (no false spike in the noise-only recordings) cannot sit on a
    log axis: they are drawn as open triangles at the axis floor and labelled so, not as values.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from neurochip.plotting import legend_outside, log_floor

    fig, ax = plt.subplots(figsize=(8.8, 4.2))
    f = result.factors
    c_rate, c_false, c_err = "#0072B2", "#D55E00", "#009E73"
    sps, fsps = np.asarray(result.spikes_per_second, float), np.asarray(result.false_spikes_per_second, float)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.plot(f[sps > 0], sps[sps > 0], "o-", color=c_rate, label="spikes/s per sensor (exposure)")
    ax.plot(f[fsps > 0], fsps[fsps > 0], "s--", color=c_false, label="false spikes/s per sensor (noise only)")
    positive = np.concatenate([sps[sps > 0], fsps[fsps > 0]])
    floor = positive.min() / 10 if positive.size else 1e-3
    log_floor(ax, f, fsps, floor=floor, color=c_false, s=36)
    log_floor(ax, f, sps, floor=floor, color=c_rate, s=36)
    ax.set_ylim(bottom=floor / 2)
    limit = result.info.get("max_false_rate_hz", 1.0)
    ax.axhline(limit, color=c_false, lw=0.8, ls=":")
    ax.set_xlabel("threshold / noise floor")
    ax.set_ylabel("spikes per second per sensor")
    ax2 = ax.twinx()
    ax2.loglog(f, result.rmse, "^-", color=c_err)
    ax2.loglog(f, result.thresholds, ":", color=c_err, lw=0.8)
    ax2.set_ylabel("error (dG/G0)")
    k = result.recommended_index
    ax.axvline(f[k], color="k", lw=1)
    ax.annotate(f"recommended\n{result.thresholds[k]:.2e}\n({f[k]:.1f} x floor)", (f[k], ax.get_ylim()[1]),
                xytext=(4, -4), textcoords="offset points", va="top", fontsize=8)
    handles = [Line2D([], [], color=c_rate, marker="o", label="spikes/s per sensor (exposure)"),
               Line2D([], [], color=c_false, marker="s", ls="--", label="false spikes/s per sensor (noise only)"),
               Line2D([], [], color=c_false, marker="v", ls="", markerfacecolor="none",
                      label="no spike at all (0 /s; drawn at the axis floor)"),
               Line2D([], [], color=c_false, ls=":", label=f"false-spike limit ({limit:g} Hz)"),
               Line2D([], [], color=c_err, marker="^", label="RMS reconstruction error (right axis)"),
               Line2D([], [], color=c_err, ls=":", label="threshold = error bound (right axis)"),
               Line2D([], [], color="k", label="recommended threshold")]
    legend_outside(ax2, handles=handles, labels=[h.get_label() for h in handles], bbox_to_anchor=(1.12, 1.0))
    ax.set_title(title or f"delta encoder co-design (noise floor {result.noise_floor:.2e})", fontsize=10)
    fig.tight_layout()
    return fig
