"""One Brian2 synapse builder, composing a weight part and an optional rule part.

Every ``brian2.Synapses`` of a projection is built by :func:`build_synapses`
from two parts, each defined next to its model:

============  ===============================================  ==========================================
slot          weight part (:class:`WeightPart`)                rule part (:class:`RulePart`)
============  ===============================================  ==========================================
model         the weight ``w`` (plain, :func:`plain_weights`;   traces, coefficients, decays, impulses
              or a memristive pair, ``neurochip.devices.brian``) (``neurochip.plasticity.brian``)
``pre``       the read on a pre spike, adds to ``a_in_post``    --
              (delay ``delay - 1`` steps)
``learn``     --                                                pre-spike statements, no delay
on_post       --                                                post-spike statements
before        --                                                trace decay (``before_synapses``)
after         ``write(dw)``: apply the change (clip, or        ``dw``: the weight change expression
              programming pulses through the device)
============  ===============================================  ==========================================

so the four kinds of projection (static, plastic, memristive, plastic
memristive) are one function with ``rule=None`` or not and a plain or device
weight part. Parts hand the builder data (model lines, statements, a setup
callback), never code to each other. The Brian2 backend
(:mod:`neurochip.brian_backend`) chooses the parts of each projection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import brian2 as b2
import numpy as np


@dataclass(frozen=True)
class WeightPart:
    """How a synapse stores, reads and writes its weight.

    Attributes
    ----------
    model : str
        Model lines; must define ``w`` (a variable, or a subexpression rules may read).
    read : str
        Statements run on a (delayed) pre spike; they add the read weight to ``a_in_post``.
    write : callable or None
        ``write(dw)`` returns the statements that apply the weight change expression
        ``dw`` (run in ``after_synapses``); ``None`` for weights that cannot learn.
    setup : callable
        ``setup(syn, i, j)`` sets the part's variables after ``syn.connect(i=i, j=j)``.
    """

    model: str
    read: str
    write: Callable[[str], str] | None
    setup: Callable


@dataclass(frozen=True)
class RulePart:
    """The learning rule's share of a plastic synapse.

    Attributes
    ----------
    model : str
        Model lines (traces and rule constants).
    on_pre : str
        Statements on a pre spike in the step it happens (pathway ``learn``, no delay).
    on_post : str
        Statements on a post spike.
    before : str
        Statements every step in ``before_synapses`` (trace decay).
    dw : str
        Expression of the weight change of one step, applied in ``after_synapses``
        through the weight part's ``write``.
    setup : callable
        ``setup(syn, i, j)`` sets the rule's variables after ``syn.connect``.
    others : tuple
        Further Brian2 objects to add to the network (e.g. a third-factor group).
    """

    model: str
    on_pre: str
    on_post: str
    before: str
    dw: str
    setup: Callable
    others: tuple = field(default=())


def plain_weights(w, *, bounds: tuple | None = None) -> WeightPart:
    """Exact float weights ``w`` (one per synapse), read as ``a_in_post += w``.

    Parameters
    ----------
    w : array of shape (n_synapses,)
        Initial weights, in the order of the ``i``, ``j`` given to :func:`build_synapses`.
    bounds : (w_min, w_max), optional
        Plastic weights, clipped to ``[w_min, w_max]`` after each change; scalars
        (shared constants) or arrays of shape (n_synapses,) (per synapse).
        ``None``: static weights (``w : 1 (constant)``, ``write = None``).
    """
    if bounds is None:
        return WeightPart(model="w : 1 (constant)", read="a_in_post += w", write=None,
                          setup=lambda syn, i, j: setattr(syn, "w", w))
    w_min, w_max = bounds
    flag = "(shared, constant)" if np.ndim(w_min) == 0 and np.ndim(w_max) == 0 else "(constant)"

    def setup(syn, i, j):
        syn.w = w
        syn.w_min = w_min
        syn.w_max = w_max

    return WeightPart(model=f"w : 1\nw_min : 1 {flag}\nw_max : 1 {flag}", read="a_in_post += w",
                      write=lambda dw: f"w = clip(w + ({dw}), w_min, w_max)", setup=setup)


def build_synapses(source, target, *, i, j, delay: int, dt, name: str, weights: WeightPart,
                   rule: RulePart | None = None) -> tuple[b2.Synapses, list]:
    """Brian2 synapses ``source -> target`` from a weight part and an optional rule part.

    Parameters
    ----------
    source, target : Brian2 groups
        ``target`` has an input accumulator ``a_in`` (see :func:`neurochip.lif.brian_lif_group`).
    i, j : int arrays of shape (n_synapses,)
        Pre and post index of every synapse (their order is the order of the parts' arrays).
    delay : int
        Steps from a pre spike to its effect on the post ``u`` (>= 1); the read runs
        ``delay - 1`` steps after the spike (the accumulator adds the last step).
    dt : Quantity
    name : str
        Brian2 name; the rule's operations are ``{name}_tracedecay`` and ``{name}_wupdate``.
    weights : WeightPart
    rule : RulePart, optional

    Returns
    -------
    syn : brian2.Synapses
    others : list
        Further objects to add to the Brian2 network (from the rule part).
    """
    if rule is None:
        syn = b2.Synapses(source, target, weights.model, on_pre=weights.read, delay=(delay - 1) * dt, dt=dt,
                          name=name)
        syn.connect(i=i, j=j)
        weights.setup(syn, i, j)
        return syn, []
    if weights.write is None:
        raise ValueError(f"build_synapses: synapses {name!r} have a rule but static weights "
                         f"(use plain_weights(w, bounds=...) or a device weight part)")
    syn = b2.Synapses(source, target, weights.model + "\n" + rule.model,
                      on_pre={"pre": weights.read, "learn": rule.on_pre}, on_post=rule.on_post, dt=dt,
                      name=name)
    syn.connect(i=i, j=j)
    syn.pre.delay = (delay - 1) * dt
    syn.learn.delay = 0 * dt
    weights.setup(syn, i, j)
    rule.setup(syn, i, j)
    syn.run_regularly(rule.before, dt=dt, when="before_synapses", name=f"{name}_tracedecay")
    syn.run_regularly(weights.write(rule.dw), dt=dt, when="after_synapses", name=f"{name}_wupdate")
    return syn, list(rule.others)
