"""Compression to fit the chip: magnitude and structured pruning, weight bit depths, a fit mode.

>>> import numpy as np, mapping
>>> from neurochip import Network, Population, Projection, SpikeSource
>>> net = Network(sources=[SpikeSource("in", 4, indices=[0], steps=[0])],
...               populations=[Population("out", 3, du=0.5, dv=0.5, vth=1.0)],
...               projections=[Projection("p", "in", "out", np.arange(1.0, 13.0).reshape(3, 4))])
>>> small, rep = mapping.compress(net, sparsity=0.5, weight_bits=2)
>>> rep.sparsity["p"]["nnz_after"], rep.weight_bits["p"]
(6, 2)

The steps run in this order: structured pruning (whole neurons, scored on the
given network), magnitude pruning, bit depth, then (``fit=True``) just enough
further pruning for :func:`mapping.place` to succeed. Every step is a pure
function of :mod:`mapping.pruning`; placement counts the chosen bits
(``place(net, chip, weight_bits=report.weight_bits)``).

**Bit depth.** ``weight_bits=b`` puts each plain projection's weights on a grid of
``2**b`` levels with one step per projection (Loihi's ``num_weight_bits``: a ``b``-bit
mantissa, one sign bit of it in mixed sign mode) in the *network description*, so
the float reference, Brian2 and the Lava deployment all run the same compressed
weights; ``mapping.compile`` then carries them in its 8-bit mantissas (exactly when
the chosen scale puts the grid on integers, which the quantization report's weight
errors show). A memristive projection's ``b`` bits are its device's level count
``n_levels = 2**b`` (``levels=`` sets the count directly).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from neurochip._validation import check_float, check_int, describe
from neurochip.network import Network

from mapping import pruning
from mapping.placement import (LOIHI2, PlacementError, ResourceModel, check_weight_bits, compact_formats,
                               cores_by_population, fits, needed_removal, needed_sparsity, per_projection, place,
                               resource_model, synapse_cost_bits)
from mapping.target import Target

OWNER = "compress"


@dataclass
class CompressionReport:
    """What :func:`compress` removed and changed, and the placement before and after.

    Attributes
    ----------
    chip : str or None
        Resource model the placement figures refer to.
    structured : dict
        Per population or source: ``size_before``, ``size_after``, ``removed`` (old indices).
    index_maps : dict of str to ndarray
        ``index_maps[name][old]``: new index of old neuron ``old`` (``-1``: removed).
    sparsity : dict
        Per projection: ``requested`` (fraction of nonzero synapses), ``nnz_before``,
        ``nnz_after`` (after every step, rounding to zero included), ``removed`` by pruning.
    weight_bits : dict of str to int
        Weight mantissa bits per projection (what placement counts); absent: 8.
    quantization : dict
        Per projection: :func:`mapping.pruning.quantize_levels`' info (step, error, bound).
    levels : dict of str to int
        Device level counts set on memristive projections.
    fit : dict or None
        ``fit=True``: the candidates (magnitude sparsity, structured removal), the removed
        L1 mass of each, the one applied and ``why``.
    placement_before, placement_after : dict or None
        ``fits``, ``cores_used`` (or ``error``), ``synaptic_memory_bytes`` on ``chip``.
    """

    chip: str | None = None
    structured: dict = field(default_factory=dict)
    index_maps: dict = field(default_factory=dict)
    sparsity: dict = field(default_factory=dict)
    weight_bits: dict = field(default_factory=dict)
    quantization: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    fit: dict | None = None
    placement_before: dict | None = None
    placement_after: dict | None = None

    def new_index(self, name: str, old) -> np.ndarray:
        """New indices of old neurons ``old`` of ``name`` (``-1``: removed); identity if untouched."""
        old = np.asarray(old, dtype=np.int64)
        return self.index_maps[name][old] if name in self.index_maps else old

    def to_dict(self) -> dict:
        """JSON-ready copy (index maps as lists)."""
        d = asdict(self)
        d["index_maps"] = {k: v.tolist() for k, v in self.index_maps.items()}
        return d


def synaptic_memory_bytes(net: Network, model: ResourceModel, weight_bits=None) -> float:
    """Synaptic memory of the whole network on ``model`` (bytes), the placement's cost model."""
    total = 0
    for proj in net.projections:
        w = proj.weights
        wb = weight_bits.get(proj.name) if isinstance(weight_bits, Mapping) else weight_bits
        n = w.nnz if sp.issparse(w) else w.shape[0] * w.shape[1]
        total += n * synapse_cost_bits(model, delay=proj.delay, sparse=sp.issparse(w), weight_bits=wb)
    return total / 8


