"""Device figures. Plot functions take arrays and return a matplotlib Figure.

* :func:`pulse_response`: conductance vs pulse number, potentiation and
  depression, median and spread across devices (data: :func:`pulse_response_data`).
* :func:`conductance_histogram`: histogram of conductances.
* :func:`drift`: conductance over time after programming, log-log (data: :func:`drift_data`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from brian2 import second

from neurochip.devices import functional as F
from neurochip.plotting import legend_outside


def _figure(ncols=1, width=5.0, height=3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def pulse_response_data(model, *, n_devices: int = 200, n_pulses: int | None = None,
                        random_state=None) -> dict:
    """Conductances of ``n_devices`` devices under repeated single pulses.

    Potentiation starts from each device's ``g_min`` (``n_pulses`` +1 pulses),
    then depression continues from where potentiation ended (``n_pulses`` -1
    pulses). Returns ``{"pulses": (n_pulses+1,), "potentiation": (n_pulses+1,
    n_devices), "depression": (n_pulses+1, n_devices)}`` in siemens.
    """
    n_pulses = max(model.n_levels, model.n_levels_d) + 10 if n_pulses is None else int(n_pulses)
    rng = model.rng(random_state)
    arrays = model.sample(n_devices, random_state=rng)
    state = F.initial_state(arrays)
    params = model.pulse_params
    pot = [state.g]
    for _ in range(n_pulses):
        state = F.program(state, 1, arrays, params, rng)
        pot.append(state.g)
    dep = [state.g]
    for _ in range(n_pulses):
        state = F.program(state, -1, arrays, params, rng)
        dep.append(state.g)
    return {"pulses": np.arange(n_pulses + 1), "potentiation": np.array(pot), "depression": np.array(dep)}


def pulse_response(pulses: np.ndarray, potentiation: np.ndarray, depression: np.ndarray, *,
                   title: str | None = None, unit: float = 1e-9, unit_label: str = "nS",
                   n_examples: int = 5):
    """Conductance vs pulse number: median, 5-95 % band and a few devices, for both directions.

    ``potentiation`` / ``depression`` have shape (len(pulses), n_devices), in siemens.
    """
    fig, (ax_p, ax_d) = _figure(2, width=4.6)
    for ax, data, label, color in ((ax_p, potentiation, "potentiation", "#0072B2"),
                                   (ax_d, depression, "depression", "#D55E00")):
        data = np.asarray(data, dtype=float) / unit
        lo, med, hi = np.percentile(data, [5, 50, 95], axis=1)
        ax.fill_between(pulses, lo, hi, color=color, alpha=0.25, label="5-95 % of devices")
        for j in range(min(n_examples, data.shape[1])):
            ax.plot(pulses, data[:, j], color=color, lw=0.5, alpha=0.6,
                    label=f"{min(n_examples, data.shape[1])} single devices" if j == 0 else None)
        ax.plot(pulses, med, color=color, lw=2, label="median")
        ax.set_xlabel(f"{label} pulse number")
        ax.set_ylabel(f"conductance ({unit_label})")
        ax.set_title(label, fontsize=10)
        legend_outside(ax, where="below", ncol=3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def conductance_histogram(g: np.ndarray | Sequence[np.ndarray], *, labels: Sequence[str] | None = None,
                          bins: int = 60, title: str | None = None, unit: float = 1e-9, unit_label: str = "nS"):
    """Histogram of conductances (siemens); ``g`` may be one array or several (overlaid, labelled)."""
    groups = [g] if isinstance(g, np.ndarray) else list(g)
    labels = list(labels) if labels is not None else [None] * len(groups)
    fig, (ax,) = _figure(1)
    values = np.concatenate([np.ravel(x) for x in groups]) / unit
    edges = np.histogram_bin_edges(values, bins=bins) if values.size else bins
    for k, (x, label) in enumerate(zip(groups, labels)):
        ax.hist(np.ravel(x) / unit, bins=edges, alpha=0.6, label=label, color=("#0072B2", "#D55E00", "#009E73")[k % 3])
    ax.set_xlabel(f"conductance ({unit_label})")
    ax.set_ylabel("devices")
    if any(labels):
        legend_outside(ax)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def drift_data(model, *, n_devices: int = 500, level: int | None = None, times=None,
               random_state=None) -> dict:
    """Read ``n_devices`` devices programmed to ``level`` (default mid-range) at ``times`` (s, after programming).

    Returns ``{"times": (T,), "g": (T, n_devices)}`` in seconds and siemens, no read noise.
    """
    level = (model.n_levels - 1) // 2 if level is None else int(level)
    t0 = float(model.drift_t0 / second)
    times = np.logspace(np.log10(t0) - 1, np.log10(t0) + 6, 50) if times is None else np.asarray(times, float)
    rng = model.rng(random_state)
    arrays = model.sample(n_devices, random_state=rng)
    state = F.program_levels(arrays, level, model.pulse_params, rng if model.c2c_sigma > 0 else None)
    g = np.array([F.read(state, arrays, model.read_params, t=t) for t in times])
    return {"times": times, "g": g}


def drift(times: np.ndarray, g: np.ndarray, *, t0: float | None = None, nu: float | None = None,
          title: str | None = None, unit: float = 1e-6, unit_label: str = "µS", label: str = "devices",
          reference: dict | None = None):
    """Conductance vs time since programming (log-log): median, 5-95 % band, and ``(t/t0)^-nu`` if given.

    ``label`` names the devices (e.g. the preset); ``reference`` (optional) is a second set,
    ``{"times", "g", "label"}`` (and optionally ``"t0"``, ``"nu"``), drawn the same way in another colour.
    """
    fig, (ax,) = _figure(1, width=5.4)
    sets = [(times, g, label, t0, nu, "#0072B2")]
    if reference is not None:
        sets.append((reference["times"], reference["g"], reference["label"], reference.get("t0"),
                     reference.get("nu"), "#D55E00"))
    for t, values, name, t_0, nu_, color in sets:
        values = np.asarray(values, dtype=float) / unit
        lo, med, hi = np.percentile(values, [5, 50, 95], axis=1)
        ax.fill_between(t, lo, hi, alpha=0.25, color=color, label=f"{name}: 5-95 % of devices")
        ax.plot(t, med, lw=2, color=color, label=f"{name}: median")
        if t_0 is not None and nu_:
            ref = med[0] * (np.maximum(t, t_0) / t_0) ** -nu_
            ax.plot(t, ref, "--", color="k", lw=1, label=f"{name}: $(t/t_0)^{{-{nu_:g}}}$, $t_0$ = {t_0:g} s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time since programming (s)")
    ax.set_ylabel(f"conductance ({unit_label})")
    legend_outside(ax, where="below", ncol=2)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def robustness(values: Sequence[np.ndarray], errors: Sequence[np.ndarray], *, xlabels: Sequence[str],
               ylabel: str = "output-rate error", title: str | None = None, log_x: Sequence[bool] | None = None):
    """One panel per sweep: mean error (points) with its spread over repeats (bars).

    ``errors[i]`` has shape (len(values[i]), repeats).
    """
    n = len(values)
    fig, axes = _figure(n, width=3.6)
    log_x = list(log_x) if log_x is not None else [False] * n
    for ax, x, e, xl, lg in zip(axes, values, errors, xlabels, log_x):
        e = np.asarray(e, dtype=float)
        ax.errorbar(x, e.mean(axis=1), yerr=e.std(axis=1), marker="o", capsize=3, color="#0072B2",
                    label=f"mean ± std over {e.shape[1]} device draws")
        ax.set_xlabel(xl)
        if lg:
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    legend_outside(axes[-1])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
