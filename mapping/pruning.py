"""Pure network transforms of compression: magnitude pruning, removal of neurons, bit depths.

Every function here takes arrays or a :class:`neurochip.Network` and returns new ones;
nothing imports :mod:`mapping.placement` (which uses :func:`smallest_passing` for the
suggestion of its errors) or Lava. :func:`mapping.compress.compress` puts them together.

* :func:`prune_magnitude`: the ``round(sparsity * nnz)`` nonzero weights of smallest
  magnitude (or of least ``importance``) set to zero (ties: by position, or by a seeded permutation);
* :func:`neuron_scores` / :func:`remove_neurons`: whole neurons of a population or a
  source removed in every projection that touches them, with old -> new index maps;
* :func:`quantize_levels`: weights on a grid of ``2**bits`` levels, as Loihi's
  ``num_weight_bits`` mantissa with a shared step per projection; :func:`stored_synapses`:
  without the weights that grid rounds to zero;
* :func:`smallest_passing`: bisection for the smallest integer at which a monotone test passes.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from neurochip.network import Network, SpikeSource

#: Largest weight mantissa width (Loihi's ``num_weight_bits``).
MAX_WEIGHT_BITS = 8


def _nonzero_values(w):
    """Flat nonzero values of dense or sparse ``w``, a function rebuilding ``w`` from new values, and a
    function giving their positions (an index into a dense array of ``w``'s shape; computed on demand)."""
    if sp.issparse(w):
        csr = sp.csr_matrix(w, copy=True)
        csr.eliminate_zeros()
        csr.sort_indices()

        def rebuild(values):
            out = csr.copy()
            out.data = np.asarray(values, dtype=float)
            out.eliminate_zeros()
            return out
        def where():
            return np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr)), csr.indices
        return csr.data.astype(float), rebuild, where
    dense = np.asarray(w, dtype=float)
    flat = np.flatnonzero(dense)

    def rebuild(values):
        out = np.zeros_like(dense)
        out.flat[flat] = values
        return out
    return dense.flat[flat].copy(), rebuild, lambda: np.unravel_index(flat, dense.shape)


def magnitude_order(values: np.ndarray, *, random_state=None) -> np.ndarray:
    """Indices of ``values`` from the smallest magnitude up (ties by position, or by a seeded permutation)."""
    if random_state is None:
        return np.argsort(np.abs(values), kind="stable")
    perm = np.random.default_rng(random_state).permutation(values.size)
    return perm[np.argsort(np.abs(values[perm]), kind="stable")]


def pruned_count(sparsity: float, nnz: int) -> int:
    """Synapses removed at ``sparsity`` from ``nnz`` nonzero ones: ``floor(sparsity * nnz + 1/2)``."""
    return int(np.floor(sparsity * nnz + 0.5))


def prune_magnitude(w, sparsity: float, *, random_state=None, importance=None, order=None):
    """``w`` with its ``round(sparsity * nnz)`` smallest-magnitude nonzero weights set to zero.

    Parameters
    ----------
    w : ndarray or scipy.sparse matrix
        Weights ``(n_post, n_pre)``; the result has the same format.
    sparsity : float
        Fraction of the *nonzero* weights removed, in [0, 1].
    random_state : int, optional
        Seeds the order of equal magnitudes (default: by position, row-major).
    importance : ndarray, optional
        A saliency per synapse, dense, of ``w``'s shape, finite and >= 0: the nonzero
        weights of *least importance* are removed instead of the smallest (for example
        :meth:`neurochip.plasticity.FewShotSpikingClassifier.synapse_importance`).
    order : ndarray, optional
        The pruning order of ``w``'s nonzero weights when it is already known
        (:func:`pruning_order`; a bisection prunes one matrix at many sparsities).

    Returns
    -------
    pruned, removed : array or sparse matrix, int
    """
    values, rebuild, where = _nonzero_values(w)
    k = pruned_count(sparsity, values.size)
    out = values.copy()
    if order is None:
        scores = values if importance is None else _checked_importance(w.shape, importance)[where()]
        order = magnitude_order(scores, random_state=random_state)
    elif len(order) != values.size:
        raise ValueError(f"prune_magnitude: order should rank the {values.size} nonzero weights, got {len(order)}")
    out[order[:k]] = 0.0
    return rebuild(out), k


