"""The rule part of Brian2 plastic synapses running a :class:`~neurochip.plasticity.rules.LearningRule`.

:func:`rule_part` is the rule's share of a synapse for
:func:`neurochip.brian_synapses.build_synapses` (the Brian2 backend composes it
with the projection's weight part: plain weights, or a memristive device).
Within step ``k`` the order reproduces :mod:`neurochip.plasticity.functional`:

1. ``before_synapses``: traces decay (``x1 *= exp(-1/x1_tau)`` ...), ``x0 = y0 = 0``.
2. ``synapses``: pre spikes of step ``k`` (pathway ``learn``, no delay) set ``x0 = 1``
   and add the x impulses; post spikes set ``y0 = 1`` and add the y impulses;
   third-factor events add ``y3_impulse`` to ``y3`` (post spikes when the rule has
   no ``third_factor``). Transmission (pathway ``pre``) keeps the projection's delay.
3. ``after_synapses``: ``w = clip(w + dw, w_min, w_max)`` with ``dw`` from all terms
   at once (old ``w``).

With a device model on the projection (``Projection(device=...)``), the weight
is ``w = k (G+ - G-)`` of a differential pair and step 3 is the device part's
``write``: the rule's ``dw`` becomes programming pulses
(``neurochip.devices.brian.dw_update_code``, the device's update scheme); the
rule's ``w_min`` / ``w_max`` are then replaced by the device's conductance
bounds. The numpy twin is :func:`neurochip.plasticity.functional.run_rule_device`.

Traces are kept per synapse (equal to the per-neuron trace of its pre / post
neuron, computed with the same operations). Coefficients, decays and impulses
are shared constants, so the generated code, hence Brian2's compiled cache, is
the same for every rule.
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from neurochip._brian import building as _building, run_network
from neurochip.brian_synapses import RulePart, build_synapses, plain_weights
from neurochip.lif import brian_lif_group
from neurochip.plasticity.rules import TERMS, TRACE_NAMES, LearningRule

#: Pre-spike statements of the rule (pathway ``learn``, in the step of the spike).
LEARN_PRE = "x0 = 1\nx1 += i_x1\nx2 += i_x2"


def dw_expression() -> str:
    """The rule's ``dw``: ``c0*x0 + c1*x0*y1 + ...`` over :data:`~neurochip.plasticity.rules.TERMS`."""
    parts = []
    for k, (_, dep, factors) in enumerate(TERMS):
        parts.append("*".join([f"c{k}", *( [] if dep == "u0" else [dep]), *factors]))
    return " + ".join(parts)


def rule_model(*, linked_y3: bool, shared: bool = True) -> str:
    """Model lines of the rule part: traces, coefficients ``c<k>``, decays ``d_<trace>``, impulses ``i_<trace>``.

    ``linked_y3``: ``y3`` is linked to a third-factor group (indexed by
    ``third_index``) instead of a per-synapse trace driven by post spikes.
    ``shared``: one value of each constant for all synapses (one rule), else one
    per synapse (candidate rules batched in one group).
    """
    flag = "(shared, constant)" if shared else "(constant)"
    lines = ["x0 : 1", "y0 : 1", "x1 : 1", "x2 : 1", "y1 : 1", "y2 : 1",
             *(["y3 : 1 (linked)", "third_index : integer (constant)"] if linked_y3 else ["y3 : 1"])]
    lines += [f"c{k} : 1 {flag}" for k in range(len(TERMS))]
    for tr in TRACE_NAMES:
        lines += [f"d_{tr} : 1 {flag}", f"i_{tr} : 1 {flag}"]
    return "\n".join(lines)


def rule_values(rules, index=None) -> dict:
    """Values of the rule constants: scalars for one rule, or per synapse ``rules[index]`` for a list."""
    if isinstance(rules, LearningRule):
        coef, decays, impulses = rules.coefficient_array(), rules.decays(), rules.impulses()
        values = {f"c{k}": coef[k] for k in range(len(TERMS))}
        for tr in TRACE_NAMES:
            values[f"d_{tr}"], values[f"i_{tr}"] = decays[tr], impulses[tr]
        return values
    each = [rule_values(r) for r in rules]
    return {key: np.array([v[key] for v in each])[index] for key in each[0]}