def placement_summary(net: Network, model: ResourceModel, weight_bits=None) -> dict:
    """``fits``, ``cores_used`` or ``error``, and ``synaptic_memory_bytes`` of ``net`` on ``model``."""
    out = {"chip": model.name, "synaptic_memory_bytes": synaptic_memory_bytes(net, model, weight_bits)}
    try:
        out.update(fits=True, cores_used=place(net, model, weight_bits=weight_bits or None,
                                               suggest=False).cores_used)
    except PlacementError as err:
        cores = cores_by_population(net, model, weight_bits or None)
        out.update(fits=False, error=str(err), cores_needed=None if cores is None else sum(cores.values()))
    return out


def _check_choice(field_name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{OWNER}: {field_name} should be one of {', '.join(map(repr, choices))}, "
                         f"got {describe(value)}")
    return value


def compress_weights(weights, *, sparsity: float = 0.0, weight_bits: int | None = None, rescale: bool = False,
                     clip: str = "max", random_state=None, importance=None):
    """One weight matrix pruned by magnitude, optionally rescaled, then put on a ``weight_bits``-bit grid.

    For weights that live outside a :class:`~neurochip.Network`, such as the learned
    ``W_`` of :class:`neurochip.plasticity.FewShotSpikingClassifier` (post-training
    compression: prune and quantize after ``fit`` / ``adapt``). ``rescale``: each row
    scaled back to its L1 norm before pruning (:func:`mapping.pruning.rescale_rows`);
    ``clip``: the grid's range (:func:`mapping.pruning.quantize_levels`); ``importance``:
    a saliency per synapse (``weights``' shape): the least important are pruned instead
    of the smallest (the classifier's is
    :meth:`~neurochip.plasticity.FewShotSpikingClassifier.synapse_importance`).

    Returns
    -------
    weights, info : array (the format of ``weights``), dict
        ``info``: ``nnz_before``, ``nnz_after``, ``removed`` and, with bits, the quantization info.
    """
    sparsity = check_float("compress_weights", "sparsity", sparsity, low=0, high=1)
    values = weights if sp.issparse(weights) else np.asarray(weights, dtype=float)
    nnz_before = values.nnz if sp.issparse(values) else int(np.count_nonzero(values))
    out, removed = pruning.prune_magnitude(values, sparsity, random_state=random_state, importance=importance)
    if rescale:
        out = pruning.rescale_rows(out, values)
    info = {"nnz_before": nnz_before, "removed": removed}
    if weight_bits is not None:
        bits = check_weight_bits("compress_weights", weight_bits, [])
        out, info["quantization"] = pruning.quantize_levels(out, bits, clip=clip, owner="compress_weights")
    info["nnz_after"] = out.nnz if sp.issparse(out) else int(np.count_nonzero(out))
    return out, info


def _per_projection(field_name: str, value, net: Network, check) -> dict:
    """A value for every projection (one for all, or a dict naming projections), checked by ``check(field, v)``."""
    return per_projection(OWNER, field_name, value, [p.name for p in net.projections], check, expand=True) or {}


def _structured_counts(net: Network, structured) -> dict:
    if structured is None:
        return {}
    if not isinstance(structured, Mapping):
        raise ValueError(f"{OWNER}: structured should be a dict of population or source name to a fraction "
                         f"in [0, 1) or a neuron count, got {describe(structured)}")
    nodes = [p.name for p in net.populations] + [s.name for s in net.sources]
    counts = {}
    for name, amount in structured.items():
        if name not in nodes:
            raise ValueError(f"{OWNER}: structured names {name!r}, which is not a population or source of the "
                             f"network (it has {nodes})")
        size = net[name].size
        field_name = f"structured[{name!r}]"
        if isinstance(amount, (float, np.floating)):
            frac = check_float(OWNER, field_name, amount, low=0, high=1, high_open=True)
            counts[name] = pruning.pruned_count(frac, size)
        else:
            counts[name] = check_int(OWNER, field_name, amount, minimum=0)
        if counts[name] >= size:
            raise ValueError(f"{OWNER}: {field_name} would remove {counts[name]} of the {size} neurons of "
                             f"'{name}'; at least one must stay")
    return counts


def _chip(target) -> ResourceModel | None:
    if target is None:
        return None
    if isinstance(target, Target):
        target = target.chip
    return resource_model(target, OWNER)


def _nnz(w) -> int:
    return int(w.nnz) if sp.issparse(w) else int(np.count_nonzero(w))


def _l1(net: Network) -> float:
    return float(sum(abs(p.weights).sum() for p in net.projections))


