"""Does a per-output-neuron bias (a distance-like readout) widen the meta-learned rule's margin?

On the experiment's meta-training tasks (``experiments/fewshot_metalearn.py``
defaults: 3-way shifted digital-twin tasks, the STDP tuning seeds, k = 5; no
held-out task is used), two measurements with the spiking winner-take-all
readout (numpy twin of the network, :func:`neurochip.plasticity.fewshot.simulate_outputs`):

1. *Activity bias, every method alike.* Each rule learns the input weights as in
   the experiment (no bias input); then an always-on bias input (one spike per
   step) gets the weight ``b_c = -beta * n_c`` to output neuron ``c``, ``n_c`` =
   spikes of neuron ``c`` while it was the label neuron during learning. This
   is what a bias synapse learns with the label-gated depression
   ``dw = -beta * y0 * y3`` from an always-on input, evaluated offline (the
   bias does not act during learning). The same ``beta`` grid for every method;
   the margin is meta (main's rule) minus hand-tuned STDP (main's grid optimum).
2. *Ideal nearest class mean in the spiking readout.* Weights ``alpha * mu_c``
   (class means of the trace-weighted input code) and bias input weights
   ``-alpha * beta * |mu_c|^2 / (2 * steps)``: how far the readout itself can go
   with a perfect prototype and bias.

Prints tables; writes ``benchmarks/out/fewshot_bias_readout.json``.
Run: ``python benchmarks/fewshot_bias_readout.py [--tasks 48]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages (experiments among them) before an installed copy

from experiments._common import few_shot_tasks  # noqa: E402
from experiments.fewshot_metalearn import tuning_tasks  # noqa: E402
from neurochip.encoding import LatencyPopulationEncoder  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from neurochip.plasticity import InnerLoop, LearningRule, supervised_hebbian  # noqa: E402
from neurochip.plasticity.fewshot import OutputParams, decide, simulate_outputs  # noqa: E402
from neurochip.plasticity.functional import rule_params  # noqa: E402
BETAS = (0.0, 0.0005, 0.001, 0.002, 0.004, 0.008)
IDEAL_ALPHAS = (0.01, 0.04)
IDEAL_BETAS = (0.0, 0.1, 0.2, 0.3)


def methods() -> dict:
    """Main's measured rules (docs/plasticity.md): meta-learned, pure accumulation, hand-tuned STDP, Hebbian."""
    def rule(c, **kw):
        return LearningRule(coefficients=c, **{"x1_impulse": 1.0, "x1_tau": 8.0, "y3_impulse": 1.0,
                                               "y3_tau": 1.0, "w_min": -1.0, "w_max": 1.0, **kw})
    return {"meta-learned (main)": rule({"u0*x1*y3": 2 ** -7, "y0": -2 ** -6}),
            "accumulation 2^-7 u0*x1*y3": rule({"u0*x1*y3": 2 ** -7}),
            "hand-tuned STDP (main)": rule({"x0*y1": -2 ** -7, "y0*x1": 2 ** -7}, x1_tau=12.0, y1_impulse=1.0,
                                           y1_tau=12.0, y3_impulse=0.0, y3_tau=20.0, w_min=0.0),
            "supervised Hebbian": supervised_hebbian()}


