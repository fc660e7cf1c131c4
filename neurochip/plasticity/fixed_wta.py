"""The few-shot winner-take-all network in Loihi fixed point, batched over candidate rules.

The integer twin of :func:`neurochip.plasticity.wta.simulate_outputs`: the
network :func:`~neurochip.plasticity.wta.wta_network` describes, as
``mapping.compile(..., "loihi2-sim-fixed")`` deploys it, run by the numpy
learning engine of :mod:`neurochip.plasticity.fixed` and the fixed-point LIF
:func:`neurochip.lif.lif_step_fixed`. :func:`quantize_wta` computes the
integers (the output population's power-of-two scale, decays, threshold,
teacher bias, lateral weights, the plastic weights' exponent) with the same
functions the mapper uses for a plastic projection's post population (tested
equal to the deployed integers); :func:`plan_rules` converts candidate rules;
:func:`simulate_outputs_fixed` learns sample by sample (one Lava run per shot:
fresh traces and random streams, weights carried over) and predicts.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from neurochip.lif import FixedLIFParams, FixedLIFState, lif_step_fixed
from neurochip.plasticity import fixed as F
from neurochip.plasticity.rules import TRACE_NAMES, LearningRule
from neurochip.plasticity.wta import OutputParams, sample_steps, teacher_bias, wta_network


class FixedWTA(NamedTuple):
    """Integers of the winner-take-all network (one weight range of the plastic projection)."""

    scale: float
    lif: FixedLIFParams          # bias 0 (the teacher is added while learning)
    teacher: int                 # effective bias of the label neuron while learning
    lateral_mant: np.ndarray     # (n_out, n_out), inhibitory
    lateral_exp: int
    weight_exp: int
    weight_lsb: float
    sign_mode: str
    w_min: float
    w_max: float
    vth_bits: int
    scale_limited_by: str


def decay_ints(du: float, dv: float) -> tuple[int, int]:
    """12-bit decays as the mapper's ``quantize_decays``: ``du = (du_int + 1) / 4096``, ``dv = dv_int / 4096``."""
    return (int(np.clip(round(du * 4096) - 1, 0, 4095)), int(np.clip(round(dv * 4096), 0, 4095)))


def bias_int(bias: float, scale: float) -> int:
    """Effective integer bias ``bias_mant << bias_exp``: the smallest exponent 0..7 with a 13-bit mantissa."""
    b = bias * scale
    for e in range(F.BIAS_EXP_MAX + 1):
        m = int(np.round(b / 2.0 ** e))
        if -F.BIAS_MANT_MAX - 1 <= m <= F.BIAS_MANT_MAX:
            return m << e
    raise F.FixedPointError(f"bias {bias:g} does not fit a 13-bit mantissa with exponent <= 7 at scale {scale:g}")


