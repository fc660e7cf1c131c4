"""Loihi fixed-point learning: the learning engine's integer format and a bit-accurate numpy twin.

The learning engine of Loihi, as Lava 0.10 simulates it
(``LearningConnectionModelBitApproximate``, ``PyLearningDenseModelBitApproximate``),
works on integers. With ``t_epoch = 1``, every step ``k``::

    x = sround(x * exp(-1 / x_tau), r_decay[k])             # 7-bit traces 0..127, one random
    x = clip(sround(x + i_int, r_imp[k], i_frac), 0, 127)    #   number per step for all traces
    acc = w << 7                                             # 16-bit signed accumulator
    for each term  m * 2**e * D * f1 * f2 ...:               # D: x0, y0 or 1; f: traces, w
        p = (m * D * f1 * f2 ...) >> max(0, bits(f1) + bits(f2) + ... + 4 - 15)
        acc = clip(acc + clip(p << (e + 7)))                 # clip to -(2**15) - 1 .. 2**15 - 1
    w = saturate(sround(acc / 128, r_w[k]))                  # 8-bit mantissa, sign mode

``sround(v, r, p)`` adds one where ``r < p`` (``p`` the fractional part): stochastic
rounding with **one random number per step shared by all synapses** (Lava's
``TraceRandom`` / ``ConnVarRandom``). The random numbers are numpy draws from
fixed seeds, so this module reproduces them exactly (:func:`random_streams`):
trace decays use draw ``2 (k + 1)`` of ``default_rng(rng_seed)`` (x traces) and
``default_rng(rng_seed + 2)`` (y traces), impulses draw ``2 (k + 1)`` of
``integers(0, 128)`` from ``rng_seed + 1`` / ``rng_seed + 3``, and the weight
rounding draw ``k + 1`` of ``default_rng(2)`` (Lava's ``ConnVarRandom`` ignores
the rule's seed). Bit widths: traces 7 bits (``x1 .. y3``), weights 9 bits as a
factor, the coefficient's mantissa 4 bits; an impulse has an integer part and an
8-bit fraction, rounded with a 7-bit random number (Lava compares the fraction
``0..255`` with a draw ``0..127``, so a fraction of one half or more always
rounds up: the expected impulse is ``i_int + min(i_frac / 128, 1)``).

A float :class:`~neurochip.plasticity.rules.LearningRule` runs on it through
three scales (:class:`LearningScales`): the weight LSB (float weight per
integer unit, ``2**weight_exp * 64 / S_post`` on Loihi), one scale per trace
(integer units per float unit: the impulse ``1.0`` becomes ``s`` units), and
the per-term shift above. A coefficient ``c`` of a term with trace factors
``F`` becomes ``c * 2**shift / prod(s_F)`` (``/ weight_lsb`` when the term has
no ``w`` factor), snapped to Lava's grid ``m * 2**e``: :func:`fixed_rule`
converts and :func:`deployed_rule` gives the float rule the chip then runs (the
quantization report and ``mapping.compile``'s warning compare the two). With
powers of two everywhere (the default of :func:`trace_scales`, and the weight
LSB of :func:`learning_scale`), a rule on the grid stays exactly on it.

The twin: :func:`learning_step` (one step, batched over leading axes of
candidate rules), :func:`simulate` (a whole :class:`FixedNetwork` of fixed-point
LIF populations, static and plastic projections, for instance what
``mapping.compile(net, "loihi2-sim-fixed")`` deploys: tested equal to Lava's
learned integer weights bit for bit), and :mod:`neurochip.plasticity.fixed_wta`
(the few-shot network, batched, for meta-learning at the chip's precision).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from neurochip._validation import describe
from neurochip.lif import FixedLIFParams, FixedLIFState, lif_step_fixed
from neurochip.plasticity.rules import (EXPONENT_RANGE, MANTISSA_RANGE, TERM_NAMES, TERMS, TRACE_NAMES,
                                        LearningRule, quantize_coefficient)

#: Trace width (x1, x2, y1, y2, y3): unsigned 7 bits.
TRACE_BITS = 7
TRACE_MAX = 2 ** TRACE_BITS - 1
#: Fraction bits of an impulse (Lava ``W_TRACE_FRACTIONAL_PART``).
IMPULSE_FRAC_BITS = 8
#: Range of the random number that rounds an impulse's fraction (Lava draws ``integers(0, 2**7)``).
IMPULSE_RANDOM_RANGE = 2 ** TRACE_BITS
#: Weight mantissa: 8 bits plus sign; as a factor of a product, 9 bits.
WEIGHT_BITS = 8
FACTOR_BITS = {"x1": TRACE_BITS, "x2": TRACE_BITS, "y1": TRACE_BITS, "y2": TRACE_BITS, "y3": TRACE_BITS,
               "w": WEIGHT_BITS + 1}
#: Mantissa bits of a term's scaling constant, and the accumulator (15 bits plus sign).
MANT_BITS = 4
ACC_BITS = 15
ACC_MAX = 2 ** ACC_BITS - 1
ACC_MIN = -(2 ** ACC_BITS) - 1
#: The accumulator holds ``w << ACC_SHIFT`` (16-bit signed accumulator, 9-bit signed weight).
ACC_SHIFT = ACC_BITS + 1 - (WEIGHT_BITS + 1)
#: Trace time constants are 8-bit unsigned integers (Lava's ``x1_tau`` Var, ``precision=8``).
TAU_MIN, TAU_MAX = 1, 2 ** 8 - 1
#: Seed of Lava 0.10's ``ConnVarRandom`` (weight rounding): its default, whatever the rule's seed.
WEIGHT_ROUNDING_SEED = 2
#: Saturation of the learned weight mantissa per sign mode (Lava ``clip_weights(..., num_bits=8)``).
WEIGHT_LIMITS = {"excitatory": (0, 2 ** WEIGHT_BITS - 1), "inhibitory": (-(2 ** WEIGHT_BITS - 1), 0),
                 "mixed": (-(2 ** WEIGHT_BITS), 2 ** WEIGHT_BITS - 1)}

#: Right shift of each term's product (Lava ``LearningRuleApplierBitApprox``): factor bits + 4 - 15.
TERM_SHIFTS = np.array([max(0, sum(FACTOR_BITS[f] for f in factors) + MANT_BITS - ACC_BITS)
                        for _, _, factors in TERMS], dtype=np.int64)
#: Order in which the learning engine sums the terms (Lava sums the dw string's products in the string's
#: order, saturating the accumulator after each): the terms with a ``w`` factor first, then the others
#: (each group in ``TERMS`` order). A decay ``-c y w`` summed after a growth ``c x y`` would be subtracted
#: from an accumulator already saturated by the growth, leaving the weight far below its bound (the
#: exemplar writer ``0.25 x1 y3 - 0.25 y3 w`` settled near 0.72 of ``w_max`` where float clips at
#: ``w_max``); summed first, the saturation of the sum is the float rule's clip. docs/pipeline.md.
TERM_ORDER = tuple(sorted(range(len(TERMS)), key=lambda k: "w" not in TERMS[k][2]))


class FixedPointError(ValueError):
    """A learning rule cannot run on the chip's learning engine as given."""


