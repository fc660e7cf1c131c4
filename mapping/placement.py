"""Placement of populations onto neuromorphic cores, with resource models.

A :class:`ResourceModel` gives the per-core limits of a chip; :func:`place`
splits each population into contiguous slices, one slice per core (a core
hosts neurons of one population, as Lava's Loihi compiler does), and checks:

* neurons (compartments) per core;
* synaptic memory per core: every synapse into a neuron of the slice costs
  ``weight_bits + delay_bits`` bits (delay bits only for projections with
  ``delay > 1``; sparse synapses also store a ``index_bits`` target index);
* fan-in axons per core: one input axon per distinct pre-synaptic neuron that
  projects into the slice (spike sources included);
* fan-out axons per core: one output axon per (neuron, destination core) pair;
* number of cores.

Slices shrink until every per-core limit holds; a population whose single
neuron already exceeds a per-core limit, or a network needing more cores than
the chip has, raises :class:`PlacementError` naming the resource and the excess,
and suggesting the :func:`mapping.compress` call that would make it fit: the
uniform magnitude sparsity it needs (found by bisection with :func:`place`
itself, :func:`needed_sparsity`), or else the neurons a structured pruning
would remove (:func:`needed_removal`); ``error.suggestion`` holds the figures.

The synaptic-memory cost model is a documented approximation (real Loihi
compilers compress synapse lists); it is conservative for dense projections.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from neurochip._validation import describe
from neurochip.network import Network

from mapping import pruning

#: Grid of the sparsity search: sparsities ``i / SPARSITY_STEPS``.
SPARSITY_STEPS = 1000


class PlacementError(ValueError):
    """The network does not fit the chip.

    Attributes
    ----------
    suggestion : dict or None
        What would make it fit (:func:`needed_sparsity`, :func:`needed_removal`):
        ``{"sparsity": s, "sparsity_not_enough": s - step}`` or
        ``{"population": name, "remove": n}``, and ``"call"``, the compression call.
    """

    suggestion: dict | None = None


@dataclass(frozen=True)
class ResourceModel:
    """Per-core and per-chip limits of a neuromorphic chip.

    Parameters
    ----------
    name : str
    cores : int
        Neuro cores per chip.
    neurons_per_core : int
        Compartments (neurons) per core.
    synaptic_memory_bytes : int
        Synaptic memory per core.
    fan_in_axons, fan_out_axons : int or None
        Input / output axons per core (``None``: not modelled).
    weight_bits, delay_bits, index_bits : int
        Bits per synapse for the weight, a delay (``delay > 1`` only) and a sparse target index.
    source : str
        Where the figures come from.
    """

    name: str
    cores: int
    neurons_per_core: int
    synaptic_memory_bytes: int
    fan_in_axons: int | None = None
    fan_out_axons: int | None = None
    weight_bits: int = 8
    delay_bits: int = 6
    index_bits: int = 12
    source: str = ""


LOIHI1 = ResourceModel(
    "loihi1", cores=128, neurons_per_core=1024, synaptic_memory_bytes=128 * 1024,
    fan_in_axons=4096, fan_out_axons=4096, delay_bits=6, index_bits=10,
    source="Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', "
           "IEEE Micro 38(1), 2018: 128 cores, 1,024 compartments, 4,096 fan-in and fan-out "
           "axons and 128 KB synaptic memory per core")
LOIHI2 = ResourceModel(
    "loihi2", cores=128, neurons_per_core=8192, synaptic_memory_bytes=192 * 1024,
    fan_in_axons=None, fan_out_axons=None, delay_bits=6, index_bits=13,
    source="Intel, 'Taking Neuromorphic Computing to the Next Level with Loihi 2' (technology "
           "brief, 2021): 128 cores, up to 8,192 neurons and 192 KB synaptic memory per core")

RESOURCE_MODELS = {"loihi1": LOIHI1, "loihi2": LOIHI2}


@dataclass
class CoreSlice:
    """Neurons ``start .. stop-1`` of ``population`` on core ``core``."""

    core: int
    population: str
    start: int
    stop: int
    synaptic_memory_bytes: float = 0.0
    fan_in_axons: int = 0
    fan_out_axons: int = 0

    @property
    def neurons(self) -> int:
        return self.stop - self.start


@dataclass
class Placement:
    """Result of :func:`place`: core slices and utilization report."""

    model: ResourceModel
    slices: list = field(default_factory=list)

    @property
    def cores_used(self) -> int:
        return len(self.slices)

    def cores_of(self, population: str) -> list:
        return [s for s in self.slices if s.population == population]

    def report(self) -> dict:
        m = self.model
        per_core = []
        for s in self.slices:
            row = {"core": s.core, "population": s.population, "neurons": [s.start, s.stop],
                   "neuron_utilization": s.neurons / m.neurons_per_core,
                   "synaptic_memory_bytes": s.synaptic_memory_bytes,
                   "memory_utilization": s.synaptic_memory_bytes / m.synaptic_memory_bytes}
            if m.fan_in_axons:
                row["fan_in_utilization"] = s.fan_in_axons / m.fan_in_axons
            if m.fan_out_axons:
                row["fan_out_utilization"] = s.fan_out_axons / m.fan_out_axons
            per_core.append(row)
        return {"chip": m.name, "cores_used": self.cores_used, "cores_available": m.cores,
                "chip_utilization": self.cores_used / m.cores, "per_core": per_core,
                "source": m.source}


def synapse_cost_bits(model: ResourceModel, *, delay: int, sparse: bool, weight_bits: int | None = None) -> int:
    """Bits of one synapse: weight (``weight_bits`` or the model's), delay if ``delay > 1``, index if sparse."""
    wb = model.weight_bits if weight_bits is None else weight_bits
    return wb + (model.delay_bits if delay > 1 else 0) + (model.index_bits if sparse else 0)


def _bits_of(weight_bits, name: str):
    if weight_bits is None:
        return None
    if isinstance(weight_bits, Mapping):
        return weight_bits.get(name)
    return weight_bits


def _synapse_bits(net: Network, model: ResourceModel, weights=None, weight_bits=None):
    """Per population: per neuron synaptic-memory bits."""
    bits = {p.name: np.zeros(p.size) for p in net.populations}
    for proj in net.projections:
        w = proj.weights if weights is None else weights.get(proj.name, proj.weights)
        per_syn = synapse_cost_bits(model, delay=proj.delay, sparse=sp.issparse(w),
                                    weight_bits=_bits_of(weight_bits, proj.name))
        if sp.issparse(w):
            counts = np.diff(sp.csr_matrix(w).indptr)
        else:
            counts = np.full(w.shape[0], w.shape[1])
        bits[proj.post] += counts * per_syn
    return bits


def _fan_in(net: Network, pop: str, start: int, stop: int) -> int:
    """Distinct pre neurons projecting into neurons start..stop-1 of ``pop``."""
    total = 0
    for proj in net.projections_into(pop):
        w = proj.weights
        if sp.issparse(w):
            sub = sp.csr_matrix(w)[start:stop]
            total += int(np.unique(sub.indices).size)
        else:
            total += w.shape[1]
    return total


def resource_model(model: ResourceModel | str, owner: str = "place") -> ResourceModel:
    """A :class:`ResourceModel` from itself or its name in :data:`RESOURCE_MODELS`."""
    found = model if isinstance(model, ResourceModel) else RESOURCE_MODELS.get(model) if isinstance(model, str) else None
    if found is not None:
        return found
    raise ValueError(f"{owner}: model should be one of {', '.join(RESOURCE_MODELS)} or a "
                     f"ResourceModel, got {model!r}")


def per_projection(owner: str, field_name: str, value, names, check, *, expand: bool):
    """``value`` checked by ``check(field, v)``: None, one value (for every projection when ``expand``),
    or a dict of projection name to values (names checked against ``names``)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{owner}: {field_name} names projections {unknown} that the network does not "
                             f"have (it has {sorted(names)})")
        return {k: check(f"{field_name}[{k!r}]", v) for k, v in value.items()}
    v = check(field_name, value)
    return {k: v for k in names} if expand else v


def check_weight_bits(owner: str, weight_bits, names, *, expand: bool = False):
    """``weight_bits`` checked: None, an int 1..8, or a dict of projection name to such ints."""
    def one(field_name, b):
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= pruning.MAX_WEIGHT_BITS:
            raise ValueError(f"{owner}: {field_name} should be an integer 1..{pruning.MAX_WEIGHT_BITS} (Loihi's "
                             f"num_weight_bits), got {describe(b)}")
        return int(b)
    return per_projection(owner, "weight_bits", weight_bits, names, one, expand=expand)


def place(net: Network, model: ResourceModel | str = "loihi2", *, weight_bits=None,
          suggest: bool = True) -> Placement:
    """Partition every population of ``net`` onto cores of ``model``.

    Parameters
    ----------
    net : Network
    model : ResourceModel or {"loihi1", "loihi2"}
    weight_bits : int or dict of str to int, optional
        Weight mantissa bits per synapse (all projections, or per projection name);
        default the model's ``weight_bits`` (8). A compressed network's bits are
        ``CompressionReport.weight_bits``.
    suggest : bool
        On failure, compute the compression that would fit (``PlacementError.suggestion``).

    Raises
    ------
    PlacementError
        If a single neuron exceeds a per-core resource, or the network needs more
        cores than the chip has; the message names the resource and the excess, and
        suggests the compression call with the sparsity it needs.
    """
    model = resource_model(model)
    weight_bits = check_weight_bits("place", weight_bits, [p.name for p in net.projections])
    try:
        return _place(net, model, weight_bits)
    except PlacementError as err:
        if not suggest:
            raise
        suggestion = suggest_compression(net, model, weight_bits=weight_bits)
        new = PlacementError(f"{err} {suggestion['message']}")
        new.suggestion = suggestion
        raise new from None


def fits(net: Network, model: ResourceModel, weight_bits=None) -> bool:
    """Whether :func:`place` succeeds."""
    try:
        _place(net, model, weight_bits)
    except PlacementError:
        return False
    return True


def compact_formats(net: Network, model: ResourceModel, weight_bits=None) -> Network:
    """``net`` with every projection stored dense or sparse, whichever costs less synaptic memory.

    Dense weights cost ``n_post * n_pre`` synapses, zeros included; sparse ones ``nnz``
    synapses with an index each (:func:`synapse_cost_bits`).
    """
    projs = []
    for proj in net.projections:
        w = proj.weights
        nnz = w.nnz if sp.issparse(w) else int(np.count_nonzero(w))
        wb = _bits_of(weight_bits, proj.name)
        dense = w.shape[0] * w.shape[1] * synapse_cost_bits(model, delay=proj.delay, sparse=False, weight_bits=wb)
        sparse = nnz * synapse_cost_bits(model, delay=proj.delay, sparse=True, weight_bits=wb)
        want_sparse = sparse < dense
        if want_sparse != sp.issparse(w):
            proj = replace(proj, weights=pruning.as_format(w, sparse=want_sparse))
        projs.append(proj)
    return replace(net, projections=projs)


def needed_sparsity(net: Network, model: ResourceModel | str, *, weight_bits=None, random_state=None,
                    steps: int = SPARSITY_STEPS) -> float | None:
    """Smallest uniform magnitude sparsity ``i / steps`` at which ``net`` places on ``model``.

    Every projection loses the same fraction of its nonzero synapses
    (:func:`mapping.pruning.prune_magnitude`), stored in the cheaper format
    (:func:`compact_formats`); bisection over ``i`` with :func:`place` itself, so at
    ``(i - 1) / steps`` it does not fit. ``0.0`` if it fits as it is, ``None`` if even
    ``(steps - 1) / steps`` does not.
    """
    model = resource_model(model, "needed_sparsity")
    orders = {p.name: pruning.pruning_order(p.weights, random_state=random_state) for p in net.projections}

    def passes(i):  # the weights sorted once, not at every step of the bisection
        pruned, _ = pruning.prune_network(net, {p.name: i / steps for p in net.projections},
                                          random_state=random_state, orders=orders)
        return fits(compact_formats(pruned, model, weight_bits), model, weight_bits)

    i = pruning.smallest_passing(passes, 0, steps - 1)
    return None if i is None else i / steps


def cores_by_population(net: Network, model: ResourceModel, weight_bits=None) -> dict | None:
    """Cores each population takes on a chip with unlimited cores (``None`` if a neuron alone does not fit)."""
    try:
        placement = _place(net, replace(model, cores=10 ** 9), weight_bits)
    except PlacementError:
        return None
    return {p.name: len(placement.cores_of(p.name)) for p in net.populations}


def needed_removal(net: Network, model: ResourceModel | str, population: str, *,
                   weight_bits=None) -> int | None:
    """Fewest neurons of ``population`` (smallest L1 norm first) whose removal makes ``net`` place.

    Bisection over the count with :func:`place`: removing one fewer does not fit.
    ``None`` if removing all but one does not fit either.
    """
    model = resource_model(model, "needed_removal")

    def passes(n):
        if n == 0:
            return fits(net, model, weight_bits)
        smaller, _ = pruning.remove_neurons(net, {population: pruning.weakest_neurons(net, population, n)})
        return fits(smaller, model, weight_bits)

    size = net[population].size
    cores = cores_by_population(net, model, weight_bits)
    if cores and sum(cores.values()) > model.cores:  # first guess: the population's share of the excess cores
        excess = sum(cores.values()) - model.cores
        guess = min(size - 1, math.ceil(size * (excess + 1) / cores[population]))
        if guess < size - 1 and passes(guess):
            return pruning.smallest_passing(passes, 0, guess)
    return pruning.smallest_passing(passes, 0, size - 1)


def suggest_compression(net: Network, model: ResourceModel, *, weight_bits=None) -> dict:
    """The compression that would make ``net`` fit ``model``: figures and a sentence."""
    chip = repr(model.name) if RESOURCE_MODELS.get(model.name) == model else "chip"  # a modified model: by name
    call = f"mapping.compress(net, {chip}, fit=True)"
    s = needed_sparsity(net, model, weight_bits=weight_bits)
    if s == 0.0:
        return {"sparsity": 0.0, "call": f"mapping.compress(net, {chip})",
                "message": f"Stored in the cheaper format per projection (dense when more than "
                           f"{model.weight_bits}/(weight + index bits) of the synapses are nonzero) it fits "
                           f"without pruning: mapping.compress(net, {chip})."}
    if s is not None:
        return {"sparsity": s, "sparsity_not_enough": max(s - 1 / SPARSITY_STEPS, 0.0),
                "call": f"mapping.compress(net, {chip}, sparsity={s:g})",
                "message": f"Pruning {100 * s:.1f} % of every projection's synapses by magnitude would fit "
                           f"(computed; {100 * (s - 1 / SPARSITY_STEPS):.1f} % would not): "
                           f"mapping.compress(net, {chip}, sparsity={s:g}), or {call} to choose "
                           f"between magnitude and structured pruning."}
    cores = cores_by_population(net, model, weight_bits)
    if cores:
        pop = max(cores, key=cores.get)
        n = needed_removal(net, model, pop, weight_bits=weight_bits)
        if n is not None:
            return {"population": pop, "remove": n, "call": f"mapping.compress(net, {chip}, "
                                                              f"structured={{{pop!r}: {n}}})",
                    "message": f"Pruning synapses cannot fit it (the neurons per core set the split); "
                               f"removing the {n} weakest neurons of '{pop}' would (computed): "
                               f"mapping.compress(net, {chip}, structured={{{pop!r}: {n}}}), or {call}."}
    return {"call": None, "message": "Neither magnitude pruning of every projection nor removing neurons of "
                                     "one population makes it fit; split the network or use a larger chip."}


def _place(net: Network, model: ResourceModel, weight_bits=None) -> Placement:
    mem_bits = model.synaptic_memory_bytes * 8
    bits = _synapse_bits(net, model, weight_bits=weight_bits)
    chunk = {}
    for pop in net.populations:
        worst = float(bits[pop.name].max(initial=0))
        if worst > mem_bits:
            raise PlacementError(
                f"Population '{pop.name}': one neuron needs {worst / 8 / 1024:.1f} KB of synaptic "
                f"memory, more than the {model.synaptic_memory_bytes / 1024:.0f} KB per core of "
                f"{model.name} (by {(worst - mem_bits) / 8 / 1024:.1f} KB)")
        n = min(pop.size, model.neurons_per_core)
        csum = np.concatenate([[0], np.cumsum(bits[pop.name])])

        def fits(n, pop=pop, csum=csum):
            starts = np.arange(0, pop.size, n)
            stops = np.minimum(starts + n, pop.size)
            if (csum[stops] - csum[starts]).max() > mem_bits:
                return False
            if model.fan_in_axons:
                return all(_fan_in(net, pop.name, a, b) <= model.fan_in_axons for a, b in zip(starts, stops))
            return True

        if not fits(n):
            lo, hi = 1, n  # largest slice that fits: binary search, then step down to be safe
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
            n = lo
            while n > 1 and not fits(n):
                n -= 1
        if n == 1 and not fits(1):
            worst_fan = max(_fan_in(net, pop.name, i, i + 1) for i in range(pop.size))
            raise PlacementError(
                f"Population '{pop.name}': one neuron has fan-in from {worst_fan} distinct "
                f"neurons, more than the {model.fan_in_axons} input axons per core of "
                f"{model.name} (by {worst_fan - model.fan_in_axons})")
        chunk[pop.name] = n
    # Fan-out: shrink slices of populations whose output axons overflow.
    for _ in range(20):
        placement = _assign(net, model, chunk, bits)
        over = [s for s in placement.slices if model.fan_out_axons and s.fan_out_axons > model.fan_out_axons]
        if not over:
            break
        for s in over:
            chunk[s.population] = max(1, chunk[s.population] // 2)
    else:  # pragma: no cover - would need pathological fan-out
        s = over[0]
        raise PlacementError(f"Population '{s.population}': fan-out needs {s.fan_out_axons} output axons "
                             f"per core, more than {model.fan_out_axons} (by "
                             f"{s.fan_out_axons - model.fan_out_axons})")
    if placement.cores_used > model.cores:
        raise PlacementError(
            f"Network '{net.name}' needs {placement.cores_used} cores, {model.name} has {model.cores} "
            f"(by {placement.cores_used - model.cores}); neurons per core, synaptic memory and axons "
            f"set the split: {', '.join(f'{p}: {len(placement.cores_of(p))} cores' for p in chunk)}")
    return placement


def _assign(net: Network, model: ResourceModel, chunk: dict, bits: dict) -> Placement:
    placement = Placement(model=model)
    core = 0
    for pop in net.populations:
        n = chunk[pop.name]
        csum = np.concatenate([[0], np.cumsum(bits[pop.name])])
        for start in range(0, pop.size, n):
            stop = min(start + n, pop.size)
            placement.slices.append(CoreSlice(
                core=core, population=pop.name, start=start, stop=stop,
                synaptic_memory_bytes=float(csum[stop] - csum[start]) / 8,
                fan_in_axons=_fan_in(net, pop.name, start, stop) if model.fan_in_axons else 0))
            core += 1
    # fan-out: for every neuron of a slice, one axon per destination core it reaches
    starts_of = {p.name: [(s.start, s.stop) for s in placement.cores_of(p.name)] for p in net.populations}
    for s in placement.slices:
        total = 0
        for proj in net.projections:
            if proj.pre != s.population:
                continue
            w = proj.weights
            for (a, b) in starts_of[proj.post]:
                if sp.issparse(w):
                    sub = sp.csc_matrix(w)[a:b, s.start:s.stop]
                    total += int(np.count_nonzero(np.diff(sub.indptr)))
                else:
                    total += s.neurons
        s.fan_out_axons = total
    return placement


def cores_needed(size: int, model: ResourceModel | str = "loihi1") -> int:
    """Cores for ``size`` unconnected neurons: ``ceil(size / neurons_per_core)``."""
    model = RESOURCE_MODELS[model] if isinstance(model, str) else model
    return math.ceil(size / model.neurons_per_core)
