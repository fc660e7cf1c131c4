"""Benchmark: candidate-rule evaluations per second, one run per candidate vs batched.

Two engines run the learning phase of a few-shot task (3-way, 5 shots) for C
candidate rules:

- Brian2 (the backend's plastic synapses): one ``simulate`` per candidate, vs
  one run holding C output populations, each with its own plastic projection
  (separate synapse groups) fed by the same input and label sources, vs one run
  with all candidates in ONE synapse group (rule parameters per synapse,
  :func:`neurochip.plasticity.brian.run_batched_learning`). The learned weights
  of the three are compared.
- numpy (:func:`neurochip.plasticity.evaluate_rules`, learning + scoring): one
  call per candidate vs one call with the C rules batched on a leading axis.

Prints medians of repeats and the ratios; writes ``benchmarks/out/bench_metalearn.json``.
Run: ``python benchmarks/bench_metalearn.py [--candidates 8] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import _timing
from neurochip import Network, Population, Projection, SpikeSource
from neurochip.encoding import LatencyPopulationEncoder
from neurochip.io import write_json
from neurochip.plasticity import InnerLoop, MetaSpace, evaluate_rules
from sensors import SensorTaskSampler


def candidates(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    space = MetaSpace()
    return [space.to_rule(rng.normal(0, 1, space.dim), name=f"cand{c}") for c in range(n)]


def support_spikes(inner: InnerLoop, seed: int):
    """Input and label spikes of one task's support set, and the number of steps."""
    task = inner.sampler.sample(k_shot=inner.k_shot, n_query=1, random_state=seed)
    enc = LatencyPopulationEncoder(n_centers=inner.n_centers, steps=inner.steps,
                                   feature_range=inner.feature_range).fit(task.X_support)
    rasters = enc.transform(task.X_support)
    period = inner.steps + inner.extra_steps
    idx, steps, lab_idx, lab_steps = [], [], [], []
    for n, (r, y) in enumerate(zip(rasters, task.y_support)):
        s, i = np.nonzero(r)
        idx.append(i)
        steps.append(s + n * period)
        lab_idx.append(np.full(period, y))
        lab_steps.append(np.arange(period) + n * period)
    n_in, n_out = rasters.shape[2], inner.sampler.n_way
    sources = [SpikeSource("input", n_in, indices=np.concatenate(idx), steps=np.concatenate(steps)),
               SpikeSource("label", n_out, indices=np.concatenate(lab_idx), steps=np.concatenate(lab_steps))]
    return sources, period * rasters.shape[0]


def learning_network(rules: list, W0, inner: InnerLoop, seed: int) -> tuple[Network, int]:
    """One output population + plastic projection (own synapse group) per rule."""
    sources, steps = support_spikes(inner, seed)
    n_out = sources[1].size
    pops, projs = [], []
    for c, rule in enumerate(rules):
        rule = rule.quantized()
        rule.third_factor = "label"
        pops.append(Population(f"out{c}", n_out, du=inner.du, dv=inner.dv, vth=inner.vth))
        projs += [Projection(f"plastic{c}", "input", f"out{c}", W0[c], plasticity=rule),
                  Projection(f"teacher{c}", "label", f"out{c}", inner.teacher * np.eye(n_out)),
                  Projection(f"wta{c}", f"out{c}", f"out{c}", -inner.w_inh * (1 - np.eye(n_out)))]
    return Network(name="bench", sources=sources, populations=pops, projections=projs), steps


def learned(result, n: int) -> np.ndarray:
    return np.array([result.info["weights"][f"plastic{c}"] for c in range(n)])