# --------------------------------------------------------------------------- scales and conversion
@dataclass(frozen=True)
class LearningScales:
    """How a float rule maps to integers: weight LSB and one scale per trace.

    ``weight_lsb``: float weight of one integer unit of the learned weight.
    ``trace``: integer units per float unit of x1, x2, y1, y2, y3 (an impulse
    ``i`` becomes ``i * trace[n]`` units).
    """

    weight_lsb: float
    trace: tuple

    def __post_init__(self):
        if not (isinstance(self.weight_lsb, (int, float)) and self.weight_lsb > 0 and math.isfinite(self.weight_lsb)):
            raise FixedPointError(f"LearningScales: weight_lsb should be a positive number, got "
                                  f"{describe(self.weight_lsb)}")
        trace = tuple(float(s) for s in self.trace)
        if len(trace) != len(TRACE_NAMES) or not all(s > 0 and math.isfinite(s) for s in trace):
            raise FixedPointError(f"LearningScales: trace should be {len(TRACE_NAMES)} positive scales "
                                  f"({', '.join(TRACE_NAMES)}), got {self.trace!r}")
        object.__setattr__(self, "trace", trace)

    def term_gain(self) -> np.ndarray:
        """Per term: fixed coefficient / float coefficient, ``2**shift / prod(s_F) [/ weight_lsb]``."""
        s = dict(zip(TRACE_NAMES, self.trace))
        gains = []
        for (_, _, factors), shift in zip(TERMS, TERM_SHIFTS):
            g = 2.0 ** int(shift)
            for f in factors:
                if f != "w":
                    g /= s[f]
            if "w" not in factors:
                g /= self.weight_lsb
            gains.append(g)
        return np.array(gains)


class FixedRule(NamedTuple):
    """Integer parameters of the learning engine for one rule or a batch (leading axes).

    ``mant``, ``exp``: the coefficient of each term of :data:`TERMS` as
    ``mant * 2**exp`` (``mant`` 0 drops the term); ``tau``: integer time constants
    of x1, x2, y1, y2, y3; ``impulse_int``, ``impulse_frac``: integer part and
    8-bit fraction of each impulse in trace units; ``sign_mode`` and the weight
    saturation ``w_lo``, ``w_hi`` (integers) are shared by the batch.
    """

    mant: np.ndarray
    exp: np.ndarray
    tau: np.ndarray
    impulse_int: np.ndarray
    impulse_frac: np.ndarray
    sign_mode: str = "mixed"
    w_lo: int = WEIGHT_LIMITS["mixed"][0]
    w_hi: int = WEIGHT_LIMITS["mixed"][1]

    @classmethod
    def stack(cls, rules: Sequence["FixedRule"]) -> "FixedRule":
        """A batch (leading axis) of rules with one sign mode."""
        modes = {r.sign_mode for r in rules}
        if len(modes) != 1:
            raise FixedPointError(f"FixedRule.stack: rules of one batch share a sign mode, got {sorted(modes)}")
        first = rules[0]
        arrays = [np.stack([getattr(r, f) for r in rules]) for f in cls._fields[:5]]
        return cls(*arrays, first.sign_mode, first.w_lo, first.w_hi)

    def to_dict(self) -> dict:
        """JSON form (one rule)."""
        return {"mant": np.asarray(self.mant).tolist(), "exp": np.asarray(self.exp).tolist(),
                "tau": np.asarray(self.tau).tolist(), "impulse_int": np.asarray(self.impulse_int).tolist(),
                "impulse_frac": np.asarray(self.impulse_frac).tolist(), "sign_mode": self.sign_mode,
                "w_lo": self.w_lo, "w_hi": self.w_hi}

    def lava_rule_string(self) -> str:
        """The ``dw`` string of this (single) rule for Lava's fixed-point learning models."""
        parts = []
        mant, exp = np.asarray(self.mant).ravel(), np.asarray(self.exp).ravel()
        for (name, dep, factors), m, e in ((TERMS[k], mant[k], exp[k]) for k in TERM_ORDER):   # summed in this order
            if m:
                parts.append(("-" if m < 0 else "+", f"{abs(int(m))}*2^{int(e)}*" + "*".join([dep, *factors])))
        if not parts:
            raise FixedPointError("FixedRule: no term has a nonzero mantissa; the rule would do nothing")
        out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        return out + "".join(f" {sign} {text}" for sign, text in parts[1:])


def sign_mode_of(w_min: float, w_max: float) -> str:
    """Sign mode of a learned weight kept in ``[w_min, w_max]``: excitatory, inhibitory or mixed."""
    if w_min >= 0:
        return "excitatory"
    if w_max <= 0:
        return "inhibitory"
    return "mixed"


def weight_need(w_min: float, w_max: float) -> float:
    """Smallest weight LSB (float units) at which ``[w_min, w_max]`` fits 8 bits plus sign.

    A bound may sit one LSB above the saturation (``w_max = 256 LSB`` saturates at
    255 LSB: a reported clip error of one LSB) so that ``[-1, 1]`` gets the LSB ``2**-8``.
    """
    for name, v in (("w_min", w_min), ("w_max", w_max)):
        if not math.isfinite(v):
            raise FixedPointError(f"a plastic projection on a fixed-point target needs finite weight bounds "
                                  f"(the 8-bit weight range is chosen from them), got {name} = {v}; give the "
                                  f"rule finite w_min / w_max")
    top = max(w_max, 0.0, -w_min)
    if top == 0:
        raise FixedPointError(f"weight bounds [{w_min}, {w_max}] leave no room to learn (both 0)")
    return top / 2 ** WEIGHT_BITS


