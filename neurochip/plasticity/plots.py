"""Figures of the plasticity tools: functions take arrays and return a matplotlib Figure."""
from __future__ import annotations

from typing import Mapping

import numpy as np


def learning_curve(best, mean, best_so_far=None, *, title: str = "Meta-learning (CMA-ES)"):
    """Fitness per generation: best and mean of the population, best so far."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    g = np.arange(1, len(best) + 1)
    ax.plot(g, mean, "o-", label="population mean")
    ax.plot(g, best, "s-", label="generation best")
    if best_so_far is not None:
        ax.plot(g, best_so_far, "k--", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(0.5, len(best) + 0.5)   # whole generations, also for one
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness\n(accuracy - synaptic-event cost)")
    ax.set_title(title, fontsize=10)
    from neurochip.plotting import legend_outside

    legend_outside(ax)
    fig.tight_layout()
    return fig


def kshot_accuracy(ks, mean: Mapping[str, np.ndarray], low: Mapping[str, np.ndarray],
                   high: Mapping[str, np.ndarray], *, chance: float | None = None,
                   title: str = "Held-out tasks"):
    """Accuracy vs shots per class, one line per method with its confidence interval."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))   # room for the legend at the right of the axes
    ks = np.asarray(ks)
    for name in mean:
        m = np.asarray(mean[name])
        ax.errorbar(ks, m, yerr=[m - np.asarray(low[name]), np.asarray(high[name]) - m], marker="o",
                    capsize=3, label=name)
    ax.plot([], [], " ", label="bars: 95 % bootstrap CI")
    if chance is not None:
        ax.axhline(chance, color="gray", ls=":", label="chance")
    ax.set_xlabel("shots per class (k)")
    ax.set_ylabel("accuracy")
    ax.set_xticks(ks)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
