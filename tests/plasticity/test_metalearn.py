"""Meta-learning: search space, checkpoint / exact resume, executors (serial, process pool, Dask)."""
import numpy as np
import pytest

from neurochip.plasticity import (InnerLoop, MetaLearner, MetaSpace, load_rule, pair_stdp,
                                  supervised_hebbian)
from sensors import SensorTaskSampler

INNER = InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4)


def learner(**kw):
    base = dict(inner=INNER, generations=3, popsize=4, tasks_per_eval=2, candidates_per_job=2,
                validation_tasks=2, address="serial", progress=False, random_state=0)
    base.update(kw)
    return MetaLearner(**base)


def strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_space_round_trip_and_quantization():
    space = MetaSpace(quantize=False)
    rule = supervised_hebbian()
    back = space.to_rule(space.from_rule(rule))
    for k, c in rule.coefficients.items():
        assert back.coefficients[k] == pytest.approx(c, rel=1e-12)
    assert back.x1_tau == pytest.approx(rule.x1_tau, rel=1e-9)
    q = MetaSpace().to_rule(np.full(MetaSpace().dim, 0.3))
    from neurochip.plasticity import quantize_coefficient
    assert all(quantize_coefficient(c)[0] * 2.0 ** quantize_coefficient(c)[1] == c
               for c in q.coefficients.values())
    with pytest.raises(ValueError, match="theta should have shape"):
        space.to_rule(np.zeros(3))


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    full = learner().fit()

    class Kill(Exception):
        pass

    def kill_after_first(record):
        if record["generation"] == 0:
            raise Kill

    ckpt = tmp_path / "ckpt.pkl"
    with pytest.raises(Kill):
        learner(checkpoint=ckpt, progress=kill_after_first).fit()
    assert ckpt.exists()
    seen = []
    resumed = learner(checkpoint=ckpt, progress=seen.append).fit()
    assert [r["generation"] for r in seen] == [1, 2]  # generation 0 came from the checkpoint
    assert strip(resumed.history_) == strip(full.history_)
    np.testing.assert_array_equal(resumed.rule_params_, full.rule_params_)
    assert resumed.rule_ == full.rule_
    with pytest.raises(ValueError, match="written with other settings"):
        learner(checkpoint=ckpt, popsize=6).fit()
    ckpt.write_bytes(b"\x80\x04N.")  # a pickled None
    with pytest.raises(ValueError, match="is not a meta-learning checkpoint"):
        learner(checkpoint=ckpt).fit()


def test_meta_learning_improves_fitness_and_saves(tmp_path, capsys):
    ml = learner(generations=4, popsize=6, progress=True).fit()
    err = capsys.readouterr().err
    assert "[metalearn] generation 4/4" in err
    assert max(h["best_so_far"] for h in ml.history_) >= ml.history_[0]["mean_fitness"]
    paths = ml.save(tmp_path)
    assert load_rule(paths["rule"]) == ml.rule_
    assert paths["learning_curve"].stat().st_size > 1000
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    Loihi2FLearningRule(**ml.rule_.lava_rule_kwargs())


def test_process_pool_and_dask_give_the_serial_result():
    serial = learner(generations=1).fit()
    pool = learner(generations=1, address=None, workers=2).fit()
    assert strip(pool.history_) == strip(serial.history_)
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        dask = learner(generations=1, address=cluster.scheduler_address).fit()
    assert strip(dask.history_) == strip(serial.history_)
    np.testing.assert_array_equal(dask.rule_params_, serial.rule_params_)


def test_start_from_a_rule_and_errors():
    ml = learner(generations=1, x0=pair_stdp(a_plus=0.05, a_minus=0.05)).fit()
    assert len(ml.history_) == 1
    with pytest.raises(ValueError, match="generations should be >= 1"):
        learner(generations=0).fit()
    with pytest.raises(ValueError, match="x0 should have shape"):
        learner(x0=np.zeros(2)).fit()
    with pytest.raises(ValueError, match="call fit before save"):
        learner().save("nowhere")
    with pytest.raises(ValueError, match="address should be a string"):
        learner(address=3).fit()


class PlainSampler:
    """A task sampler that is no dataclass and not hashable: tasks are not cached, described by repr."""

    __hash__ = None

    def __init__(self, inner_sampler):
        self.inner_sampler = inner_sampler

    def sample(self, *, k_shot, n_query, split, random_state):
        return self.inner_sampler.sample(k_shot=k_shot, n_query=n_query, split=split, random_state=random_state)

    def __repr__(self):
        return f"PlainSampler({self.inner_sampler!r})"


def test_inner_loop_is_handed_its_sampler():
    import json
    import pickle

    from neurochip.plasticity import evaluate_rules

    assert pickle.loads(pickle.dumps(INNER)) == INNER
    d = INNER.describe()
    assert d["sampler"]["type"] == "sensors.tasks.SensorTaskSampler" and d["sampler"]["noise"] == 0.06
    assert "log_kd" not in d["sampler"] and d["feature_range"] == [-0.2, 1.0]
    json.dumps(learner()._fingerprint())                     # plain JSON (for a data-only checkpoint)
    # the same tasks through any object with .sample: no cache when it is not hashable
    plain = InnerLoop(sampler=PlainSampler(SensorTaskSampler()), k_shot=2, n_query=4)
    rules = [None, supervised_hebbian()]
    np.testing.assert_array_equal(evaluate_rules(rules, [3, 4], plain)[0], evaluate_rules(rules, [3, 4], INNER)[0])
    assert INNER.task(k_shot=2, split="train", random_state=3) is INNER.task(k_shot=2, split="train", random_state=3)
    assert plain.describe()["sampler"] == {"type": f"{__name__}.PlainSampler",
                                           "repr": f"PlainSampler({SensorTaskSampler()!r})"}
    free = InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4, feature_range=None)  # fitted ranges
    assert free.describe()["feature_range"] is None and evaluate_rules(rules, [3], free)[0].shape == (2, 1)
    with pytest.raises(ValueError, match="InnerLoop: sampler should be an object with a method sample"):
        InnerLoop(sampler=3)
    with pytest.raises(ValueError, match=r"InnerLoop: sampler is None; give InnerLoop\(sampler=...\)"):
        evaluate_rules(rules, [3], InnerLoop())
    with pytest.raises(ValueError, match="MetaLearner: inner should be an InnerLoop with a task sampler"):
        MetaLearner(progress=False).fit()
    with pytest.raises(ValueError, match="got an InnerLoop without sampler"):
        learner(inner=InnerLoop()).fit()


def test_checkpoint_of_other_tasks_is_not_resumed(tmp_path):
    ckpt = tmp_path / "ckpt.pkl"
    learner(generations=1, checkpoint=ckpt).fit()
    other = InnerLoop(sampler=SensorTaskSampler(noise=0.1), k_shot=2, n_query=4)
    with pytest.raises(ValueError, match="written with other settings"):
        learner(generations=2, checkpoint=ckpt, inner=other).fit()
    assert len(learner(generations=2, checkpoint=ckpt).fit().history_) == 2    # same sampler: resumes