def one_group(rules, W0, inner: InnerLoop, seed: int) -> np.ndarray:
    """All candidates in one synapse group, rule parameters per synapse."""
    from neurochip.plasticity.brian import run_batched_learning

    (inp, lab), steps = support_spikes(inner, seed)
    quantized = []
    for r in rules:
        q = r.quantized()
        q.third_factor = "label"
        quantized.append(q)
    return run_batched_learning(quantized, pre_steps=inp.steps, pre_indices=inp.indices, n_pre=inp.size,
                                label_steps=lab.steps, label_indices=lab.indices, n_out=lab.size, w0=W0,
                                steps=steps, du=inner.du, dv=inner.dv, vth=inner.vth, teacher=inner.teacher,
                                w_inh=inner.w_inh)


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (see benchmarks/_timing.py)."""
    return _timing.timed(fn, repeats)[1]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=4, help="tasks per numpy evaluation")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bench_metalearn.json"))
    args = ap.parse_args(argv)
    from neurochip.brian_backend import simulate

    inner = InnerLoop(sampler=SensorTaskSampler(), k_shot=5, n_query=10)
    rules = candidates(args.candidates, 0)
    seed = 1

    rng = np.random.default_rng(seed)
    n_in = support_spikes(inner, seed)[0][0].size
    W0 = rng.uniform(0, inner.w_init, (len(rules), inner.sampler.n_way, n_in))
    # Brian2: warm the compiled-code caches first (and check that the three ways learn the same weights).
    _, steps = learning_network(rules[:1], W0, inner, seed)
    w_each = np.array([learned(simulate(learning_network([r], W0[c:c + 1], inner, seed)[0], steps), 1)[0]
                       for c, r in enumerate(rules)])
    w_groups = learned(simulate(learning_network(rules, W0, inner, seed)[0], steps), len(rules))
    w_one = one_group(rules, W0, inner, seed)
    agree = {"max_abs_diff_groups_vs_each": float(np.abs(w_groups - w_each).max()),
             "max_abs_diff_one_group_vs_each": float(np.abs(w_one - w_each).max()),
             "max_abs_weight_change": float(np.abs(w_each - W0).max())}
    one = timed(lambda: [simulate(learning_network([r], W0[c:c + 1], inner, seed)[0], steps)
                         for c, r in enumerate(rules)], args.repeats)
    groups = timed(lambda: simulate(learning_network(rules, W0, inner, seed)[0], steps), args.repeats)
    single = timed(lambda: one_group(rules, W0, inner, seed), args.repeats)
    brian = {"seconds_one_run_per_candidate": one, "seconds_separate_groups": groups,
             "seconds_one_group": single,
             "candidates_per_s_one_run_each": len(rules) / one,
             "candidates_per_s_separate_groups": len(rules) / groups,
             "candidates_per_s_one_group": len(rules) / single,
             "ratio_separate_groups_over_one_each": one / groups,
             "ratio_one_group_over_one_each": one / single, "steps": steps, **agree}

    # numpy: full evaluation (learning on the support set + scoring on the query set).
    seeds = list(range(args.tasks))
    evaluate_rules(rules[:1], seeds[:1], inner)
    one_np = timed(lambda: [evaluate_rules([r], seeds, inner) for r in rules], args.repeats)
    batched_np = timed(lambda: evaluate_rules(rules, seeds, inner), args.repeats)
    evals = len(rules) * len(seeds)
    numpy_ = {"seconds_one_call_per_candidate": one_np, "seconds_batched": batched_np,
              "evaluations_per_s_one_call_each": evals / one_np, "evaluations_per_s_batched": evals / batched_np,
              "ratio_batched_over_one_each": one_np / batched_np, "tasks": len(seeds)}
    out = {"candidates": len(rules), "repeats": args.repeats, "brian2_learning_phase": brian,
           "numpy_full_evaluation": numpy_}
    print(f"Brian2 learning phase ({steps} steps, {len(rules)} candidates): "
          f"{brian['candidates_per_s_one_run_each']:.2f} cand/s one run each, "
          f"{brian['candidates_per_s_separate_groups']:.2f} cand/s separate synapse groups in one run "
          f"({brian['ratio_separate_groups_over_one_each']:.1f}x), "
          f"{brian['candidates_per_s_one_group']:.2f} cand/s one synapse group "
          f"({brian['ratio_one_group_over_one_each']:.1f}x); max weight difference vs one run each: "
          f"{brian['max_abs_diff_groups_vs_each']:.2g} / {brian['max_abs_diff_one_group_vs_each']:.2g} "
          f"(weights moved up to {brian['max_abs_weight_change']:.2g})")
    print(f"numpy full evaluation ({len(seeds)} tasks): {numpy_['evaluations_per_s_one_call_each']:.1f} eval/s "
          f"one call each, {numpy_['evaluations_per_s_batched']:.1f} eval/s batched -> ratio "
          f"{numpy_['ratio_batched_over_one_each']:.1f}x")
    write_json(args.out, out)
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