def pruning_order(w, *, random_state=None) -> np.ndarray:
    """The order in which :func:`prune_magnitude` removes ``w``'s nonzero weights (smallest first)."""
    return magnitude_order(_nonzero_values(w)[0], random_state=random_state)


def _checked_importance(shape, importance) -> np.ndarray:
    """``importance`` as a dense array, checked against the weights' ``shape``."""
    imp = np.asarray(importance, dtype=float)
    if imp.shape != tuple(shape):
        raise ValueError(f"prune_magnitude: importance should have the weights' shape {tuple(shape)}, "
                         f"got {imp.shape}")
    if not np.all(np.isfinite(imp)) or (imp < 0).any():
        raise ValueError("prune_magnitude: importance should be finite and >= 0 (a saliency per synapse)")
    return imp


def level_grid(wpos: float, wneg: float, bits: int, *, owner: str = "quantize_levels") -> tuple[str, float, int, int]:
    """Sign mode, step and mantissa range of a ``bits``-bit grid covering ``[-wneg, wpos]``.

    One sign: mantissas ``0 .. 2**bits - 1`` (or their negatives), step ``max / (2**bits - 1)``;
    mixed signs: two's complement ``-2**(bits-1) .. 2**(bits-1) - 1``, the step the smallest
    that holds both ends (Loihi's mixed mode spends one bit on the sign, so 1 bit cannot hold
    both signs: refused).
    """
    if wpos > 0 and wneg > 0:
        if bits < 2:
            raise ValueError(f"{owner}: weight_bits should be >= 2 for mixed-sign weights (one bit is the "
                             f"sign, as Loihi's mixed sign mode), got {bits}; split the projection by sign "
                             f"or use 2 bits")
        top, bottom = 2 ** (bits - 1) - 1, 2 ** (bits - 1)
        step = max(wpos / top if top else np.inf, wneg / bottom)
        return "mixed", float(step), -bottom, top
    top = 2 ** bits - 1
    if wneg > 0:
        return "inhibitory", float(wneg / top), -top, 0
    return "excitatory", float(wpos / top) if wpos > 0 else 1.0, 0, top


#: Clip candidates of ``clip="mse"``: the largest magnitude times ``2**(-k/4)``, k = 0..CLIP_CANDIDATES-1.
CLIP_CANDIDATES = 24
#: Values the ``clip="mse"`` search looks at (an even stride through larger arrays).
CLIP_SAMPLE = 200_000


