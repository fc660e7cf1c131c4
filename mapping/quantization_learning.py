"""Quantization of plastic projections for Loihi fixed-point learning (Lava's fixed-point learning models).

:func:`mapping.compile` calls :func:`quantize_learning` after
:func:`mapping.quantization.quantize` for a fixed-point target with plastic
projections. For every population fed by a plastic projection it

1. chooses the population's scale ``S``: the largest **power of two** within the
   limits of its threshold, bias, initial state, static weights, the plastic
   projection's reachable weights (its bounds ``[w_min, w_max]``) and the
   worst-case input per step (:func:`neurochip.plasticity.fixed.post_scale_limits`,
   :func:`~neurochip.plasticity.fixed.post_scale`), so that the learned weight's
   LSB ``2**weight_exp * 64 / S`` is a power of two and rules on Lava's grid stay
   on it; then re-quantizes the population and every projection into it at that
   scale (the functions of :mod:`mapping.quantization`);
2. plans each plastic projection (:func:`neurochip.plasticity.fixed.plan_learning`):
   weight exponent and sign mode from the bounds, initial 8-bit mantissas, one
   power-of-two scale per trace (exact for traces driven by a spike source, the
   worst case for traces of post spikes), integer time constants, impulses as an
   integer and an 8-bit fraction, coefficients rescaled and snapped to ``m * 2**e``,
   the rounding seed;
3. reports, per plastic projection (``report["learning"]``), the trace scales and
   resolutions, impulse rounding and tau rounding with their errors, each
   coefficient's integer form and error, the weight LSB, range and saturation,
   and the deployed float rule.

Bad input raises :class:`~mapping.quantization.QuantizationError` before any Lava
process starts: infinite weight bounds, a time constant the chip cannot decay
(integer 1..255), a trace that overflows its 7 bits, an impulse below one trace
unit, a coefficient beyond ``7 * 2**8`` after scaling.

:func:`twin` turns a fixed-point deployment into the integer network of
:mod:`neurochip.plasticity.fixed`, whose :func:`~neurochip.plasticity.fixed.simulate`
reproduces Lava's learned integer weights bit for bit.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp

from neurochip.lif import FixedLIFParams
from neurochip.network import Network
from neurochip.plasticity import fixed as F
from neurochip.plasticity.rules import LearningRule

from mapping.quantization import (QuantizationError, QuantizedNetwork, QuantizedPopulation, QuantizedProjection,
                                  bias_report, decay_report, input_error_bound, quantize_bias, quantize_decays,
                                  quantize_state, quantize_weights)

#: Options of :func:`quantize_learning` that :func:`mapping.compile` takes in ``learning={...}``.
OPTIONS = ("trace_headroom", "trace_scales", "rng_seed")


def plastic_projections(net: Network) -> list:
    return [p for p in net.projections if p.plasticity is not None]


def check_rules(net: Network) -> None:
    """What fixed-point learning needs of each plastic projection, checked before anything is built."""
    for proj in plastic_projections(net):
        rule = proj.plasticity
        if not isinstance(rule, LearningRule):
            raise ValueError(f"Projection '{proj.name}': fixed-point learning needs a neurochip.plasticity."
                             f"LearningRule (its terms, traces and bounds), got {type(rule).__name__}")
        if sp.issparse(proj.weights):
            raise ValueError(f"Projection '{proj.name}': plastic projections on fixed-point targets need dense "
                             f"weights (Lava's LearningDense), got a scipy.sparse matrix")


def envelope_weights(net: Network, weights: Mapping[str, Any]) -> dict:
    """``weights`` with every plastic projection replaced by its reachable weights (for scaling)."""
    out = dict(weights)
    for proj in plastic_projections(net):
        try:
            F.weight_need(proj.plasticity.w_min, proj.plasticity.w_max)   # finite bounds, else a clear error
            out[proj.name] = F.plastic_envelope(proj.shape, proj.plasticity.w_min, proj.plasticity.w_max)
        except F.FixedPointError as err:
            raise QuantizationError(f"Projection '{proj.name}': {err}") from None
    return out


def source_raster(net: Network, name: str, steps: int) -> np.ndarray | None:
    """Bool raster (steps, size) of spike source ``name``; ``None`` if ``name`` is a population."""
    src = next((s for s in net.sources if s.name == name), None)
    if src is None:
        return None
    raster = np.zeros((steps, src.size), bool)
    keep = src.steps < steps
    raster[src.steps[keep], src.indices[keep]] = True
    return raster


def trace_events(net: Network, proj, steps: int) -> dict:
    """Traces driven by a spike source known in advance: x1, x2 by a source pre, y3 by a label source."""
    events = {}
    pre = source_raster(net, proj.pre, steps)
    if pre is not None:
        events["x1"] = events["x2"] = pre
    third = proj.plasticity.third_factor
    if third is not None:
        label = source_raster(net, third, steps)
        if label is not None:
            events["y3"] = label
    return events


def _post_population(net, pop, weights, qnet, *, vth_bits: int, min_vth_bits: int):
    """Scale, integers and report of a plastic projection's post population (power-of-two scale)."""
    owner = f"Population '{pop.name}'"
    into = net.projections_into(pop.name)
    static = {p.name: (weights[p.name].toarray() if sp.issparse(weights[p.name]) else np.asarray(weights[p.name]))
              for p in into if p.plasticity is None}
    plastic = {p.name: (p.shape, p.plasticity.w_min, p.plasticity.w_max) for p in into if p.plasticity is not None}
    du_int, dv_int = quantize_decays(pop.du, pop.dv)
    bias = np.broadcast_to(np.asarray(pop.bias, dtype=float), (pop.size,))
    init_max = float(max(np.abs(pop.u_init).max(), np.abs(pop.v_init).max()))
    try:
        limits = F.post_scale_limits(vth=pop.vth, du_eff=(du_int + 1) / 4096, bias_max=float(np.abs(bias).max()),
                                     init_max=init_max, static=static, plastic=plastic)
        scale, limited_by, vth_mant = F.post_scale(pop.vth, limits, vth_bits=vth_bits, min_vth_bits=min_vth_bits)
    except F.FixedPointError as err:
        raise QuantizationError(f"{owner} (post of plastic projection(s) {', '.join(plastic)}): {err}") from None
    ints = dict(zip(("bias_mant", "bias_exp"), quantize_bias(owner, bias, scale)))
    for var in ("u", "v"):
        ints[f"{var}_init_int"] = quantize_state(getattr(pop, f"{var}_init"), scale, pop.size)
    qp = QuantizedPopulation(name=pop.name, scale=float(scale), du_int=du_int, dv_int=dv_int, vth_mant=vth_mant,
                             **ints)
    vth_eff = qp.dequantized()["vth"]
    in_max = F.worst_case_input([*static.values(), *(F.plastic_envelope(*v) for v in plastic.values())])
    report = {
        "size": pop.size, "scale": float(scale), "scale_limited_by": limited_by,
        "scale_rule": "power of two (post of a plastic projection: the learned weight LSB is a power of two)",
        "scale_limits": {k: float(v) for k, v in limits.items()},
        "vth": {"float": pop.vth, "vth_mant": vth_mant, "effective": vth_eff, "abs_error": abs(vth_eff - pop.vth)},
        **decay_report(pop.du, pop.dv, du_int, dv_int),
        "bias": bias_report(bias, qp), "state_lsb": 1.0 / scale,
        "bounds": "worst case (every pre neuron spiking in one step, learned weights at their bounds)",
        "worst_case_input_per_step": in_max, "input_bound": in_max, "a_in_bound": in_max * scale / 2 ** 6,
        "a_in_limit": F.A_IN_MAX, "overflow_risk": False, "risks": [],
    }
    return qp, report