def tau_steps(rule: LearningRule, trace: str, *, used: bool = True) -> int:
    """The integer time constant the chip runs for ``trace`` (rounded), or a :class:`FixedPointError`."""
    tau = float(getattr(rule, f"{trace}_tau"))
    t = int(round(tau))
    if used and not TAU_MIN <= t <= TAU_MAX:
        raise FixedPointError(
            f"LearningRule '{rule.name}': {trace}_tau = {tau:g} steps cannot be decayed by the chip: its learning "
            f"engine decays traces with an integer time constant of {TAU_MIN}..{TAU_MAX} steps (8 bits), "
            f"got {t} after rounding; use a time constant in that range")
    return min(max(t, TAU_MIN), TAU_MAX)


def used_traces(rule: LearningRule) -> set:
    """Traces that a term with a nonzero coefficient reads."""
    out = set()
    for name, _, factors in TERMS:
        if rule.coefficients.get(name, 0.0) != 0.0:
            out.update(f for f in factors if f != "w")
    return out


def worst_case_impulses(tau: int) -> float:
    """Largest value of a trace fed one impulse every step, in impulses: ``1 / (1 - exp(-1/tau))``."""
    return 1.0 / (1.0 - math.exp(-1.0 / tau))


def trace_scales(rule: LearningRule, *, headroom: Mapping[str, float] | None = None,
                 events: Mapping[str, np.ndarray] | None = None, rng_seed: int = 0) -> tuple:
    """Scale of each trace: the largest power of two at which the trace fits 7 bits with no saturation.

    How much a trace must hold, per trace, first found of: ``headroom[trace]``
    (impulses); the exact integer trace driven by ``events[trace]`` (a spike
    source known in advance, shape (steps, n): the pre source for x1 / x2, the
    label source for y3 of a Loihi3F rule; simulated with the run's random
    numbers, :func:`source_trace_scale`); otherwise the worst case,
    :func:`worst_case_impulses` (an event every step, so it never saturates).

    Raises
    ------
    FixedPointError
        A used trace cannot hold that much in 7 bits with an impulse of at least
        one unit (its time constant is too long for the trace width).
    """
    headroom, events = dict(headroom or {}), dict(events or {})
    unknown = sorted((set(headroom) | set(events)) - set(TRACE_NAMES))
    if unknown:
        raise FixedPointError(f"trace_scales: unknown trace(s) {', '.join(unknown)} (known: {', '.join(TRACE_NAMES)})")
    used = used_traces(rule)
    out = []
    for tr in TRACE_NAMES:
        impulse = float(getattr(rule, f"{tr}_impulse"))
        if tr not in used or impulse == 0.0:
            out.append(1.0)
            continue
        tau = tau_steps(rule, tr)
        if tr in events and tr not in headroom:
            ev = np.asarray(events[tr], dtype=bool)
            out.append(_source_scale(ev.tobytes(), ev.shape, impulse, tau, int(rng_seed), tr[0]))
            continue
        room = float(headroom.get(tr, worst_case_impulses(tau)))
        if not room >= 1:
            raise FixedPointError(f"trace_scales: headroom of {tr} should be >= 1 impulse, got {room!r}")
        s = 2.0 ** math.floor(math.log2(TRACE_MAX / (impulse * room)))
        if s * impulse < 1:
            raise FixedPointError(
                f"LearningRule '{rule.name}': trace {tr} overflows the chip's {TRACE_BITS}-bit traces: with "
                f"{tr}_tau = {getattr(rule, f'{tr}_tau'):g} steps it must hold {room:.1f} impulses "
                f"({'the headroom given' if tr in headroom else 'an event every step'}), more than the "
                f"{TRACE_MAX} units of a trace with an impulse of at least one unit; shorten {tr}_tau or give "
                f"a smaller headroom for {tr} (trace_headroom)")
        out.append(s)
    return tuple(out)


def check_impulses(rule: LearningRule, scales: LearningScales) -> None:
    """:class:`FixedPointError` if a used trace's impulse is below one unit or its trace overflows at ``scales``."""
    used = used_traces(rule)
    for tr, s in zip(TRACE_NAMES, scales.trace):
        impulse = float(getattr(rule, f"{tr}_impulse"))
        if tr not in used or impulse == 0.0:
            continue
        units = impulse * s
        if units < 1:
            raise FixedPointError(
                f"LearningRule '{rule.name}': {tr}_impulse = {impulse:g} is below the chip's trace resolution: "
                f"{units:.3g} units at trace scale {s:g} (at least 1 unit of the {TRACE_BITS}-bit trace); "
                f"raise the impulse or the trace scale")
        if units > TRACE_MAX:
            raise FixedPointError(
                f"LearningRule '{rule.name}': {tr}_impulse = {impulse:g} overflows the chip's {TRACE_BITS}-bit "
                f"trace: {units:.4g} units at trace scale {s:g} (at most {TRACE_MAX}); lower the trace scale")


def _split_impulse(units: float) -> tuple[int, int]:
    """Integer part and 8-bit fraction of an impulse in trace units (Lava ``_decompose_impulses``)."""
    whole = math.floor(units)
    return int(whole), int(np.round((units - whole) * 2 ** IMPULSE_FRAC_BITS))


def expected_impulse(impulse_int, impulse_frac) -> np.ndarray:
    """Mean impulse in trace units: Lava rounds the 8-bit fraction with a 7-bit random number."""
    return np.asarray(impulse_int) + np.minimum(np.asarray(impulse_frac) / IMPULSE_RANDOM_RANGE, 1.0)


