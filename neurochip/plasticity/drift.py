"""Meta-learning the rule of :class:`~neurochip.plasticity.fewshot.FewShotSpikingClassifier` on drift tasks.

:class:`DriftInnerLoop` is what :class:`~neurochip.plasticity.metalearn.MetaLearner`
scores a candidate rule with for the exemplar classifier (``MetaLearner(inner=DriftInnerLoop(...))``):
per task, a fresh classifier with the candidate rule is fitted on the task's fit set
(the calibration period), adapted with ``k_shot`` shots per class of the drifted
period and scored on its queries::

    fitness(rule) = mean_task accuracy - synops_cost * synaptic events per query sample

It is handed its task sampler (``neurochip`` imports no sensor code): any picklable
object with ``sample(*, k_shot, n_query, split, random_state)`` returning a task with
``X_fit, y_fit, X_support, y_support, X_query, y_query`` (for instance
``sensors.GasDriftTaskSampler``: the gas-array twin calibrated to recorded batch 1,
with drift randomization). Candidates are evaluated one after another (the
allocation of exemplars depends on each rule), tasks cached per process.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip._validation import check_int
from neurochip.plasticity.fewshot import FewShotSpikingClassifier
from neurochip.plasticity.metalearn import InnerLoop, loop_tasks


@dataclass(frozen=True, kw_only=True)
class DriftInnerLoop:
    """How one candidate rule is scored on one drift task (picklable, sent to workers).

    Parameters
    ----------
    sampler : object
        Draws drift tasks (see the module docstring), e.g. ``sensors.GasDriftTaskSampler()``.
    k_shot : int
        Shots per class for :meth:`FewShotSpikingClassifier.adapt`; when ``k_shots``
        is not empty, task ``t`` uses ``k_shots[t % len(k_shots)]``.
    n_query : int
        Query samples per class.
    score : {"accuracy", "soft"}
        What meta-training maximizes per task: accuracy, or the mean probability of the
        right class (``predict_proba``, from output spike counts). Validation uses accuracy.
    classifier : tuple of (name, value)
        Further :class:`FewShotSpikingClassifier` arguments (``rule`` and
        ``random_state`` are set per candidate and task).
    """

    sampler: object = None
    k_shot: int = 5
    k_shots: tuple = ()
    n_query: int = 30
    score: str = "accuracy"
    classifier: tuple = ()

    def __post_init__(self):
        owner = "DriftInnerLoop"
        if self.sampler is not None and not callable(getattr(self.sampler, "sample", None)):
            raise ValueError(f"{owner}: sampler should be an object with a method sample(*, k_shot, n_query, split, "
                             f"random_state) (e.g. sensors.GasDriftTaskSampler()), got {type(self.sampler).__name__}")
        check_int(owner, "k_shot", self.k_shot, minimum=1)
        check_int(owner, "n_query", self.n_query, minimum=1)
        object.__setattr__(self, "k_shots", tuple(int(k) for k in self.k_shots))
        object.__setattr__(self, "classifier", tuple((str(k), v) for k, v in dict(self.classifier).items()))
        if self.score not in ("accuracy", "soft"):
            raise ValueError(f"{owner}: score should be 'accuracy' or 'soft', got {self.score!r}")
        bad = {"rule", "random_state"} & {k for k, _ in self.classifier}
        if bad:
            raise ValueError(f"{owner}: classifier should not set {', '.join(sorted(bad))} "
                             f"(set per candidate and task)")
        FewShotSpikingClassifier(**dict(self.classifier))  # unknown names fail here, not in a worker

    #: The task of ``random_state`` (cached per process for hashable samplers) and the JSON description a
    #: checkpoint fingerprints: as :class:`~neurochip.plasticity.metalearn.InnerLoop`'s.
    task = InnerLoop.task
    describe = InnerLoop.describe

    def classifier_for(self, rule, seed: int) -> FewShotSpikingClassifier:
        return FewShotSpikingClassifier(rule=rule, random_state=int(seed), **dict(self.classifier))

    def evaluate_rules(self, rules: list, task_seeds, *, split: str = "train", k_shot: int | None = None,
                       score: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """Score and synaptic events per query sample of each rule on each task.

        ``FewShotSpikingClassifier(rule=r, random_state=seed).fit(X_fit, y_fit).adapt(X_support,
        y_support).score(X_query, y_query)`` (``score="soft"``: mean ``predict_proba`` of the
        right class). ``None`` in ``rules``: no plasticity.

        Returns
        -------
        score, synops : arrays of shape (n_rules, n_tasks)
        """
        if score not in ("accuracy", "soft"):
            raise ValueError(f"DriftInnerLoop.evaluate_rules: score should be 'accuracy' or 'soft', got {score!r}")
        acc = np.zeros((len(rules), len(task_seeds)))
        ops = np.zeros_like(acc)
        for t, task in loop_tasks(self, task_seeds, split=split, k_shot=k_shot):
            for n, rule in enumerate(rules):
                clf = self.classifier_for(rule, task_seeds[t]).fit(task.X_fit, task.y_fit)
                clf.adapt(task.X_support, task.y_support)
                spikes = clf.output_spikes(task.X_query)
                if score == "soft":
                    proba = clf.predict_proba(task.X_query)
                    index = {c: i for i, c in enumerate(clf.classes_.tolist())}
                    right = np.array([index[v] for v in task.y_query.tolist()])
                    acc[n, t] = float(np.mean(proba[np.arange(right.size), right]))
                else:
                    acc[n, t] = float(np.mean(clf.classes_[spikes.prediction] == task.y_query))
                ops[n, t] = spikes.synops / task.y_query.size
        return acc, ops
