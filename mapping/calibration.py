"""The most faithful fixed-point integers of a network, chosen by measurement (the default of ``mapping.compile``).

:func:`choose` runs the numpy float reference for a short calibration run, then
compares a few candidate quantizations of the network against it on that run only,
each run bit for bit in the integer model (:func:`mapping.fixed_point.simulate_fixed`),
and keeps the one whose spikes agree best. Two stages:

1. **Scale and weight split** (per population, with nearest decays and the gain
   compensation): the largest scale the observed ranges allow (every state bit used:
   the threshold at the top of its range unless ``u``, ``v`` or the 16-bit input per step
   need headroom); the largest power-of-two scale below it at which the weights, bias and
   threshold are *exact* (integer weights, for example); the largest scale at which the
   projection with the most rounding noise uses its 8-bit mantissa fully; each with one
   8-bit part, and the largest scale with two parts (weight and residual) when two parts
   fit the chip.
2. **Decays** (population by population): the four 12-bit neighbours of ``du``, ``dv``,
   with and without :func:`mapping.quantization.gain_compensation` (the threshold, bias
   and initial state absorb the rounded decays' steady-state gain).

A candidate replaces the current one only when it agrees strictly better
(``(exact + within 1 step) / 2`` of the spikes, over all populations), so ties go to the
simpler one (one part before two, nearest decays). The report lists every candidate
with its measured agreement and says what was chosen and why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from neurochip.network import Network
from neurochip.reference import simulate as reference_simulate

from mapping.fixed_point import simulate_fixed
from mapping.quantization import (ACT_SHIFT, VTH_SHIFT, WEIGHT_EXP_MIN, QuantizationError, QuantizedNetwork,
                                  ScaleChoice, decay_candidates, quantize, quantize_bias, quantize_weights,
                                  weight_format, _max_abs)

#: Steps of the calibration run of ``mapping.compile`` when ``calibrate_steps`` is not given.
DEFAULT_CALIBRATION_STEPS = 200


@dataclass
class Candidate:
    """One quantization to measure: a choice per population and the weight parts."""

    label: str
    choices: dict
    weight_parts: int


def calibration_run(net: Network, steps: int):
    """The float reference run the limits and the measurements use (``u``, ``v`` of every population)."""
    return reference_simulate(net, steps, {p: ["u", "v"] for p in net.population_names})


def matched_within_one(a: np.ndarray, b: np.ndarray) -> int:
    """Spikes of raster ``a`` matched one to one by spikes of raster ``b`` within one step (``(steps, n)`` bools).

    The greedy matching of :func:`neurochip.compare_spikes` with ``tolerance_steps=1``, on
    rasters: per neuron, ``a``'s spikes in time order each take the closest unused spike of
    ``b`` (the same step, else the step before, else the step after).
    """
    free = np.pad(b, ((1, 1), (0, 0)))  # free[t + 1] is step t of b
    matched = 0
    for t in np.flatnonzero(a.any(axis=1)):
        want = a[t].copy()
        for row in (t + 1, t, t + 2):
            hit = want & free[row]
            free[row] &= ~hit
            want &= ~hit
            matched += int(np.count_nonzero(hit))
    return matched


def agreement(ref, got, populations: Sequence[str]) -> dict:
    """Spikes of ``got`` against ``ref`` over ``populations``: count, exact and within-1-step fractions, score.

    The fractions of :func:`neurochip.compare_spikes` (of the larger spike count), pooled; ``score`` is
    their mean.
    """
    n = exact = within = 0
    for pop in populations:
        a, b = ref.raster(pop), got.raster(pop)
        n += max(int(a.sum()), int(b.sum()))
        exact += int(np.count_nonzero(a & b))
        within += matched_within_one(a, b)
    ex, wi = (exact / n, within / n) if n else (1.0, 1.0)
    return {"spikes": n, "exact": ex, "within_1": wi, "score": (ex + wi) / 2}


# ------------------------------------------------------------------- scale candidates
def exact_scale(pop, weights_in: dict, top: float, *, floor: float, tries: int = 4) -> float | None:
    """The largest power-of-two scale ``<= top`` (``tries`` of them, not below ``floor``) at which the
    threshold, bias and every weight into ``pop`` are exact with one 8-bit part (``None``: none).

    Weights on a power-of-two grid (integers, for example) are exact at such a scale when their
    largest value fits the mantissa there.
    """
    bias = np.broadcast_to(np.asarray(pop.bias, float), (pop.size,))
    if top <= 0 or not np.isfinite(top):
        return None
    s = 2.0 ** np.floor(np.log2(top))
    for _ in range(tries):
        if s < floor:
            return None
        mant = pop.vth * s / 2 ** VTH_SHIFT
        ok = mant == np.round(mant)
        if ok:
            b_mant, b_exp = quantize_bias(f"Population '{pop.name}'", bias, s)
            ok = np.array_equal(np.ldexp(b_mant.astype(float), b_exp), bias * s)
        for name, w in weights_in.items():
            if not ok:
                break
            ok = quantize_weights(name, w, s, parts=1)[1]["max_abs_error"] == 0.0
        if ok:
            return float(s)
        s /= 2
    return None


def _rounding_noise(w, scale: float, pre_spikes: float) -> tuple[float, float]:
    """``(LSB^2 * pre spikes, fill)``: the projection's rounding noise on the calibration run and the fraction
    of its 8-bit mantissa range its largest weight uses at ``scale``."""
    mode, step_bits, exp, need = weight_format(*_max_abs(w), scale)
    lsb = 2.0 ** (exp + step_bits) * 2 ** ACT_SHIFT / scale
    return lsb ** 2 * pre_spikes, (need / 2.0 ** exp if need > 0 else 1.0)


def full_mantissa_scale(pop, weights_in: dict, top: float, pre_spikes: dict) -> float | None:
    """The largest scale ``<= top`` at which the noisiest projection into ``pop`` fills its 8-bit mantissa.

    At ``top`` the largest weight of a projection uses a fraction ``fill`` in (1/2, 1] of its
    mantissa range; at ``top / (2 fill)`` the exponent drops by one and the mantissa is full,
    weights resolved up to twice as finely for up to one state bit less. ``None`` when it is
    already full or the exponent is at its minimum.
    """
    noisiest, best = None, 0.0
    for name, w in weights_in.items():
        noise, fill = _rounding_noise(w, top, pre_spikes.get(name, 0.0))
        if noise > best:
            noisiest, best = (name, fill), noise
    if noisiest is None:
        return None
    name, fill = noisiest
    exp = weight_format(*_max_abs(weights_in[name]), top)[2]
    if fill >= 1 - 1e-9 or exp - 1 < WEIGHT_EXP_MIN:
        return None
    return top / (2 * fill) * (1 - 1e-12)


def _pre_spikes(net: Network, ref) -> dict:
    """Spikes of each projection's pre node in the calibration run."""
    return {proj.name: float(ref.spikes[proj.pre].steps.size) for proj in net.projections}


