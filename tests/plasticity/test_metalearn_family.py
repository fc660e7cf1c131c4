"""Meta-learning levers: a restricted rule family (MetaSpace.terms) and the soft fitness score."""
import dataclasses
import math

import numpy as np
import pytest

from neurochip.plasticity import (TERM_NAMES, InnerLoop, MetaLearner, MetaSpace, PrototypeSpikingClassifier,
                                  evaluate_rules, pair_stdp, supervised_hebbian)
from neurochip.plasticity.fewshot import simulate_outputs
from sensors import SensorTaskSampler, Task

INNER = InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4)


def test_restricted_family_maps_only_its_terms():
    space = MetaSpace(terms=("u0*y3*w", "u0*x1*y3"), quantize=False)
    assert space.searched_terms == ("u0*x1*y3", "u0*y3*w")  # TERM_NAMES order
    assert space.dim == 2 + 5
    theta = np.zeros(space.dim)
    theta[:2] = [0.4, -2.0]
    rule = space.to_rule(theta)
    assert set(rule.coefficients) <= {"u0*x1*y3", "u0*y3*w"}
    assert rule.coefficients["u0*x1*y3"] == pytest.approx(0.4 * space.coef_scale)
    assert rule.coefficients["u0*y3*w"] == pytest.approx(-2.0 * space.coef_scale)
    # from_rule keeps the searched terms and drops the others (pair STDP has none of them).
    back = space.to_rule(space.from_rule(supervised_hebbian()))
    for term, c in supervised_hebbian().coefficients.items():
        assert back.coefficients[term] == pytest.approx(c, rel=1e-12)
    assert not np.any(space.from_rule(pair_stdp(a_plus=0.1, a_minus=0.1))[:2])
    assert MetaSpace().searched_terms == TERM_NAMES and MetaSpace().dim == len(TERM_NAMES) + 5
    with pytest.raises(ValueError, match="terms should be distinct names of TERM_NAMES"):
        MetaSpace(terms=("x0*y9",))
    with pytest.raises(ValueError, match="terms should be distinct names"):
        MetaSpace(terms=("x0", "x0"))
    with pytest.raises(ValueError, match=r"theta should have shape \(7,\)"):
        space.to_rule(np.zeros(20))


def test_soft_score_is_the_mean_softmax_probability_of_the_right_class():
    rules = [None, supervised_hebbian(), pair_stdp(a_plus=0.05, a_minus=0.05, tau_plus=4.0, tau_minus=4.0,
                                                    w_min=0, w_max=1)]
    seeds = [5, 6]
    soft, ops = evaluate_rules(rules, seeds, INNER, score="soft")
    acc, ops_acc = evaluate_rules(rules, seeds, INNER)
    np.testing.assert_array_equal(ops, ops_acc)
    sampler = INNER.sampler
    for t, seed in enumerate(seeds):
        task = sampler.sample(k_shot=2, n_query=4, random_state=seed)
        for n, rule in enumerate(rules):
            clf = PrototypeSpikingClassifier(rule=rule, random_state=seed, **INNER.classifier_kwargs())
            clf.fit(task.X_support, task.y_support)
            _, counts, _, _ = simulate_outputs(clf.W_, clf.encoder_.transform(task.X_query), clf._out())
            expected = np.mean([np.exp(c[list(clf.classes_).index(y)]) / np.exp(c).sum()
                                for c, y in zip(counts, task.y_query)])
            assert soft[n, t] == pytest.approx(expected, rel=1e-12)
    assert np.all((soft > 0) & (soft <= 1))
    with pytest.raises(ValueError, match="score should be 'accuracy' or 'soft'"):
        evaluate_rules(rules, seeds, INNER, score="margin")


