"""Lowering of :class:`~neurochip.network.Population`: Lava ``LIF`` (float, fixed) or ``LearningLIF``.

* ``lif-float``: ``LIF(du, dv, vth, bias_mant=bias, bias_exp=0, u=u_init, v=v_init)``, the
  float parameters as they are;
* ``lif-fixed``: ``LIF`` with the integers of :mod:`mapping.quantization`
  (``du_int``, ``dv_int``, ``vth_mant``, ``bias_mant``, ``bias_exp``, ``u_init_int``, ``v_init_int``);
* ``lif-label-trace``: the post population of a plastic projection whose ``y3`` follows a
  label / reward spike source (Loihi3F): a ``LearningLIF`` that owns the ``y1``, ``y2``,
  ``y3`` traces (run by :class:`mapping.lava.models.LabelTraceLifFloat`);
* ``lif-label-trace-fixed``: the same with the fixed-point integers, its 7-bit traces
  updated as the learning engine does (:class:`mapping.lava.models.LabelTraceLifFixed`).

Every population records its spikes (and the probed ``u``, ``v``) in its child
process (:mod:`mapping.lava.models`) into a file named by ``nc_record``.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
from lava.proc.lif.process import LIF, LearningLIF

from neurochip.network import Population

from mapping.lava.registry import LoweringContext, kind_of, lowering


@kind_of.register
def _population_kind(pop: Population, ctx: LoweringContext) -> str:
    if pop.name in ctx.third_factor_projections:
        return "lif-label-trace-fixed" if ctx.fixed else "lif-label-trace"
    return "lif-fixed" if ctx.fixed else "lif-float"


def _recording(ctx: LoweringContext, pop: Population) -> dict:
    """Arguments every population process gets: shape, name and what its model records."""
    return dict(shape=(pop.size,), name=f"neurochip_{pop.name}", nc_record=ctx.record_path(pop.name),
                nc_spikes=True, nc_probe=tuple(ctx.wired.probes.get(pop.name, ())))


def _per_neuron(value, size: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, float), (size,)).copy()


def _float_lif(kind, ctx: LoweringContext, pop: Population, **extra):
    ctx.wired.lifs[pop.name] = kind(du=pop.du, dv=pop.dv, vth=pop.vth, bias_mant=_per_neuron(pop.bias, pop.size),
                              bias_exp=0, u=_per_neuron(pop.u_init, pop.size), v=_per_neuron(pop.v_init, pop.size),
                              **_recording(ctx, pop), **extra)


@lowering("lif-float")
def lower_float_lif(ctx: LoweringContext, pop: Population) -> None:
    """Lava float ``LIF`` with the population's own parameters."""
    _float_lif(LIF, ctx, pop)


@lowering("lif-label-trace")
def lower_label_trace_lif(ctx: LoweringContext, pop: Population) -> None:
    """Lava float ``LearningLIF`` owning the post traces of the projection's Loihi3F rule."""
    rule = ctx.third_factor_projections[pop.name].plasticity
    _float_lif(LearningLIF, ctx, pop, learning_rule=Loihi2FLearningRule(**rule.lava_rule_kwargs()))


def _fixed_lif(kind, ctx: LoweringContext, pop: Population, **extra):
    qp = ctx.deployment.quantized.populations[pop.name]
    ctx.wired.lifs[pop.name] = kind(du=qp.du_int, dv=qp.dv_int, vth=qp.vth_mant, bias_mant=qp.bias_mant.copy(),
                                    bias_exp=qp.bias_exp.copy(), u=qp.u_init_int.copy(), v=qp.v_init_int.copy(),
                                    **_recording(ctx, pop), **extra)


@lowering("lif-fixed")
def lower_fixed_lif(ctx: LoweringContext, pop: Population) -> None:
    """Lava fixed-point ``LIF`` with the population's integers from :func:`mapping.quantization.quantize`."""
    _fixed_lif(LIF, ctx, pop)


@lowering("lif-label-trace-fixed")
def lower_label_trace_lif_fixed(ctx: LoweringContext, pop: Population) -> None:
    """Lava fixed-point ``LearningLIF`` owning the integer post traces (the rule's plan: units, integer taus)."""
    proj = ctx.third_factor_projections[pop.name]
    kw = ctx.deployment.learning[proj.name].lava_rule_kwargs()
    _fixed_lif(LearningLIF, ctx, pop, learning_rule=Loihi2FLearningRule(**kw))