def third_factor_group(source, n: int, *, d_y3, i_y3, i, j, dt, name: str) -> list:
    """``y3`` of ``n`` post neurons, decayed every step, raised by ``i_y3`` on spikes of ``source``.

    Synapse ``i[k] -> j[k]`` feeds the events; ``d_y3`` / ``i_y3`` are scalars
    (shared) or arrays of shape ``(n,)``. Returns ``[group, feed]`` (names
    ``{name}_third`` and ``{name}_third_in``).
    """
    flag = "(shared, constant)" if np.ndim(d_y3) == 0 else "(constant)"
    group = b2.NeuronGroup(n, f"y3 : 1\nd_y3 : 1 {flag}\ni_y3 : 1 {flag}", dt=dt, name=f"{name}_third")
    group.d_y3 = d_y3
    group.i_y3 = i_y3
    group.run_regularly("y3 = y3 * d_y3", dt=dt, when="before_synapses", name=f"{name}_third_decay")
    feed = b2.Synapses(source, group, on_pre="y3_post += i_y3_post", dt=dt, name=f"{name}_third_in")
    feed.connect(i=i, j=j)
    return [group, feed]


def _rule_part(values: dict, *, third: list | None, shared: bool) -> RulePart:
    """The rule part from constant values; ``third`` is a :func:`third_factor_group` or None (Loihi2F)."""
    linked = third is not None
    decay = "x1 = x1 * d_x1\nx2 = x2 * d_x2\ny1 = y1 * d_y1\ny2 = y2 * d_y2\n"
    decay += ("" if linked else "y3 = y3 * d_y3\n") + "x0 = 0\ny0 = 0"

    def setup(syn, i, j):
        for key, value in values.items():
            setattr(syn, key, value)
        if linked:
            syn.third_index = j
            syn.y3 = b2.linked_var(third[0], "y3", index="third_index")

    return RulePart(model=rule_model(linked_y3=linked, shared=shared), on_pre=LEARN_PRE,
                    on_post="y0 = 1\ny1 += i_y1\ny2 += i_y2" + ("" if linked else "\ny3 += i_y3"),
                    before=decay, dw=dw_expression(), setup=setup, others=tuple(third or ()))


def rule_part(proj, groups: dict, *, dt, name: str) -> RulePart:
    """The rule part of a plastic projection (``proj.plasticity``, a :class:`LearningRule`).

    With ``rule.third_factor`` set, the events of that node (``groups[third]``,
    of the post size) drive ``y3`` through a :func:`third_factor_group`; else the
    post spikes do (Loihi2F).
    """
    rule: LearningRule = proj.plasticity
    if not isinstance(rule, LearningRule):
        raise ValueError(f"Projection '{proj.name}': plasticity should be a LearningRule, "
                         f"got {type(rule).__name__}")
    third = rule.third_factor
    group = None
    if third is not None:
        if third not in groups:
            raise ValueError(f"Projection '{proj.name}': plasticity third_factor {third!r} is not a node "
                             f"of the network (known: {', '.join(sorted(groups))})")
        n_post = len(groups[proj.post])
        if len(groups[third]) != n_post:
            raise ValueError(f"Projection '{proj.name}': third_factor node {third!r} should have the post "
                             f"size {n_post}, got {len(groups[third])}")
        group = third_factor_group(groups[third], n_post, d_y3=rule.decays()["y3"], i_y3=rule.y3_impulse,
                                   i=np.arange(n_post), j=np.arange(n_post), dt=dt, name=name)
    return _rule_part(rule_values(rule), third=group, shared=True)