def test_soft_fitness_meta_learning_validates_by_accuracy():
    inner = dataclasses.replace(INNER, score="soft")
    ml = MetaLearner(space=MetaSpace(terms=("u0*x1*y3", "u0*y3*w", "y0*x1")), inner=inner, generations=2,
                     popsize=4, tasks_per_eval=2, candidates_per_job=2, validation_tasks=3, address="serial",
                     progress=False, random_state=0).fit()
    assert set(ml.rule_.coefficients) <= {"u0*x1*y3", "u0*y3*w", "y0*x1"}
    # The final choice is scored by accuracy: a multiple of 1 / (3 tasks * 3 classes * 4 queries).
    seeds = np.random.SeedSequence([0, 2]).generate_state(3, dtype=np.uint32)
    acc, _ = evaluate_rules([ml.rule_], seeds, INNER)
    assert ml.validation_accuracy_ == pytest.approx(acc.mean(), rel=1e-12)


def test_dead_zone_soft_thresholds_coefficients():
    space = MetaSpace(terms=("u0*x1*y3", "u0*y3*w", "u0*w"), dead_zone=1.0, quantize=False)
    theta = np.array([2.5, -0.9, -1.25, 0.0, 0.0, 0.0, 0.0, 0.0])
    rule = space.to_rule(theta)
    # |theta| <= dead_zone: the term is absent; beyond it: coef_scale * sign * (|theta| - dead_zone).
    assert rule.coefficients == pytest.approx({"u0*x1*y3": 1.5 * space.coef_scale, "u0*w": -0.25 * space.coef_scale})
    back = space.to_rule(space.from_rule(supervised_hebbian()))
    assert back.coefficients == pytest.approx(supervised_hebbian().coefficients, rel=1e-12)
    np.testing.assert_allclose(space.from_rule(supervised_hebbian())[:3], [2.0, -2.0, 0.0])
    # Most rules sampled around zero have few terms: the search starts sparse.
    rng = np.random.default_rng(0)
    dense = MetaSpace(quantize=False)
    sparse = MetaSpace(dead_zone=1.0, quantize=False)
    draws = rng.normal(0, 0.5, (200, dense.dim))
    assert np.mean([len(dense.to_rule(d).coefficients) for d in draws]) == len(TERM_NAMES)
    assert np.mean([len(sparse.to_rule(d).coefficients) for d in draws]) < 1.0
    with pytest.raises(ValueError, match="dead_zone should be >= 0"):
        MetaSpace(dead_zone=-1.0)


def test_log2_scale_searches_coefficients_in_octaves():
    space = MetaSpace(terms=("u0*x1*y3", "u0*x1*y3*w", "y0"), dead_zone=1.0, scale="log2", quantize=False)
    assert space.searched_terms == ("y0", "u0*x1*y3", "u0*x1*y3*w")     # theta follows TERM_NAMES order
    rule = space.to_rule(np.array([0.7, 1.5, -1.25, 0.0, 0.0, 0.0, 0.0, 0.0]))
    # |theta| - dead_zone = 0.5 -> coef_min * 2**(octaves * 0.5) = 2**-7 * 2**2; 0.25 -> 2**-6; inside: absent.
    assert rule.coefficients == pytest.approx({"u0*x1*y3": 2.0 ** -5, "u0*x1*y3*w": -2.0 ** -6}, rel=1e-12)
    start = supervised_hebbian(w_soft=0.25)
    back = space.to_rule(space.from_rule(start))
    assert back.coefficients == pytest.approx({k: start.coefficients[k] for k in ("u0*x1*y3", "u0*x1*y3*w")},
                                              rel=1e-12)
    with pytest.raises(ValueError, match="scale should be 'linear' or 'log2'"):
        MetaSpace(scale="log")
    with pytest.raises(ValueError, match="scale='log2' needs dead_zone > 0"):
        MetaSpace(scale="log2")