def fixed_rule(rule: LearningRule, scales: LearningScales) -> FixedRule:
    """Integer learning-engine parameters of ``rule`` at ``scales`` (see the module docstring).

    Coefficients are snapped to Lava's grid after scaling (compare with
    :func:`deployed_rule`); weights saturate at the sign mode of ``[w_min, w_max]``.

    Raises
    ------
    FixedPointError
        A time constant the chip cannot decay, an impulse below its resolution or
        above the trace width, or a coefficient larger than ``7 * 2**8`` after scaling.
    """
    used = used_traces(rule)
    check_impulses(rule, scales)
    gains = scales.term_gain()
    mant = np.zeros(len(TERMS), dtype=np.int64)
    exp = np.zeros(len(TERMS), dtype=np.int64)
    top = MANTISSA_RANGE[1] * 2.0 ** EXPONENT_RANGE[1]
    for k, name in enumerate(TERM_NAMES):
        c = rule.coefficients.get(name, 0.0)
        if c == 0.0:
            continue
        scaled = c * gains[k]
        if abs(scaled) > top * (1 + 1e-12):
            raise FixedPointError(
                f"LearningRule '{rule.name}': coefficient of {name} ({c:g}) is {scaled:.4g} in the chip's units "
                f"(weight LSB {scales.weight_lsb:.4g}, trace scales {dict(zip(TRACE_NAMES, scales.trace))}), "
                f"beyond the largest scaling constant 7*2^8 = {top:g}; use smaller coefficients or a larger "
                f"weight LSB")
        m, e = quantize_coefficient(scaled)
        while abs(m) > MANTISSA_RANGE[1] and m % 2 == 0 and e < EXPONENT_RANGE[1]:
            m, e = m // 2, e + 1   # as Lava's parser normalizes -8 * 2**e (the rounding of the shift differs)
        mant[k], exp[k] = m, e
    if rule.coefficients and not mant.any():
        raise FixedPointError(
            f"LearningRule '{rule.name}': every coefficient is below the chip's resolution after scaling (smallest "
            f"2^-7; weight LSB {scales.weight_lsb:.4g}, trace scales {dict(zip(TRACE_NAMES, scales.trace))}): the "
            f"rule would do nothing; use larger coefficients or narrower weight bounds (a finer weight LSB)")
    taus = np.array([tau_steps(rule, tr, used=tr in used) for tr in TRACE_NAMES], dtype=np.int64)
    parts = [_split_impulse(float(getattr(rule, f"{tr}_impulse")) * s) for tr, s in zip(TRACE_NAMES, scales.trace)]
    mode = sign_mode_of(rule.w_min, rule.w_max)
    lo, hi = WEIGHT_LIMITS[mode]
    return FixedRule(mant, exp, taus, np.array([p[0] for p in parts], dtype=np.int64),
                     np.array([p[1] for p in parts], dtype=np.int64), mode, lo, hi)


def deployed_rule(rule: LearningRule, fixed: FixedRule, scales: LearningScales) -> LearningRule:
    """The float rule the chip runs: coefficients ``m * 2**e / gain``, mean impulses, integer taus, saturation."""
    gains = scales.term_gain()
    coeffs = {name: float(m * 2.0 ** e / g) for name, m, e, g in zip(TERM_NAMES, fixed.mant, fixed.exp, gains)
              if m != 0}
    impulses = expected_impulse(fixed.impulse_int, fixed.impulse_frac) / np.array(scales.trace)
    kw = {}
    for n, tr in enumerate(TRACE_NAMES):
        kw[f"{tr}_impulse"] = float(impulses[n])
        kw[f"{tr}_tau"] = float(fixed.tau[n])
    return LearningRule(coefficients=coeffs, w_min=fixed.w_lo * scales.weight_lsb, w_max=fixed.w_hi * scales.weight_lsb,
                        third_factor=rule.third_factor, name=f"{rule.name}_deployed", **kw)


def rule_differences(given: LearningRule, deployed: LearningRule, *, rtol: float = 1e-9) -> dict:
    """``{parameter: (given, deployed)}`` of every coefficient, impulse, tau or bound that differs."""
    out = {}
    for name in TERM_NAMES:
        a, b = given.coefficients.get(name, 0.0), deployed.coefficients.get(name, 0.0)
        if not math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
            out[f"coefficients[{name!r}]"] = (a, b)
    used = used_traces(given)
    for tr in TRACE_NAMES:
        if tr not in used:
            continue
        for p in (f"{tr}_impulse", f"{tr}_tau"):
            a, b = float(getattr(given, p)), float(getattr(deployed, p))
            if not math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
                out[p] = (a, b)
    for p in ("w_min", "w_max"):
        a, b = float(getattr(given, p)), float(getattr(deployed, p))
        if not math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
            out[p] = (a, b)
    return out


def learning_scale(vth: float, *, vth_bits: int, limits: Mapping[str, float]) -> tuple[float, str]:
    """``(S, what limits it)``: the post population's scale for plastic projections, a power of two.

    ``S`` is the largest power of two at or below ``2**vth_bits / vth`` and every
    value of ``limits`` (``{what: largest S it allows}``), so that the weight LSB
    ``2**weight_exp * 64 / S`` is a power of two too (rules on Lava's grid stay on
    it). ``vth_mant = round(vth * S / 64)``.
    """
    candidates = {"threshold": 2.0 ** vth_bits / vth, **limits}
    what = min(candidates, key=candidates.get)
    top = candidates[what]
    if not top > 0 or not math.isfinite(top):
        raise FixedPointError(f"learning_scale: limit '{what}' allows no positive finite scale, got {top!r}")
    return 2.0 ** math.floor(math.log2(top) + 1e-12), what


def weight_exponent(w_min: float, w_max: float, scale: float) -> int:
    """Shared exponent of a plastic projection into a population of scale ``scale`` (-8..7)."""
    need = weight_need(w_min, w_max) * scale / 2 ** 6
    exp = int(math.ceil(math.log2(need) - 1e-12))
    if exp > 7:
        raise FixedPointError(f"weights up to {max(w_max, -w_min):g} need weight_exp {exp} > 7 at scale {scale:g}")
    return max(exp, -8)


def learned_weight_lsb(weight_exp: int, scale: float) -> float:
    """Float weight of one unit of the learned mantissa: ``2**weight_exp * 64 / scale``."""
    return 2.0 ** weight_exp * 2 ** 6 / scale


def initial_mantissas(w, lsb: float, mode: str) -> np.ndarray:
    """Initial weight mantissas as a run starts: the nearest unit, saturated, and in mixed sign mode truncated
    to an even number (Lava's fixed-point ``LearningDense`` does that when it loads its weights)."""
    m = np.round(np.asarray(w, dtype=float) / lsb).astype(np.int64)
    return loaded_weights(np.clip(m, *WEIGHT_LIMITS[mode]), mode)


def loaded_weights(w, mode: str) -> np.ndarray:
    """Integer weights as a Lava run loads them: mixed-sign mantissas floored to even (``truncate_weights``)."""
    w = np.asarray(w, dtype=np.int64)
    return (w >> 1) << 1 if mode == "mixed" else w