def quantize_learning(net: Network, weights: Mapping[str, Any], qnet: QuantizedNetwork, *, vth_bits: int = 20,
                      min_vth_bits: int = 12, trace_headroom: Mapping[str, Mapping[str, float]] | None = None,
                      trace_scales: Mapping[str, Mapping[str, float]] | None = None, rng_seed: int = 0,
                      horizon: int = 1) -> dict:
    """Re-quantize the post populations of plastic projections and plan their learning (module docstring).

    Parameters
    ----------
    net : Network
    weights : dict
        Deployed float weights (initial weights of the plastic projections).
    qnet : QuantizedNetwork
        From :func:`mapping.quantization.quantize`; changed in place (post
        populations, projections into them, ``report["learning"]``).
    vth_bits, min_vth_bits : int
        Threshold bits aimed at and the smallest accepted.
    trace_headroom : dict, optional
        ``{projection: {trace: impulses}}``: how much a trace must hold, instead
        of the exact source-driven value or the worst case.
    trace_scales : dict, optional
        ``{projection: {trace: scale}}``: trace scales given (integer units per
        float unit), checked (an impulse below one unit or above 127 is an error).
    rng_seed : int
        Seed of the learning engine's trace rounding (Lava ``rng_seed``).
    horizon : int
        Steps of source spikes (for the source-driven trace scales).

    Returns
    -------
    dict of projection name to :class:`neurochip.plasticity.fixed.LearningPlan`
    """
    check_rules(net)
    headroom, given = dict(trace_headroom or {}), dict(trace_scales or {})
    for option, value in (("trace_headroom", headroom), ("trace_scales", given)):
        unknown = sorted(set(value) - {p.name for p in plastic_projections(net)})
        if unknown:
            raise ValueError(f"compile: learning['{option}'] names projection(s) {', '.join(unknown)} that are "
                             f"not plastic")
    posts = {p.post for p in plastic_projections(net)}
    for pop in net.populations:
        if pop.name not in posts:
            continue
        qp, rep = _post_population(net, pop, weights, qnet, vth_bits=vth_bits, min_vth_bits=min_vth_bits)
        qnet.populations[pop.name] = qp
        qnet.report["populations"][pop.name] = rep
        for proj in net.projections_into(pop.name):
            if proj.plasticity is None:
                qnet.projections[proj.name], qnet.report["projections"][proj.name] = quantize_weights(
                    proj.name, weights[proj.name], qp.scale, parts=qnet.report.get("weight_parts", 1))
    plans, report = {}, {}
    for proj in plastic_projections(net):
        scale = qnet.populations[proj.post].scale
        try:
            plan = F.plan_learning(proj.plasticity, scale=scale, events=trace_events(net, proj, max(1, horizon)),
                                   headroom=headroom.get(proj.name), trace_scale=given.get(proj.name),
                                   rng_seed=rng_seed)
        except F.FixedPointError as err:
            raise QuantizationError(f"Projection '{proj.name}': {err}") from None
        w0 = np.asarray(weights[proj.name], dtype=float)
        mant = F.initial_mantissas(w0, plan.scales.weight_lsb, plan.fixed.sign_mode)
        qproj = QuantizedProjection(name=proj.name, weight_mant=mant, weight_exp=plan.weight_exp,
                                    sign_mode=plan.fixed.sign_mode, scale=scale)
        qnet.projections[proj.name] = qproj
        err = np.abs(qproj.effective_weights() - w0)
        prep = plan.report()
        prep["initial_weights"] = {"max_abs_error": float(err.max(initial=0.0)),
                                   "weight_mant_range": [int(mant.min(initial=0)), int(mant.max(initial=0))],
                                   "error_bound": plan.scales.weight_lsb * (1.0 if plan.fixed.sign_mode == "mixed"
                                                                            else 0.5)}
        qnet.report["projections"][proj.name] = {"sign_mode": plan.fixed.sign_mode, "weight_exp": plan.weight_exp,
                                                 "num_weight_bits": 8, "lsb": plan.scales.weight_lsb,
                                                 "plastic": True, **prep["initial_weights"]}
        plans[proj.name] = plan
        report[proj.name] = prep
    for name in posts:
        qnet.report["populations"][name]["input_error_bound_per_step"] = input_error_bound(
            [p for p in net.projections_into(name) if p.plasticity is None], qnet.report["projections"],
            qnet.projections, qnet.populations[name].scale)
    qnet.report["learning"] = report
    return plans


