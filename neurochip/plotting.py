"""Plots of spiking activity, and the project's one palette. Functions take arrays and return a Figure.

Every figure of the project colours a population (or spike source) by its name
through :func:`color` / :func:`colors`, so ``exc`` is the same blue in a raster,
a rate plot and a voltage trace, in every experiment. Legends go outside the
data (:func:`legend_outside`); units are written with their symbols (µJ, µS).
"""
from __future__ import annotations

import zlib
from typing import Iterable, Mapping, Sequence

import numpy as np
from brian2 import Quantity, ms

#: Colorblind-safe Okabe-Ito palette (Wong, Nature Methods 2011) without its yellow (unreadable on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
#: Fixed colours of the populations the experiments name: inputs grey, excitation blue, inhibition
#: vermillion, hidden layers green, outputs reddish purple.
ROLE_COLORS = {"input": "#666666", "src": "#666666", "sensors": "#666666", "exc": "#0072B2",
               "inh": "#D55E00", "hidden": "#009E73", "output": "#CC79A7", "out": "#CC79A7"}
#: Colours for other names (picked by a stable hash of the name, never a role colour).
OTHER_COLORS = ["#E69F00", "#56B4E9", "#000000", "#882255", "#44AA99", "#999933", "#117733", "#AA4499"]


def color(name: str) -> str:
    """The colour of population / source ``name`` in every figure (see :data:`ROLE_COLORS`)."""
    if name in ROLE_COLORS:
        return ROLE_COLORS[name]
    return OTHER_COLORS[zlib.crc32(str(name).encode()) % len(OTHER_COLORS)]


def colors(names: Iterable[str]) -> dict[str, str]:
    """Colours of several names: :func:`color` of each; names whose hashed colour another name of the
    same set took get the next free one (in sorted order, so the same set gets the same colours)."""
    names = list(dict.fromkeys(names))
    out = {n: ROLE_COLORS[n] for n in names if n in ROLE_COLORS}
    taken = set(out.values())
    for n in sorted(n for n in names if n not in out):
        k = zlib.crc32(str(n).encode()) % len(OTHER_COLORS)
        for j in range(len(OTHER_COLORS)):
            c = OTHER_COLORS[(k + j) % len(OTHER_COLORS)]
            if c not in taken:
                break
        out[n] = c
        taken.add(c)
    return {n: out[n] for n in names}


def shades(base: str, n: int) -> list[str]:
    """``n`` shades of ``base`` from itself towards white (several neurons of one population)."""
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(base))
    return [tuple(rgb + (1 - rgb) * (0.5 * k / max(1, n - 1) if n > 1 else 0)) for k in range(n)]


