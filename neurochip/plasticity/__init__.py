"""Plasticity in Loihi learning-engine form, a few-shot spiking classifier, meta-learning.

- :mod:`~neurochip.plasticity.rules`: :class:`LearningRule` (trace-product rule
  family, Lava rule string), named instances :func:`pair_stdp`, :func:`reward_stdp`.
- :mod:`~neurochip.plasticity.functional`: pure numpy trace equations (batchable),
  also through memristive device pairs (:func:`run_rule_device`).
- :mod:`~neurochip.plasticity.fixed`: Loihi's fixed-point learning engine (integer format, rule
  conversion, bit-accurate numpy twin); :mod:`~neurochip.plasticity.fixed_wta`: the few-shot network
  in fixed point; :mod:`~neurochip.plasticity.device_wta`: the few-shot network learning through
  memristive devices.
- :mod:`~neurochip.plasticity.brian`: Brian2 plastic synapses (used by the backend).
- :mod:`~neurochip.plasticity.wta`: the few-shot output network, described once, and its numpy twin.
- :mod:`~neurochip.plasticity.fewshot`: :class:`FewShotSpikingClassifier` (exemplar readout, the
  shipped default rule :func:`load_default_rule`, for recorded sensor arrays under drift) and
  :class:`PrototypeSpikingClassifier` (one neuron per class: meta-learning's inner loop); their input
  code (:class:`~neurochip.encoding.RayScaler`, :class:`LatencyPopulationEncoder`) lives in
  :mod:`neurochip.encoding`, :func:`load_csv` in :mod:`neurochip.recordings`.
- :mod:`~neurochip.plasticity.metalearn`: :class:`MetaLearner` (CMA-ES, executors, checkpoints),
  :class:`InnerLoop` (handed a task sampler, e.g. ``sensors.TwinTaskSampler``).
- :mod:`~neurochip.plasticity.drift`: :class:`DriftInnerLoop`, the exemplar classifier's inner loop
  on drift tasks (e.g. ``sensors.GasDriftTaskSampler``).
"""
from neurochip.plasticity.rules import (TERM_NAMES, TERMS, LearningRule, pair_stdp,
                                        quantize_coefficient, reward_stdp)
from neurochip.plasticity.functional import rule_params, run_rule, run_rule_device, stdp_window
from neurochip.plasticity.fewshot import (FewShotSpikingClassifier, LatencyPopulationEncoder,
                                          PrototypeSpikingClassifier, load_default_rule, supervised_hebbian)
from neurochip.plasticity.metalearn import (InnerLoop, MetaLearner, MetaSpace, evaluate_rules, load_rule,
                                            open_executor)
from neurochip.plasticity.drift import DriftInnerLoop
from neurochip.recordings import load_csv

__all__ = ["TERMS", "TERM_NAMES", "LearningRule", "pair_stdp", "reward_stdp", "quantize_coefficient",
           "rule_params", "run_rule", "run_rule_device", "stdp_window",
           "FewShotSpikingClassifier", "PrototypeSpikingClassifier", "LatencyPopulationEncoder", "load_csv",
           "load_default_rule", "supervised_hebbian",
           "InnerLoop", "MetaLearner", "MetaSpace", "evaluate_rules", "load_rule", "open_executor", "DriftInnerLoop"]