@dataclass(frozen=True)
class LearningPlan:
    """How one plastic projection runs on the chip: scales, integers, and the float rule they amount to."""

    rule: LearningRule
    scales: LearningScales
    fixed: FixedRule
    deployed: LearningRule
    weight_exp: int
    rng_seed: int = 0

    def differences(self) -> dict:
        """``{parameter: (given, deployed)}`` (:func:`rule_differences`)."""
        return rule_differences(self.rule, self.deployed)

    def lava_rule_kwargs(self) -> dict:
        """Keyword arguments of Lava's ``Loihi2FLearningRule`` for its fixed-point models (trace units)."""
        kw = {"dw": self.fixed.lava_rule_string()}
        for n, tr in enumerate(TRACE_NAMES):
            kw[f"{tr}_impulse"] = (float(self.fixed.impulse_int[n])
                                   + float(self.fixed.impulse_frac[n]) / 2 ** IMPULSE_FRAC_BITS)
            kw[f"{tr}_tau"] = int(self.fixed.tau[n])
        kw["t_epoch"] = 1
        kw["rng_seed"] = int(self.rng_seed)
        return kw

    def report(self) -> dict:
        """JSON: the scales, the integer rule, the deployed float rule and each parameter's error."""
        impulses = expected_impulse(self.fixed.impulse_int, self.fixed.impulse_frac)
        used = used_traces(self.rule)
        traces = {}
        for n, tr in enumerate(TRACE_NAMES):
            if tr not in used:
                continue
            given, tau = float(getattr(self.rule, f"{tr}_impulse")), float(getattr(self.rule, f"{tr}_tau"))
            effective = float(impulses[n] / self.scales.trace[n])
            traces[tr] = {"scale": self.scales.trace[n], "resolution": 1.0 / self.scales.trace[n],
                          "impulse": given, "impulse_int": int(self.fixed.impulse_int[n]),
                          "impulse_frac": int(self.fixed.impulse_frac[n]), "impulse_effective": effective,
                          "impulse_abs_error": abs(effective - given), "tau": tau, "tau_int": int(self.fixed.tau[n]),
                          "tau_abs_error": abs(tau - int(self.fixed.tau[n]))}
        coefficients = {}
        gains = self.scales.term_gain()
        for k, name in enumerate(TERM_NAMES):
            given = self.rule.coefficients.get(name, 0.0)
            if given == 0.0 and self.fixed.mant[k] == 0:
                continue
            eff = self.deployed.coefficients.get(name, 0.0)
            coefficients[name] = {"given": given, "mant": int(self.fixed.mant[k]), "exp": int(self.fixed.exp[k]),
                                  "shift": int(TERM_SHIFTS[k]), "gain": float(gains[k]), "effective": eff,
                                  "abs_error": abs(eff - given),
                                  "rel_error": abs(eff - given) / abs(given) if given else None,
                                  "truncation_bound": float((2.0 ** int(TERM_SHIFTS[k]) - 1) * 2.0 ** float(self.fixed.exp[k])
                                                            * 2.0 ** -int(TERM_SHIFTS[k]) * self.scales.weight_lsb)}
        return {"weight_lsb": self.scales.weight_lsb, "weight_exp": self.weight_exp,
                "sign_mode": self.fixed.sign_mode, "weight_range": [self.deployed.w_min, self.deployed.w_max],
                "bounds": [self.rule.w_min, self.rule.w_max], "rng_seed": self.rng_seed,
                "dw": self.fixed.lava_rule_string(), "traces": traces, "coefficients": coefficients,
                "differences": {k: list(v) for k, v in self.differences().items()},
                "deployed_rule": self.deployed.to_dict()}


def _fit_coefficients(rule: LearningRule, lsb: float, trace: list, *, fixed: set) -> tuple:
    """Trace scales lowered (halved) where a coefficient would fall below Lava's smallest ``2**-7``.

    A coefficient ``c`` becomes ``c * 2**shift / prod(s_F) / lsb``; a fine trace
    (large ``s``) can push a small ``c`` below the grid, where it would round to
    0. Halving the finest trace of such a term doubles its scaled coefficient,
    as long as the trace keeps an impulse of at least two units; trace scales
    given explicitly are kept.
    """
    smallest = 2.0 ** EXPONENT_RANGE[0]
    trace = list(trace)
    for _ in range(64):
        gains = LearningScales(lsb, tuple(trace)).term_gain()
        changed = False
        for k, (name, _, factors) in enumerate(TERMS):
            c = rule.coefficients.get(name, 0.0)
            if c == 0.0 or abs(c * gains[k]) >= smallest * (1 - 1e-12):
                continue
            movable = [TRACE_NAMES.index(f) for f in factors if f != "w" and f not in fixed
                       and trace[TRACE_NAMES.index(f)] * float(getattr(rule, f"{f}_impulse")) >= 2]
            if movable:
                n = max(movable, key=lambda i: trace[i])
                trace[n] /= 2
                changed = True
                break
        if not changed:
            break
    return tuple(trace)


def plan_learning(rule: LearningRule, *, scale: float, events: Mapping[str, np.ndarray] | None = None,
                  headroom: Mapping[str, float] | None = None, trace_scale: Mapping[str, float] | None = None,
                  rng_seed: int = 0) -> LearningPlan:
    """The :class:`LearningPlan` of ``rule`` on a projection into a population of scale ``scale``.

    The weight exponent comes from the rule's bounds (:func:`weight_exponent`),
    the trace scales from :func:`trace_scales` (``events``, ``headroom``) unless
    given in ``trace_scale`` (``{trace: units per float unit}``), and the integers
    from :func:`fixed_rule`.
    """
    weight_exp = weight_exponent(rule.w_min, rule.w_max, scale)
    lsb = learned_weight_lsb(weight_exp, scale)
    given = dict(trace_scale or {})
    unknown = sorted(set(given) - set(TRACE_NAMES))
    if unknown:
        raise FixedPointError(f"plan_learning: trace_scale names unknown trace(s) {', '.join(unknown)} "
                              f"(known: {', '.join(TRACE_NAMES)})")
    auto = trace_scales(rule, headroom=headroom, events={k: v for k, v in (events or {}).items() if k not in given},
                        rng_seed=rng_seed) if set(used_traces(rule)) - set(given) else (1.0,) * len(TRACE_NAMES)
    scales = LearningScales(lsb, _fit_coefficients(rule, lsb, [float(given.get(tr, s)) for tr, s in
                                                                zip(TRACE_NAMES, auto)], fixed=set(given)))
    fixed = fixed_rule(rule, scales)
    return LearningPlan(rule, scales, fixed, deployed_rule(rule, fixed, scales), weight_exp, int(rng_seed))


# --------------------------------------------------------------------------- the post population's scale
#: Loihi ranges that bound a population's scale (as in ``mapping.quantization``).
A_IN_MAX = 2 ** 15 - 1
UV_MAX = 2 ** 23 - 1
VTH_MANT_MAX = 2 ** 17 - 1
BIAS_MANT_MAX = 2 ** 12 - 1
BIAS_EXP_MAX = 7
WEIGHT_EXP_MAX = 7


