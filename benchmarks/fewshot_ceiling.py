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

Prints a table; writes ``benchmarks/out/fewshot_ceiling.json``.
Run: ``python benchmarks/fewshot_ceiling.py [--tasks 60] [--ks 1 5 10] [--seed 0]`` (``--seed``: the
experiment's ``seed``, which also draws the analyte library).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from neurochip.io import write_json
from neurochip.plasticity import InnerLoop, LatencyPopulationEncoder

ROOT = Path(__file__).resolve().parents[1]


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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "experiments"))
    from fewshot_metalearn import Config, _feature_range

    cfg = Config(seed=args.seed)
    fr = _feature_range(cfg.feature_range)
    inner = InnerLoop(n_query=cfg.n_query, n_way=cfg.n_way, library_seed=cfg.seed, twin=cfg.twin,
                      n_analytes=cfg.n_analytes, n_train_analytes=cfg.n_train_analytes,
                      shifted_test=cfg.shifted_test, shifted_train=cfg.shifted_train, feature_range=fr)
    seeds = np.random.SeedSequence([cfg.seed, 20]).generate_state(args.tasks)  # the experiment's held-out seeds
    sampler = inner.sampler()
    results = {}
    for k in args.ks:
        rows = [readout_accuracies(sampler.sample(k_shot=k, n_query=inner.n_query, split="test",
                                                  random_state=int(s)), fr) for s in seeds]
        results[f"k={k}"] = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    print(f"held-out {cfg.n_way}-way twin tasks (shifted={cfg.shifted_test}), {args.tasks} tasks, "
          f"seed {cfg.seed}, accuracy %")
    print("k  " + "  ".join(f"{key:>18}" for key in results[f"k={args.ks[0]}"]))
    for k in args.ks:
        print(f"{k:<3}" + "  ".join(f"{100 * v:>18.1f}" for v in results[f"k={k}"].values()))
    write_json(ROOT / "benchmarks" / "out" / "fewshot_ceiling.json",
               {"tasks": args.tasks, "seed": cfg.seed, "config": {"n_way": cfg.n_way, "shifted_test": cfg.shifted_test,
                                                "feature_range": list(fr)}, "results": results})
    return results


if __name__ == "__main__":
    main()
