"""The lowering registry: one function per node kind, and what they share.

A *lowering* turns one node of a :class:`~neurochip.network.Network` into Lava
processes and connects them: ``fn(ctx, node) -> None``, registered under a kind
name with :func:`lowering`. :func:`kind_of` says which kind a node is (one
``functools.singledispatch`` implementation per node type, registered by the
module of that node family; :data:`REFINERS` may answer first), so
:func:`mapping.lava.wiring.wire` is a loop::

    for node in ctx.nodes():
        LOWERINGS[lowering_kind(node, ctx)](ctx, node)

The families live beside this module: :mod:`mapping.lava.populations`
(float, fixed and label-trace LIF), :mod:`mapping.lava.sources` (spike sources),
:mod:`mapping.lava.projections` (dense, sparse, delayed, plastic, label third
factor, memristive) and :mod:`mapping.lava.links` (the zero links that join
disconnected parts). A lowering adds its processes to ``ctx.wired``, the
:class:`Wired` result.
"""
from __future__ import annotations

import functools
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from neurochip._validation import describe

#: Lowering functions by node kind (filled by the family modules at import).
LOWERINGS: dict = {}

#: Functions ``fn(node, ctx) -> kind or None`` asked before :func:`kind_of` (the first kind wins):
#: how a deployment option changes a node's lowering (the attached regulator's regulated
#: populations and gated projections, :mod:`mapping.lava.regulation`).
REFINERS: list = []


def lowering(kind: str) -> Callable:
    """Register ``fn(ctx, node)`` as the lowering of node kind ``kind`` (a decorator)."""
    def register(fn: Callable) -> Callable:
        if kind in LOWERINGS:
            raise ValueError(f"lowering: kind {kind!r} is already registered (by {LOWERINGS[kind].__module__}."
                             f"{LOWERINGS[kind].__name__}); pick another kind name")
        LOWERINGS[kind] = fn
        return fn
    return register


@functools.singledispatch
def kind_of(node, ctx: "LoweringContext") -> str:
    """The registered kind of ``node`` in this deployment (one implementation per node type)."""
    raise ValueError(f"wire: no Lava lowering for a node of type {type(node).__name__} ({describe(node)}); "
                     f"register a kind with mapping.lava.registry.kind_of.register and a lowering with "
                     f"mapping.lava.registry.lowering")


def lowering_kind(node, ctx: "LoweringContext") -> str:
    """The kind ``node`` is lowered as: a refiner's answer (:data:`REFINERS`), else :func:`kind_of`."""
    for refine in REFINERS:
        kind = refine(node, ctx)
        if kind is not None:
            return kind
    return kind_of(node, ctx)


@dataclass
class Wired:
    """Lava processes of one deployment, ready for one run.

    Attributes
    ----------
    lifs, sources : dict of node name to Lava process
        Populations and spike sources (each has an ``s_out`` port).
    connections : dict of projection name to Lava process
        The first (or only) weight part of each projection.
    links : list
        Zero links joining disconnected parts.
    extras : list
        Further weight parts (fixed point, ``weight_parts=2``).
    horizon, probes, record_dir
        Steps of buffered input, recorded state variables, the folder the
        recording process models write to when stopped.
    paths : dict of node name to str
        Their files in ``record_dir``.
    readers : list
        ``read(files, steps) -> dict`` merged into the result's ``info`` after a run
        (``files``: the record files' arrays by name; e.g. the attached regulator's log).
    used : bool
        Run already (Lava processes run once).
    """

    horizon: int
    probes: dict
    record_dir: Path
    lifs: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    connections: dict = field(default_factory=dict)
    links: list = field(default_factory=list)
    extras: list = field(default_factory=list)
    paths: dict = field(default_factory=dict)
    readers: list = field(default_factory=list)
    used: bool = False

    @property
    def root(self):
        return next(iter(self.lifs.values()), None)

    def processes(self) -> list:
        return [*self.lifs.values(), *self.sources.values(), *self.connections.values(), *self.links,
                *self.extras]


@dataclass
class LoweringContext:
    """What lowerings read (the deployment) and write: Lava processes by node name, into ``wired``."""

    deployment: Any
    wired: Wired

    @classmethod
    def for_deployment(cls, deployment, *, horizon: int, probes: dict) -> "LoweringContext":
        record_dir = Path(tempfile.gettempdir()) / f"neurochip-lava-{uuid.uuid4().hex}"
        return cls(deployment=deployment, wired=Wired(horizon=horizon, probes={k: tuple(v) for k, v in probes.items()},
                                                      record_dir=record_dir))

    @property
    def network(self):
        return self.deployment.network

    @property
    def fixed(self) -> bool:
        return self.deployment.target.precision == "fixed"

    @functools.cached_property
    def third_factor_projections(self) -> dict:
        """Post population name -> the plastic projection whose label / reward source drives its ``y3``."""
        from mapping import third_factor_of

        return {proj.post: proj for proj in self.network.projections if third_factor_of(proj) is not None}

    def nodes(self) -> Iterator:
        """Populations, spike sources, projections (network order), the network itself (its links),
        then the attached regulator, if any (``deployment.regulator``)."""
        net = self.network
        yield from net.populations
        yield from net.sources
        yield from net.projections
        yield net
        if getattr(self.deployment, "regulator", None) is not None:
            yield self.deployment.regulator

    def spiking(self, name: str):
        """The lowered process of population or source ``name`` (its ``s_out`` sends the spikes)."""
        lifs = self.wired.lifs
        return lifs[name] if name in lifs else self.wired.sources[name]

    def record_path(self, name: str) -> str:
        """A file in the run's record folder for node ``name`` (written by its process model on stop)."""
        paths = self.wired.paths
        paths[name] = str(self.wired.record_dir / f"node{len(paths)}.npz")
        return paths[name]

    def finish(self) -> Wired:
        """The result; its processes leave Lava's global registries when it is garbage (run or not)."""
        from mapping.lava.side_effects import forget_processes

        weakref.finalize(self.wired, forget_processes, self.wired.processes()).atexit = False
        return self.wired
