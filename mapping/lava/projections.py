"""Lowering of :class:`~neurochip.network.Projection`: Lava ``Dense``, ``Sparse``, ``DelayDense``, ``LearningDense``.

Kinds (chosen by :func:`kind_of` from the projection and its deployed weights):

* ``dense`` (``delay == 1``, dense weights) -> ``Dense``;
* ``sparse`` (``delay == 1``, ``scipy.sparse`` weights) -> ``Sparse``;
* ``delayed`` (``delay > 1``) -> ``DelayDense`` with synaptic delay ``delay - 1``
  (Lava's ``Dense`` already adds one step), sparse weights made dense;
* ``memristive`` (a device model) -> the static kind above, of the device's conductance
  snapshot (``deployment.weights``, drawn by :func:`mapping.compile`);
* ``plastic`` -> ``LearningDense`` with ``Loihi2FLearningRule(**rule.lava_rule_kwargs())``;
  the post population's spikes are its back-propagating action potentials;
* ``plastic-third-factor`` (the rule's ``third_factor`` names a label / reward spike source)
  -> ``LearningDense`` with ``Loihi3FLearningRule``: the post population (a ``LearningLIF``,
  see :mod:`mapping.lava.populations`) receives the third-factor spikes and sends the
  ``bap``, ``y1``, ``y2``, ``y3`` traces;
* ``plastic-fixed``, ``plastic-third-factor-fixed``: the same on fixed-point targets, run by
  Lava's fixed-point learning model (``PyLearningDenseModelBitApproximate``) with the
  integers of :mod:`mapping.quantization_learning` (initial 8-bit mantissas, weight
  exponent and sign mode, the rescaled rule string, trace impulses in trace units,
  integer time constants, ``rng_seed``).

On fixed-point targets each static projection is one Lava process per weight part
(:meth:`mapping.quantization.QuantizedProjection.parts`: 8-bit mantissas, shared
exponent, sign mode); the parts after the first are named ``..._part1`` and kept in
``ctx.wired.extras``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule
from lava.proc.dense.process import DelayDense, Dense, LearningDense
from lava.proc.sparse.process import Sparse

from neurochip.network import Projection

from mapping.lava.registry import LOWERINGS, LoweringContext, kind_of, lowering

#: Keys of ``lava_rule_kwargs()`` that a Loihi3F rule takes (the y traces belong to the post neuron).
LOIHI3F_KEYS = ("dw", "x1_impulse", "x1_tau", "x2_impulse", "x2_tau", "t_epoch")


def _static_kind(proj: Projection, weights) -> str:
    if proj.delay > 1:
        return "delayed"
    return "sparse" if sp.issparse(weights) else "dense"


@kind_of.register
def _projection_kind(proj: Projection, ctx: LoweringContext) -> str:
    from mapping import third_factor_of

    if proj.plasticity is not None:
        kind = "plastic" if third_factor_of(proj) is None else "plastic-third-factor"
        return kind + "-fixed" if ctx.fixed else kind
    if proj.device is not None:
        return "memristive"
    return _static_kind(proj, ctx.deployment.weights[proj.name])


def _sign_mode(mode: str):
    from lava.utils.weightutils import SignMode

    return {"excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY,
            "mixed": SignMode.MIXED}[mode]


def weight_parts(ctx: LoweringContext, proj: Projection) -> list:
    """``(weights, extra Lava arguments)`` of each Lava process of ``proj``: one in float, one per part in fixed."""
    if not ctx.fixed:
        return [(ctx.deployment.weights[proj.name], {})]
    return [(part.weight_mant, dict(weight_exp=part.weight_exp, num_weight_bits=part.num_weight_bits,
                                sign_mode=_sign_mode(part.sign_mode)))
            for part in ctx.deployment.quantized.projections[proj.name].parts()]


def _dense(weights) -> np.ndarray:
    return (weights.toarray() if sp.issparse(weights) else np.asarray(weights)).copy()


def _attach(ctx: LoweringContext, proj: Projection, part: int, conn) -> None:
    """Connect ``conn`` from the pre's spikes to the post's ``a_in`` and keep it in ``ctx``."""
    ctx.spiking(proj.pre).s_out.connect(conn.s_in)
    conn.a_out.connect(ctx.wired.lifs[proj.post].a_in)
    if part == 0:
        ctx.wired.connections[proj.name] = conn
    else:
        ctx.wired.extras.append(conn)


def _static(ctx: LoweringContext, proj: Projection, make) -> None:
    """One process per weight part, ``make(weights, name, extra)``."""
    base = f"neurochip_{proj.name}"
    for j, (weights, extra) in enumerate(weight_parts(ctx, proj)):
        _attach(ctx, proj, j, make(weights, base if j == 0 else f"{base}_part{j}", extra))


@lowering("dense")
def lower_dense(ctx: LoweringContext, proj: Projection) -> None:
    """``Dense``: a spike of step ``k`` reaches ``a_in`` at step ``k + 1``."""
    _static(ctx, proj, lambda w, name, extra: Dense(weights=np.asarray(w).copy(), name=name, **extra))


@lowering("sparse")
def lower_sparse(ctx: LoweringContext, proj: Projection) -> None:
    """``Sparse`` with the CSR weights."""
    _static(ctx, proj, lambda w, name, extra: Sparse(weights=sp.csr_matrix(w).copy(), name=name, **extra))


@lowering("delayed")
def lower_delayed(ctx: LoweringContext, proj: Projection) -> None:
    """``DelayDense`` with every synaptic delay ``delay - 1`` (plus ``Dense``'s own step)."""
    def make(w, name, extra):
        dense = _dense(w)
        return DelayDense(weights=dense, delays=np.full(dense.shape, proj.delay - 1, dtype=int), name=name,
                          **extra)
    _static(ctx, proj, make)


@lowering("memristive")
def lower_memristive(ctx: LoweringContext, proj: Projection) -> None:
    """The device's conductance snapshot (``deployment.weights``) as a static projection."""
    LOWERINGS[_static_kind(proj, ctx.deployment.weights[proj.name])](ctx, proj)


def rule_kwargs(ctx: LoweringContext, proj: Projection) -> dict:
    """The Lava rule's keyword arguments: the float rule's, or on fixed point its integer plan's."""
    if ctx.fixed:
        return ctx.deployment.learning[proj.name].lava_rule_kwargs()
    return proj.plasticity.lava_rule_kwargs()


def _learning_dense(ctx: LoweringContext, proj: Projection, rule, cls=LearningDense):
    """A ``LearningDense`` (or subclass ``cls``) that writes its learned weights to its record file when stopped."""
    if ctx.fixed:
        q = ctx.deployment.quantized.projections[proj.name]
        weights = np.asarray(q.weight_mant).copy()
        extra = dict(weight_exp=q.weight_exp, num_weight_bits=8, sign_mode=_sign_mode(q.sign_mode))
    else:
        weights, extra = _dense(ctx.deployment.weights[proj.name]), {}
    return cls(weights=weights, learning_rule=rule, name=f"neurochip_{proj.name}",
               nc_record=ctx.record_path(proj.name), nc_dump=("weights",), **extra)


@lowering("plastic")
@lowering("plastic-fixed")
def lower_plastic(ctx: LoweringContext, proj: Projection, *, cls=LearningDense) -> None:
    """``LearningDense`` with the rule's Loihi2F form; the post spikes drive the y traces."""
    conn = _learning_dense(ctx, proj, Loihi2FLearningRule(**rule_kwargs(ctx, proj)), cls)
    ctx.wired.lifs[proj.post].s_out.connect(conn.s_in_bap)
    _attach(ctx, proj, 0, conn)


@lowering("plastic-third-factor")
@lowering("plastic-third-factor-fixed")
def lower_plastic_third_factor(ctx: LoweringContext, proj: Projection, *, cls=LearningDense) -> None:
    """``LearningDense`` with a Loihi3F rule; the post ``LearningLIF`` owns and sends the y traces."""
    from mapping import third_factor_of

    kw = rule_kwargs(ctx, proj)
    keys = LOIHI3F_KEYS + (("rng_seed",) if ctx.fixed else ())
    conn = _learning_dense(ctx, proj, Loihi3FLearningRule(**{key: kw[key] for key in keys}), cls)
    post = ctx.wired.lifs[proj.post]
    ctx.wired.sources[third_factor_of(proj)].s_out.connect(post.a_third_factor_in)
    post.s_out_bap.connect(conn.s_in_bap)
    post.s_out_y1.connect(conn.s_in_y1)
    post.s_out_y2.connect(conn.s_in_y2)
    post.s_out_y3.connect(conn.s_in_y3)
    _attach(ctx, proj, 0, conn)
