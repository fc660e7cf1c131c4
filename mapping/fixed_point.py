"""A numpy bit-accurate model of a quantized network on Loihi fixed point (LIF + Dense).

:func:`simulate_fixed` runs the integers of a :class:`~mapping.quantization.QuantizedNetwork`
the way Lava's fixed-point models do (``PyLifModelBitAcc``, ``PyDenseModelBitAcc``,
``PySparseModelBitAcc``, ``DelayDense``; ``tests/mapping/test_fixed_point_model.py`` checks
spikes and ``v`` bit for bit against Lava), in one process and without Lava:

* a projection part sends ``a = (sum of weight_mant over the spiking pre neurons) << weight_exp``
  (an arithmetic right shift, i.e. a floor, for a negative exponent); the parts of a projection
  (``weight_parts=2``) are shifted separately and added, as Lava adds the ports' inputs;
* a spike of step ``k`` reaches the post population's ``a_in`` at step ``k + delay``
  (as :func:`neurochip.reference.simulate`);
* every population is :func:`neurochip.lif.lif_step_fixed` (the one integer LIF step); the
  overflow counts come from a check of each step's sums before wrap and clip.

It is what :mod:`mapping.calibration` uses to compare candidate scalings on the
calibration run (fast: no process start, no readout), and :func:`mapping.verify` runs it
beside Lava to count the arithmetic events Lava does not report: ``u`` wrapped, ``v``
clipped, and a synaptic input beyond Loihi's 16 bits (Lava's Python models accumulate
in 32 bits; on the chip such an input would not be what the model computes).
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from neurochip.lif import FixedLIFParams, FixedLIFState, lif_step_fixed
from neurochip.network import Network
from neurochip.reference import check_probes, check_steps
from neurochip.results import SimulationResult, Spikes

from mapping.quantization import A_IN_MAX, ACT_SHIFT, DECAY_UNITY, UV_MAX, QuantizedNetwork

__all__ = ["simulate_fixed", "overflow_total", "OVERFLOW_KEYS"]

#: Sparse projections of at most this many entries (pre x post) run as dense int16 arrays (32 MB).
DENSE_LIMIT = 2 ** 24

#: What :func:`simulate_fixed` counts per population (neuron-steps): ``u`` wrapped, ``v`` clipped at the
#: bottom (this changes the dynamics), ``v`` clipped at the top (harmless: still above the 17-bit
#: threshold, it spikes and resets), ``|a_in|`` beyond Loihi's 16 bits.
OVERFLOW_KEYS = ("u_wrapped", "v_clipped_low", "v_clipped_high", "a_in_over_16_bit")


def _parts(qnet: QuantizedNetwork, name: str, cache: dict | None = None) -> list:
    """``(integer weights by pre neuron, weight_exp)`` of each part of projection ``name``.

    Stored transposed, ``(n_pre, n_post)``, so that the rows of the spiking pre neurons are
    gathered contiguously; sparse weights as dense int16 rows up to :data:`DENSE_LIMIT`
    entries (scipy's row slicing costs more than the sums), as CSR above.
    """
    out = []
    for part in qnet.projections[name].parts():
        w = part.weight_mant
        if cache is not None and id(w) in cache and cache[id(w)][0] is w:
            out.append(cache[id(w)][1])
            continue
        if sp.issparse(w) and w.shape[0] * w.shape[1] <= DENSE_LIMIT:
            wt = np.ascontiguousarray(w.T.toarray().astype(np.int16))
        elif sp.issparse(w):
            wt = sp.csr_matrix(w.T, dtype=np.int64)
        else:
            wt = np.ascontiguousarray(np.asarray(w).T)
        out.append((wt, int(part.weight_exp)))
        if cache is not None:
            cache[id(w)] = (w, out[-1])
    return out


def _overflow(prev: FixedLIFState, a_in: np.ndarray, params: FixedLIFParams, new: FixedLIFState,
              spikes: np.ndarray) -> tuple[int, int, int]:
    """``(u wrapped, v clipped low, v clipped high)`` neuron counts of the step ``prev`` -> ``new``.

    ``u`` wrapped where the step's ``u`` differs from its sum before the wrap (recomputed);
    ``v`` clipped low where it sits at ``-2**23 + 1``; clipped high where it spiked with a sum
    above ``2**23 - 1`` before the clip (harmless: still above any 17-bit threshold).
    """
    keep_u = DECAY_UNITY - (params.du_int + 1)
    pre = prev.u * keep_u
    unwrapped = np.sign(pre) * (np.abs(pre) >> 12) + (a_in << ACT_SHIFT)
    wrapped = int(np.count_nonzero(unwrapped != new.u))
    low = int(np.count_nonzero(new.v == -UV_MAX))
    high = 0
    if spikes.any():
        keep_v = DECAY_UNITY - params.dv_int
        pv = prev.v[spikes] * keep_v
        high = int(np.count_nonzero(np.sign(pv) * (np.abs(pv) >> 12) + new.u[spikes] + np.broadcast_to(
            params.bias, spikes.shape)[spikes] > UV_MAX))
    return wrapped, low, high


def _column_sum(wt, idx: np.ndarray) -> np.ndarray:
    """Sum of the weights of the spiking pre neurons ``idx`` into every post neuron (int64)."""
    if sp.issparse(wt):
        return np.asarray(wt[idx].sum(axis=0, dtype=np.int64)).ravel()
    return wt[idx].sum(axis=0, dtype=np.int64)


def _shifted(acc: np.ndarray, exp: int) -> np.ndarray:
    return acc << exp if exp >= 0 else acc >> -exp


def _events(chunks: list) -> Spikes:
    if not chunks:
        return Spikes(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Spikes(np.concatenate([c[0] for c in chunks]).astype(np.int64),
                  np.concatenate([c[1] for c in chunks]).astype(np.int64))


def simulate_fixed(net: Network, qnet: QuantizedNetwork, steps: int,
                   probes: Mapping[str, Sequence[str]] | None = None, *, cache: dict | None = None
                   ) -> SimulationResult:
    """Run the integers ``qnet`` of ``net`` for ``steps`` steps, bit for bit as Lava's fixed-point models.

    Parameters
    ----------
    net : Network
        The network ``qnet`` was quantized from (structure, delays, sources).
    qnet : QuantizedNetwork
        From :func:`mapping.quantize` (or ``deployment.quantized``).
    steps : int
    probes : dict of population name to list of ``"u"``, ``"v"``, optional
        Traces in float units (integers divided by the population's scale), as :func:`mapping.run`.
    cache : dict, optional
        Reused between runs of quantizations that share weight arrays (:mod:`mapping.calibration`):
        the weights rearranged for the run, by array.

    Returns
    -------
    SimulationResult
        ``backend="numpy-fixed"``; ``info["overflow"][pop]`` counts neuron-steps with ``u``
        wrapped (``"u_wrapped"``), ``v`` clipped (``"v_clipped"``) and ``|a_in|`` above
        ``2**15 - 1`` (``"a_in_over_16_bit"``).
    """
    start = time.perf_counter()
    steps = check_steps(steps)
    probes = check_probes(net, probes)
    missing = [p.name for p in net.populations if p.name not in qnet.populations]
    missing += [p.name for p in net.projections if p.name not in qnet.projections]
    if missing:
        raise ValueError(f"simulate_fixed: the quantized network has no integers for {', '.join(missing)}; "
                         f"quantize this network (mapping.quantize(net)) and pass its result")
    pops = net.populations
    qp = {p.name: qnet.populations[p.name] for p in pops}
    params = {n: FixedLIFParams(q.du_int, q.dv_int, q.vth_mant,
                                np.left_shift(q.bias_mant.astype(np.int64), q.bias_exp.astype(np.int64)))
              for n, q in qp.items()}
    state = {n: FixedLIFState(q.u_init_int.astype(np.int64), q.v_init_int.astype(np.int64)) for n, q in qp.items()}
    parts = {proj.name: _parts(qnet, proj.name, cache) for proj in net.projections}
    sizes = {n.name: n.size for n in [*pops, *net.sources]}
    depth = net.max_delay + 1
    active = {name: [np.zeros(0, np.int64)] * depth for name in sizes}  # spiking indices per ring slot
    source_at = {}
    for s in net.sources:
        keep = s.steps < steps
        for k, i in zip(s.steps[keep].tolist(), s.indices[keep].tolist()):
            source_at.setdefault(k, {}).setdefault(s.name, []).append(i)
    events = {name: [] for name in sizes}
    traces = {pop: {var: np.zeros((steps, sizes[pop])) for var in vs} for pop, vs in probes.items()}
    overflow = {n: dict.fromkeys(OVERFLOW_KEYS, 0) for n in qp}

    for k in range(steps):
        slot = k % depth
        for s in net.sources:
            active[s.name][slot] = np.asarray(source_at.get(k, {}).get(s.name, []), np.int64)
        a_in = {p.name: np.zeros(p.size, np.int64) for p in pops}
        for proj in net.projections:
            if k - proj.delay < 0:
                continue
            idx = active[proj.pre][(k - proj.delay) % depth]
            if idx.size:
                for w, exp in parts[proj.name]:
                    a_in[proj.post] += _shifted(_column_sum(w, idx), exp)
        for p in pops:
            name = p.name
            overflow[name]["a_in_over_16_bit"] += int(np.count_nonzero(np.abs(a_in[name]) > A_IN_MAX))
            prev = state[name]
            state[name], spikes = lif_step_fixed(prev, a_in[name], params[name])
            counts = overflow[name]
            wrapped, low, high = _overflow(prev, a_in[name], params[name], state[name], spikes)
            counts["u_wrapped"], counts["v_clipped_low"], counts["v_clipped_high"] = (
                counts["u_wrapped"] + wrapped, counts["v_clipped_low"] + low, counts["v_clipped_high"] + high)
            idx = np.flatnonzero(spikes)
            active[name][slot] = idx
            if idx.size:
                events[name].append((idx, np.full(idx.size, k)))
            for var in probes.get(name, ()):
                traces[name][var][k] = getattr(state[name], var) / qp[name].scale
        for s in net.sources:
            idx = active[s.name][slot]
            if idx.size:
                events[s.name].append((idx, np.full(idx.size, k)))
    return SimulationResult(
        steps=steps, dt=net.dt, sizes=sizes, populations=net.population_names,
        spikes={name: _events(ev) for name, ev in events.items()}, traces=traces,
        trace_indices={pop: np.arange(sizes[pop]) for pop in probes}, backend="numpy-fixed",
        wall_time=time.perf_counter() - start, info={"overflow": overflow})


def overflow_total(result: SimulationResult) -> dict:
    """The counts of :data:`OVERFLOW_KEYS` summed over the populations of ``result``."""
    per_pop = result.info.get("overflow", {})
    return {key: int(sum(c[key] for c in per_pop.values())) for key in OVERFLOW_KEYS}