def plastic_envelope(shape, w_min: float, w_max: float) -> np.ndarray:
    """The reachable weights of a plastic projection, for choosing scales.

    Rows (post neurons) alternate between ``w_max`` and ``w_min`` in mixed sign
    mode (one post neuron: its first weight at ``w_min``, the rest at ``w_max``),
    all at the bound of the sign otherwise: each neuron's worst-case input per
    step is then every pre neuron spiking with every weight at a bound.
    """
    n_post, n_pre = shape
    mode = sign_mode_of(w_min, w_max)
    if mode != "mixed":
        return np.full(shape, w_max if mode == "excitatory" else w_min, dtype=float)
    env = np.full(shape, w_max, dtype=float)
    if n_post > 1:
        env[1::2] = w_min
    else:
        env[0, 0] = w_min
    return env


def worst_case_input(weights_in: Sequence) -> float:
    """Largest input of one step into any post neuron: every pre spiking, positive and negative parts apart."""
    pos = neg = 0.0
    for w in weights_in:
        w = np.asarray(w, dtype=float)
        pos = pos + np.clip(w, 0, None).sum(axis=1)
        neg = neg + np.clip(-w, 0, None).sum(axis=1)
    return float(max(np.max(pos, initial=0.0), np.max(neg, initial=0.0)))


def static_weight_limit(w) -> float:
    """Largest scale at which static weights fit 8 bits with ``weight_exp <= 7`` (as ``mapping.quantization``)."""
    w = np.asarray(w, dtype=float)
    wpos, wneg = float(max(w.max(initial=0.0), 0.0)), float(max(-w.min(initial=0.0), 0.0))
    top = 2 ** 6 * 2 ** WEIGHT_EXP_MAX
    if wpos > 0 and wneg > 0:
        return min(top * 2 * 127 / wpos, top * 2 * 128 / wneg)
    if wpos > 0 or wneg > 0:
        return top * 255 / max(wpos, wneg)
    return math.inf


def post_scale_limits(*, vth: float, du_eff: float, bias_max: float, init_max: float, static: Mapping[str, np.ndarray],
                      plastic: Mapping[str, tuple]) -> dict:
    """Largest scale each quantity of a plastic projection's post population allows (``{what: S}``).

    ``static``: float weights of the static projections into the population;
    ``plastic``: ``(shape, w_min, w_max)`` of the plastic ones (their envelope,
    :func:`plastic_envelope`, counts in the worst-case input).
    """
    limits = {"vth_mant": VTH_MANT_MAX * 2 ** 6 / vth}
    if bias_max > 0:
        limits["bias"] = BIAS_MANT_MAX * 2 ** BIAS_EXP_MAX / bias_max
    if init_max > 0:
        limits["initial state"] = UV_MAX / init_max
    for name, w in static.items():
        limits[f"weights of '{name}'"] = static_weight_limit(w)
    for name, (_, w_min, w_max) in plastic.items():
        limits[f"learned weights of '{name}'"] = 2 ** 6 * 2 ** WEIGHT_EXP_MAX / weight_need(w_min, w_max)
    envelope = [plastic_envelope(shape, lo, hi) for shape, lo, hi in plastic.values()]
    in_max = worst_case_input([*static.values(), *envelope])
    if in_max > 0:
        limits["16-bit input per step"] = A_IN_MAX * 2 ** 6 / in_max
        limits["24-bit current u"] = UV_MAX * du_eff / in_max
    return {k: v for k, v in limits.items() if math.isfinite(v)}


def post_scale(vth: float, limits: Mapping[str, float], *, vth_bits: int = 20, min_vth_bits: int = 12
               ) -> tuple[float, str, int]:
    """``(S, what limits it, vth_mant)`` of a plastic projection's post population (see :func:`learning_scale`).

    Raises
    ------
    FixedPointError
        The scale falls below ``2**min_vth_bits / vth`` (the threshold would have
        fewer than ``min_vth_bits`` bits).
    """
    scale, what = learning_scale(vth, vth_bits=vth_bits, limits=limits)
    floor = 2.0 ** min_vth_bits / vth
    if scale < floor * (1 - 1e-12):
        raise FixedPointError(
            f"{what} allows a scale of at most {limits.get(what, scale):.4g}, which leaves the threshold fewer than "
            f"{min_vth_bits} bits ({scale * vth:.4g} < 2**{min_vth_bits}); use smaller weight bounds, fewer inputs "
            f"or a lower min_vth_bits")
    vth_mant = int(min(max(round(vth * scale / 2 ** 6), 1), VTH_MANT_MAX))
    return scale, what, vth_mant


@functools.lru_cache(maxsize=4096)
def _source_scale(events: bytes, shape: tuple, impulse: float, tau: int, rng_seed: int, side: str) -> float:
    """Cached :func:`source_trace_scale` (meta-learning asks for the same shot events again and again)."""
    ev = np.frombuffer(events, dtype=bool).reshape(shape)
    streams = random_streams(rng_seed, max(1, shape[0]))
    decay_r, imp_r = ((streams.x_decay, streams.x_impulse) if side == "x" else (streams.y_decay, streams.y_impulse))
    return source_trace_scale(ev, impulse, tau, decay_r, imp_r)[0]


def source_trace_scale(events, impulse: float, tau: int, decay_r, impulse_r) -> tuple[float, int]:
    """``(scale, peak units)``: the largest power of two at which a trace driven by ``events`` never saturates.

    ``events`` (steps, n) are known in advance (a spike source): the integer trace
    is simulated with the run's random numbers ``decay_r``, ``impulse_r`` at each
    candidate scale, from ``127 / impulse`` down, until its peak stays below 127.
    """
    events = np.asarray(events, dtype=bool)
    s = 2.0 ** math.floor(math.log2(TRACE_MAX / impulse))
    while s * impulse >= 1:
        i_int, i_frac = _split_impulse(impulse * s)
        trace = np.zeros(events.shape[1:], np.int64)
        peak = 0
        for k in range(events.shape[0]):
            trace = add_impulse(decay_trace(trace, tau, decay_r[k]), events[k], i_int, i_frac, impulse_r[k])
            peak = max(peak, int(trace.max(initial=0)))
        if peak < TRACE_MAX:
            return s, peak
        s /= 2
    raise FixedPointError(f"a trace with impulse {impulse:g} and tau {tau} driven by its spike source overflows the "
                          f"chip's {TRACE_BITS}-bit trace at every scale with an impulse of at least one unit; "
                          f"shorten the time constant or send fewer events")


