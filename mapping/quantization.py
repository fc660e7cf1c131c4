"""Loihi fixed-point quantization of a network, with a report that checks itself.

The fixed-point LIF of Loihi (Lava ``PyLifModelBitAcc``) updates integers::

    u[t] = wrap24( trunc(u[t-1] * (4096 - (du_int + 1)) / 4096) + (a_in[t] << 6) )
    v[t] = clip24( trunc(v[t-1] * (4096 - dv_int) / 4096) + u[t] + (bias_mant << bias_exp) )
    spike if v[t] > (vth_mant << 6);  then v[t] = 0

and a fixed-point Dense sends ``a_in = (sum of W over spiking pre) << weight_exp``
(``>>`` for a negative exponent), with 8-bit weights ``W`` (``weight_mant``): 0..255
(excitatory), -255..0 (inhibitory) or even numbers -256..254 (mixed sign, 8-bit mantissa).

Integer fields are named apart from the float ones (``Population.du`` is a
fraction, :attr:`QuantizedPopulation.du_int` a 12-bit integer): ``du_int``,
``dv_int``, ``vth_mant``, ``bias_mant``, ``bias_exp``, ``u_init_int``,
``v_init_int``, ``weight_mant``, ``weight_exp``; the report uses the same names.
Each quantity has its own pure function (:func:`quantize_decays`,
:func:`hard_scale_limits` / :func:`hard_scale` / :func:`apply_soft_limits` /
:func:`exact_threshold` for the scale, :func:`quantize_bias`,
:func:`quantize_state`, :func:`quantize_weights`, :func:`state_bounds` and
:func:`input_error_bound` for the ranges); :func:`quantize_population` and
:func:`quantize` put them together.

Quantization maps a population's float state to integers with one scale ``S``
per population (``v_int = S * v_float``), so the float model is recovered as

* ``vth = 64 * vth_mant / S`` (``S`` is chosen so that this is exact),
* ``du = (du_int + 1) / 4096``, ``dv = dv_int / 4096`` (12 bits each),
* ``bias = bias_mant * 2**bias_exp / S`` (13-bit signed mantissa, exponent 0..7),
* ``w = W * 2**weight_exp * 64 / S_post`` (8-bit mantissa, one exponent -8..7 per projection).

``S`` aims at an effective threshold of ``2**vth_bits`` (default ``2**20``) and is
lowered as needed so that the bias and weights are representable (hard limits:
otherwise :class:`QuantizationError`) and so that the worst-case input per step fits
the 16-bit ``a_in`` and the worst-case current the 24-bit ``u`` (soft limits: if
they cannot be met above ``2**min_vth_bits``, the report flags the risk).
Every rounding is reported with its bound; :func:`dequantize` gives the float
network that the fixed-point chip actually runs.

``quantize(..., choices={pop: ScaleChoice(...)})`` fixes a population's scale and
decay integers and can compensate what the decay rounding does to the response
(:func:`gain_compensation`: the threshold absorbs the change of the steady-state
gain, the bias and initial state follow); :mod:`mapping.calibration` chooses them by
measurement on a calibration run (the default of ``mapping.compile``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp

from neurochip.network import Network, Population, Projection

DECAY_BITS = 12
DECAY_UNITY = 2 ** DECAY_BITS
VTH_SHIFT = 6  # threshold is MSB-aligned: effective vth = vth_mant << 6
ACT_SHIFT = 6  # synaptic input is MSB-aligned: u += a_in << 6
VTH_MANT_MAX = 2 ** 17 - 1
UV_MAX = 2 ** 23 - 1
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2 ** 12), 2 ** 12 - 1
BIAS_EXP_MAX = 7
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -8, 7
A_IN_MAX = 2 ** 15 - 1
MAX_DELAY_FIXED = 64  # Loihi 2 DelayDense: 6-bit delays 0..63, i.e. our delay 1..64
RESIDUAL_MIN_EXP = 0  # see quantize_weights


class QuantizationError(ValueError):
    """A parameter cannot be represented in Loihi fixed point."""


@dataclass
class QuantizedPopulation:
    """Integer LIF parameters of one population (the arguments of Lava's fixed-point ``LIF``).

    The integer fields are named apart from the float ones of
    :class:`~neurochip.network.Population` (``du`` there is a fraction, ``du_int`` here
    a 12-bit integer): ``du_int``, ``dv_int`` (Lava ``du``, ``dv``), ``vth_mant``
    (Lava ``vth``), ``bias_mant``, ``bias_exp``, ``u_init_int``, ``v_init_int``
    (Lava ``u``, ``v``); ``scale`` is the float-to-integer factor ``S``.
    """

    name: str
    scale: float
    du_int: int
    dv_int: int
    vth_mant: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    u_init_int: np.ndarray
    v_init_int: np.ndarray

    def dequantized(self) -> dict:
        """The float parameters this integer population represents."""
        bias = np.ldexp(self.bias_mant.astype(float), self.bias_exp) / self.scale
        return {"du": (self.du_int + 1) / DECAY_UNITY, "dv": self.dv_int / DECAY_UNITY,
                "vth": float(self.vth_mant * 2 ** VTH_SHIFT) / self.scale, "bias": bias,
                "u_init": self.u_init_int / self.scale, "v_init": self.v_init_int / self.scale}


@dataclass
class QuantizedProjection:
    """8-bit weights, shared exponent and sign mode of one projection (Lava ``weights``, ``weight_exp``)."""

    name: str
    weight_mant: Any  # int64 ndarray (n_post, n_pre) or scipy.sparse csr: Lava's integer ``weights``
    weight_exp: int
    sign_mode: str  # "excitatory", "inhibitory", "mixed"
    scale: float  # scale of the post population
    num_weight_bits: int = 8
    residual: "QuantizedProjection | None" = None

    def parts(self) -> list:
        """This part and the residual parts (each one Loihi projection with its own exponent)."""
        return [self] + (self.residual.parts() if self.residual is not None else [])

    def effective_weights(self):
        """Float weights the chip applies: ``sum over parts of W * 2**weight_exp * 64 / S_post``."""
        factor = 2.0 ** self.weight_exp * 2 ** ACT_SHIFT / self.scale
        if sp.issparse(self.weight_mant):
            out = self.weight_mant.astype(float).tocsr()
            out.data = out.data * factor
        else:
            out = self.weight_mant.astype(float) * factor
        if self.residual is not None:
            out = out + self.residual.effective_weights()
            if sp.issparse(out):
                out = sp.csr_matrix(out)
        return out


@dataclass
class QuantizedNetwork:
    """Integer parameters of every population and projection, and the report."""

    populations: dict
    projections: dict
    report: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleChoice:
    """What :func:`quantize` uses for one population instead of its own rule (``None``: the rule).

    Attributes
    ----------
    scale : float, optional
        The float-to-integer factor ``S`` (then lowered only as far as an exact threshold
        mantissa needs, see :func:`exact_threshold`). Default: ``2**vth_bits / vth`` lowered by
        the limits.
    du_int, dv_int : int, optional
        12-bit decays. Default: the nearest (:func:`quantize_decays`).
    compensate : bool
        Compensate the decays' rounding in the steady-state gain (:func:`gain_compensation`):
        threshold times ``kappa``, bias and ``u_init`` times ``lam``, ``v_init`` times ``kappa``.
    why : str
        Reported as ``scale_limited_by`` when ``scale`` is given.
    """

    scale: float | None = None
    du_int: int | None = None
    dv_int: int | None = None
    compensate: bool = False
    why: str = ""


# --------------------------------------------------------------------------- decays
def quantize_decays(du: float, dv: float) -> tuple[int, int]:
    """12-bit decays: ``du = (du_int + 1) / 4096`` (Loihi adds 1 to ``du``), ``dv = dv_int / 4096``.

    Rounded to the nearest step and clipped to 0..4095, so ``du = 0`` becomes
    1/4096 and ``dv = 1`` becomes 4095/4096 (the reported error bounds say so).
    """
    du_int = int(np.clip(round(du * DECAY_UNITY) - 1, 0, DECAY_UNITY - 1))
    dv_int = int(np.clip(round(dv * DECAY_UNITY), 0, DECAY_UNITY - 1))
    return du_int, dv_int


def decay_candidates(du: float, dv: float) -> list[tuple[int, int]]:
    """``(du_int, dv_int)`` pairs of the 12-bit neighbours of ``du`` and ``dv`` (below and above), nearest first.

    One pair when both are on the 4096 grid, up to four otherwise; every pair in range.
    """
    def neighbours(x, offset):
        low, high = int(np.floor(x * DECAY_UNITY)), int(np.ceil(x * DECAY_UNITY))
        near = int(round(x * DECAY_UNITY))
        ordered = [near] + [n for n in (low, high) if n != near]
        return list(dict.fromkeys(int(np.clip(n - offset, 0, DECAY_UNITY - 1)) for n in ordered))

    return [(a, b) for a in neighbours(du, 1) for b in neighbours(dv, 0)]


def gain_compensation(du: float, dv: float, du_int: int, dv_int: int) -> tuple[float, float]:
    """``(kappa, lam)``: what the rounded decays do to the steady-state gain, for the other parameters to absorb.

    A constant input ``x`` holds ``u`` at ``x / du`` and ``v`` at ``(u + bias) / dv``; with
    the effective decays ``du' = (du_int + 1) / 4096``, ``dv' = dv_int / 4096`` the chip holds
    ``u' = (du / du') u`` and ``v' = kappa v`` with ``kappa = (du / du') (dv / dv')``. A threshold
    ``kappa vth``, a bias ``lam bias`` and initial ``u``, ``v`` times ``lam = du / du'`` and ``kappa``
    make the chip's steady states and threshold crossings those of the float model (exactly for
    constant inputs; for varying ones the decays' remaining error is the kernels' shape). A decay
    of 0 (an integrator; Loihi's ``du`` is at least 1/4096) is not compensated (factor 1).
    """
    du_eff, dv_eff = (du_int + 1) / DECAY_UNITY, dv_int / DECAY_UNITY
    lam = du / du_eff if du > 0 else 1.0
    ratio_v = dv / dv_eff if dv > 0 and dv_eff > 0 else 1.0
    return lam * ratio_v, lam


def decay_report(du: float, dv: float, du_int: int, dv_int: int) -> dict:
    """``{"du": ..., "dv": ...}``: float, integer and effective decay with the absolute error and its bound."""
    du_eff, dv_eff = (du_int + 1) / DECAY_UNITY, dv_int / DECAY_UNITY
    return {"du": {"float": du, "du_int": du_int, "effective": du_eff, "abs_error": abs(du_eff - du),
                   "error_bound": 1.0 / DECAY_UNITY if du < 1 / DECAY_UNITY else 0.5 / DECAY_UNITY},
            "dv": {"float": dv, "dv_int": dv_int, "effective": dv_eff, "abs_error": abs(dv_eff - dv),
                   "error_bound": 1.0 / DECAY_UNITY if dv > 1 - 1 / DECAY_UNITY else 0.5 / DECAY_UNITY}}


# --------------------------------------------------------------------------- scale
def _in_bounds(weights_in: list, size: int) -> float:
    """Worst-case |input| per step into any of ``size`` neurons (every pre neuron of ``weights_in`` spiking)."""
    pos = np.zeros(size)
    neg = np.zeros(size)
    for w in weights_in:
        if sp.issparse(w):
            pos += np.asarray(w.maximum(0).sum(axis=1)).ravel()
            neg += np.asarray((-w).maximum(0).sum(axis=1)).ravel()
        else:
            w = np.asarray(w, dtype=float)
            rows = max(1, CHUNK // max(1, w.shape[1]))
            for i in range(0, w.shape[0], rows):  # row blocks: bounded temporaries
                block = w[i:i + rows]
                pos[i:i + rows] += np.clip(block, 0, None).sum(axis=1)
                neg[i:i + rows] -= np.clip(block, None, 0).sum(axis=1)
    return float(max(pos.max(initial=0.0), neg.max(initial=0.0)))


def _max_abs(w) -> tuple[float, float]:
    values = w.data if sp.issparse(w) else np.asarray(w)
    if values.size == 0:
        return 0.0, 0.0
    return float(max(values.max(), 0.0)), float(max(-values.min(), 0.0))


def _weight_scale_limit(wpos: float, wneg: float) -> float:
    """Largest S for which weights fit 8 bits with weight_exp <= 7 (inf if all zero)."""
    top = 2 ** ACT_SHIFT * 2 ** WEIGHT_EXP_MAX
    if wpos > 0 and wneg > 0:  # mixed: mantissa -128..127, times 2
        return min(top * 2 * 127 / wpos, top * 2 * 128 / wneg)
    if wpos > 0 or wneg > 0:
        return top * 255 / max(wpos, wneg)
    return np.inf


def hard_scale_limits(pop: Population, weights_in: Mapping[str, Any], *, vth_bits: int) -> dict:
    """Largest scale ``S`` each representable quantity allows (``{what: S}``).

    The threshold target ``2**vth_bits / vth``, the 17-bit ``vth_mant``, the bias
    (13-bit mantissa, exponent <= 7), the 24-bit initial state and the 8-bit
    weights of every projection into ``pop`` (``weights_in``: name -> float weights).
    """
    limits = {"threshold": 2.0 ** vth_bits / pop.vth, "vth_mant": VTH_MANT_MAX * 2 ** VTH_SHIFT / pop.vth}
    bmax = float(np.abs(np.asarray(pop.bias, dtype=float)).max())
    if bmax > 0:
        limits["bias"] = BIAS_MANT_MAX * 2 ** BIAS_EXP_MAX / bmax
    init_max = float(max(np.abs(pop.u_init).max(), np.abs(pop.v_init).max()))
    if init_max > 0:
        limits["initial state"] = UV_MAX / init_max
    for name, w in weights_in.items():
        limits[f"weights of '{name}'"] = _weight_scale_limit(*_max_abs(w))
    return limits


def observed_ranges(calibration, pop: Population) -> dict | None:
    """Observed max |input per step|, |u| and |v| of ``pop`` in a float run with u, v traces (``None``: no run)."""
    if calibration is None:
        return None
    traces = calibration.traces.get(pop.name, {})
    if "u" not in traces or "v" not in traces:
        raise ValueError(f"quantize: calibration should have 'u' and 'v' traces of population "
                         f"'{pop.name}' (run with probes={{'{pop.name}': ['u', 'v']}})")
    u = np.asarray(traces["u"], dtype=float)
    v = np.asarray(traces["v"], dtype=float)
    if u.shape[0] == 0:
        return {"input": 0.0, "u": 0.0, "v": 0.0}
    u0 = np.broadcast_to(np.asarray(pop.u_init, float), (pop.size,))
    prev = np.vstack([u0[None, :], u[:-1]])
    a_in = u - prev * (1 - pop.du)
    # v before the reset is at most vth plus one step's increase; the trace is after the reset.
    # "v_neg": the most negative v (clipping there changes the dynamics; above vth it cannot: a
    # clipped v at 2**23 - 1 is still above the 17-bit threshold, and it spikes and resets).
    return {"input": float(np.abs(a_in).max()), "u": float(np.abs(u).max()),
            "v": float(max(np.abs(v).max(), pop.vth)), "v_neg": float(max(-v.min(), 0.0))}


def state_bounds(in_max: float, du_eff: float, observed: dict | None, *, steps: int = 0,
                 margin: float = 2.0) -> tuple[str, float, float, float]:
    """``(label, input bound, u bound, v bound)`` the soft limits are checked against.

    Calibrated (``observed`` given): the observed maxima times ``margin``; for ``v`` the
    most negative value (``"v_neg"``, when given: above the threshold a clipped ``v`` still
    spikes), else the largest ``|v|``. Worst case: every pre neuron spiking in one step
    (``in_max``), and a ``u`` that accumulates it (``in_max / du_eff``); no v bound.
    """
    if observed is not None:
        v_key = "v_neg" if "v_neg" in observed else "v"
        in_bound, u_bound, v_bound = (margin * observed[k] for k in ("input", "u", v_key))
        return f"calibrated ({steps} steps, margin {margin:g})", in_bound, u_bound, v_bound
    u_bound = in_max / du_eff if in_max > 0 else 0.0
    return "worst case (every pre neuron spiking in one step)", in_max, u_bound, 0.0


def soft_scale_limits(in_bound: float, u_bound: float, v_bound: float) -> dict:
    """Largest scale for the 16-bit input per step and the 24-bit ``u``, ``v`` (``{what: S}``)."""
    soft = {}
    if in_bound > 0:
        soft["16-bit input per step"] = A_IN_MAX * 2 ** ACT_SHIFT / in_bound
    if u_bound > 0:
        soft["24-bit current u"] = UV_MAX / u_bound
    if v_bound > 0:
        soft["24-bit voltage v"] = UV_MAX / v_bound
    return soft


def hard_scale(owner: str, vth: float, hard: dict, *, min_vth_bits: int) -> tuple[float, str]:
    """``(scale, what limits it)``: the smallest hard limit; :class:`QuantizationError` below the floor.

    The floor is ``2**min_vth_bits / vth`` (an effective threshold of ``2**min_vth_bits``).
    """
    s_min = 2.0 ** min_vth_bits / vth
    hard_name = min(hard, key=hard.get)
    scale = hard[hard_name]
    if scale < s_min * (1 - 1e-12):
        ratio = s_min / scale
        raise QuantizationError(
            f"{owner}: {hard_name} cannot be represented next to threshold {vth:g}: "
            f"it needs an effective threshold below 2**{min_vth_bits} (by a factor {ratio:.3g}); "
            f"the range of 24-bit state, 13-bit bias mantissa and 8-bit weights is exceeded")
    return scale, hard_name


def apply_soft_limits(scale: float, limited_by: str, soft: dict, *, vth: float, min_vth_bits: int
                      ) -> tuple[float, str, list]:
    """``(scale, limited_by, risks)``: ``scale`` lowered by each soft limit, not below ``2**min_vth_bits / vth``.

    A soft limit below that floor keeps the floor and is reported as an overflow risk.
    """
    s_min = 2.0 ** min_vth_bits / vth
    risks = []
    for name, s in soft.items():
        if s < scale:
            if s >= s_min:
                scale, limited_by = s, name
            else:
                scale, limited_by = max(s_min, min(scale, s)), f"{name} (floor 2**{min_vth_bits})"
                risks.append(
                    f"{name}: overflows if more than {100 * s / scale:.1f} % of the worst-case "
                    f"input arrives in one step / accumulates")
    return scale, limited_by, risks


def exact_threshold(scale: float, vth: float) -> tuple[int, float]:
    """``(vth_mant, scale)``: the 17-bit mantissa at or below ``scale``, and the scale that makes it exact.

    ``vth = 64 * vth_mant / scale`` holds exactly for the returned scale.
    """
    vth_mant = int(np.floor(scale * vth / 2 ** VTH_SHIFT * (1 + 1e-12)))  # a scale made exact stays exact
    vth_mant = max(1, min(vth_mant, VTH_MANT_MAX))
    return vth_mant, vth_mant * 2 ** VTH_SHIFT / vth


# --------------------------------------------------------------------------- bias and state
def quantize_bias(owner: str, bias: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``(bias_mant, bias_exp)`` per neuron: the smallest exponent 0..7 at which ``bias * scale`` fits 13 bits."""
    b = bias * scale
    bias_exp = np.zeros(bias.shape[0], dtype=np.int64)
    for e in range(BIAS_EXP_MAX + 1):
        need = (np.round(b / 2.0 ** bias_exp) > BIAS_MANT_MAX) | (np.round(b / 2.0 ** bias_exp) < BIAS_MANT_MIN)
        if not need.any():
            break
        bias_exp[need] = e + 1
    if bias_exp.max(initial=0) > BIAS_EXP_MAX:
        raise QuantizationError(f"{owner}: bias up to {float(np.abs(bias).max()):g} does not fit 13-bit mantissa "
                                f"with exponent <= {BIAS_EXP_MAX} at scale {scale:.4g}")
    return np.round(b / 2.0 ** bias_exp).astype(np.int64), bias_exp


def quantize_state(values, scale: float, size: int) -> np.ndarray:
    """Initial ``u`` or ``v`` (scalar or per neuron) as int64 integers ``round(value * scale)``."""
    return np.round(np.broadcast_to(np.asarray(values, float), (size,)) * scale).astype(np.int64)


def bias_report(bias: np.ndarray, qp: QuantizedPopulation) -> dict:
    """Bias range, rounding error, its bound (half a mantissa step) and the exponent range."""
    err = np.abs(qp.dequantized()["bias"] - bias)
    return {"range": [float(bias.min()), float(bias.max())], "max_abs_error": float(err.max()),
            "error_bound": float(np.max(2.0 ** qp.bias_exp) * 0.5 / qp.scale),
            "bias_exp_range": [int(qp.bias_exp.min()), int(qp.bias_exp.max())]}


# --------------------------------------------------------------------------- one population
def quantize_population(pop: Population, weights_in: Mapping[str, Any], *, vth_bits: int, min_vth_bits: int,
                        calibration=None, margin: float = 2.0, choice: ScaleChoice | None = None,
                        in_max: float | None = None) -> tuple[QuantizedPopulation, dict]:
    """Integers and report of one population; ``weights_in``: float weights of the projections into it.

    ``choice`` (a :class:`ScaleChoice`) fixes the scale and decays and switches on the gain
    compensation; a chosen scale above a hard limit is a :class:`QuantizationError`, above a
    soft limit an overflow risk in the report. ``in_max``: the worst-case input per step
    (:func:`_in_bounds` of ``weights_in``) when already known.
    """
    owner = f"Population '{pop.name}'"
    choice = choice or ScaleChoice()
    hard = hard_scale_limits(pop, weights_in, vth_bits=vth_bits)
    scale, hard_name = hard_scale(owner, pop.vth, hard, min_vth_bits=min_vth_bits)
    if in_max is None:
        in_max = _in_bounds(list(weights_in.values()), pop.size)
    du_int, dv_int = quantize_decays(pop.du, pop.dv)
    du_int = du_int if choice.du_int is None else int(choice.du_int)
    dv_int = dv_int if choice.dv_int is None else int(choice.dv_int)
    observed = observed_ranges(calibration, pop)
    bounds, in_bound, u_bound, v_bound = state_bounds(
        in_max, (du_int + 1) / DECAY_UNITY, observed, steps=getattr(calibration, "steps", 0), margin=margin)
    soft = soft_scale_limits(in_bound, u_bound, v_bound)
    kappa, lam = gain_compensation(pop.du, pop.dv, du_int, dv_int) if choice.compensate else (1.0, 1.0)
    if choice.scale is None:
        scale, limited_by, risks = apply_soft_limits(scale, hard_name, soft, vth=pop.vth, min_vth_bits=min_vth_bits)
    else:
        _check_chosen_scale(owner, choice.scale, {k: v for k, v in hard.items() if k != "threshold"})
        scale, limited_by = float(choice.scale), choice.why or "chosen"
        risks = [f"{name}: the chosen scale is {scale / s:.3g} times its limit" for name, s in soft.items()
                 if s < scale * (1 - 1e-12)]
    # The compensated threshold mantissa must fit 17 bits too.
    scale = min(scale, VTH_MANT_MAX * 2 ** VTH_SHIFT / (pop.vth * max(kappa, 1.0)))
    vth_mant, scale = exact_threshold(scale, pop.vth)
    if choice.compensate:
        vth_mant = int(np.clip(round(kappa * vth_mant), 1, VTH_MANT_MAX))
    bias = np.broadcast_to(np.asarray(pop.bias, dtype=float), (pop.size,))
    bias_mant, bias_exp = quantize_bias(owner, lam * bias, scale)
    qp = QuantizedPopulation(name=pop.name, scale=float(scale), du_int=du_int, dv_int=dv_int, vth_mant=vth_mant,
                             bias_mant=bias_mant, bias_exp=bias_exp,
                             u_init_int=quantize_state(lam * np.asarray(pop.u_init, float), scale, pop.size),
                             v_init_int=quantize_state(kappa * np.asarray(pop.v_init, float), scale, pop.size))
    vth_eff = qp.dequantized()["vth"]
    report = {
        "size": pop.size, "scale": float(scale), "scale_limited_by": limited_by,
        "vth": {"float": pop.vth, "vth_mant": vth_mant, "effective": vth_eff, "abs_error": abs(vth_eff - pop.vth),
                "target": kappa * pop.vth, "target_error": abs(vth_eff - kappa * pop.vth),
                "target_error_bound": 0.5 * 2 ** VTH_SHIFT / scale if choice.compensate else 0.0},
        **decay_report(pop.du, pop.dv, du_int, dv_int),
        "gain_compensation": gain_report(pop, du_int, dv_int, choice.compensate, kappa, lam),
        "bias": bias_report(lam * bias, qp),
        "state_lsb": 1.0 / scale,
        "bounds": bounds,
        "worst_case_input_per_step": in_max,
        "input_bound": in_bound, "a_in_bound": in_bound * scale / 2 ** ACT_SHIFT, "a_in_limit": A_IN_MAX,
        "u_bound": u_bound, "u_int_bound": u_bound * scale, "uv_limit": UV_MAX,
        "observed": observed,
        "overflow_risk": bool(risks), "risks": risks,
    }
    return qp, report


def _check_chosen_scale(owner: str, scale: float, hard: dict) -> None:
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{owner}: a chosen scale should be a positive finite number, got {scale!r}")
    over = {name: s for name, s in hard.items() if scale > s * (1 + 1e-12)}
    if over:
        name = min(over, key=over.get)
        raise QuantizationError(f"{owner}: the chosen scale {scale:.6g} is above the largest that {name} allows "
                                f"({over[name]:.6g}, by a factor {scale / over[name]:.3g}); choose a smaller one")


def gain_report(pop: Population, du_int: int, dv_int: int, applied: bool, kappa: float, lam: float) -> dict:
    """The steady-state gains of the rounded decays against the float ones, and what compensates them."""
    k, lm = gain_compensation(pop.du, pop.dv, du_int, dv_int)
    return {"applied": bool(applied), "kappa": kappa, "lambda": lam,
            "steady_state_gain_ratio": 1.0 / k,
            "why": ("threshold times kappa, bias and u_init times lambda, v_init times kappa: the rounded "
                    "decays' steady-state gain (u: du/du_eff, v: dv/dv_eff) is absorbed"
                    if applied else
                    f"not compensated: the rounded decays change the steady-state gain by a factor "
                    f"{1.0 / k:.6g}")}


# --------------------------------------------------------------------------- weights
def weight_format(wpos: float, wneg: float, scale: float, *, min_exp: int = WEIGHT_EXP_MIN
                  ) -> tuple[str, int, int, float]:
    """``(sign_mode, step_bits, weight_exp, need)`` for weights up to ``wpos`` / down to ``-wneg``.

    Mixed signs use even mantissas -256..254 (``step_bits = 1``); one sign uses
    0..255 or -255..0. ``weight_exp`` is the smallest exponent (clipped to
    ``min_exp .. 7``) at which the largest weight fits; ``need`` is the exponent
    scale that weight asks for (more than ``2**weight_exp`` means it does not fit).
    """
    if wpos > 0 and wneg > 0:
        mode, step_bits = "mixed", 1
        need = max(wpos * scale / 2 ** ACT_SHIFT / (2 * 127), wneg * scale / 2 ** ACT_SHIFT / (2 * 128))
    elif wneg > 0:
        mode, step_bits = "inhibitory", 0
        need = wneg * scale / 2 ** ACT_SHIFT / 255
    else:
        mode, step_bits = "excitatory", 0
        need = wpos * scale / 2 ** ACT_SHIFT / 255
    exp = int(np.ceil(np.log2(need) - 1e-12)) if need > 0 else 0
    return mode, step_bits, int(np.clip(exp, min_exp, WEIGHT_EXP_MAX)), need


def _clip_mantissa(mant: np.ndarray, mode: str) -> np.ndarray:
    low, high = {"mixed": (-128, 127), "inhibitory": (-255, 0), "excitatory": (0, 255)}[mode]
    return np.clip(mant, low, high)


def _values_on(structure, w) -> np.ndarray:
    """Entries of ``w`` at every stored position of the sparse ``structure`` (explicit zeros included)."""
    coo = structure.tocoo()
    return np.asarray(sp.csr_matrix(w)[coo.row, coo.col]).ravel()


#: Weights are quantized and checked in chunks of this many synapses (bounded temporaries).
CHUNK = 1 << 20


def _flat(w) -> np.ndarray:
    """The stored values of ``w`` as one 1-D float array (a view when possible): sparse ``data``, dense raveled."""
    if sp.issparse(w):
        return np.asarray(w.data, dtype=float)
    return np.asarray(w, dtype=float).reshape(-1)


def _part_flats(q: QuantizedProjection, w) -> list:
    """``(flat integer mantissas, factor to float)`` per part, aligned with :func:`_flat` of ``w``."""
    out = []
    for part in q.parts():
        ints = part.weight_mant
        if sp.issparse(ints):
            ints = ints.data if ints.nnz == w.nnz else _values_on(w, ints)
        out.append((np.asarray(ints).reshape(-1), 2.0 ** part.weight_exp * 2 ** ACT_SHIFT / part.scale))
    return out


def _error_stats(orig: np.ndarray, parts: list) -> tuple[float, float, int]:
    """``(max |error|, sum of squared errors, weights rounded to zero)`` of the parts' sum against ``orig``."""
    worst, sumsq, zeroed = 0.0, 0.0, 0
    for i in range(0, orig.size, CHUNK):
        w = orig[i:i + CHUNK]
        eff = parts[0][0][i:i + CHUNK].astype(float) * parts[0][1]
        for ints, factor in parts[1:]:
            eff = eff + ints[i:i + CHUNK].astype(float) * factor
        err = np.abs(eff - w)
        worst = max(worst, float(err.max(initial=0.0)))
        sumsq += float(np.dot(err, err))
        zeroed += int(np.count_nonzero((w != 0) & (eff == 0)))
    return worst, sumsq, zeroed


def weight_report(q: QuantizedProjection, w, *, lsb: float, bound: float, saturated: int) -> dict:
    """Value and mantissa ranges, LSB, max / RMS error against ``w``, its bound, zeroed and saturated counts."""
    orig = _flat(w)
    parts = _part_flats(q, w)
    worst, sumsq, zeroed = _error_stats(orig, parts)
    ints = parts[0][0]
    return {
        "sign_mode": q.sign_mode, "weight_exp": q.weight_exp, "num_weight_bits": 8,
        "range": [float(orig.min()) if orig.size else 0.0, float(orig.max()) if orig.size else 0.0],
        "weight_mant_range": [int(ints.min()) if ints.size else 0, int(ints.max()) if ints.size else 0],
        "lsb": float(lsb * 2.0 ** ACT_SHIFT / q.scale),
        "max_abs_error": worst,
        "rms_error": float(np.sqrt(sumsq / orig.size)) if orig.size else 0.0,
        "error_bound": float(bound),
        "zeroed": zeroed,
        "saturated": saturated,  # 0 by construction of the exponent
        "parts": [{"weight_exp": p.weight_exp, "sign_mode": p.sign_mode} for p in q.parts()],
    }


def _mantissas(orig: np.ndarray, scale: float, lsb: float, mode: str, step_bits: int, first=None
               ) -> tuple[np.ndarray, int]:
    """``(int16 mantissas, saturated count)`` of ``orig`` (minus the part ``first = (ints, factor)``), chunk by chunk."""
    out = np.empty(orig.size, dtype=np.int16)
    saturated = 0
    for i in range(0, orig.size, CHUNK):
        x = orig[i:i + CHUNK]
        if first is not None:
            x = x - first[0][i:i + CHUNK].astype(float) * first[1]
        unclipped = np.round(x * scale / 2 ** ACT_SHIFT / lsb)
        mant = _clip_mantissa(unclipped, mode)
        saturated += int(np.count_nonzero(mant != unclipped))
        out[i:i + CHUNK] = mant * 2 ** step_bits
    return out, saturated


def _residual_range(orig: np.ndarray, first: tuple) -> tuple[float, float]:
    """``(max positive, max negative)`` residual ``orig - first part`` (both >= 0)."""
    pos = neg = 0.0
    for i in range(0, orig.size, CHUNK):
        rest = orig[i:i + CHUNK] - first[0][i:i + CHUNK].astype(float) * first[1]
        if rest.size:
            pos, neg = max(pos, float(rest.max())), max(neg, float(-rest.min()))
    return pos, neg


def _shaped(w, flat_ints: np.ndarray):
    """``flat_ints`` in the structure of ``w`` (sparse: a CSR copy with these data)."""
    if sp.issparse(w):
        out = w.tocsr(copy=True)
        out.data = flat_ints
        return out
    return flat_ints.reshape(np.shape(w))


def _format_or_raise(name: str, wpos: float, wneg: float, scale: float, min_exp: int) -> tuple[str, int, int]:
    mode, step_bits, exp, need = weight_format(wpos, wneg, scale, min_exp=min_exp)
    if need > 2.0 ** exp * (1 + 1e-9):
        raise QuantizationError(
            f"Projection '{name}': weights up to {max(wpos, wneg):.4g} need weight_exp "
            f"{int(np.ceil(np.log2(need)))} > {WEIGHT_EXP_MAX} at scale {scale:.4g}")
    return mode, step_bits, exp


def quantize_weights(name: str, w, scale: float, *, parts: int = 1,
                     min_exp: int = WEIGHT_EXP_MIN) -> tuple[QuantizedProjection, dict]:
    """Quantize one projection's float weights for a post population of scale ``scale``.

    ``parts = 2`` adds a second projection carrying the rounding residual with
    its own exponent (about 8 more bits of weight precision for twice the synapses).
    Mantissas are int16 arrays (Lava's ``Dense`` takes them as they are); the work is done in
    chunks of :data:`CHUNK` synapses, so temporaries stay bounded whatever the size.
    """
    if parts not in (1, 2):
        raise ValueError(f"Projection '{name}': weight_parts should be 1 or 2, got {parts!r}")
    orig = _flat(w)
    mode, step_bits, exp = _format_or_raise(name, *_max_abs(w), scale, min_exp)
    lsb = 2.0 ** (exp + step_bits)
    ints, saturated = _mantissas(orig, scale, lsb, mode, step_bits)
    q = QuantizedProjection(name=name, weight_mant=_shaped(w, ints), weight_exp=exp, sign_mode=mode, scale=scale)
    bound = 0.5 * lsb * 2.0 ** ACT_SHIFT / scale  # half a mantissa step, in float units
    if parts == 2:
        first = (ints, 2.0 ** exp * 2 ** ACT_SHIFT / scale)
        rpos, rneg = _residual_range(orig, first)
        if rpos > 0 or rneg > 0:
            # Exponent >= 0: a negative one floors the summed input, a bias of up to one
            # a_in unit per step that costs more than the finer weights gain (measured).
            rmode, rstep, rexp = _format_or_raise(name + "#residual", rpos, rneg, scale, RESIDUAL_MIN_EXP)
            rlsb = 2.0 ** (rexp + rstep)
            rints, _ = _mantissas(orig, scale, rlsb, rmode, rstep, first=first)
            q.residual = QuantizedProjection(name=name + "#residual", weight_mant=_shaped(w, rints),
                                             weight_exp=rexp, sign_mode=rmode, scale=scale)
            bound = 0.5 * rlsb * 2.0 ** ACT_SHIFT / scale
    return q, weight_report(q, w, lsb=lsb, bound=bound, saturated=saturated)


def input_error_bound(projections_in: list, reports: Mapping[str, dict], quantized: Mapping[str, QuantizedProjection],
                      scale: float) -> float:
    """Bound on the error of one step's input into a population of scale ``scale`` (every pre neuron spiking once).

    Per projection: its weight error bound times its pre count, plus one ``a_in``
    unit per part with a negative exponent (the shifted sum is floored).
    """
    err = 0.0
    for proj in projections_in:
        err += reports[proj.name]["error_bound"] * proj.shape[1]
        err += sum(2.0 ** ACT_SHIFT / scale for p in quantized[proj.name].parts() if p.weight_exp < 0)
    return err


def _check_delays(net: Network) -> None:
    for proj in net.projections:
        if proj.delay > MAX_DELAY_FIXED:
            raise QuantizationError(
                f"Projection '{proj.name}': delay {proj.delay} exceeds the fixed-point maximum "
                f"{MAX_DELAY_FIXED} steps (6-bit synaptic delay) by {proj.delay - MAX_DELAY_FIXED}")


# --------------------------------------------------------------------------- the network
def quantize(net: Network, *, weights: Mapping[str, Any] | None = None, vth_bits: int | None = None,
             min_vth_bits: int = 12, weight_parts: int = 1, calibration=None,
             margin: float = 2.0, choices: Mapping[str, ScaleChoice] | None = None,
             cache: dict | None = None) -> QuantizedNetwork:
    """Quantize ``net`` for Loihi fixed point (see the module docstring).

    Parameters
    ----------
    net : Network
    weights : dict of projection name to float weights, optional
        Weights to use instead of ``proj.weights`` (e.g. memristive snapshots).
    vth_bits : int, optional
        Target effective threshold ``2**vth_bits`` (<= 23). Default: 20 (8x headroom
        for u and v) without calibration; 23 with calibration, where the observed
        ranges set the headroom.
    min_vth_bits : int
        Smallest effective threshold accepted before a soft limit is given up.
    weight_parts : {1, 2}
        1: one 8-bit projection per projection (plain Loihi). 2: add a residual
        projection with its own exponent, for about 16-bit weights at twice the
        synapses (see :func:`quantize_weights`).
    calibration : SimulationResult, optional
        A float run of ``net`` with ``u`` and ``v`` traces of every population
        (e.g. :func:`neurochip.reference.simulate`). The 16-bit input and 24-bit
        state limits then use the observed maxima times ``margin`` instead of the
        worst case (every pre neuron spiking in one step), which is far larger in
        big networks; the report says which bound was used.
    margin : float
        Safety factor on calibrated maxima (>= 1).
    choices : dict of population name to ScaleChoice, optional
        Scale, decays and gain compensation per population instead of the rule above
        (what :func:`mapping.calibration.choose` measured best); the others use the rule.
    cache : dict, optional
        Reused between calls on the same network and weights (:mod:`mapping.calibration`
        quantizes many candidates): worst-case input bounds and the weights per scale.

    Returns
    -------
    QuantizedNetwork
        Integer parameters and ``report``: per population and projection the value
        ranges, the scale and what limited it, rounding errors with their bounds and
        the overflow risks.

    Raises
    ------
    QuantizationError
        If a bias, weight, initial state or delay cannot be represented.
    """
    if vth_bits is None:
        vth_bits = 20 if calibration is None else 23
    if not margin >= 1:
        raise ValueError(f"quantize: margin should be >= 1, got {margin!r}")
    if not 1 <= vth_bits <= 23 or not 1 <= min_vth_bits <= vth_bits:
        raise ValueError(f"quantize: need 1 <= min_vth_bits <= vth_bits <= 23, got "
                         f"min_vth_bits={min_vth_bits}, vth_bits={vth_bits}")
    weights = {proj.name: proj.weights for proj in net.projections} | dict(weights or {})
    _check_delays(net)
    choices = dict(choices or {})
    unknown = sorted(set(choices) - set(net.population_names))
    if unknown:
        raise ValueError(f"quantize: choices name populations that network '{net.name}' does not have: "
                         f"{', '.join(unknown)} (populations: {', '.join(net.population_names)})")
    qpops, qprojs = {}, {}
    report = {"populations": {}, "projections": {}, "vth_bits": vth_bits}
    for pop in net.populations:
        weights_in = {proj.name: weights[proj.name] for proj in net.projections_into(pop.name)}
        in_max = cache.get(("in_max", pop.name)) if cache is not None else None
        if in_max is None:
            in_max = _in_bounds(list(weights_in.values()), pop.size)
            if cache is not None:
                cache[("in_max", pop.name)] = in_max
        qpops[pop.name], report["populations"][pop.name] = quantize_population(
            pop, weights_in, vth_bits=vth_bits, min_vth_bits=min_vth_bits, calibration=calibration, margin=margin,
            choice=choices.get(pop.name), in_max=in_max)
    for proj in net.projections:
        key = ("weights", proj.name, qpops[proj.post].scale, weight_parts)
        if cache is not None and key in cache:
            qprojs[proj.name], report["projections"][proj.name] = cache[key]
            continue
        qprojs[proj.name], report["projections"][proj.name] = quantize_weights(
            proj.name, weights[proj.name], qpops[proj.post].scale, parts=weight_parts)
        if cache is not None:
            cache[key] = (qprojs[proj.name], report["projections"][proj.name])
    for name, prep in report["populations"].items():
        prep["input_error_bound_per_step"] = input_error_bound(net.projections_into(name), report["projections"],
                                                               qprojs, prep["scale"])
    report["weight_parts"] = weight_parts
    return QuantizedNetwork(populations=qpops, projections=qprojs, report=report)


def check_ranges(qnet: QuantizedNetwork) -> None:
    """Raise :class:`QuantizationError` if any integer is outside Loihi's ranges.

    Run before every fixed-point deployment: Lava's fixed-point models do not
    check their inputs (float decays make the fixed-point LIF hang; DESIGN.md).
    """
    def bad(owner, field, value, low, high):
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            raise QuantizationError(f"{owner}: {field} should be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < low or arr.max() > high):
            raise QuantizationError(f"{owner}: {field} should be in [{low}, {high}], got values in "
                                    f"[{arr.min()}, {arr.max()}]")

    for name, qp in qnet.populations.items():
        owner = f"Population '{name}' (fixed point)"
        bad(owner, "du_int", qp.du_int, 0, DECAY_UNITY - 1)
        bad(owner, "dv_int", qp.dv_int, 0, DECAY_UNITY - 1)
        bad(owner, "vth_mant", qp.vth_mant, 1, VTH_MANT_MAX)
        bad(owner, "bias_mant", qp.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX)
        bad(owner, "bias_exp", qp.bias_exp, 0, BIAS_EXP_MAX)
        bad(owner, "u_init_int", qp.u_init_int, -UV_MAX, UV_MAX)
        bad(owner, "v_init_int", qp.v_init_int, -UV_MAX, UV_MAX)
    for name, qw in qnet.projections.items():
        for part in qw.parts():
            owner = f"Projection '{part.name}' (fixed point)"
            values = part.weight_mant.data if sp.issparse(part.weight_mant) else part.weight_mant
            low, high = {"excitatory": (0, 255), "inhibitory": (-255, 0), "mixed": (-256, 254)}[part.sign_mode]
            bad(owner, "weight_mant", values, low, high)
            bad(owner, "weight_exp", part.weight_exp, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX)


def dequantize(net: Network, qnet: QuantizedNetwork) -> Network:
    """The float network the fixed-point parameters represent (same names and delays).

    Running it in float isolates the parameter rounding from the integer
    arithmetic (truncating decays, wrap/clip) of the chip.
    """
    pops = []
    for pop in net.populations:
        d = qnet.populations[pop.name].dequantized()
        pops.append(Population(pop.name, pop.size, du=min(1.0, d["du"]), dv=d["dv"], vth=d["vth"],
                               bias=d["bias"], u_init=d["u_init"], v_init=d["v_init"]))
    projs = [Projection(p.name, p.pre, p.post, qnet.projections[p.name].effective_weights(), delay=p.delay)
             for p in net.projections]
    return Network(populations=pops, projections=projs, sources=list(net.sources), dt=net.dt,
                   name=net.name)