def _fit(net: Network, model: ResourceModel, bits: dict, random_state) -> tuple[Network, dict]:
    """Just enough pruning to place: the magnitude or structured candidate that removes less L1 mass."""
    wb = bits or None
    if fits(net, model, wb):
        return net, {"applied": None, "why": "already fits"}
    total = _l1(net)
    candidates = {}
    s = needed_sparsity(net, model, weight_bits=wb, random_state=random_state)
    if s is not None:
        pruned, removed = pruning.prune_network(net, {p.name: s for p in net.projections}, random_state=random_state)
        candidates["magnitude"] = {"sparsity": s, "sparsity_not_enough": max(s - 1 / 1000, 0.0), "synapses_removed": removed,
                                   "l1_removed": 1 - _l1(pruned) / total, "network": pruned, "maps": {}}
    cores = cores_by_population(net, model, wb)
    if cores:
        pop = max(cores, key=cores.get)
        n = needed_removal(net, model, pop, weight_bits=wb)
        if n is not None:
            removed_idx = pruning.weakest_neurons(net, pop, n)
            smaller, maps = pruning.remove_neurons(net, {pop: removed_idx})
            candidates["structured"] = {"population": pop, "remove": n, "remove_not_enough": n - 1,
                                        "removed": removed_idx.tolist(), "l1_removed": 1 - _l1(smaller) / total,
                                        "network": smaller, "maps": maps}
    if not candidates:
        raise PlacementError(f"{OWNER}: fit=True found no pruning that fits the network on {model.name}: neither "
                             f"magnitude pruning of every projection (up to 99.9 %) nor removing neurons of one "
                             f"population; split the network or choose a larger chip")
    best = min(candidates, key=lambda k: candidates[k]["l1_removed"])
    report = {k: {kk: vv for kk, vv in c.items() if kk not in ("network", "maps")} for k, c in candidates.items()}
    report.update(applied=best, why=f"{best} removes the least weight mass (L1 fraction "
                                    f"{candidates[best]['l1_removed']:.4g})")
    return candidates[best]["network"], {"report": report, "maps": candidates[best]["maps"]}


def _merge_maps(first: dict, second: dict) -> dict:
    """Index maps of two removals in a row, old -> final."""
    out = dict(first)
    for name, m in second.items():
        if name in out:
            prev = out[name]
            out[name] = np.where(prev >= 0, m[np.maximum(prev, 0)], -1)
        else:
            out[name] = m
    return out


