"""Loihi fixed-point quantization of a network, with a report that checks itself.

The fixed-point LIF of Loihi (Lava ``PyLifModelBitAcc``) updates integers::

    u[t] = wrap24( trunc(u[t-1] * (4096 - (du_int + 1)) / 4096) + (a_in[t] << 6) )
    v[t] = clip24( trunc(v[t-1] * (4096 - dv_int) / 4096) + u[t] + (bias_mant << bias_exp) )
    spike if v[t] > (vth_mant << 6);  then v[t] = 0

and a fixed-point Dense sends ``a_in = (sum of W over spiking pre) << weight_exp``
(``>>`` for a negative exponent), with 8-bit weights ``W``: 0..255 (excitatory),
-255..0 (inhibitory) or even numbers -256..254 (mixed sign, 8-bit mantissa).

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
    """Integer LIF parameters of one population (Lava ``LIF`` fixed-point arguments)."""

    name: str
    scale: float
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    u_init: np.ndarray
    v_init: np.ndarray

    def dequantized(self) -> dict:
        """The float parameters this integer population represents."""
        bias = np.ldexp(self.bias_mant.astype(float), self.bias_exp) / self.scale
        return {"du": (self.du + 1) / DECAY_UNITY, "dv": self.dv / DECAY_UNITY,
                "vth": float(self.vth * 2 ** VTH_SHIFT) / self.scale, "bias": bias,
                "u_init": self.u_init / self.scale, "v_init": self.v_init / self.scale}


@dataclass
class QuantizedProjection:
    """8-bit weights, shared exponent and sign mode of one projection."""

    name: str
    weights: Any  # int64 ndarray (n_post, n_pre) or scipy.sparse csr
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
        if sp.issparse(self.weights):
            out = self.weights.astype(float).tocsr()
            out.data = out.data * factor
        else:
            out = self.weights.astype(float) * factor
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


def _in_bounds(net: Network, pop: Population, weights: Mapping[str, Any]):
    """Worst-case |input| per step into any neuron of ``pop`` (all pre neurons spiking)."""
    pos = np.zeros(pop.size)
    neg = np.zeros(pop.size)
    for proj in net.projections_into(pop.name):
        w = weights[proj.name]
        if sp.issparse(w):
            pos += np.asarray(w.maximum(0).sum(axis=1)).ravel()
            neg += np.asarray((-w).maximum(0).sum(axis=1)).ravel()
        else:
            pos += np.clip(w, 0, None).sum(axis=1)
            neg += np.clip(-w, 0, None).sum(axis=1)
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


def _observed(calibration, pop: Population):
    """Observed max |input per step|, |u| and |v| of ``pop`` in a float run with u, v traces."""
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
    return {"input": float(np.abs(a_in).max()), "u": float(np.abs(u).max()),
            "v": float(max(np.abs(v).max(), pop.vth))}


def quantize_weights(name: str, w, scale: float, *, parts: int = 1,
                     min_exp: int = WEIGHT_EXP_MIN) -> tuple[QuantizedProjection, dict]:
    """Quantize one projection's float weights for a post population of scale ``scale``.

    ``parts = 2`` adds a second projection carrying the rounding residual with
    its own exponent (about 8 more bits of weight precision for twice the synapses).
    """
    if parts not in (1, 2):
        raise ValueError(f"Projection '{name}': weight_parts should be 1 or 2, got {parts!r}")
    wpos, wneg = _max_abs(w)
    is_sparse = sp.issparse(w)
    values = (w.data if is_sparse else np.asarray(w, dtype=float)) * scale / 2 ** ACT_SHIFT
    if wpos > 0 and wneg > 0:
        mode, step_bits = "mixed", 1
        need = max(wpos * scale / 2 ** ACT_SHIFT / (2 * 127), wneg * scale / 2 ** ACT_SHIFT / (2 * 128))
    elif wneg > 0:
        mode, step_bits = "inhibitory", 0
        need = wneg * scale / 2 ** ACT_SHIFT / 255
    else:
        mode, step_bits = "excitatory", 0
        need = wpos * scale / 2 ** ACT_SHIFT / 255
    if need > 0:
        exp = int(np.ceil(np.log2(need) - 1e-12))
    else:
        exp = 0
    exp = int(np.clip(exp, min_exp, WEIGHT_EXP_MAX))
    if need > 2.0 ** exp * (1 + 1e-9):
        raise QuantizationError(
            f"Projection '{name}': weights up to {max(wpos, wneg):.4g} need weight_exp "
            f"{int(np.ceil(np.log2(need)))} > {WEIGHT_EXP_MAX} at scale {scale:.4g}")
    lsb = 2.0 ** (exp + step_bits)
    mant = np.round(values / lsb)
    unclipped = mant.copy()
    if mode == "mixed":
        mant = np.clip(mant, -128, 127)
    elif mode == "inhibitory":
        mant = np.clip(mant, -255, 0)
    else:
        mant = np.clip(mant, 0, 255)
    ints = (mant * 2 ** step_bits).astype(np.int64)
    if is_sparse:
        qw = w.copy().tocsr()
        qw.data = ints
    else:
        qw = ints
    q = QuantizedProjection(name=name, weights=qw, weight_exp=exp, sign_mode=mode, scale=scale)
    bound = 0.5 * lsb * 2.0 ** ACT_SHIFT / scale  # half a mantissa step, in float units
    if parts == 2:
        first = q.effective_weights()
        if is_sparse:
            rest = w.copy().tocsr().astype(float)
            rest.data = w.data - first.data
            has_rest = np.any(rest.data != 0)
        else:
            rest = np.asarray(w, dtype=float) - first
            has_rest = np.any(rest != 0)
        if has_rest:
            # Exponent >= 0: a negative one floors the summed input, a bias of up to one
            # a_in unit per step that costs more than the finer weights gain (measured).
            q.residual, rrep = quantize_weights(name + "#residual", rest, scale, parts=1, min_exp=RESIDUAL_MIN_EXP)
            bound = rrep["error_bound"]
    eff = q.effective_weights()
    eff_values = eff.data if is_sparse else eff
    orig = w.data if is_sparse else np.asarray(w, dtype=float)
    if is_sparse and eff_values.shape != orig.shape:  # pragma: no cover - structure is kept
        eff_values = np.asarray(eff[w.nonzero()]).ravel()
    err = np.abs(eff_values - orig)
    nonzero = orig != 0
    report = {
        "sign_mode": mode, "weight_exp": exp, "num_weight_bits": 8,
        "range": [float(orig.min()) if orig.size else 0.0, float(orig.max()) if orig.size else 0.0],
        "mantissa_range": [int(ints.min()) if ints.size else 0, int(ints.max()) if ints.size else 0],
        "lsb": float(lsb * 2.0 ** ACT_SHIFT / scale),
        "max_abs_error": float(err.max()) if err.size else 0.0,
        "rms_error": float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0,
        "error_bound": float(bound),
        "zeroed": int(np.sum(nonzero & (eff_values == 0))),
        "saturated": int(np.sum(mant != unclipped)),  # 0 by construction of the exponent
        "parts": [{"weight_exp": p.weight_exp, "sign_mode": p.sign_mode} for p in q.parts()],
    }
    return q, report


def quantize(net: Network, *, weights: Mapping[str, Any] | None = None, vth_bits: int | None = None,
             min_vth_bits: int = 12, weight_parts: int = 1, calibration=None,
             margin: float = 2.0) -> QuantizedNetwork:
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
    weights = dict(weights or {})
    for proj in net.projections:
        weights.setdefault(proj.name, proj.weights)
        if proj.delay > MAX_DELAY_FIXED:
            raise QuantizationError(
                f"Projection '{proj.name}': delay {proj.delay} exceeds the fixed-point maximum "
                f"{MAX_DELAY_FIXED} steps (6-bit synaptic delay) by {proj.delay - MAX_DELAY_FIXED}")
    qpops, qprojs = {}, {}
    report = {"populations": {}, "projections": {}, "vth_bits": vth_bits}
    for pop in net.populations:
        owner = f"Population '{pop.name}'"
        s_target = 2.0 ** vth_bits / pop.vth
        s_min = 2.0 ** min_vth_bits / pop.vth
        limits = {"threshold": s_target, "vth_mant": VTH_MANT_MAX * 2 ** VTH_SHIFT / pop.vth}
        bias = np.broadcast_to(np.asarray(pop.bias, dtype=float), (pop.size,))
        bmax = float(np.abs(bias).max())
        if bmax > 0:
            limits["bias"] = BIAS_MANT_MAX * 2 ** BIAS_EXP_MAX / bmax
        init_max = float(max(np.abs(pop.u_init).max(), np.abs(pop.v_init).max()))
        if init_max > 0:
            limits["initial state"] = UV_MAX / init_max
        for proj in net.projections_into(pop.name):
            wpos, wneg = _max_abs(weights[proj.name])
            limits[f"weights of '{proj.name}'"] = _weight_scale_limit(wpos, wneg)
        hard_name = min(limits, key=limits.get)
        scale = limits[hard_name]
        if scale < s_min * (1 - 1e-12):
            ratio = s_min / scale
            raise QuantizationError(
                f"{owner}: {hard_name} cannot be represented next to threshold {pop.vth:g}: "
                f"it needs an effective threshold below 2**{min_vth_bits} (by a factor {ratio:.3g}); "
                f"the range of 24-bit state, 13-bit bias mantissa and 8-bit weights is exceeded")
        in_max = _in_bounds(net, pop, weights)
        du_eff = (int(np.clip(round(pop.du * DECAY_UNITY) - 1, 0, DECAY_UNITY - 1)) + 1) / DECAY_UNITY
        risks = []
        soft = {}
        observed = _observed(calibration, pop)
        if observed is not None:
            bounds = f"calibrated ({calibration.steps} steps, margin {margin:g})"
            in_bound, u_bound, v_bound = (margin * observed[k] for k in ("input", "u", "v"))
        else:
            bounds = "worst case (every pre neuron spiking in one step)"
            in_bound = in_max
            u_bound = in_max / du_eff if in_max > 0 else 0.0
            v_bound = 0.0
        if in_bound > 0:
            soft["16-bit input per step"] = A_IN_MAX * 2 ** ACT_SHIFT / in_bound
        if u_bound > 0:
            soft["24-bit current u"] = UV_MAX / u_bound
        if v_bound > 0:
            soft["24-bit voltage v"] = UV_MAX / v_bound
        limited_by = hard_name
        for name, s in soft.items():
            if s < scale:
                if s >= s_min:
                    scale, limited_by = s, name
                else:
                    scale, limited_by = max(s_min, min(scale, s)), f"{name} (floor 2**{min_vth_bits})"
                    risks.append(
                        f"{name}: overflows if more than {100 * s / scale:.1f} % of the worst-case "
                        f"input arrives in one step / accumulates")
        # Make the threshold exact: S = 64 * vth_mant / vth.
        vth_mant = int(np.floor(scale * pop.vth / 2 ** VTH_SHIFT))
        vth_mant = max(1, min(vth_mant, VTH_MANT_MAX))
        scale = vth_mant * 2 ** VTH_SHIFT / pop.vth
        # Bias: per-neuron exponent, smallest that fits the 13-bit mantissa.
        b = bias * scale
        bias_exp = np.zeros(pop.size, dtype=np.int64)
        for e in range(BIAS_EXP_MAX + 1):
            need = (np.round(b / 2.0 ** bias_exp) > BIAS_MANT_MAX) | (np.round(b / 2.0 ** bias_exp) < BIAS_MANT_MIN)
            if not need.any():
                break
            bias_exp[need] = e + 1
        if bias_exp.max() > BIAS_EXP_MAX:
            raise QuantizationError(f"{owner}: bias up to {bmax:g} does not fit 13-bit mantissa "
                                    f"with exponent <= {BIAS_EXP_MAX} at scale {scale:.4g}")
        bias_mant = np.round(b / 2.0 ** bias_exp).astype(np.int64)
        u0 = np.round(np.broadcast_to(np.asarray(pop.u_init, float), (pop.size,)) * scale).astype(np.int64)
        v0 = np.round(np.broadcast_to(np.asarray(pop.v_init, float), (pop.size,)) * scale).astype(np.int64)
        qp = QuantizedPopulation(
            name=pop.name, scale=float(scale),
            du=int(np.clip(round(pop.du * DECAY_UNITY) - 1, 0, DECAY_UNITY - 1)),
            dv=int(np.clip(round(pop.dv * DECAY_UNITY), 0, DECAY_UNITY - 1)),
            vth=vth_mant, bias_mant=bias_mant, bias_exp=bias_exp, u_init=u0, v_init=v0)
        deq = qp.dequantized()
        bias_err = np.abs(deq["bias"] - bias)
        qpops[pop.name] = qp
        report["populations"][pop.name] = {
            "size": pop.size, "scale": float(scale), "scale_limited_by": limited_by,
            "vth": {"float": pop.vth, "mantissa": vth_mant, "effective": deq["vth"],
                    "abs_error": abs(deq["vth"] - pop.vth)},
            "du": {"float": pop.du, "int": qp.du, "effective": deq["du"], "abs_error": abs(deq["du"] - pop.du),
                   "error_bound": 1.0 / DECAY_UNITY if pop.du < 1 / DECAY_UNITY else 0.5 / DECAY_UNITY},
            "dv": {"float": pop.dv, "int": qp.dv, "effective": deq["dv"], "abs_error": abs(deq["dv"] - pop.dv),
                   "error_bound": 1.0 / DECAY_UNITY if pop.dv > 1 - 1 / DECAY_UNITY else 0.5 / DECAY_UNITY},
            "bias": {"range": [float(bias.min()), float(bias.max())],
                     "max_abs_error": float(bias_err.max()),
                     "error_bound": float(np.max(2.0 ** bias_exp) * 0.5 / scale),
                     "exp_range": [int(bias_exp.min()), int(bias_exp.max())]},
            "state_lsb": 1.0 / scale,
            "bounds": bounds,
            "worst_case_input_per_step": in_max,
            "input_bound": in_bound, "a_in_bound": in_bound * scale / 2 ** ACT_SHIFT, "a_in_limit": A_IN_MAX,
            "u_bound": u_bound, "u_int_bound": u_bound * scale, "uv_limit": UV_MAX,
            "observed": observed,
            "overflow_risk": bool(risks), "risks": risks,
        }
    for proj in net.projections:
        qpost = qpops[proj.post]
        q, rep = quantize_weights(proj.name, weights[proj.name], qpost.scale, parts=weight_parts)
        qprojs[proj.name] = q
        report["projections"][proj.name] = rep
    for name, prep in report["populations"].items():
        # Bound on the input error in one step (every pre neuron spiking once).
        # A negative exponent floors the shifted sum: at most one a_in unit per part.
        err = 0.0
        for proj in net.projections_into(name):
            n_pre = proj.shape[1]
            err += report["projections"][proj.name]["error_bound"] * n_pre
            err += sum(2.0 ** ACT_SHIFT / prep["scale"] for p in qprojs[proj.name].parts() if p.weight_exp < 0)
        prep["input_error_bound_per_step"] = err
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
        bad(owner, "du", qp.du, 0, DECAY_UNITY - 1)
        bad(owner, "dv", qp.dv, 0, DECAY_UNITY - 1)
        bad(owner, "vth", qp.vth, 1, VTH_MANT_MAX)
        bad(owner, "bias_mant", qp.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX)
        bad(owner, "bias_exp", qp.bias_exp, 0, BIAS_EXP_MAX)
        bad(owner, "u_init", qp.u_init, -UV_MAX, UV_MAX)
        bad(owner, "v_init", qp.v_init, -UV_MAX, UV_MAX)
    for name, qw in qnet.projections.items():
        for part in qw.parts():
            owner = f"Projection '{part.name}' (fixed point)"
            values = part.weights.data if sp.issparse(part.weights) else part.weights
            low, high = {"excitatory": (0, 255), "inhibitory": (-255, 0), "mixed": (-256, 254)}[part.sign_mode]
            bad(owner, "weights", values, low, high)
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
