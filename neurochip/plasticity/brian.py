"""Brian2 plastic synapses running a :class:`~neurochip.plasticity.rules.LearningRule`.

Called by :mod:`neurochip.brian_backend` for projections with ``plasticity``.
Within step ``k`` the order reproduces :mod:`neurochip.plasticity.functional`:

1. ``before_synapses``: traces decay (``x1 *= exp(-1/x1_tau)`` ...), ``x0 = y0 = 0``.
2. ``synapses``: pre spikes of step ``k`` (pathway ``learn``, no delay) set ``x0 = 1``
   and add the x impulses; post spikes set ``y0 = 1`` and add the y impulses;
   third-factor events add ``y3_impulse`` to ``y3`` (post spikes when the rule has
   no ``third_factor``). Transmission (pathway ``pre``) keeps the projection's delay.
3. ``after_synapses``: ``w = clip(w + dw, w_min, w_max)`` with ``dw`` from all terms
   at once (old ``w``).

With a device model on the projection (``Projection(device=...)``), the weight
is ``w = k (G+ - G-)`` of a differential pair and step 3 turns the rule's ``dw``
into programming pulses (``neurochip.devices.brian.dw_update_code``, the
device's update scheme); the rule's ``w_min`` / ``w_max`` are then replaced by
the device's conductance bounds. The numpy twin is
:func:`neurochip.plasticity.functional.run_rule_device`.

Traces are kept per synapse (equal to the per-neuron trace of its pre / post
neuron, computed with the same operations). Coefficients, decays and impulses
are shared constants, so the generated code, hence Brian2's compiled cache, is
the same for every rule.
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from neurochip._brian import building as _building
from neurochip.plasticity.rules import TERMS, TRACE_NAMES, LearningRule


def _dw_expression() -> str:
    parts = []
    for k, (_, dep, factors) in enumerate(TERMS):
        parts.append("*".join([f"c{k}", *( [] if dep == "u0" else [dep]), *factors]))
    return " + ".join(parts)


def synapse_model(linked_y3: bool, device: bool = False) -> str:
    lines = [] if device else ["w : 1", "w_min : 1 (shared, constant)", "w_max : 1 (shared, constant)"]
    lines += ["x0 : 1", "y0 : 1", "x1 : 1", "x2 : 1", "y1 : 1", "y2 : 1",
             *(["y3 : 1 (linked)", "third_index : integer (constant)"] if linked_y3 else ["y3 : 1"])]
    lines += [f"c{k} : 1 (shared, constant)" for k in range(len(TERMS))]
    for tr in TRACE_NAMES:
        lines += [f"d_{tr} : 1 (shared, constant)", f"i_{tr} : 1 (shared, constant)"]
    return "\n".join(lines)


def build_plastic_projection(proj, index: int, groups: dict, dt) -> tuple[b2.Synapses, list]:
    """Brian2 objects of a plastic projection: ``(synapses, other objects to add)``."""
    rule: LearningRule = proj.plasticity
    if not isinstance(rule, LearningRule):
        raise ValueError(f"Projection '{proj.name}': plasticity should be a LearningRule, "
                         f"got {type(rule).__name__}")
    name = f"neurochip_proj{index}"
    third = rule.third_factor
    others = []
    third_group = None
    if third is not None:
        if third not in groups:
            raise ValueError(f"Projection '{proj.name}': plasticity third_factor {third!r} is not a node "
                             f"of the network (known: {', '.join(sorted(groups))})")
        n_post = len(groups[proj.post])
        if len(groups[third]) != n_post:
            raise ValueError(f"Projection '{proj.name}': third_factor node {third!r} should have the post "
                             f"size {n_post}, got {len(groups[third])}")
        third_group = b2.NeuronGroup(n_post, "y3 : 1\nd_y3 : 1 (shared, constant)\ni_y3 : 1 (shared, constant)",
                                     dt=dt, name=f"{name}_third")
        third_group.d_y3 = rule.decays()["y3"]
        third_group.i_y3 = rule.y3_impulse
        third_group.run_regularly("y3 = y3 * d_y3", dt=dt, when="before_synapses",
                                  name=f"{name}_third_decay")
        feed = b2.Synapses(groups[third], third_group, on_pre="y3_post += i_y3_post", dt=dt,
                           name=f"{name}_third_in")
        feed.connect(j="i")
        others += [third_group, feed]
    pre_idx, post_idx, w = proj.synapses()
    on_post = "y0 = 1\ny1 += i_y1\ny2 += i_y2" + ("" if third is not None else "\ny3 += i_y3")
    learn_pre = "x0 = 1\nx1 += i_x1\nx2 += i_x2"
    if proj.device is not None:
        # Through the memristive device: w = k (G+ - G-) is read on each pre spike; the
        # rule's dw becomes programming pulses (neurochip.devices.brian.dw_update_code).
        if proj.delay != 1:
            raise ValueError(f"Projection '{proj.name}': plasticity through a device needs delay 1 "
                             f"(the rule sees the pre spike in the step it is read), got {proj.delay}")
        from neurochip.devices.brian import build_device_synapses, dw_update_code

        syn = build_device_synapses(proj, groups[proj.pre], groups[proj.post], dt=dt, name=name,
                                    extra_model="\n" + synapse_model(third is not None, device=True) + "\n",
                                    on_pre_extra=learn_pre, on_post=on_post)
        update = (f"dw_rule = {_dw_expression()}\n"
                  + dw_update_code("dw_rule", scheme=proj.device.update_scheme))
    else:
        syn = b2.Synapses(groups[proj.pre], groups[proj.post], synapse_model(third is not None),
                          on_pre={"pre": "a_in_post += w", "learn": learn_pre},
                          on_post=on_post, dt=dt, name=name)
        syn.connect(i=pre_idx, j=post_idx)
        syn.pre.delay = (proj.delay - 1) * dt
        syn.learn.delay = 0 * dt
        syn.w = w
        syn.w_min = rule.w_min
        syn.w_max = rule.w_max
        update = f"w = clip(w + ({_dw_expression()}), w_min, w_max)"
    for k in range(len(TERMS)):
        setattr(syn, f"c{k}", rule.coefficient_array()[k])
    decays, impulses = rule.decays(), rule.impulses()
    for tr in TRACE_NAMES:
        setattr(syn, f"d_{tr}", decays[tr])
        setattr(syn, f"i_{tr}", impulses[tr])
    if third_group is not None:
        syn.third_index = post_idx
        syn.y3 = b2.linked_var(third_group, "y3", index="third_index")
        decay = "x1 = x1 * d_x1\nx2 = x2 * d_x2\ny1 = y1 * d_y1\ny2 = y2 * d_y2\nx0 = 0\ny0 = 0"
    else:
        decay = ("x1 = x1 * d_x1\nx2 = x2 * d_x2\ny1 = y1 * d_y1\ny2 = y2 * d_y2\ny3 = y3 * d_y3\n"
                 "x0 = 0\ny0 = 0")
    syn.run_regularly(decay, dt=dt, when="before_synapses", name=f"{name}_tracedecay")
    syn.run_regularly(update, dt=dt, when="after_synapses", name=f"{name}_wupdate")
    return syn, others


def final_weights(proj, syn: b2.Synapses) -> np.ndarray:
    """Dense ``(n_post, n_pre)`` weights of a run plastic projection (absent synapses: 0)."""
    out = np.zeros(proj.shape)
    out[np.asarray(syn.j[:]), np.asarray(syn.i[:])] = np.asarray(syn.w[:])
    return out


def _per_synapse_model() -> str:
    """Synapse model with every rule parameter per synapse (candidates batched in one group)."""
    lines = ["w : 1", "w_min : 1 (constant)", "w_max : 1 (constant)", "x0 : 1", "y0 : 1", "x1 : 1", "x2 : 1",
             "y1 : 1", "y2 : 1", "y3 : 1 (linked)", "third_index : integer (constant)"]
    lines += [f"c{k} : 1 (constant)" for k in range(len(TERMS))]
    for tr in TRACE_NAMES:
        lines += [f"d_{tr} : 1 (constant)", f"i_{tr} : 1 (constant)"]
    return "\n".join(lines)


@_building  # set-up code (connect) for numpy: it runs once (issue 12)
def run_batched_learning(rules: list, *, pre_steps, pre_indices, n_pre: int, label_steps, label_indices,
                         n_out: int, w0, steps: int, du: float, dv: float, vth: float, teacher: float,
                         w_inh: float, dt=None) -> np.ndarray:
    """Learn with several candidate rules in ONE Brian2 run, one synapse group for all of them.

    Every candidate ``c`` gets its own ``n_out`` output neurons (indices
    ``c * n_out ...``) in one ``NeuronGroup``; one ``Synapses`` object holds the
    plastic synapses of all candidates with the rule parameters stored per
    synapse (the same equations as :func:`build_plastic_projection`, with the
    label spikes as third factor, teacher current and lateral inhibition inside
    each candidate's block). Returns the learned weights, shape
    ``(n_candidates, n_out, n_pre)``; equal to separate runs per candidate.
    """
    from neurochip.brian_backend import LIF_MODEL, LIF_UPDATE

    dt = b2.ms if dt is None else dt
    C = len(rules)
    n = C * n_out
    src = b2.SpikeGeneratorGroup(n_pre, np.asarray(pre_indices), np.asarray(pre_steps) * dt, dt=dt,
                                 name="neurochip_batch_src")
    lab = b2.SpikeGeneratorGroup(n_out, np.asarray(label_indices), np.asarray(label_steps) * dt, dt=dt,
                                 name="neurochip_batch_label")
    out = b2.NeuronGroup(n, LIF_MODEL, threshold="v > vth", reset="v = 0", dt=dt, name="neurochip_batch_out")
    out.du, out.dv, out.vth = du, dv, vth
    out.run_regularly(LIF_UPDATE, dt=dt, when="start", name="neurochip_batch_out_update")
    third = b2.NeuronGroup(n, "y3 : 1\nd_y3 : 1 (constant)\ni_y3 : 1 (constant)", dt=dt,
                           name="neurochip_batch_third")
    third.d_y3 = np.repeat([r.decays()["y3"] for r in rules], n_out)
    third.i_y3 = np.repeat([r.y3_impulse for r in rules], n_out)
    third.run_regularly("y3 = y3 * d_y3", dt=dt, when="before_synapses", name="neurochip_batch_third_decay")
    lab_i = np.tile(np.arange(n_out), C)
    lab_j = np.arange(n)
    feed = b2.Synapses(lab, third, on_pre="y3_post += i_y3_post", dt=dt, name="neurochip_batch_third_in")
    feed.connect(i=lab_i, j=lab_j)
    teach = b2.Synapses(lab, out, "tw : 1 (constant)", on_pre="a_in_post += tw", dt=dt,
                        name="neurochip_batch_teacher")
    teach.connect(i=lab_i, j=lab_j)
    teach.tw = teacher
    blk = np.arange(n) // n_out
    ii, jj = np.nonzero((blk[:, None] == blk[None, :]) & ~np.eye(n, dtype=bool))
    wta = b2.Synapses(out, out, "wi : 1 (constant)", on_pre="a_in_post += wi", dt=dt, name="neurochip_batch_wta")
    wta.connect(i=ii, j=jj)
    wta.wi = -w_inh
    pre_i, post_j = np.meshgrid(np.arange(n_pre), np.arange(n), indexing="ij")
    pre_i, post_j = pre_i.ravel(), post_j.ravel()
    cand = post_j // n_out
    syn = b2.Synapses(src, out, _per_synapse_model(),
                      on_pre={"pre": "a_in_post += w", "learn": "x0 = 1\nx1 += i_x1\nx2 += i_x2"},
                      on_post="y0 = 1\ny1 += i_y1\ny2 += i_y2", dt=dt, name="neurochip_batch_plastic")
    syn.connect(i=pre_i, j=post_j)
    syn.pre.delay = 0 * dt
    syn.learn.delay = 0 * dt
    w0 = np.asarray(w0, dtype=float)
    syn.w = w0[cand, post_j % n_out, pre_i]
    coef = np.array([r.coefficient_array() for r in rules])
    for k in range(len(TERMS)):
        setattr(syn, f"c{k}", coef[cand, k])
    for tr in TRACE_NAMES:
        setattr(syn, f"d_{tr}", np.array([r.decays()[tr] for r in rules])[cand])
        setattr(syn, f"i_{tr}", np.array([r.impulses()[tr] for r in rules])[cand])
    syn.w_min = np.array([r.w_min for r in rules])[cand]
    syn.w_max = np.array([r.w_max for r in rules])[cand]
    syn.third_index = post_j
    syn.y3 = b2.linked_var(third, "y3", index="third_index")
    syn.run_regularly("x1 = x1 * d_x1\nx2 = x2 * d_x2\ny1 = y1 * d_y1\ny2 = y2 * d_y2\nx0 = 0\ny0 = 0",
                      dt=dt, when="before_synapses", name="neurochip_batch_plastic_tracedecay")
    syn.run_regularly(f"w = clip(w + ({_dw_expression()}), w_min, w_max)", dt=dt, when="after_synapses",
                      name="neurochip_batch_plastic_wupdate")
    net = b2.Network(src, lab, out, third, feed, teach, wta, syn, name="neurochip_batch_network")
    from neurochip._brian import run_network
    run_network(net, steps * dt)  # checked run (issue 12)
    W = np.zeros((C, n_out, n_pre))
    W[cand, post_j % n_out, pre_i] = np.asarray(syn.w[:])
    return W