def _has_residual(q: QuantizedNetwork) -> bool:
    return any(p.residual is not None for p in q.projections.values())


# ------------------------------------------------------------------- the search
def _decay_label(scale_stage: str, choices: dict) -> str:
    """The scale stage's label and every population whose decays the decay stage set."""
    set_ = [f"{name}: du_int {c.du_int}, dv_int {c.dv_int}, {'gain compensated' if c.compensate else 'not compensated'}"
            for name, c in choices.items() if c.du_int is not None]
    return "; ".join([scale_stage, *set_])


def _population_summary(q: QuantizedNetwork, cand: Candidate) -> dict:
    return {name: {"scale": qp.scale, "du_int": qp.du_int, "dv_int": qp.dv_int,
                   "compensate": bool(cand.choices[name].compensate)} for name, qp in q.populations.items()}


def choose(net: Network, *, steps: int = DEFAULT_CALIBRATION_STEPS, margin: float = 2.0,
           weight_parts: Sequence[int] = (1, 2), compensate: bool | None = None, vth_bits: int | None = None,
           min_vth_bits: int = 12, calibration=None) -> tuple[QuantizedNetwork, dict]:
    """Quantize ``net`` with the candidate that agrees best with the float reference on a calibration run.

    Parameters
    ----------
    net : Network
        With the weights to deploy (memristive snapshots already drawn).
    steps : int
        Length of the calibration run (>= 1).
    margin : float
        Headroom on the observed input and state ranges (see :func:`mapping.quantize`).
    weight_parts : sequence of {1, 2}
        The weight splits to consider (``(1,)`` when two parts do not fit the chip).
    compensate : bool, optional
        ``None``: measure with and without the gain compensation; ``True``: always; ``False``:
        never, and nearest decays (one parameter at a time, as ``quantize`` alone).
    vth_bits : int, optional
        Given: every population's scale follows :func:`mapping.quantize`'s rule with this
        threshold target (no scale candidates).
    min_vth_bits : int
    calibration : SimulationResult, optional
        A float run of ``net`` with ``u``, ``v`` of every population to use instead of a new one.

    Returns
    -------
    (QuantizedNetwork, dict)
        The integers, and the report: steps, candidates with their measured agreement
        (``exact``, ``within_1``, ``score``), ``chosen`` and ``why``.
    """
    start = time.perf_counter()
    parts_allowed = tuple(dict.fromkeys(int(p) for p in weight_parts))
    if not parts_allowed or any(p not in (1, 2) for p in parts_allowed):
        raise ValueError(f"choose: weight_parts should be a sequence of 1 and/or 2, got {weight_parts!r}")
    if calibration is None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"choose: steps should be an integer >= 1 (the calibration run), got {steps!r}")
    ref = calibration if calibration is not None else calibration_run(net, steps)
    pops = net.population_names
    kw = dict(calibration=ref, margin=margin, min_vth_bits=min_vth_bits,
              vth_bits=23 if vth_bits is None else vth_bits)
    measured, run_cache = [], {}

    def measure(cand: Candidate):
        q = quantize(net, weight_parts=cand.weight_parts, choices=cand.choices, **kw)
        got = simulate_fixed(net, q, ref.steps, cache=run_cache)
        row = {"label": cand.label, "weight_parts": cand.weight_parts,
               "has_residual_part": _has_residual(q), "populations": _population_summary(q, cand),
               **agreement(ref, got, pops)}
        measured.append(row)
        return q, row

    comp = compensate is not False
    kw["cache"] = {}
    base = quantize(net, weight_parts=1, **kw)
    top = {p: base.populations[p].scale for p in pops}
    analytic = {p: ScaleChoice(compensate=comp) for p in pops}

    def with_scales(scales: dict, why: str) -> dict:
        return {p: replace(analytic[p], scale=scales.get(p), why=why if p in scales else "") for p in pops}

    candidates = [Candidate("largest scale, 1 part", with_scales(top, "largest scale (calibrated limits)"), 1)]
    if 2 in parts_allowed:
        candidates.append(Candidate("largest scale, 2 parts", with_scales(top, "largest scale (calibrated limits)"),
                                    2))
    if vth_bits is None:
        weights_in = {p.name: {proj.name: proj.weights for proj in net.projections_into(p.name)}
                      for p in net.populations}
        floor = {p.name: 2.0 ** min_vth_bits / p.vth for p in net.populations}
        exact = {p.name: exact_scale(p, weights_in[p.name], top[p.name], floor=floor[p.name])
                 for p in net.populations}
        exact = {p: s for p, s in exact.items() if s is not None and s < top[p]}
        if exact:
            candidates.append(Candidate("exact weights (power-of-two scale), 1 part",
                                        with_scales({**top, **exact}, "largest power-of-two scale with exact "
                                                                      "weights, bias and threshold"), 1))
        spikes = _pre_spikes(net, ref)
        full = {p.name: full_mantissa_scale(p, weights_in[p.name], top[p.name], spikes) for p in net.populations}
        full = {p: s for p, s in full.items() if s is not None and s >= floor[p]}
        if full:
            candidates.append(Candidate("full 8-bit mantissa, 1 part",
                                        with_scales({**top, **full}, "largest scale at which the noisiest "
                                                                     "projection fills its 8-bit mantissa"), 1))
    candidates = [c for c in candidates if c.weight_parts in parts_allowed]
    best_q, best_row, best = None, None, None
    for cand in candidates:
        try:
            q, row = measure(cand)
        except QuantizationError as err:  # a candidate the chip cannot represent is skipped, and reported
            measured.append({"label": cand.label, "weight_parts": cand.weight_parts, "error": str(err)})
            continue
        if cand.weight_parts == 2 and not row["has_residual_part"]:
            row["note"] = "weights exact in one part: no residual part"
        if best_row is None or row["score"] > best_row["score"]:
            best_q, best_row, best = q, row, cand
    if best is None:
        raise QuantizationError(f"network '{net.name}': no candidate quantization fits Loihi fixed point: "
                                + "; ".join(r["error"] for r in measured))
    scale_stage = best_row["label"]
    # The decay stage keeps the chosen scales and parts: drop the other candidates' weights.
    kept = {("weights", proj.name, best_q.populations[proj.post].scale, best.weight_parts) for proj in net.projections}
    kw["cache"] = {k: v for k, v in kw["cache"].items() if k[0] == "in_max" or k in kept}
    run_cache.clear()
    if compensate is not False:
        for pop in net.populations:
            now = best.choices[pop.name]
            nearest = decay_candidates(pop.du, pop.dv)[0]
            current = (now.du_int, now.dv_int) if now.du_int is not None else nearest
            for du_int, dv_int in decay_candidates(pop.du, pop.dv):
                for comp_trial in ((True, False) if compensate is None else (True,)):
                    if ((du_int, dv_int), comp_trial) == (current, best.choices[pop.name].compensate):
                        continue
                    trial = replace(best.choices[pop.name], du_int=du_int, dv_int=dv_int, compensate=comp_trial)
                    choices = {**best.choices, pop.name: trial}
                    cand = Candidate(_decay_label(scale_stage, choices), choices, best.weight_parts)
                    q, row = measure(cand)
                    if row["score"] > best_row["score"]:
                        best_q, best_row, best = q, row, cand
                        current = (du_int, dv_int)
    report = {"steps": ref.steps, "margin": margin, "reference": "numpy", "spikes": best_row["spikes"],
              "candidates": measured, "chosen": best_row["label"],
              "chosen_agreement": {k: best_row[k] for k in ("exact", "within_1", "score")},
              "why": (f"best agreement with the float reference on the calibration run ({ref.steps} steps): "
                      f"exact {best_row['exact']:.4f}, within 1 step {best_row['within_1']:.4f}, of "
                      f"{len(measured)} candidates (scale stage: {scale_stage}); a candidate replaces the current "
                      f"one only if strictly better, so ties keep one weight part and the nearest decays"),
              "weight_parts_considered": list(parts_allowed), "seconds": time.perf_counter() - start}
    later = sum(int(np.count_nonzero(src.steps >= ref.steps)) for src in net.sources)
    total = sum(int(src.steps.size) for src in net.sources)
    if later:
        report["note"] = (f"{later} of {total} source spikes come after the calibration run ({ref.steps} steps): "
                          f"the ranges were observed without them; inputs stronger than those seen can overflow "
                          f"(mapping.verify counts it); calibrate_steps= covering the inputs avoids this")
    return best_q, report