def inhibitory_ints(w: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
    """Static inhibitory weights as the mapper quantizes them: mantissas -255..0 and the smallest exponent."""
    wneg = float(max(-np.min(w), 0.0))
    need = wneg * scale / 2 ** 6 / 255
    exp = int(np.clip(np.ceil(np.log2(need) - 1e-12), -8, 7)) if need > 0 else 0
    mant = np.clip(np.round(w * scale / 2 ** 6 / 2.0 ** exp), -255, 0).astype(np.int64)
    return mant, exp


def quantize_wta(n_out: int, n_in: int, out: OutputParams, *, w_min: float, w_max: float, vth_bits: int = 20,
                 min_vth_bits: int = 12) -> FixedWTA:
    """Integers of :func:`~neurochip.plasticity.wta.wta_network` for a plastic projection kept in ``[w_min, w_max]``.

    Taken from the description itself (the output population, the lateral
    weights); the scale is :func:`neurochip.plasticity.fixed.post_scale` of its
    limits, as the mapper computes it for a plastic projection's post population.
    """
    net = wta_network(np.zeros((n_out, n_in)), out)
    extra = sorted({p.name for p in net.projections} & {"ff", "clock_out"})
    if extra:
        raise ValueError(f"quantize_wta: the fixed-point twin runs the plastic and lateral projections only; "
                         f"this network also has {', '.join(extra)} (OutputParams ff={out.ff!r}, "
                         f"clock={out.clock!r}): set ff=0 and clock=0 for precision='fixed', or learn in float")
    pop, wta = net["out"], net["wta"]
    du_int, dv_int = decay_ints(pop.du, pop.dv)
    lateral = np.asarray(wta.weights, dtype=float)
    limits = F.post_scale_limits(vth=pop.vth, du_eff=(du_int + 1) / 4096, bias_max=float(out.teacher), init_max=0.0,
                                 static={"wta": lateral}, plastic={"plastic": ((n_out, n_in), w_min, w_max)})
    scale, what, vth_mant = F.post_scale(pop.vth, limits, vth_bits=vth_bits, min_vth_bits=min_vth_bits)
    lateral_mant, lateral_exp = inhibitory_ints(lateral, scale)
    weight_exp = F.weight_exponent(w_min, w_max, scale)
    return FixedWTA(scale, FixedLIFParams(du_int, dv_int, vth_mant, 0), bias_int(out.teacher, scale), lateral_mant,
                    lateral_exp, weight_exp, F.learned_weight_lsb(weight_exp, scale), F.sign_mode_of(w_min, w_max),
                    float(w_min), float(w_max), int(vth_bits), what)


def rule_events(rasters: np.ndarray, out: OutputParams) -> list:
    """The source-driven trace events of each distinct shot (for the trace scales), deduplicated.

    Per shot (one Lava run each): the input raster drives x1 / x2, the label
    source (every step of the shot) y3. A trace's peak depends only on the inputs
    that spike more than once (one spike peaks at one impulse wherever it is), so
    shots are reduced to those inputs plus one single spike and deduplicated: with
    a latency code (at most one spike per input, a bias input alike in every shot)
    every shot reduces to the same events, and the twin's scales are exactly those
    the mapper gives each shot.
    """
    total = sample_steps(rasters[0], out)
    distinct = {}
    for raster in np.asarray(rasters, dtype=bool):
        many = raster.sum(axis=0) > 1
        reduced = np.zeros((total, int(many.sum()) + 1), bool)
        reduced[:raster.shape[0], :-1] = raster[:, many]
        reduced[0, -1] = raster.any()
        distinct.setdefault(reduced.tobytes() + bytes(reduced.shape), reduced)
    label = np.ones((total, 1), bool)
    return [{"x1": ev, "x2": ev, "y3": label} for ev in distinct.values()]


def plan_rules(rules: Sequence[LearningRule], wta: FixedWTA, events: list, *, rng_seed: int = 0) -> list:
    """A :class:`~neurochip.plasticity.fixed.LearningPlan` per rule (``None`` where the chip cannot run it).

    ``events``: :func:`rule_events`. When shots differ in their events, each
    trace gets the smallest of the shots' scales (one plan for all shots).
    """
    plans = []
    for rule in rules:
        if (rule.w_min, rule.w_max) != (wta.w_min, wta.w_max):
            raise F.FixedPointError(f"plan_rules: rule '{rule.name}' has bounds [{rule.w_min}, {rule.w_max}], the "
                                    f"network was quantized for [{wta.w_min}, {wta.w_max}]")
        try:
            given = None
            if len(events) > 1:
                scales = np.min([F.trace_scales(rule, events=ev, rng_seed=rng_seed) for ev in events], axis=0)
                given = dict(zip(TRACE_NAMES, scales))
            plans.append(F.plan_learning(rule, scale=wta.scale, events=events[0], trace_scale=given,
                                         rng_seed=rng_seed))
        except F.FixedPointError:
            plans.append(None)
    return plans


def initial_weights(W, wta: FixedWTA) -> np.ndarray:
    """Float weights to the plastic projection's integer mantissas, as a run loads them."""
    return F.initial_mantissas(W, wta.weight_lsb, wta.sign_mode)


def padded(rasters, out: OutputParams) -> tuple[np.ndarray, int]:
    """``(rasters followed by out.extra_steps silent steps, steps per sample)``."""
    rasters = np.asarray(rasters, dtype=bool)
    total = sample_steps(rasters[0], out)
    return np.pad(rasters, ((0, 0), (0, total - rasters.shape[1]), (0, 0))), total


def _shift(acc: np.ndarray, exp: int) -> np.ndarray:
    return acc << exp if exp > 0 else acc >> -exp


def simulate_outputs_fixed(W, rasters, out: OutputParams, wta: FixedWTA, *, rule: F.FixedRule | None = None,
                           labels=None, rng_seed: int = 0):
    """Integer twin of :func:`~neurochip.plasticity.wta.simulate_outputs` (same arguments and results).

    ``W`` are integer mantissas (..., n_out, n_in) (:func:`initial_weights`);
    leading axes batch candidate rules (``rule`` a stacked
    :class:`~neurochip.plasticity.fixed.FixedRule`). Learning runs each sample as
    its own Lava run: traces and the learning engine's random streams start
    afresh, the LIF state from zero, the weights carry over (mixed-sign
    mantissas are truncated to even at each start, as Lava loads them). The
    label neuron gets the teacher bias, and its y traces follow the label source
    (Loihi3F). ``drive`` is the summed input in float units (``a_in * 64 / S``).
    """
    W = np.array(W, dtype=np.int64)
    *batch, n_out, n_in = W.shape
    batch = tuple(batch)
    pad, total = padded(rasters, out)
    n_samples = pad.shape[0]
    lat_t = np.ascontiguousarray(wta.lateral_mant.T)
    to_float = 2 ** 6 / wta.scale
    synops = np.zeros(batch)
    if rule is None:
        x = pad.astype(np.int64)
        state = FixedLIFState.zeros((*batch, n_samples, n_out))
        counts = np.zeros(state.u.shape)
        drive = np.zeros(state.u.shape)
        prev = np.zeros((n_samples, n_in), np.int64)
        prev_out = np.zeros(state.u.shape, np.int64)
        for k in range(total):
            a_in = _shift(np.einsum("si,...oi->...so", prev, W), wta.weight_exp) + _shift(prev_out @ lat_t,
                                                                                        wta.lateral_exp)
            state, spk = lif_step_fixed(state, a_in, wta.lif)
            counts += spk
            drive += a_in * to_float
            synops = synops + prev.sum() * n_out + prev_out.sum(axis=(-1, -2)) * (n_out - 1)
            prev, prev_out = x[:, k], spk.astype(np.int64)
        return W, counts, drive, synops
    if labels is None:
        raise ValueError("simulate_outputs_fixed: labels are required when learning")
    streams = F.random_streams(int(rng_seed), total)
    counts = np.zeros((*batch, n_samples, n_out))
    drive = np.zeros_like(counts)
    for s in range(n_samples):
        W = F.loaded_weights(W, wta.sign_mode)
        label = teacher_bias(n_out, labels[s], 1.0).astype(bool)
        lif_s = wta.lif._replace(bias=np.where(label, wta.teacher, 0))
        traces = F.FixedTraces.zeros(n_in, n_out, batch)
        state = FixedLIFState.zeros((*batch, n_out))
        prev = np.zeros(n_in, np.int64)
        prev_out = np.zeros(state.u.shape, np.int64)
        sent = np.zeros(state.u.shape, np.int64)
        for k in range(total):
            a_in = sent + _shift(prev_out @ lat_t, wta.lateral_exp)
            state, spk = lif_step_fixed(state, a_in, lif_s)
            counts[..., s, :] += spk
            drive[..., s, :] += a_in * to_float
            synops = synops + prev.sum() * n_out + prev_out.sum(axis=-1) * (n_out - 1)
            pre = pad[s, k]
            sent = F.dense_input(W, wta.weight_exp, pre)
            y = F.post_trace_step(traces.y, spk, label, rule, streams, k)
            W, traces = F.learning_step(W, F.FixedTraces(traces.x, y), pre, spk, spk, rule, streams, k,
                                        label_traces=True)
            prev, prev_out = pre.astype(np.int64), spk.astype(np.int64)
    return W, counts, drive, synops