def compress(net: Network, target: Target | ResourceModel | str | None = None, *,
             sparsity: float | Mapping[str, float] | None = None,
             structured: Mapping[str, float | int] | None = None,
             weight_bits: int | Mapping[str, int] | None = None,
             levels: int | Mapping[str, int] | None = None, fit: bool = False, rescale: bool = False,
             clip: str = "max", random_state=None) -> tuple[Network, CompressionReport]:
    """Compress ``net`` (pruning, bit depth) and, with ``fit=True``, prune just enough to fit ``target``.

    Parameters
    ----------
    net : Network
        Not modified.
    target : mapping.Target, ResourceModel, {"loihi1", "loihi2"} or None
        Chip whose placement is reported before and after (needed for ``fit``).
    sparsity : float or dict of str to float, optional
        Fraction in [0, 1] of each projection's *nonzero* synapses removed by magnitude
        (exactly ``floor(s * nnz + 1/2)``, the smallest ``|w|``); one value for all or per
        projection name.
    structured : dict of str to float or int, optional
        Per population or source, a fraction in [0, 1) of its neurons or a count: the
        neurons with the smallest L1 norm (incoming rows plus outgoing columns) are removed
        from every projection touching them; ``report.index_maps`` maps old -> new indices.
    weight_bits : int or dict of str to int, optional
        Mantissa bits 1..8 per projection (plain weights: a ``2**b``-level grid, see the
        module docstring; memristive: the device's ``n_levels = 2**b``). Placement counts them.
    levels : int or dict of str to int, optional
        Level count (>= 2) of memristive projections' devices (overrides ``weight_bits`` there).
    rescale : bool
        After magnitude pruning, scale each post neuron's remaining incoming weights back to
        the row's L1 norm before pruning (:func:`mapping.pruning.rescale_rows`).
    clip : {"max", "mse"}
        Range of the bit grid: the weights' extremes (every weight within ``step / 2``), or
        the range of least squared error (:func:`mapping.pruning.mse_clip`; heavy tails clipped).
    fit : bool
        After the steps above, if the network does not place on ``target``: the smallest
        uniform magnitude sparsity (grid of 1/1000) and the fewest weakest neurons of the
        population with most cores that make it place, each found by bisection with
        :func:`mapping.place`; the one removing less weight mass (L1) is applied.
    random_state : int, optional
        Order of equal magnitudes in magnitude pruning (default: by position).

    Returns
    -------
    network, report : Network, CompressionReport

    Raises
    ------
    ValueError
        Bad options (the message names the field, what was expected and what was got).
    PlacementError
        ``fit=True`` and no pruning makes the network fit.
    """
    if not isinstance(net, Network):
        raise ValueError(f"{OWNER}: net should be a neurochip Network, got {describe(net)}")
    net.validate()
    model = _chip(target)
    if not isinstance(fit, bool):
        raise ValueError(f"{OWNER}: fit should be True or False, got {describe(fit)}")
    if fit and model is None:
        raise ValueError(f"{OWNER}: fit=True needs a target chip, got target=None; e.g. "
                         f"compress(net, 'loihi1', fit=True)")
    if random_state is not None:
        random_state = check_int(OWNER, "random_state", random_state, minimum=0)
    _check_choice("clip", clip, ("max", "mse"))
    if not isinstance(rescale, bool):
        raise ValueError(f"{OWNER}: rescale should be True or False, got {describe(rescale)}")
    names = [p.name for p in net.projections]
    sparsities = _per_projection("sparsity", sparsity, net,
                                 lambda f, v: check_float(OWNER, f, v, low=0, high=1))
    bits = check_weight_bits(OWNER, weight_bits, names, expand=True) or {}
    level_counts = _per_projection("levels", levels, net, lambda f, v: check_int(OWNER, f, v, minimum=2))
    for name in level_counts:
        if net[name].device is None:
            raise ValueError(f"{OWNER}: levels[{name!r}]: projection '{name}' has no device model; levels "
                             f"set memristor level counts, use weight_bits for plain weights")
    counts = _structured_counts(net, structured)
    report = CompressionReport(chip=None if model is None else model.name)
    if model is not None:
        report.placement_before = placement_summary(net, model)
    nnz_before = {p.name: _nnz(p.weights) for p in net.projections}

    out = net
    if counts:
        removals = {name: pruning.weakest_neurons(net, name, n) for name, n in counts.items()}
        out, report.index_maps = pruning.remove_neurons(net, removals)
        report.structured = {name: {"size_before": net[name].size, "size_after": out[name].size,
                                    "removed": removals[name].tolist()} for name in removals}
    removed = {}
    if sparsities:
        before = out
        out, removed = pruning.prune_network(out, sparsities, random_state=random_state)
        if rescale:
            out = replace(out, projections=[replace(p, weights=pruning.rescale_rows(p.weights, before[p.name].weights))
                                            if p.name in sparsities else p for p in out.projections])
    projs = []
    for proj in out.projections:
        b = bits.get(proj.name)
        if proj.device is not None and (b is not None or proj.name in level_counts):
            n_levels = level_counts.get(proj.name, 2 ** b if b is not None else None)
            proj = replace(proj, device=replace(proj.device, n_levels=n_levels, n_levels_d=n_levels))
            report.levels[proj.name] = n_levels
        elif b is not None:
            w, report.quantization[proj.name] = pruning.quantize_levels(
                proj.weights, b, clip=clip, owner=f"{OWNER}: projection '{proj.name}'")
            proj = replace(proj, weights=w)
        projs.append(proj)
    out = replace(out, projections=projs)
    report.weight_bits = dict(bits)
    if fit:
        out, result = _fit(compact_formats(out, model, bits or None), model, bits, random_state)
        report.fit = result.get("report", result)
        report.index_maps = _merge_maps(report.index_maps, result.get("maps", {}))
        if report.fit.get("applied") == "structured":
            info = report.fit["structured"]
            report.structured.setdefault(info["population"], {"size_before": net[info["population"]].size,
                                                              "removed": []})
            report.structured[info["population"]]["size_after"] = out[info["population"]].size
            report.structured[info["population"]]["removed_by_fit"] = info["removed"]
    out = compact_formats(out, model or LOIHI2, bits or None)
    report.sparsity = {p.name: {"requested": sparsities.get(p.name, 0.0), "nnz_before": nnz_before[p.name],
                                "removed": int(removed.get(p.name, 0)), "nnz_after": _nnz(p.weights)}
                       for p in out.projections}
    if model is not None:
        report.placement_after = placement_summary(out, model, bits or None)
    return out, report


__all__ = ["compress", "compress_weights", "CompressionReport", "synaptic_memory_bytes", "placement_summary"]
