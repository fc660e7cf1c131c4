"""Why soft bounds help the few-shot classifier: prototype norms, on meta-training tasks.

On the experiment's STDP-tuning tasks (``experiments/fewshot_metalearn.py``
defaults: 3-way shifted digital-twin tasks, k = 5; no held-out task is used):

1. *Ideal prototypes in the spiking readout* (numpy twin of the network,
   :func:`neurochip.plasticity.fewshot.simulate_outputs`): weights
   ``alpha * mu_c`` (class means of the trace-weighted input code, scaled to
   their mean norm) against ``alpha * mu_c / |mu_c|`` (unit norm, a cosine
   readout), for a few ``alpha``.
2. *Label-gated accumulation with and without a soft bound*,
   ``dw = eta * u0*x1*y3 * (1 - w / w_soft)`` (:func:`supervised_hebbian` with
   ``decay=0``), through :func:`neurochip.plasticity.evaluate_rules`.

Prints tables; writes ``benchmarks/out/fewshot_soft_bounds.json``.
Run: ``python benchmarks/fewshot_soft_bounds.py [--tasks 48]``.
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
from neurochip.plasticity import InnerLoop, evaluate_rules, supervised_hebbian  # noqa: E402
from neurochip.plasticity.fewshot import OutputParams, decide, simulate_outputs  # noqa: E402
ALPHAS = (0.1, 0.2, 0.4, 0.8)
ETAS = (2.0 ** -7, 2.0 ** -6)
W_SOFTS = (None, 0.5, 0.25, 0.125)


def ideal_prototypes(task, inner: InnerLoop, *, alphas=ALPHAS, tau: float = 8.0) -> np.ndarray:
    """Accuracy (2, n_alphas): class-mean prototypes (same mean norm), then unit-norm prototypes."""
    out = OutputParams(inner.du, inner.dv, inner.vth, inner.w_inh, inner.teacher, inner.extra_steps)
    enc = LatencyPopulationEncoder(n_centers=inner.n_centers, steps=inner.steps,
                                   feature_range=inner.feature_range).fit(task.X_support)
    classes = np.unique(task.y_support)
    labels = np.searchsorted(classes, task.y_support)
    decay = np.exp(-1.0 / tau)
    weight = (1 - decay ** (inner.steps + inner.extra_steps - np.arange(inner.steps))) / (1 - decay)
    code = (enc.transform(task.X_support) * weight[None, :, None]).sum(axis=1)
    mu = np.array([code[labels == c].mean(axis=0) for c in range(classes.size)])
    norm = np.linalg.norm(mu, axis=1, keepdims=True)
    W = np.stack([np.stack([a * mu / norm.mean() for a in alphas]), np.stack([a * mu / norm for a in alphas])])
    _, counts, drive, _ = simulate_outputs(W, enc.transform(task.X_query), out)
    return np.mean(classes[decide(counts, drive)] == task.y_query, axis=-1)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=48)
    args = parser.parse_args(argv)
    cfg, inner, seeds = tuning_tasks(args.tasks)  # the experiment's STDP tuning tasks
    ideal = 100 * np.mean([ideal_prototypes(task, inner) for task in few_shot_tasks(inner, seeds, split="train")],
                          axis=0)
    rules = {(eta, ws): supervised_hebbian(eta=eta, decay=0.0, w_soft=ws).quantized()
             for eta in ETAS for ws in W_SOFTS}
    acc, _ = evaluate_rules(list(rules.values()), seeds, inner, split="train")
    acc = 100 * acc.mean(axis=1).reshape(len(ETAS), len(W_SOFTS))
    print(f"meta-training {cfg.n_way}-way twin tasks (shifted={cfg.shifted_train}), k={inner.k_shot}, "
          f"{args.tasks} tasks, accuracy %")
    print("ideal prototypes, alpha:      " + "".join(f"{a:>8g}" for a in ALPHAS))
    for n, name in enumerate(("class means (dot product)", "unit norm (cosine)")):
        print(f"{name:30s}" + "".join(f"{v:8.1f}" for v in ideal[n]))
    print("label-gated accumulation, w_soft:" + "".join(f"{str(w):>8}" for w in W_SOFTS))
    for n, eta in enumerate(ETAS):
        print(f"eta 2^{int(np.log2(eta)):<28d}" + "".join(f"{v:8.1f}" for v in acc[n]))
    results = {"tasks": args.tasks, "k": inner.k_shot, "alphas": list(ALPHAS),
               "ideal_dot_product": ideal[0].tolist(), "ideal_unit_norm": ideal[1].tolist(),
               "etas": list(ETAS), "w_softs": [w if w is not None else "none" for w in W_SOFTS],
               "accumulation": acc.tolist()}
    write_json(ROOT / "benchmarks" / "out" / "fewshot_soft_bounds.json", results)
    return results


if __name__ == "__main__":
    main()
