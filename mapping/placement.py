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
the chip has, raises :class:`PlacementError` naming the resource and the excess.

The synaptic-memory cost model is a documented approximation (real Loihi
compilers compress synapse lists); it is conservative for dense projections.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from neurochip.network import Network


class PlacementError(ValueError):
    """The network does not fit the chip."""


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


def _synapse_bits(net: Network, model: ResourceModel, weights=None):
    """Per population: per neuron synaptic-memory bits, and per projection the pre sets."""
    bits = {p.name: np.zeros(p.size) for p in net.populations}
    for proj in net.projections:
        w = proj.weights if weights is None else weights.get(proj.name, proj.weights)
        per_syn = model.weight_bits + (model.delay_bits if proj.delay > 1 else 0)
        if sp.issparse(w):
            per_syn += model.index_bits
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


def place(net: Network, model: ResourceModel | str = "loihi2") -> Placement:
    """Partition every population of ``net`` onto cores of ``model``.

    Raises
    ------
    PlacementError
        If a single neuron exceeds a per-core resource, or the network needs more
        cores than the chip has; the message names the resource and the excess.
    """
    if isinstance(model, str):
        if model not in RESOURCE_MODELS:
            raise ValueError(f"place: model should be one of {', '.join(RESOURCE_MODELS)} or a "
                             f"ResourceModel, got {model!r}")
        model = RESOURCE_MODELS[model]
    mem_bits = model.synaptic_memory_bytes * 8
    bits = _synapse_bits(net, model)
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