def test_soft_bounded_hebbian_saturates_at_w_soft():
    """Label on, constant pre trace: w_{t+1} = w_t + eta x1 y3_t (1 - w_t / w_soft) -> w_soft from below."""
    from neurochip.plasticity import run_rule

    eta, w_soft, steps = 0.05, 0.25, 40
    rule = supervised_hebbian(eta=eta, decay=0.0, w_soft=w_soft, tau=1e9)
    assert rule.coefficients == pytest.approx({"u0*x1*y3": eta, "u0*x1*y3*w": -eta / w_soft})
    pre = np.zeros((steps, 1))
    pre[0, 0] = 1.0                                   # x1 jumps to 1 and (tau 1e9 steps) stays there
    label = np.ones((steps, 1))
    w, _ = run_rule(rule, pre, np.zeros((steps, 1)), np.zeros((1, 1)), third=label)
    # y3 (tau 1 step, impulse 1 per label step) = sum_j e^-j; x1 = exp(-t / 1e9)
    expected = 0.0
    for t in range(steps):
        y3 = sum(math.exp(-j) for j in range(t + 1))
        expected += eta * math.exp(-t / 1e9) * y3 * (1 - expected / w_soft)
    assert w[0, 0] == pytest.approx(expected, rel=1e-12)
    assert 0 < w_soft - w[0, 0] < 1e-5               # (1 - eta * 1.58 / w_soft)**40 ~ 3e-7 of w_soft left
    with pytest.raises(ValueError, match="w_soft should be > 0"):
        supervised_hebbian(w_soft=-1.0)


def test_ceiling_benchmark_readouts_on_a_separable_task(load_benchmark):
    bench = load_benchmark("fewshot_ceiling")
    Xs = np.array([[0.9, -0.8], [0.8, -0.9], [-0.8, 0.9], [-0.9, 0.8]])
    task = Task(Xs, np.array([0, 0, 1, 1]), Xs[[1, 2]], np.array([0, 1]), np.array([0, 1]))
    assert bench.readout_accuracies(task, (-1.0, 1.0)) == {"nearest_mean_raw": 1.0, "nearest_mean_code": 1.0,
                                                           "dot_product_code": 1.0, "cosine_code": 1.0}
    # Queries at and near the class-0 mean.
    Xs = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    acc = [bench.readout_accuracies(Task(Xs, np.array([0, 0, 1, 1]), np.array([[q, q]]), np.array([0]),
                                         np.array([0, 1])), (0.0, 1.0)) for q in (0.0, 0.1)]
    assert acc[0] == {"nearest_mean_raw": 1.0, "nearest_mean_code": 1.0, "dot_product_code": 1.0,
                      "cosine_code": 1.0}
    assert acc[1]["nearest_mean_raw"] == 1.0
    # The learners on the separable task: all right; the pooled metric with identity precision is nearest mean.
    learned = bench.learner_accuracies(task, (-1.0, 1.0), np.eye(2))
    assert learned == {"one_nn_code": 1.0, "perceptron10_code": 1.0, "diag_lda_code": 1.0, "pooled_metric_raw": 1.0}
    # A metric that ignores feature 0 and the classes differ only in feature 0: no better than the first class.
    Xs = np.array([[0.0, 0.5], [0.1, 0.5], [0.9, 0.5], [1.0, 0.5]])
    blind = bench.learner_accuracies(Task(Xs, np.array([0, 0, 1, 1]), Xs, np.array([0, 0, 1, 1]),
                                          np.array([0, 1])), (0.0, 1.0), np.diag([0.0, 1.0]))
    assert blind["pooled_metric_raw"] == 0.5 and blind["one_nn_code"] == 1.0


def test_soft_bounds_benchmark_ideal_prototypes_on_a_separable_task(load_benchmark):
    bench = load_benchmark("fewshot_soft_bounds")
    Xs = np.array([[0.9, -0.8], [0.8, -0.9], [-0.8, 0.9], [-0.9, 0.8]])
    task = Task(Xs, np.array([0, 0, 1, 1]), Xs, np.array([0, 0, 1, 1]), np.array([0, 1]))
    inner = InnerLoop(feature_range=(-1.0, 1.0))
    acc = bench.ideal_prototypes(task, inner, alphas=(0.2, 0.4))
    assert acc.shape == (2, 2)
    np.testing.assert_array_equal(acc, 1.0)          # both prototype kinds separate two opposite classes
    # Without weights the outputs stay silent: ties, the first class for every query.
    assert bench.ideal_prototypes(task, inner, alphas=(0.0,))[1, 0] == 0.5