def legend_outside(ax, *, handles=None, labels=None, where: str = "right", **kwargs):
    """A legend beside (``"right"``) or below (``"below"``) the axes, never on the data."""
    kw = dict(fontsize=8, frameon=False)
    if where == "below":
        kw.update(loc="upper center", bbox_to_anchor=(0.5, -0.26), ncol=kwargs.pop("ncol", 3))
    else:
        kw.update(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    kw.update(kwargs)
    if handles is None:
        return ax.legend(**kw)
    return ax.legend(handles, labels, **kw)


def log_floor(ax, x, y, *, floor: float | None = None, **kwargs):
    """On a log y axis, draw ``y == 0`` values as open downward triangles at the axis floor (not as data).

    Returns the floor used (default: a decade below the smallest positive value). Label them with
    ``kwargs["label"]``, e.g. "0 (none observed; drawn at the axis floor)".
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    positive = y[y > 0]
    floor = floor if floor is not None else (positive.min() / 10 if positive.size else 1e-3)
    zero = y <= 0
    if zero.any():
        kwargs.setdefault("marker", "v")
        kwargs.setdefault("facecolors", "none")
        ax.scatter(x[zero], np.full(zero.sum(), floor), **kwargs)
    return floor


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
           title: str | None = None, order: Sequence[str] | None = None, max_points: int = 200_000,
           min_band: float = 0.08):
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
    min_band : float
        Least height of a band, as a fraction of all neurons: a 3-neuron output beside
        768 inputs gets a readable band instead of a sliver. When a band is widened, its
        neurons are spread over it and the y ticks give the index *within* each band.
    """
    from matplotlib.ticker import MaxNLocator

    if not 0 <= float(min_band) < 1:
        raise ValueError(f"raster: min_band should be a fraction in [0, 1), got {min_band!r}")
    fig, (ax,) = _figure(height=max(2.5, min(8.0, 1.5 + 0.9 * len(sizes))))
    names = list(order or sizes)
    n_total = sum(int(sizes[m]) for m in names)
    heights = [max(float(sizes[m]), float(min_band) * n_total) for m in names]
    widened = any(h > int(sizes[m]) for h, m in zip(heights, names))
    height_total = sum(heights)
    offset = 0.0
    total = sum(_events(spikes[n])[0].size for n in names if n in spikes)
    keep = 1.0 if total <= max_points else max_points / total
    rng = np.random.default_rng(0)
    palette = colors(names)
    ticks, tick_labels = [], []
    for name, h in zip(names, heights):
        n = int(sizes[name])
        color = palette[name]
        pitch = h / max(n, 1)

        def y_of(i, offset=offset, pitch=pitch):
            return offset + (np.asarray(i) + 0.5) * pitch - 0.5
        if name in spikes:
            idx, st = _events(spikes[name])
            if keep < 1.0:
                sel = rng.random(idx.size) < keep
                idx, st = idx[sel], st[sel]
            ax.scatter(st, y_of(idx), s=max(0.5, min(6.0, 3000.0 / max(1, n * 10))), marker="|",
                       color=color, linewidths=0.8, rasterized=True)
        ax.axhspan(offset - 0.5, offset + h - 0.5, color=color, alpha=0.06, lw=0)
        ax.text(1.005, (offset + h / 2) / max(1.0, height_total), name,
                transform=ax.transAxes, color=color, va="center", ha="left", fontsize=9)
        if widened and n:
            if h > n:  # a widened band: its first and last neuron
                local = [0, n - 1]
            else:
                local = MaxNLocator(nbins=max(1, int(round(6 * h / height_total))), integer=True).tick_values(0, n - 1)
            for v in sorted({int(v) for v in local if 0 <= v <= n - 1}):
                ticks.append(float(y_of(v)))
                tick_labels.append(str(v))
        offset += h
    ax.set_ylim(-0.5, offset - 0.5)
    if widened:
        ax.set_yticks(ticks, tick_labels, fontsize=7)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # neurons, not 12.5
    if steps is not None:
        ax.set_xlim(-0.5, steps - 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("neuron (index in its band)" if widened else "neuron")
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
           threshold: float | None = None, ylabel: str = "v", title: str | None = None,
           population: str | None = None):
    """Traces of shape (steps, n) against step number, with an optional threshold line.

    ``population``: the neurons' population; they are drawn in shades of its colour
    (:func:`color`), with different line styles.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"values should have shape (steps, n), got {values.shape}")
    fig, (ax,) = _figure(height=3.2)
    steps = np.arange(values.shape[0])
    n = values.shape[1]
    line_colors = shades(color(population), n) if population is not None else [PALETTE[j % len(PALETTE)]
                                                                                 for j in range(n)]
    styles = ["-", "--", ":", "-."]
    for j in range(n):
        ax.plot(steps, values[:, j], lw=1.0, color=line_colors[j], ls=styles[j % len(styles)],
                label=labels[j] if labels is not None else None)
    if threshold is not None:
        ax.axhline(threshold, color="0.3", ls=(0, (6, 3)), lw=0.8, label="threshold (spike, then reset to 0)")
    if labels is not None or threshold is not None:
        legend_outside(ax)
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
    palette = colors(rates)
    for name, r in rates.items():
        ax.step(bin_starts, np.asarray(r, dtype=float), where="post", color=palette[name], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("rate per neuron (Hz)")
    legend_outside(ax)
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


def raster_panels(panels: Mapping[str, Mapping[str, object]], sizes: Mapping[str, int], *, steps: int,
                  title: str | None = None, notes: Mapping[str, str] | None = None):
    """Rasters of several runs of one network side by side, one column per run.

    ``panels`` maps a column title to ``{node: Spikes or (indices, steps)}``; nodes
    are stacked bottom to top in the order of ``sizes``, each in its colour
    (:func:`color`) on a band, named at the right of the last column.
    ``notes[column]`` is a second title line (e.g. the agreement with a reference).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 0.8, 4.5), sharey=True, squeeze=False)
    palette = colors(sizes)
    offsets, total = {}, 0
    for name, n in sizes.items():
        offsets[name] = total
        total += int(n)
    for ax, (label, spikes) in zip(axes[0], panels.items()):
        for name, n in sizes.items():
            ax.axhspan(offsets[name] - 0.5, offsets[name] + n - 0.5, color=palette[name], alpha=0.06, lw=0)
            if name in spikes:
                idx, st = _events(spikes[name])
                ax.scatter(st, idx + offsets[name], s=max(0.5, min(6.0, 3000.0 / max(1, total * 10))),
                           marker="|", color=palette[name], linewidths=0.8, rasterized=True)
        note = (notes or {}).get(label)
        ax.set_title(label + (f"\n{note}" if note else ""), fontsize=9)
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_xlabel("step")
    last = axes[0][-1]
    for name, n in sizes.items():
        last.text(1.02, (offsets[name] + n / 2) / max(1, total), name, transform=last.transAxes,
                  color=palette[name], va="center", ha="left", fontsize=9)
    axes[0][0].set_ylim(-0.5, total - 0.5)
    axes[0][0].set_ylabel("neuron (stacked by node)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