def twin(deployment) -> F.FixedNetwork:
    """The integer network a fixed-point deployment runs, for :func:`neurochip.plasticity.fixed.simulate`.

    Populations with their integers, static projections with their weight parts
    (one :class:`~neurochip.plasticity.fixed.FixedProjection` per part), plastic
    projections with their learning plans, and the source rasters up to the
    deployment's horizon; Lava runs the same arithmetic (tested bit for bit).
    """
    if deployment.target.precision != "fixed":
        raise ValueError(f"twin: the deployment should be for a fixed-point target, got "
                         f"'{deployment.target.name}' ({deployment.target.precision})")
    net, q = deployment.network, deployment.quantized
    plans = deployment.learning
    pops = []
    for pop in net.populations:
        qp = q.populations[pop.name]
        pops.append(F.FixedPopulation(pop.name, pop.size,
                                      FixedLIFParams(qp.du_int, qp.dv_int, qp.vth_mant,
                                                     qp.bias_mant.astype(np.int64) << qp.bias_exp),
                                      qp.u_init_int, qp.v_init_int))
    projs = []
    for proj in net.projections:
        for j, part in enumerate(q.projections[proj.name].parts()):
            w = part.weight_mant.toarray() if sp.issparse(part.weight_mant) else np.asarray(part.weight_mant)
            plan = plans.get(proj.name)
            projs.append(F.FixedProjection(f"{proj.name}" if j == 0 else f"{proj.name}_part{j}", proj.pre, proj.post,
                                           w.astype(np.int64), part.weight_exp, proj.delay,
                                           rule=None if plan is None else plan.fixed,
                                           third_factor=None if plan is None else plan.rule.third_factor))
    horizon = max([int(src.steps.max()) + 1 for src in net.sources if src.steps.size] + [1])
    sources = {s.name: source_raster(net, s.name, horizon) for s in net.sources}
    seeds = {plan.rng_seed for plan in plans.values()}
    return F.FixedNetwork(pops, projs, sources=sources, rng_seed=seeds.pop() if seeds else 0)