def final_weights(proj, syn: b2.Synapses) -> np.ndarray:
    """Dense ``(n_post, n_pre)`` weights of a run plastic projection (absent synapses: 0)."""
    out = np.zeros(proj.shape)
    out[np.asarray(syn.j[:]), np.asarray(syn.i[:])] = np.asarray(syn.w[:])
    return out


@_building  # set-up code (connect) for numpy: it runs once (issue 12)
def run_batched_learning(rules: list, *, pre_steps, pre_indices, n_pre: int, label_steps, label_indices,
                         n_out: int, w0, steps: int, du: float, dv: float, vth: float, teacher: float,
                         w_inh: float, dt=None) -> np.ndarray:
    """Learn with several candidate rules in ONE Brian2 run, one synapse group for all of them.

    Every candidate ``c`` gets its own ``n_out`` output neurons (indices
    ``c * n_out ...``) in one ``NeuronGroup``; one ``Synapses`` object holds the
    plastic synapses of all candidates with the rule parameters stored per
    synapse (the rule part of :func:`rule_part` with per-synapse constants,
    the label spikes as third factor), plus a teacher projection from the
    label spikes and the lateral inhibition of
    :func:`neurochip.plasticity.wta.lateral_weights` inside each candidate's
    block. Returns the learned weights, shape ``(n_candidates, n_out, n_pre)``;
    equal to separate runs per candidate.
    """
    from neurochip.plasticity.wta import lateral_weights

    dt = b2.ms if dt is None else dt
    C = len(rules)
    n = C * n_out
    src = b2.SpikeGeneratorGroup(n_pre, np.asarray(pre_indices), np.asarray(pre_steps) * dt, dt=dt,
                                 name="neurochip_batch_src")
    lab = b2.SpikeGeneratorGroup(n_out, np.asarray(label_indices), np.asarray(label_steps) * dt, dt=dt,
                                 name="neurochip_batch_label")
    out = brian_lif_group(n, du=du, dv=dv, vth=vth, dt=dt, name="neurochip_batch_out")
    lab_i = np.tile(np.arange(n_out), C)
    lab_j = np.arange(n)
    third = third_factor_group(lab, n, d_y3=np.repeat([r.decays()["y3"] for r in rules], n_out),
                               i_y3=np.repeat([r.y3_impulse for r in rules], n_out), i=lab_i, j=lab_j,
                               dt=dt, name="neurochip_batch")
    teach, _ = build_synapses(lab, out, i=lab_i, j=lab_j, delay=1, dt=dt, name="neurochip_batch_teacher",
                              weights=plain_weights(np.full(n, float(teacher))))
    blk = np.arange(n) // n_out
    ii, jj = np.nonzero((blk[:, None] == blk[None, :]) & ~np.eye(n, dtype=bool))
    lateral = np.kron(np.eye(C), lateral_weights(n_out, w_inh))   # (post, pre)
    wta, _ = build_synapses(out, out, i=ii, j=jj, delay=1, dt=dt, name="neurochip_batch_wta",
                            weights=plain_weights(lateral[jj, ii]))
    pre_i, post_j = np.meshgrid(np.arange(n_pre), np.arange(n), indexing="ij")
    pre_i, post_j = pre_i.ravel(), post_j.ravel()
    cand = post_j // n_out
    w0 = np.asarray(w0, dtype=float)
    bounds = (np.array([r.w_min for r in rules])[cand], np.array([r.w_max for r in rules])[cand])
    syn, others = build_synapses(src, out, i=pre_i, j=post_j, delay=1, dt=dt, name="neurochip_batch_plastic",
                                 weights=plain_weights(w0[cand, post_j % n_out, pre_i], bounds=bounds),
                                 rule=_rule_part(rule_values(rules, cand), third=third, shared=False))
    net = b2.Network(src, lab, out, teach, wta, syn, *others, name="neurochip_batch_network")
    run_network(net, steps * dt)  # checked run (issue 12)
    W = np.zeros((C, n_out, n_pre))
    W[cand, post_j % n_out, pre_i] = np.asarray(syn.w[:])
    return W
