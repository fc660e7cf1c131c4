"""benchmarks/fewshot_bias_readout.py: its measurements against independent paths."""
import numpy as np

from neurochip.plasticity import InnerLoop, evaluate_rules
from sensors import SensorTaskSampler, Task


def test_zero_bias_equals_evaluate_rules_and_bias_changes_decisions(load_benchmark):
    bench = load_benchmark("fewshot_bias_readout")
    inner = InnerLoop(sampler=SensorTaskSampler(), k_shot=3, n_query=6)
    rules = list(bench.methods().values())
    seeds = [3, 4]
    ref, _ = evaluate_rules(rules, seeds, inner, split="train")
    sampler = inner.sampler
    for t, s in enumerate(seeds):
        task = sampler.sample(k_shot=3, n_query=6, split="train", random_state=s)
        act, ideal = bench.task_accuracies(task, inner, rules, s, betas=(0.0, 10.0), alphas=(0.02,),
                                           ideal_betas=(0.0, 100.0))
        # beta = 0: the always-on bias input has weight 0, so this is exactly the experiment's evaluation
        np.testing.assert_array_equal(act[:, 0], ref[:, t])
        assert act.shape == (len(rules), 2) and ideal.shape == (1, 2)
        # a huge negative bias silences the neurons that fired during learning: accuracy changes
        assert np.any(act[:, 1] != act[:, 0])


def test_ideal_readout_separable_task(load_benchmark):
    bench = load_benchmark("fewshot_bias_readout")
    inner = InnerLoop(feature_range=(-1.0, 1.0))
    Xs = np.array([[0.9, -0.8], [0.8, -0.9], [-0.8, 0.9], [-0.9, 0.8]])
    task = Task(Xs, np.array([0, 0, 1, 1]), Xs[[1, 2]], np.array([0, 1]), np.array([0, 1]))
    _, ideal = bench.task_accuracies(task, inner, list(bench.methods().values()), 0, alphas=(0.04,),
                                     ideal_betas=(0.0, 0.1))
    np.testing.assert_array_equal(ideal, [[1.0, 1.0]])
