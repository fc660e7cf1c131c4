"""Readout ceilings of the few-shot tasks, without spiking: where the meta-learned rule stands.

On the experiment's held-out tasks (``experiments/fewshot_metalearn.py``
defaults: 3-way digital-twin tasks in the shifted conditions, the same task
seeds), per k: accuracy of

- nearest class mean on the raw features (the headroom of the task);
- nearest class mean on the classifier's input code, each input spike weighted
  by the integral of its ``x1`` trace (``tau`` 8 steps) over the sample
  window (what the encoding keeps);
- the *dot product* with that class mean: what a rule that accumulates the
  shots' pre traces into the label neuron's weights computes with a readout
  by summed input (the ceiling of accumulating rules with this readout);
- the *cosine*, the dot product with the class means scaled to unit norm:
  what soft-bounded rules approach (every weight saturates toward the same
  bound, so the class prototypes get similar norms).

With ``--learners``, also learners that could do better than a class mean:
1-nearest neighbour, a perceptron (10 epochs) and diagonal LDA on the input
code, and nearest mean under a Mahalanobis metric whose covariance is pooled
over ``--metric-tasks`` meta-training tasks (a prior across tasks, which is
what meta-learning could carry over).

Prints a table; writes ``benchmarks/out/fewshot_ceiling.json``.
Run: ``python benchmarks/fewshot_ceiling.py [--tasks 60] [--ks 1 5 10] [--seed 0]`` (``--seed``: the
experiment's ``seed``, which also draws the analyte library).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages (experiments among them) before an installed copy

from experiments._common import EVAL_STREAM, few_shot_tasks  # noqa: E402
from experiments.fewshot_metalearn import Config, experiment_seeds, inner_loop  # noqa: E402
from neurochip.encoding import LatencyPopulationEncoder  # noqa: E402
from neurochip.io import write_json  # noqa: E402


def readout_accuracies(task, feature_range, *, n_centers=6, steps=16, extra_steps=4, tau=8.0) -> dict:
    classes = np.unique(task.y_support)
    labels = np.searchsorted(classes, task.y_support)
    enc = LatencyPopulationEncoder(n_centers=n_centers, steps=steps, feature_range=feature_range).fit(task.X_support)
    decay = np.exp(-1.0 / tau)
    weight = (1 - decay ** (steps + extra_steps - np.arange(steps))) / (1 - decay)  # sum of x1 after a spike

    def code(X):
        return (enc.transform(X) * weight[None, :, None]).sum(axis=1)

    out = {}
    for name, (S, Q) in {"raw": (task.X_support, task.X_query),
                         "code": (code(task.X_support), code(task.X_query))}.items():
        means = np.array([S[labels == c].mean(axis=0) for c in range(classes.size)])
        dist = ((Q[:, None, :] - means[None]) ** 2).sum(axis=-1)
        out[f"nearest_mean_{name}"] = float(np.mean(classes[dist.argmin(axis=1)] == task.y_query))
        if name == "code":
            out["dot_product_code"] = float(np.mean(classes[(Q @ means.T).argmax(axis=1)] == task.y_query))
            unit = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-300)
            out["cosine_code"] = float(np.mean(classes[(Q @ unit.T).argmax(axis=1)] == task.y_query))
    return out


def pooled_precision(inner, seeds) -> np.ndarray:
    """Inverse of the within-class covariance of the raw features, pooled over meta-training tasks."""
    covs = []
    for t in few_shot_tasks(inner, seeds, split="train", k_shot=5):
        X, y = np.vstack([t.X_support, t.X_query]), np.concatenate([t.y_support, t.y_query])
        covs.append(np.mean([np.cov(X[y == c].T) for c in np.unique(y)], axis=0))
    return np.linalg.inv(np.mean(covs, axis=0))


def learner_accuracies(task, feature_range, precision, *, seed: int = 0, epochs: int = 10, n_centers=6, steps=16,
                       extra_steps=4, tau=8.0) -> dict:
    """Accuracies of 1-NN, perceptron and diagonal LDA on the code; pooled-metric nearest mean on raw features."""
    classes = np.unique(task.y_support)
    labels = np.searchsorted(classes, task.y_support)
    truth = np.searchsorted(classes, task.y_query)
    enc = LatencyPopulationEncoder(n_centers=n_centers, steps=steps, feature_range=feature_range).fit(task.X_support)
    decay = np.exp(-1.0 / tau)
    weight = (1 - decay ** (steps + extra_steps - np.arange(steps))) / (1 - decay)
    S, Q = ((enc.transform(X) * weight[None, :, None]).sum(axis=1) for X in (task.X_support, task.X_query))
    out = {"one_nn_code": float(np.mean(labels[((Q[:, None] - S[None]) ** 2).sum(-1).argmin(1)] == truth))}
    W, b = np.zeros((classes.size, S.shape[1])), np.zeros(classes.size)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for i in rng.permutation(len(S)):
            p = int(np.argmax(W @ S[i] + b))
            if p != labels[i]:
                W[labels[i]] += S[i]
                W[p] -= S[i]
                b[labels[i]] += 1
                b[p] -= 1
    out[f"perceptron{epochs}_code"] = float(np.mean((Q @ W.T + b).argmax(1) == truth))
    means = np.array([S[labels == c].mean(axis=0) for c in range(classes.size)])
    var = np.mean([(S[labels == c] - means[c]) ** 2 for c in range(classes.size)], axis=(0, 1))
    var = var + 1e-3 * np.mean(S ** 2)
    out["diag_lda_code"] = float(np.mean((((Q[:, None] - means) ** 2) / var).sum(-1).argmin(1) == truth))
    raw = np.array([task.X_support[labels == c].mean(axis=0) for c in range(classes.size)])
    diff = task.X_query[:, None] - raw
    out["pooled_metric_raw"] = float(np.mean(np.einsum("qcf,fg,qcg->qc", diff, precision, diff).argmin(1) == truth))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learners", action="store_true", help="also 1-NN, perceptron, LDA, pooled metric")
    parser.add_argument("--metric-tasks", type=int, default=150)
    args = parser.parse_args(argv)
    cfg = Config(seed=args.seed)
    inner = inner_loop(cfg)
    fr = inner.feature_range
    seeds = experiment_seeds(cfg, EVAL_STREAM, args.tasks)  # the experiment's held-out tasks
    precision = (pooled_precision(inner, np.random.SeedSequence([cfg.seed, 30]).generate_state(args.metric_tasks))
                 if args.learners else None)
    results = {}
    for k in args.ks:
        rows = []
        for s, task in zip(seeds, few_shot_tasks(inner, seeds, split="test", k_shot=k)):
            row = readout_accuracies(task, fr)
            if args.learners:
                row.update(learner_accuracies(task, fr, precision, seed=int(s)))
            rows.append(row)
        results[f"k={k}"] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    print(f"held-out {cfg.n_way}-way twin tasks (shifted={cfg.shifted_test}), {args.tasks} tasks, "
          f"seed {cfg.seed}, accuracy %")
    print(f"{'readout':20s}" + "".join(f"{f'k={k}':>8}" for k in args.ks))
    for key in results[f"k={args.ks[0]}"]:
        print(f"{key:20s}" + "".join(f"{100 * results[f'k={k}'][key]:>8.1f}" for k in args.ks))
    write_json(ROOT / "benchmarks" / "out" / "fewshot_ceiling.json",
               {"tasks": args.tasks, "seed": cfg.seed, "config": {"n_way": cfg.n_way, "shifted_test": cfg.shifted_test,
                                                "feature_range": list(fr)}, "results": results})
    return results


if __name__ == "__main__":
    main()
