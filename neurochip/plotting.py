"""Plots of spiking activity. Functions take arrays and return a matplotlib Figure."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from brian2 import Quantity, ms

#: Colors of population bands, in order (colorblind-safe Okabe-Ito palette).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def _figure(nrows=1, height=4.0, sharex=True):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, 1, figsize=(9, height), sharex=sharex, squeeze=False)
    return fig, axes[:, 0]


def _dt_ms(dt) -> float | None:
    if dt is None:
        return None
    return float(dt / ms) if isinstance(dt, Quantity) else float(dt)


def _add_ms_axis(ax, dt_ms: float | None):
    if dt_ms:
        sec = ax.secondary_xaxis("top", functions=(lambda s: s * dt_ms, lambda t: t / dt_ms))
        sec.set_xlabel("time (ms)")


def _events(spikes):
    if hasattr(spikes, "indices"):
        return np.asarray(spikes.indices), np.asarray(spikes.steps)
    indices, steps = spikes
    return np.asarray(indices), np.asarray(steps)


def raster(spikes: Mapping[str, object], sizes: Mapping[str, int], *, dt=None, steps: int | None = None,
           title: str | None = None, order: Sequence[str] | None = None, max_points: int = 200_000):
    """Spike raster with one colored band per node.

    Parameters
    ----------
    spikes : mapping of name to Spikes or (indices, steps)
    sizes : mapping of name to number of neurons
    dt : Quantity or float (ms), optional
        Step duration; adds a time axis in ms on top.
    steps : int, optional
        Number of steps run (sets the x range).
    order : sequence of str, optional
        Bands from bottom to top (default: the order of ``sizes``).
    max_points : int
        Above this many spikes, a seeded uniform subsample is drawn (noted in the title).
    """
    fig, (ax,) = _figure(height=max(2.5, min(8.0, 1.5 + 0.9 * len(sizes))))
    names = list(order or sizes)
    offset = 0
    total = sum(_events(spikes[n])[0].size for n in names if n in spikes)
    keep = 1.0 if total <= max_points else max_points / total
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        n = int(sizes[name])
        color = PALETTE[k % len(PALETTE)]
        if name in spikes:
            idx, st = _events(spikes[name])
            if keep < 1.0:
                sel = rng.random(idx.size) < keep
                idx, st = idx[sel], st[sel]
            ax.scatter(st, idx + offset, s=max(0.5, min(6.0, 3000.0 / max(1, n * 10))), marker="|",
                       color=color, linewidths=0.8, rasterized=True)
        ax.axhspan(offset - 0.5, offset + n - 0.5, color=color, alpha=0.06, lw=0)
        ax.text(1.005, (offset + n / 2) / max(1, sum(int(sizes[m]) for m in names)), name,
                transform=ax.transAxes, color=color, va="center", ha="left", fontsize=9)
        offset += n
    ax.set_ylim(-0.5, offset - 0.5)
    if steps is not None:
        ax.set_xlim(-0.5, steps - 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("neuron")
    _add_ms_axis(ax, _dt_ms(dt))
    label = title or "spike raster"
    if keep < 1.0:
        label += f" ({keep:.0%} of {total} spikes shown)"
    ax.set_title(label, fontsize=10, pad=24 if dt is not None else 6)
    fig.tight_layout()
    return fig


def raster_result(result, *, title: str | None = None, order: Sequence[str] | None = None):
    """:func:`raster` of a :class:`~neurochip.results.SimulationResult` (sources below populations)."""
    order = order or [*result.sources, *result.populations]
    return raster(result.spikes, result.sizes, dt=result.dt, steps=result.steps,
                  title=title or f"spike raster ({result.backend})", order=order)


def traces(values: np.ndarray, *, dt=None, labels: Sequence[str] | None = None,
           threshold: float | None = None, ylabel: str = "v", title: str | None = None):
    """Traces of shape (steps, n) against step number, with an optional threshold line."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"values should have shape (steps, n), got {values.shape}")
    fig, (ax,) = _figure(height=3.2)
    steps = np.arange(values.shape[0])
    for j in range(values.shape[1]):
        ax.plot(steps, values[:, j], lw=1.0, color=PALETTE[j % len(PALETTE)],
                label=labels[j] if labels is not None else None)
    if threshold is not None:
        ax.axhline(threshold, color="0.3", ls="--", lw=0.8, label="threshold")
    if labels is not None or threshold is not None:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    _add_ms_axis(ax, _dt_ms(dt))
    ax.set_title(title or f"{ylabel} traces", fontsize=10, pad=24 if dt is not None else 6)
    fig.tight_layout()
    return fig


def population_rates(bin_starts: np.ndarray, rates: Mapping[str, np.ndarray], *, dt=None,
                     title: str | None = None):
    """Population rates (Hz per neuron) per bin: ``rates[name]`` aligned with ``bin_starts`` (steps)."""
    fig, (ax,) = _figure(height=3.2)
    for k, (name, r) in enumerate(rates.items()):
        ax.step(bin_starts, np.asarray(r, dtype=float), where="post", color=PALETTE[k % len(PALETTE)],
                label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("rate per neuron (Hz)")
    ax.legend(fontsize=8, loc="upper right")
    _add_ms_axis(ax, _dt_ms(dt))
    ax.set_title(title or "population rates", fontsize=10, pad=24 if dt is not None else 6)
    fig.tight_layout()
    return fig


def rates_result(result, *, bin_steps: int = 10, names: Sequence[str] | None = None):
    """:func:`population_rates` of a SimulationResult."""
    names = names or result.populations
    rates = {}
    starts = None
    for name in names:
        starts, r = result.population_rate(name, bin_steps)
        rates[name] = np.asarray(r)
    return population_rates(starts, rates, dt=result.dt,
                            title=f"population rates ({bin_steps}-step bins)")
