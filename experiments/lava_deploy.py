"""Deploy the demo network to the Lava simulator (float and fixed point) and compare with Brian2.

Builds the ``ei_demo`` network (same config fields and seed), runs it in Brian2,
compiles it with :func:`mapping.compile` for ``loihi2-sim-float`` and for
``loihi2-sim-fixed`` (plain 8-bit weights, and 2-part weights with calibrated
scaling), runs each with
:func:`mapping.run`, and writes ``results/lava_deploy/<timestamp>/``:

* ``raster.png`` (first figure): Brian2, Lava float, Lava fixed 8-bit and 2-part rasters
  side by side, each titled with its spike agreement;
* ``weights.png``: deployed fixed-point weights against float weights, per projection,
  with the reported rounding bound;
* ``agreement.png``: spike agreement per population and variant, next to the
  agreement of the float network with itself under ``perturbation`` relative
  weight noise (how sensitive the network is, whatever the hardware);
* ``config.json``, ``metrics.json`` (agreement, spike counts, wall times, and a
  summary of the quantization), ``quantization_report.json`` and
  ``placement_report.json`` (the full reports of :func:`mapping.compile`).

Run: ``python experiments/lava_deploy.py [--tiny] [--set steps=500]``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script or loaded from its file: import the packages of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from brian2 import second  # noqa: E402

from neurochip.experiment import (experiment_main, param, parse_config, save_figure,  # noqa: E402
                                  start_run, write_metrics)
from neurochip.io import write_json  # noqa: E402
from neurochip.plotting import legend_outside, raster_panels  # noqa: E402
from neurochip.results import compare_spikes  # noqa: E402
from experiments._common import EINetworkConfig, ei_network, ei_param  # noqa: E402


@dataclass
class Config:
    """Deploy the ei_demo network to Lava (float and fixed point) and compare with Brian2."""

    name: str = param("lava_deploy", "experiment name (the results subfolder)")
    results_root: str = param("results", "folder of the results")
    seed: int = ei_param("seed")
    steps: int = ei_param("steps")
    n_input: int = ei_param("n_input")
    n_exc: int = ei_param("n_exc")
    n_inh: int = ei_param("n_inh")
    p_connect: float = ei_param("p_connect")
    chip: str = param("loihi2", "chip of the placement", choices=("loihi1", "loihi2"))
    perturbation: float = param(1e-3, "relative weight noise of the float sensitivity run", min=0)
    timeout_s: float = param(600.0, "time limit of every Lava run (s)", gt=0)
    tolerance_steps: int = param(1, "spike timing tolerance of the fixed-point agreement (steps)", min=0)


#: Overrides that make the experiment run in seconds (used by the tests and `--tiny`).
TINY = {"steps": 150, "n_input": 40, "n_exc": 60, "n_inh": 20, "p_connect": 0.3}


def weights_scatter(pairs, *, bounds=None, title: str | None = None):
    """Deployed minus float weights against float weights: ``pairs`` maps a projection to ``(float, deployed)``;
    ``bounds[projection]`` (optional) is the reported rounding bound, drawn as dashed lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs) + 1.6, 3.4), squeeze=False)
    for ax, (label, (w, q)) in zip(axes[0], pairs.items()):
        ax.scatter(w, q - w, s=3, color="#0072B2", label="one synapse")
        ax.axhline(0, color="k", lw=0.5)
        if bounds and label in bounds:
            for sign in (1, -1):
                ax.axhline(sign * bounds[label], color="#D55E00", ls="--", lw=0.8,
                           label="reported error bound" if sign > 0 else None)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("float weight")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes[0][0].set_ylabel("deployed - float weight")
    legend_outside(axes[0][-1])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def agreement_bars(values, *, target: float = 0.95, title: str | None = None):
    """Grouped bars of ``values[comparison][population]`` in [0, 1], each bar labelled with its value.

    The y axis starts below the lowest bar (agreements near 1 stay readable); the
    dashed line is the ``target`` agreement.
    """
    import matplotlib.pyplot as plt

    variants = list(values)
    pops = list(next(iter(values.values())))
    fig, ax = plt.subplots(figsize=(6.5 + 0.6 * len(pops), 3.6))
    width = 0.8 / max(1, len(variants))
    bar_colors = ["#0072B2", "#E69F00", "#009E73", "#999999", "#CC79A7", "#56B4E9"]
    lowest = min(min(v.values()) for v in values.values())
    for k, var in enumerate(variants):
        x = np.arange(len(pops)) + k * width
        heights = [values[var][p] for p in pops]
        ax.bar(x, heights, width, label=var, color=bar_colors[k % len(bar_colors)])
        for xi, h in zip(x, heights):
            ax.text(xi, h, f"{h:.3f}", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(np.arange(len(pops)) + 0.4 - width / 2)
    ax.set_xticklabels(pops)
    ax.set_ylim(max(0.0, min(lowest, target) - 0.1), 1.06)
    ax.axhline(target, color="k", ls="--", lw=0.7, label=f"target agreement {target:g}")
    ax.set_ylabel("fraction of spikes matched")
    legend_outside(ax)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _values(w):
    return w.data if sp.issparse(w) else np.asarray(w).ravel()


@experiment_main
def main(cfg: Config) -> Path:
    import mapping
    from neurochip import brian_backend

    start = time.perf_counter()
    run_dir = start_run(cfg)  # config.json, metrics.json with status 'running' and provenance
    net = ei_network(EINetworkConfig(seed=cfg.seed, steps=cfg.steps, n_input=cfg.n_input, n_exc=cfg.n_exc,
                                     n_inh=cfg.n_inh, p_connect=cfg.p_connect))
    net.save(run_dir / "network.json")

    brian = brian_backend.simulate(net, cfg.steps)
    results = {"Brian2": brian}
    deployments = {}
    timings = {"brian2_s": brian.wall_time}
    variants = {"Lava float": dict(target="loihi2-sim-float"),
                "Lava fixed 8-bit": dict(target="loihi2-sim-fixed", weight_parts=1),
                "Lava fixed 2-part calibrated": dict(target="loihi2-sim-fixed", weight_parts=2,
                                                     calibrate_steps=cfg.steps)}
    for label, kw in variants.items():
        target = mapping.get_target(kw.pop("target")).with_options(chip=cfg.chip, timeout=cfg.timeout_s * second)
        t0 = time.perf_counter()
        dep = mapping.compile(net, target, **kw)
        timings[f"{label} compile_s"] = time.perf_counter() - t0
        res = mapping.run(dep, cfg.steps)
        timings[f"{label} run_s"] = res.wall_time
        results[label], deployments[label] = res, dep

    # Sensitivity of the float network itself: weights times (1 + perturbation * N(0, 1)).
    from neurochip import Network
    from neurochip.reference import simulate as ref_simulate

    rng = np.random.default_rng(cfg.seed + 1)
    perturbed = Network.from_dict(net.to_dict())
    for proj in perturbed.projections:
        w = proj.weights
        if sp.issparse(w):
            w.data = w.data * (1 + cfg.perturbation * rng.standard_normal(w.data.size))
        else:
            proj.weights = w * (1 + cfg.perturbation * rng.standard_normal(w.shape))
    float_perturbed = ref_simulate(perturbed, cfg.steps)

    pops = net.population_names
    agreement = {}
    for label in variants:
        ref = brian if label == "Lava float" else results["Lava float"]
        tol = 0 if label == "Lava float" else cfg.tolerance_steps
        agreement[label] = {p: compare_spikes(ref, results[label], p, tolerance_steps=tol) for p in pops}
    float_exact = {p: agreement["Lava float"][p]["agreement"] for p in pops}
    sensitivity = {p: compare_spikes(results["Lava float"], float_perturbed, p,
                                     tolerance_steps=cfg.tolerance_steps)["agreement"] for p in pops}

    sizes = {n: brian.sizes[n] for n in [*(s.name for s in net.sources), *pops]}
    panels = {label: {n: (r.spikes[n].indices, r.spikes[n].steps) for n in sizes} for label, r in results.items()}
    notes = {label: ("agreement with Brian2 (exact):\n" if label == "Lava float" else
                     f"agreement with Lava float (±{cfg.tolerance_steps} step):\n")
             + ", ".join(f"{p} {agreement[label][p]['agreement']:.3f}" for p in pops) for label in variants}
    save_figure(raster_panels(panels, sizes, steps=cfg.steps, notes=notes,
                              title=f"ei_demo on Brian2 and Lava (float, fixed point 8-bit and 2-part weights), "
                                    f"seed {cfg.seed}"),
                run_dir / "raster.png")
    fixed = deployments["Lava fixed 8-bit"]
    pairs, bounds = {}, {}
    for proj in net.projections:
        q = fixed.quantized.projections[proj.name].effective_weights()
        pairs[proj.name] = (_values(fixed.weights[proj.name]), _values(q))
        bounds[proj.name] = fixed.report["quantization"]["projections"][proj.name]["error_bound"]
    save_figure(weights_scatter(pairs, bounds=bounds, title="8-bit fixed-point weights: rounding error"),
                run_dir / "weights.png")
    bars = {("Lava float vs Brian2 (exact)" if label == "Lava float" else f"{label} vs float (±{cfg.tolerance_steps})"):
            {p: agreement[label][p]["agreement"] for p in pops} for label in variants}
    bars[f"float vs float with {cfg.perturbation:g} weight noise"] = sensitivity
    save_figure(agreement_bars(bars, title="spike agreement"), run_dir / "agreement.png")

    write_json(run_dir / "quantization_report.json",
               {label: deployments[label].report["quantization"] for label in variants if "fixed" in label})
    write_json(run_dir / "placement_report.json", deployments["Lava float"].report["placement"])
    qrep = fixed.report["quantization"]
    metrics = {
        "steps": cfg.steps,
        "spike_counts": {label: {p: int(r.spikes[p].steps.size) for p in pops} for label, r in results.items()},
        "lava_float_vs_brian2_exact": float_exact,
        "lava_float_identical_to_brian2": all(v == 1.0 for v in float_exact.values()),
        "fixed_vs_float_within_tolerance": {label: {p: agreement[label][p]["agreement"] for p in pops}
                                            for label in variants if "fixed" in label},
        "float_vs_float_with_weight_noise": {"relative_noise": cfg.perturbation, "agreement": sensitivity},
        "fixed_vs_float_exact": {label: {p: agreement[label][p]["exact"] / max(1, agreement[label][p]["n_a"])
                                         for p in pops} for label in variants if "fixed" in label},
        "quantization_summary": {
            "populations": {p: {k: qrep["populations"][p][k] for k in ("scale", "scale_limited_by",
                                                                        "overflow_risk", "input_error_bound_per_step")}
                            for p in pops},
            "projections": {n: {k: r[k] for k in ("sign_mode", "weight_exp", "max_abs_error", "error_bound")}
                            for n, r in qrep["projections"].items()},
        },
        "cores_used": deployments["Lava float"].report["placement"]["cores_used"],
        "timings_s": timings,
        "wall_time_s": time.perf_counter() - start,
    }
    write_metrics(run_dir, metrics)  # status "complete" once main returns (experiment_main)
    fx = metrics["fixed_vs_float_within_tolerance"]
    print(f"lava_deploy: Lava float identical to Brian2: {metrics['lava_float_identical_to_brian2']}; "
          + "; ".join(f"{label} within +-{cfg.tolerance_steps}: "
                      + ", ".join(f"{p} {v:.3f}" for p, v in fx[label].items()) for label in fx)
          + f"; wrote {run_dir}")
    return run_dir


if __name__ == "__main__":
    main(parse_config(Config))