class DeployedRuleWarning(UserWarning):
    """The rule :func:`mapping.compile` deploys differs from the rule given (see :func:`check_deployed_rules`)."""


class RuleMismatchError(ValueError):
    """``compile(..., strict_rule=True)``: the deployed rule would differ from the rule given."""


def deployed_differences(net: Network, target, plans: Mapping) -> dict:
    """``{projection: {parameter: (given, deployed)}}`` of every plastic projection whose deployed rule differs.

    Float targets run the rule string, whose coefficients are snapped to Lava's
    ``m * 2**e`` grid; fixed-point targets run the integer plan (coefficients
    rescaled and snapped, integer time constants, rounded impulses). Weight bounds
    are left out (Lava's float model does not clip; the fixed point saturation is
    in the report).
    """
    out = {}
    for proj in plastic_projections(net):
        rule = proj.plasticity
        if target.precision == "fixed":
            diffs = plans[proj.name].differences()
        elif isinstance(rule, LearningRule):
            diffs = F.rule_differences(rule, rule.quantized())
        else:
            continue
        diffs = {k: v for k, v in diffs.items() if k not in ("w_min", "w_max")}
        if diffs:
            out[proj.name] = diffs
    return out


def _describe_differences(diffs: dict) -> str:
    parts = []
    for key, (a, b) in diffs.items():
        rel = f" ({100 * (b - a) / a:+.2f} %)" if a else ""
        parts.append(f"{key} {a:.6g} -> {b:.6g}{rel}")
    return ", ".join(parts)


def check_deployed_rules(net: Network, target, plans: Mapping, *, strict: bool = False) -> dict:
    """Warn (:class:`DeployedRuleWarning`), or raise (:class:`RuleMismatchError`) when ``strict``, per differing rule.

    Returns :func:`deployed_differences`.
    """
    import warnings

    found = deployed_differences(net, target, plans)
    for name, diffs in found.items():
        text = (f"Projection '{name}': the rule deployed on '{target.name}' differs from the rule given: "
                f"{_describe_differences(diffs)}")
        if strict:
            raise RuleMismatchError(text + "; give a rule that is on the grid (rule.quantized(), integer time "
                                           "constants) or compile without strict_rule")
        warnings.warn(text + " (report['plasticity'] has the details; strict_rule=True makes this an error)",
                      DeployedRuleWarning, stacklevel=3)
    return found
