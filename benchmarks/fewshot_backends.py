"""Few-shot learning on the three backends: numpy twin, Brian2, Lava simulator (one network per shot).

Learns one held-out task of the experiment (``experiments/fewshot_metalearn.py``
defaults: 3-way shifted digital-twin task, k = 5) with
:class:`neurochip.plasticity.PrototypeSpikingClassifier` ``backend="numpy"``,
``"brian2"`` and ``"lava"``; prints wall time (median of ``--repeats``), the
largest weight difference to the numpy twin, and the query accuracy of each.
The rule is ``--rule rule.json`` (for instance the experiment's meta-learned
rule) or, by default, the soft-bounded label-gated accumulation
``supervised_hebbian(eta=2**-7, decay=0, w_soft=0.25)``.

Writes ``benchmarks/out/fewshot_backends.json``.
Run: ``python benchmarks/fewshot_backends.py [--rule PATH] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import _timing

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages (experiments among them) before an installed copy

from experiments._common import EVAL_STREAM, few_shot_tasks  # noqa: E402
from experiments.fewshot_metalearn import Config, experiment_seeds, inner_loop  # noqa: E402
from neurochip.io import write_json  # noqa: E402
from neurochip.plasticity import PrototypeSpikingClassifier, load_rule, supervised_hebbian  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="", help="rule.json (default: soft-bounded label-gated accumulation)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--task", type=int, default=0, help="which held-out task of the experiment")
    args = parser.parse_args(argv)
    cfg = Config()
    inner = inner_loop(cfg)
    seed = int(experiment_seeds(cfg, EVAL_STREAM, args.task + 1)[args.task])
    task, = few_shot_tasks(inner, [seed], split="test")
    rule = load_rule(args.rule) if args.rule else supervised_hebbian(eta=2 ** -7, decay=0.0, w_soft=0.25)
    kw = dict(rule=rule, feature_range=inner.feature_range, random_state=seed)
    results = {}
    for backend in ("numpy", "brian2", "lava"):
        def fit():
            return PrototypeSpikingClassifier(backend=backend, **kw).fit(task.X_support, task.y_support)

        clf, median, _ = _timing.timed(fit, args.repeats, warmup=True)
        results[backend] = {"seconds": median, "W": clf.W_, "accuracy": clf.score(task.X_query, task.y_query)}
    shots = task.y_support.size
    print(f"{shots} shots ({cfg.n_way}-way, k={inner.k_shot}), rule: {rule.lava_rule_string()}")
    print(f"{'backend':8s} {'seconds':>8s} {'s/shot':>8s} {'max |W - W_numpy|':>18s} {'query acc':>10s}")
    out = {"shots": shots, "rule": rule.to_dict(), "task_seed": seed}
    for backend, r in results.items():
        diff = float(np.abs(r["W"] - results["numpy"]["W"]).max())
        print(f"{backend:8s} {r['seconds']:8.3f} {r['seconds'] / shots:8.3f} {diff:18.2e} {r['accuracy']:10.3f}")
        out[backend] = {"seconds": r["seconds"], "seconds_per_shot": r["seconds"] / shots,
                        "max_abs_weight_diff_vs_numpy": diff, "query_accuracy": r["accuracy"]}
    write_json(ROOT / "benchmarks" / "out" / "fewshot_backends.json", out)
    return out


if __name__ == "__main__":
    main()