def task_accuracies(task, inner: InnerLoop, rules: list, seed: int, *, betas=BETAS, alphas=IDEAL_ALPHAS,
                    ideal_betas=IDEAL_BETAS, tau: float = 8.0):
    """(activity-bias accuracy (n_rules, n_betas), ideal accuracy (n_alphas, n_ideal_betas)) on one task."""
    out = OutputParams(inner.du, inner.dv, inner.vth, inner.w_inh, inner.teacher, inner.extra_steps)
    enc = LatencyPopulationEncoder(n_centers=inner.n_centers, steps=inner.steps, feature_range=inner.feature_range,
                                   bias_spikes=inner.steps).fit(task.X_support)
    rng = np.random.default_rng(seed)
    classes = np.unique(task.y_support)
    W0 = rng.uniform(0, inner.w_init, (classes.size, enc.n_outputs_ - 1))  # as evaluate_rules
    order = rng.permutation(task.y_support.size)
    labels = np.searchsorted(classes, task.y_support)[order]
    rs, rq = enc.transform(task.X_support)[order], enc.transform(task.X_query)
    W, counts, _, _ = simulate_outputs(np.tile(W0, (len(rules), 1, 1)), rs[..., :-1], out,
                                       rule=rule_params(rules), labels=labels)
    own = counts[:, np.arange(labels.size), labels]                      # label neuron's spikes per shot
    n_c = np.stack([own[:, labels == c].sum(axis=1) for c in range(classes.size)], axis=1)
    Wb = np.stack([np.concatenate([W, -b * n_c[:, :, None]], axis=2) for b in betas], axis=1)
    _, c2, d2, _ = simulate_outputs(Wb, rq, out)
    act = np.mean(classes[decide(c2, d2)] == task.y_query, axis=-1)
    decay = np.exp(-1.0 / tau)
    weight = (1 - decay ** (inner.steps + inner.extra_steps - np.arange(inner.steps))) / (1 - decay)
    code = (rs[..., :-1] * weight[None, :, None]).sum(axis=1)
    mu = np.array([code[labels == c].mean(axis=0) for c in range(classes.size)])
    n2 = (mu ** 2).sum(axis=1)
    Wi = np.stack([np.stack([np.concatenate([a * mu, (-a * b * n2 / (2 * inner.steps))[:, None]], axis=1)
                             for b in ideal_betas]) for a in alphas])
    _, c3, d3, _ = simulate_outputs(Wi, rq, out)
    ideal = np.mean(classes[decide(c3, d3)] == task.y_query, axis=-1)
    return act, ideal


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=48)
    args = parser.parse_args(argv)
    cfg, inner, seeds = tuning_tasks(args.tasks)  # the experiment's STDP tuning tasks
    named = methods()
    acts, ideals = [], []
    for s, task in zip(seeds, few_shot_tasks(inner, seeds, split="train")):
        a, i = task_accuracies(task, inner, list(named.values()), int(s))
        acts.append(a)
        ideals.append(i)
    act, ideal = 100 * np.mean(acts, axis=0), 100 * np.mean(ideals, axis=0)
    names = list(named)
    print(f"meta-training {cfg.n_way}-way twin tasks (shifted={cfg.shifted_train}), k={inner.k_shot}, "
          f"{args.tasks} tasks, accuracy %")
    print("activity bias b_c = -beta * n_c:  " + "  ".join(f"{b:>7g}" for b in BETAS))
    for n, name in enumerate(names):
        print(f"{name:32s}  " + "  ".join(f"{v:7.1f}" for v in act[n]))
    margin = act[0] - act[2]
    print(f"{'meta - STDP (points)':32s}  " + "  ".join(f"{v:+7.1f}" for v in margin))
    print("ideal nearest-class-mean weights, bias scale beta:  " + "  ".join(f"{b:>5g}" for b in IDEAL_BETAS))
    for n, a in enumerate(IDEAL_ALPHAS):
        print(f"alpha {a:<6g}" + "  ".join(f"{v:7.1f}" for v in ideal[n]))
    results = {"tasks": args.tasks, "k": inner.k_shot, "betas": list(BETAS),
               "activity_bias": {name: act[n].tolist() for n, name in enumerate(names)},
               "meta_minus_stdp_points": margin.tolist(),
               "ideal": {"alphas": list(IDEAL_ALPHAS), "betas": list(IDEAL_BETAS), "accuracy": ideal.tolist()}}
    write_json(ROOT / "benchmarks" / "out" / "fewshot_bias_readout.json", results)
    return results


if __name__ == "__main__":
    main()