def mse_clip(values: np.ndarray, bits: int, *, owner: str = "quantize_levels") -> float:
    """The range ``c`` (grid covering ``[-c, c]`` scaled to the sign mode) with the least squared rounding error.

    Candidates ``max|w| * 2**(-k/4)``; weights beyond the range are clipped to its ends.
    Evaluated on at most :data:`CLIP_SAMPLE` values (every ``n``-th), deterministic.
    """
    sample = values[::max(1, values.size // CLIP_SAMPLE)]
    top = float(np.abs(values).max(initial=0.0))
    if top == 0:
        return 0.0
    best, best_err = top, np.inf
    for k in range(CLIP_CANDIDATES):
        c = top * 2.0 ** (-k / 4)
        q = _on_grid(sample, bits, min(c, float(values.max(initial=0.0))), min(c, float(-values.min(initial=0.0))),
                     owner)[0]
        err = float(np.sum((q - sample) ** 2))
        if err < best_err:
            best, best_err = c, err
    return best


def _on_grid(values, bits, wpos, wneg, owner):
    mode, step, low, high = level_grid(wpos, wneg, bits, owner=owner)
    mant = np.clip(np.rint(values / step), low, high)
    return mant * step, mant, (mode, step, low, high)


def rescale_rows(pruned, original):
    """``pruned`` with each row scaled back to the L1 norm that row had in ``original`` (empty rows stay 0).

    The drive a post neuron receives from an input that spikes on all of its synapses is kept.
    """
    def row_l1(w):
        return np.asarray(abs(w).sum(axis=1)).ravel()
    before, after = row_l1(original), row_l1(pruned)
    factor = np.divide(before, after, out=np.zeros_like(before), where=after > 0)
    if sp.issparse(pruned):
        return sp.csr_matrix(sp.diags(factor) @ pruned)
    return pruned * factor[:, None]


def quantize_levels(w, bits: int, *, clip: str = "max", owner: str = "quantize_levels"):
    """``w`` rounded to a ``bits``-bit grid (shared step), zeros kept zero.

    ``w_q = step * clip(round(w / step), m_min, m_max)`` with the grid of :func:`level_grid`
    over ``[-wneg, wpos]``: the weights' own extremes (``clip="max"``: every weight moves by
    at most ``step / 2``), or those extremes clipped to the range of least squared error
    (``clip="mse"``, :func:`mse_clip`: a finer step for heavy-tailed weights; weights beyond
    the range move to its ends, the others by at most ``step / 2``).

    Returns
    -------
    quantized, info : array or sparse matrix (the format of ``w``), dict
        ``info``: ``bits``, ``sign_mode``, ``step``, ``mantissa_range``, ``max_abs_error``,
        ``error_bound`` (``step / 2``), ``rounded_to_zero`` (nonzero weights that became 0).
    """
    if clip not in ("max", "mse"):
        raise ValueError(f"{owner}: clip should be 'max' or 'mse', got {clip!r}")
    values, rebuild, _ = _nonzero_values(w)
    wpos = float(values.max(initial=0.0))
    wneg = float(-values.min(initial=0.0))
    if clip == "mse":
        c = mse_clip(values, bits, owner=owner)
        wpos, wneg = min(wpos, c), min(wneg, c)
    q, mant, (mode, step, low, high) = _on_grid(values, bits, wpos, wneg, owner)
    inside = (values <= wpos) & (values >= -wneg)
    err = float(np.abs(q - values)[inside].max(initial=0.0))
    info = {"bits": int(bits), "sign_mode": mode, "step": step, "mantissa_range": [int(low), int(high)],
            "clip": clip, "range": [-wneg, wpos], "clipped": int(np.count_nonzero(~inside)),
            "max_abs_error": err, "error_bound": step / 2,
            "rounded_to_zero": int(np.count_nonzero(mant == 0))}
    return rebuild(q), info


def stored_synapses(w, bits: int = MAX_WEIGHT_BITS, *, clip: str = "max"):
    """``w`` without the weights its ``bits``-bit grid rounds to zero (the synapses a chip stores).

    Learned weights can hold remnants far below any weight step (the few-shot classifier's
    rule leaves about 6e-6 where it writes about 0.75): they are nonzero in float, gone on
    the chip. Counting a sparsity from ``stored_synapses(w)`` counts from the synapses the
    dense 8-bit network has, not from those remnants. The other weights are unchanged.
    """
    q, _ = quantize_levels(w, bits, clip=clip, owner="stored_synapses")
    if sp.issparse(w):
        keep = sp.csr_matrix(q, copy=True)
        keep.data = np.ones_like(keep.data)
        return sp.csr_matrix(sp.csr_matrix(w).multiply(keep))
    w = np.asarray(w, dtype=float)
    return np.where(np.asarray(q) == 0, 0.0, w)


def neuron_scores(net: Network, name: str) -> np.ndarray:
    """L1 norm of every neuron of population or source ``name`` over the projections touching it.

    A neuron's score is the sum of ``|w|`` of its incoming rows and its outgoing columns.
    """
    score = np.zeros(net[name].size)
    for proj in net.projections:
        a = abs(sp.csr_matrix(proj.weights)) if proj.is_sparse else np.abs(proj.weights)
        if proj.post == name:
            score += np.asarray(a.sum(axis=1)).ravel()
        if proj.pre == name:
            score += np.asarray(a.sum(axis=0)).ravel()
    return score


def weakest_neurons(net: Network, name: str, count: int) -> np.ndarray:
    """Indices of the ``count`` neurons of ``name`` with the smallest :func:`neuron_scores` (ties: lowest index)."""
    return np.sort(np.argsort(neuron_scores(net, name), kind="stable")[:count])


def _keep_entries(value, keep: np.ndarray):
    arr = np.asarray(value)
    return arr[keep].copy() if arr.ndim else value


def remove_neurons(net: Network, removals: Mapping[str, np.ndarray]) -> tuple[Network, dict]:
    """``net`` without the given neurons, removed consistently from every projection.

    Parameters
    ----------
    removals : dict of str to array of int
        Per population or source name, the (old) indices removed.

    Returns
    -------
    network, index_maps : Network, dict of str to ndarray
        ``index_maps[name][old]`` is the new index of old neuron ``old``, ``-1`` if removed.
    """
    keep, maps = {}, {}
    for name, removed in removals.items():
        size = net[name].size
        mask = np.ones(size, dtype=bool)
        mask[np.asarray(removed, dtype=np.int64)] = False
        if not mask.any():
            raise ValueError(f"compress: structured pruning would remove every neuron of '{name}' "
                             f"(size {size}); remove fewer")
        keep[name] = np.nonzero(mask)[0]
        maps[name] = np.full(size, -1, dtype=np.int64)
        maps[name][keep[name]] = np.arange(keep[name].size)
    pops = []
    for pop in net.populations:
        if pop.name in keep:
            k = keep[pop.name]
            pop = replace(pop, size=int(k.size), bias=_keep_entries(pop.bias, k),
                          u_init=_keep_entries(pop.u_init, k), v_init=_keep_entries(pop.v_init, k))
        pops.append(pop)
    sources = []
    for src in net.sources:
        if src.name in keep:
            idx = np.asarray(src.indices, dtype=np.int64)
            on = maps[src.name][idx] >= 0
            src = SpikeSource(src.name, int(keep[src.name].size), indices=maps[src.name][idx[on]],
                              steps=np.asarray(src.steps)[on])
        sources.append(src)
    projs = []
    for proj in net.projections:
        w = proj.weights
        if proj.post in keep:
            w = w.tocsr()[keep[proj.post]] if sp.issparse(w) else w[keep[proj.post]]
        if proj.pre in keep:
            w = w.tocsc()[:, keep[proj.pre]].tocsr() if sp.issparse(w) else w[:, keep[proj.pre]]
        projs.append(replace(proj, weights=w.copy() if not sp.issparse(w) else w))
    return Network(populations=pops, projections=projs, sources=sources, dt=net.dt, name=net.name), maps


def smallest_passing(passes: Callable[[int], bool], low: int, high: int) -> int | None:
    """Smallest ``i`` in ``[low, high]`` with ``passes(i)``, by bisection (``passes`` monotone).

    ``None`` if ``passes(high)`` is false; ``low`` if ``passes(low)``.
    """
    if passes(low):
        return low
    if low == high or not passes(high):
        return None
    lo, hi = low, high  # passes(lo) false, passes(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return hi


def prune_network(net: Network, sparsity: Mapping[str, float], *, random_state=None,
                  orders: Mapping[str, np.ndarray] | None = None) -> tuple[Network, dict]:
    """Every projection of ``sparsity`` magnitude-pruned; returns the network and removed counts.

    ``orders``: :func:`pruning_order` of projections already known (by name), not sorted again.
    """
    projs, removed = [], {}
    orders = orders or {}
    for proj in net.projections:
        if proj.name in sparsity:
            w, removed[proj.name] = prune_magnitude(proj.weights, sparsity[proj.name], random_state=random_state,
                                                    order=orders.get(proj.name))
            proj = replace(proj, weights=w)
        projs.append(proj)
    return replace(net, projections=projs), removed


def as_format(w, *, sparse: bool):
    """``w`` as CSR (``sparse``) or dense float array."""
    if sparse:
        out = sp.csr_matrix(w)
        out.eliminate_zeros()
        return out
    return w.toarray() if sp.issparse(w) else np.asarray(w, dtype=float)


__all__ = ["MAX_WEIGHT_BITS", "magnitude_order", "pruning_order", "pruned_count", "prune_magnitude", "level_grid",
           "quantize_levels", "stored_synapses", "mse_clip", "rescale_rows", "neuron_scores", "weakest_neurons", "remove_neurons", "smallest_passing",
           "prune_network", "as_format"]