# --------------------------------------------------------------------------- random streams
class RandomStreams(NamedTuple):
    """Per-step random numbers of one learning-engine run (index = neurochip step ``k``)."""

    x_decay: np.ndarray     # float in [0, 1)
    x_impulse: np.ndarray   # int in 0..127
    y_decay: np.ndarray
    y_impulse: np.ndarray
    weight: np.ndarray      # float in [0, 1)


def _trace_draws(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` numbers of Lava's ``TraceRandom(seed, seed + 1)``, drawn one call at a time as Lava does."""
    rd, ri = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    decay = np.array([rd.random(1)[0] for _ in range(n)])
    imp = np.array([ri.integers(0, IMPULSE_RANDOM_RANGE, size=1, dtype=int)[0] for _ in range(n)], dtype=np.int64)
    return decay, imp


@functools.lru_cache(maxsize=32)
def random_streams(rng_seed: int, steps: int) -> RandomStreams:
    """The random numbers Lava's fixed-point learning models use in a run of ``steps`` steps.

    Step ``k`` uses draw ``2 (k + 1)`` of each trace generator (Lava advances them
    twice per step before the learning phase) and draw ``k + 1`` of the weight
    rounding generator (seed 2, advanced once per step). Cached; do not modify.
    """
    n = 2 * steps + 1
    xd, xi = _trace_draws(rng_seed, n)
    yd, yi = _trace_draws(rng_seed + 2, n)
    rw = np.random.default_rng(WEIGHT_ROUNDING_SEED)
    weight = np.array([rw.random(1)[0] for _ in range(steps + 1)])
    idx = 2 * (np.arange(steps) + 1)
    streams = RandomStreams(xd[idx], xi[idx], yd[idx], yi[idx], weight[1:])
    for a in streams:
        a.setflags(write=False)
    return streams


# --------------------------------------------------------------------------- the learning step
def decay_trace(trace, tau, r: float) -> np.ndarray:
    """``trace * exp(-1/tau)`` rounded down, plus one where ``r`` is below the fraction (Lava ``_decay_trace``)."""
    value = np.exp(-1 / tau) * trace
    frac = value % 1
    return (np.floor(value) + (r < frac)).astype(np.int64)


def add_impulse(trace, events, impulse_int, impulse_frac, r: int) -> np.ndarray:
    """Add the impulse where ``events``, round its fraction with ``r``, saturate to 0..127 (Lava ``_add_impulse``)."""
    bumped = np.clip(trace + impulse_int + (r < impulse_frac), 0, TRACE_MAX)
    return np.where(events, bumped, trace)


def trace_update(trace, events, tau, impulse_int, impulse_frac, r_decay: float, r_impulse: int) -> np.ndarray:
    """One step of integer traces of shape (..., n_traces, n): decay all, add impulses where ``events`` (..., n)."""
    decayed = decay_trace(trace, tau[..., None], r_decay)
    return add_impulse(decayed, np.asarray(events, bool)[..., None, :], impulse_int[..., None],
                       impulse_frac[..., None], r_impulse)


class FixedTraces(NamedTuple):
    """Integer traces: ``x`` (..., 2, n_pre), ``y`` (..., 3, n_post)."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def zeros(cls, n_pre: int, n_post: int, batch: tuple = ()) -> "FixedTraces":
        return cls(np.zeros((*batch, 2, n_pre), np.int64), np.zeros((*batch, 3, n_post), np.int64))


def post_trace_step(y, post, third, rule: FixedRule, streams: RandomStreams, k: int) -> np.ndarray:
    """y1, y2 (impulses at post spikes) and y3 (at third-factor events) of step ``k``."""
    y12 = trace_update(y[..., 0:2, :], post, rule.tau[..., 2:4], rule.impulse_int[..., 2:4],
                       rule.impulse_frac[..., 2:4], streams.y_decay[k], streams.y_impulse[k])
    y3 = trace_update(y[..., 2:3, :], third, rule.tau[..., 4:5], rule.impulse_int[..., 4:5],
                      rule.impulse_frac[..., 4:5], streams.y_decay[k], streams.y_impulse[k])
    return np.concatenate([y12, y3], axis=-2)


def weight_update(w, traces: FixedTraces, pre, post, rule: FixedRule, r_weight: float) -> np.ndarray:
    """New integer weights from the updated traces, this step's spikes and the old weights.

    Lava's ``LearningRuleApplierBitApprox`` clips each factor to its width (traces
    are 0..127 and weights within 9 bits here, so that never binds), each term
    and the running sum to the accumulator; the sum is only clipped term by
    term when it can reach the accumulator's range (the result is the same).
    """
    w = np.asarray(w, dtype=np.int64)
    pre = np.asarray(pre, dtype=np.int64)
    post = np.asarray(post, dtype=np.int64)
    values = {"x0": pre[..., None, :], "y0": post[..., :, None], "u0": 1,
              "x1": traces.x[..., 0, None, :], "x2": traces.x[..., 1, None, :],
              "y1": traces.y[..., 0, :, None], "y2": traces.y[..., 1, :, None],
              "y3": traces.y[..., 2, :, None], "w": w}
    mant, exp = np.asarray(rule.mant), np.asarray(rule.exp)
    acc = w << ACC_SHIFT
    terms = []
    bound = int(np.abs(acc).max(initial=0))
    active = np.any(mant.reshape(-1, mant.shape[-1]), axis=0)
    for k in (k for k in TERM_ORDER if active[k]):      # Lava's order: the dw string's (FixedRule.lava_rule_string)
        _, dep, factors = TERMS[k]
        prod = mant[..., k, None, None] * values[dep]
        for f in factors:
            prod = prod * values[f]
        term = (prod >> int(TERM_SHIFTS[k])) << (exp[..., k, None, None] + 7)
        top = int(np.abs(term).max(initial=0))
        if top > ACC_MAX:
            term = np.clip(term, ACC_MIN, ACC_MAX)
            top = ACC_MAX + 1
        terms.append(term)
        bound += top
    shape = np.broadcast_shapes(w.shape, mant.shape[:-1] + (1, 1))
    if bound <= ACC_MAX:
        acc = np.broadcast_to(acc, shape) + sum(terms) if terms else np.broadcast_to(acc, shape).copy()
    else:
        acc = np.broadcast_to(acc, shape).copy()
        for term in terms:
            acc = np.clip(acc + term, ACC_MIN, ACC_MAX)
    if rule.sign_mode == "excitatory":
        acc = np.maximum(acc, 0)
    elif rule.sign_mode == "inhibitory":
        acc = np.minimum(acc, 0)
    frac_bits = ACC_BITS - WEIGHT_BITS
    # floor(acc / 128) + (r < fraction): r * 128 < acc mod 128 is the same comparison, exactly
    rounded = (acc >> frac_bits) + (r_weight * 2 ** frac_bits < (acc & (2 ** frac_bits - 1)))
    return np.minimum(np.maximum(rounded, rule.w_lo), rule.w_hi)


def learning_step(w, traces: FixedTraces, pre, post, third, rule: FixedRule, streams: RandomStreams, k: int, *,
                  label_traces: bool = False) -> tuple[np.ndarray, FixedTraces]:
    """One step ``k`` of the learning engine: traces, then weights. Returns ``(w, traces)``.

    ``third`` are the y3 events (the post spikes for a Loihi2F rule). With
    ``label_traces`` (Loihi3F, a label / reward source) the y traces are those the
    post neuron computed this step (:func:`post_trace_step`; passed in
    ``traces.y``) and are used as they are.
    """
    x = trace_update(traces.x, pre, rule.tau[..., 0:2], rule.impulse_int[..., 0:2], rule.impulse_frac[..., 0:2],
                     streams.x_decay[k], streams.x_impulse[k])
    y = traces.y if label_traces else post_trace_step(traces.y, post, third, rule, streams, k)
    traces = FixedTraces(x, y)
    return weight_update(w, traces, pre, post, rule, streams.weight[k]), traces


# --------------------------------------------------------------------------- a whole fixed-point network
@dataclass
class FixedPopulation:
    """Integer LIF parameters of one population (``neurochip.lif.FixedLIFParams``) and its initial state."""

    name: str
    size: int
    params: FixedLIFParams
    u_init: np.ndarray
    v_init: np.ndarray


@dataclass
class FixedProjection:
    """One Loihi projection: integer weights (n_post, n_pre), shared exponent, delay; plastic with ``rule``.

    ``third_factor``: name of the spike source driving y3 through the post neuron
    (Loihi3F); ``None`` with a rule: y3 follows the post spikes (Loihi2F).
    """

    name: str
    pre: str
    post: str
    weight_mant: np.ndarray
    weight_exp: int
    delay: int = 1
    rule: FixedRule | None = None
    third_factor: str | None = None


@dataclass
class FixedNetwork:
    """What a fixed-point deployment runs, in integers (built by ``mapping.quantization_learning.twin``)."""

    populations: list
    projections: list
    sources: dict = field(default_factory=dict)   # name -> bool raster (steps, size)
    rng_seed: int = 0

    def __post_init__(self):
        names = [p.name for p in self.populations] + list(self.sources)
        for proj in self.projections:
            for end in (proj.pre, proj.post):
                if end not in names:
                    raise ValueError(f"FixedNetwork: projection '{proj.name}' names unknown node '{end}'")
            if proj.rule is not None and proj.delay != 1:
                raise ValueError(f"FixedNetwork: plastic projection '{proj.name}' should have delay 1, "
                                 f"got {proj.delay}")


def dense_input(weight_mant, weight_exp: int, spikes) -> np.ndarray:
    """Lava fixed-point ``Dense``: ``(sum of weights of spiking pre) << weight_exp`` (``>>`` floors when < 0)."""
    acc = np.asarray(weight_mant, dtype=np.int64) @ np.asarray(spikes, dtype=np.int64)[..., None]
    acc = acc[..., 0]
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


def simulate(net: FixedNetwork, steps: int) -> dict:
    """Run a :class:`FixedNetwork` bit-accurately; Lava's fixed-point simulator does the same.

    A spike of step ``k`` reaches ``a_in`` at ``k + delay``; a plastic projection
    sends it with the weights of step ``k`` before that step's update. Returns
    ``{"spikes": {population: bool (steps, size)}, "weights": {plastic projection:
    int (n_post, n_pre)}, "traces": {plastic projection: FixedTraces}}``.
    """
    streams = random_streams(int(net.rng_seed), int(steps))
    state = {p.name: FixedLIFState(p.u_init.astype(np.int64).copy(), p.v_init.astype(np.int64).copy())
             for p in net.populations}
    depth = max([p.delay for p in net.projections], default=1) + 1
    sizes = {p.name: p.size for p in net.populations} | {n: r.shape[1] for n, r in net.sources.items()}
    hist = {name: np.zeros((depth, n), bool) for name, n in sizes.items()}
    weights = {p.name: np.asarray(p.weight_mant, np.int64).copy() for p in net.projections}
    plastic = [p for p in net.projections if p.rule is not None]
    traces = {p.name: FixedTraces.zeros(sizes[p.pre], sizes[p.post]) for p in plastic}
    label_y = {p.name: np.zeros((3, sizes[p.post]), np.int64) for p in plastic if p.third_factor is not None}
    sent = {p.name: np.zeros(sizes[p.post], np.int64) for p in plastic}
    out = {p.name: np.zeros((steps, p.size), bool) for p in net.populations}
    for k in range(steps):
        slot = k % depth
        for name, raster in net.sources.items():
            hist[name][slot] = raster[k] if k < raster.shape[0] else False
        a_in = {p.name: np.zeros(p.size, np.int64) for p in net.populations}
        for proj in net.projections:
            if proj.rule is not None:
                a_in[proj.post] += sent[proj.name]
            elif k - proj.delay >= 0:
                a_in[proj.post] += dense_input(weights[proj.name], proj.weight_exp,
                                               hist[proj.pre][(k - proj.delay) % depth])
        for p in net.populations:
            state[p.name], spk = lif_step_fixed(state[p.name], a_in[p.name], p.params)
            hist[p.name][slot] = spk
            out[p.name][k] = spk
        for proj in plastic:
            pre, post = hist[proj.pre][slot], hist[proj.post][slot]
            sent[proj.name] = dense_input(weights[proj.name], proj.weight_exp, pre)
            tr = traces[proj.name]
            if proj.third_factor is not None:
                label_y[proj.name] = post_trace_step(label_y[proj.name], post, hist[proj.third_factor][slot],
                                                     proj.rule, streams, k)
                tr = FixedTraces(tr.x, label_y[proj.name])
            weights[proj.name], traces[proj.name] = learning_step(
                weights[proj.name], tr, pre, post, post, proj.rule, streams, k,
                label_traces=proj.third_factor is not None)
    return {"spikes": out, "weights": {p.name: weights[p.name] for p in plastic},
            "traces": {p.name: traces[p.name] for p in plastic}}
