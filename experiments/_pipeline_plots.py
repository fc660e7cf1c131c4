"""Figures of the pipeline experiment (arrays in, a matplotlib Figure out)."""
from __future__ import annotations

import numpy as np


def raster_figure(result, starts, drift_sample: int, log, gate, n_in: int, n_sensors: int):
    """Encoder UP/DOWN spikes and output spikes of the regulated stream; drift, regulator events and the
    plasticity gate marked."""
    import matplotlib.pyplot as plt

    from neurochip.plotting import PALETTE

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 6), gridspec_kw={"height_ratios": [2, 1]})
    inp = result.spikes["input"]
    up = inp.indices < n_sensors
    top.scatter(inp.steps[up], inp.indices[up], marker="|", s=6, color=PALETTE[0], label="UP", rasterized=True)
    top.scatter(inp.steps[~up], inp.indices[~up], marker="|", s=6, color=PALETTE[1], label="DOWN", rasterized=True)
    top.set_ylabel("delta encoder\n(sensor UP | DOWN)")
    o = result.spikes["out"]
    bottom.scatter(o.steps, o.indices, marker="|", s=40, color="0.15")
    bottom.set_ylabel("output neuron\n(one per class)")
    bottom.set_yticks(range(int(o.indices.max()) + 1 if o.indices.size else 1))
    drift = starts[drift_sample]
    for ax in (top, bottom):
        ax.axvline(drift, color="red", lw=1.5)
        for a, b in gate:
            ax.axvspan(a, b, color="gold", alpha=0.3, lw=0)
    top.text(drift, n_in - 0.5, " drift injected", color="red", fontsize=8, va="top")
    for e in log.events:
        bottom.axvline(e.step, color="purple" if e.kind != "recovered" else "green", lw=0.8, ls="--")
    handles = [plt.Line2D([], [], color="red", lw=1.5, label="drift"),
               plt.Rectangle((0, 0), 1, 1, color="gold", alpha=0.3, label="plasticity gate open"),
               plt.Line2D([], [], color="purple", ls="--", label="regulator alarm"),
               plt.Line2D([], [], color="green", ls="--", label="recovered")]
    bottom.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    bottom.set_xlabel("step")
    top.set_title("pipeline: twin -> delta spikes -> memristive few-shot SNN, regulated stream with drift",
                  fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_figure(right: np.ndarray, drift_sample: int, learned: list, *, without=None):
    """Correct / wrong per stream sample and the running accuracy over 5 samples (``without``: the
    correct / wrong of the same stream without learning, its running accuracy dashed)."""
    import matplotlib.pyplot as plt

    right = np.asarray(right, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 3))
    n = np.arange(right.size)
    ax.plot(n, right, "o", ms=3, color="0.4", label="correct (1) / wrong (0)")
    k = min(5, right.size)
    run = np.convolve(right, np.ones(k) / k, mode="valid")
    ax.plot(n[k - 1:], run, color="C0", label=f"running accuracy ({k} samples)")
    if without is not None:
        ax.plot(n[k - 1:], np.convolve(np.asarray(without, float), np.ones(k) / k, mode="valid"), color="C1", ls="--",
                label="the same, without learning")
    ax.axvline(drift_sample - 0.5, color="red", label="drift")
    for s in learned:
        ax.axvspan(s - 0.5, s + 0.5, color="gold", alpha=0.3, lw=0)
    ax.set_xlabel("stream sample (gold: learned while the gate was open)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.1, 1.1)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
