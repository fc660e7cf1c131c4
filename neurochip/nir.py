"""NIR (Neuromorphic Intermediate Representation) import and export.

:func:`to_nir` turns a :class:`~neurochip.Network` into a ``nir.NIRGraph`` and
:func:`from_nir` turns a graph (or a NIR file) into a Network; :func:`write`
and :func:`read` go through files (``nir.write`` / ``nir.read``, HDF5), written
atomically. The ``nir`` package is imported only when one of them is called.

Discretization (the continuous-time NIR nodes as Loihi's discrete update)
--------------------------------------------------------------------------
NIR nodes are continuous-time ODEs and name no time step; a network runs in
steps of ``dt`` (``from_nir(..., dt=...)``; a graph written by :func:`to_nir`
carries its own). A ``CubaLIF`` node::

    tau_syn dI/dt = -I + w_in S           tau_mem dv/dt = (v_leak - v) + r I
    spike when v > v_threshold, then v = v_reset

becomes one Loihi CUBA LIF population by forward Euler with step ``dt``, in the
order of Lava's ``PyLifModelFloat`` (the new current drives the voltage of the
same step)::

    du = dt / tau_syn                     dv = dt / tau_mem
    u = dv * r * I                        (so u[k] = u[k-1] (1 - du) + a_in[k])
    a_in = (dv * r) * (du * w_in) * (W S) (folded into the weights of every incoming edge)
    bias = dv * (v_leak - v_reset)        vth = v_threshold - v_reset
    v_neurochip = v_nir - v_reset         (reset to zero)

``S`` in a step is the number of spikes (0 or 1 per neuron) that reached the
node in that step, as in the forward-Euler simulators that export NIR
(snnTorch, Norse). ``LIF`` is the same with ``du = 1`` (no synaptic filter):
``a_in = dv * r * (W S)``; ``IF`` (``dv/dt = r I``) has ``dv = 0`` and
``a_in = dt * r * (W S)``. An exporter that sets ``r = tau_mem / dt`` and
``w_in = tau_syn / dt`` (snnTorch does; so does :func:`to_nir`) makes the factor
1: products within 1e-12 of 1 are taken as exactly 1, so weights carry over
unchanged.

Edges: every path from a spiking node (``Input`` or a neuron node) through
``Affine`` / ``Linear`` / ``Scale`` / ``Delay`` / ``Flatten`` nodes to a neuron node is one
:class:`~neurochip.Projection`, its weights the product of the matrices along
the path (identity for a direct edge), its delay ``1 + sum(round(tau / dt))``
steps of the ``Delay`` nodes on it. The ``1`` is the chip's synaptic latency
(Lava ``Dense``): NIR's ``Affine`` is instantaneous, so a feed-forward stack
of ``L`` layers spikes ``L`` steps later than a simulator that evaluates all
layers within one step (the spike trains are otherwise the same when every
path into a node has the same length); in recurrent loops the step of latency
is what every discrete simulator adds. Recurrent and branching graphs (fan-out,
fan-in, skip connections, loops through neurons) map edge by edge; nested
``NIRGraph`` nodes are inlined (their ``Input`` / ``Output`` nodes pass through).
An ``Affine`` bias is a constant input: it is exact for neurons without a
synaptic filter (``du = 1``: added to ``bias``) and refused otherwise.

What is exact and what is approximate: the Network computes exactly the
discrete update above (Brian2, the numpy reference and Lava float give the
same spikes); against the continuous ODE it is the forward-Euler
approximation (error of order ``dt / tau``) plus the one step of latency per
synaptic edge and delays rounded to whole steps.

``Flatten`` passes signals through (neurochip's signals are flat vectors in C
order, the order NIR's flatten keeps). Not mapped (a ValueError names the node,
its type and the fix): ``LI``, ``CubaLI`` and ``I`` (no spikes), ``Threshold``,
convolutions, pooling; per-neuron ``tau_syn`` / ``tau_mem`` that differ within one node
(a population shares ``du`` and ``dv``), thresholds that differ after the
reset shift, delays that are not whole steps or differ across channels,
``tau < dt``. On export, projections with a memristive ``device`` or a
``plasticity`` rule are refused unless ``keep_unmapped=True``, which carries
them as JSON text in the node's metadata (other tools ignore it; a plain NIR
importer sees a static network); populations with ``du = 0``, or ``dv = 0``
and ``du < 1``, have no finite NIR time constants and are refused.

Metadata: :func:`to_nir` stores under the key ``"neurochip"`` (JSON text) what
NIR has no field for: the step ``dt``, the exact ``du``, ``dv``, ``bias`` (the
time constants ``dt / du`` lose the last bits), initial states ``u_init`` /
``v_init``, the spikes of each source, sparse connectivity patterns, node order
and the network name. :func:`from_nir` uses a node's metadata only when it
agrees with the node's own parameters to 1e-9 (the graph alone defines the
network, as NIR requires; the metadata restores bits, initial states, spikes
and order), so export, write, read and import give an equal Network.
"""
from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from brian2 import Quantity, second

from neurochip._validation import check_quantity, describe
from neurochip.network import REGISTRY, Network, Population, Projection, SpikeSource

#: Metadata key of the values NIR has no field for (JSON text).
META_KEY = "neurochip"
#: A weight factor ``(dv r)(du w_in)`` within this relative distance of 1 is taken as exactly 1.
UNIT_FACTOR_RTOL = 1e-12
#: Metadata values are used when they agree with the node's parameters to this relative tolerance.
META_RTOL = 1e-9

_NEURONS = ("CubaLIF", "LIF", "IF")
_TRANSFORMS = ("Affine", "Linear", "Scale", "Delay", "Flatten")
_WHY_NOT = {
    "LI": "a leaky integrator without spikes", "CubaLI": "a current-based leaky integrator without spikes",
    "I": "an integrator without spikes", "Threshold": "a threshold without a neuron state",
    "Conv1d": "a convolution (give it as Affine weights)", "Conv2d": "a convolution (give it as Affine weights)",
    "SumPool2d": "pooling", "AvgPool2d": "pooling",
}


def _nir():
    try:
        import nir
    except ImportError as err:  # pragma: no cover - nir is an install requirement
        raise ImportError("neurochip's NIR support needs the 'nir' package: pip install 'nir>=1.0.8,<2'") from err
    return nir


# ----------------------------------------------------------------------------- export
def to_nir(network: Network, *, outputs: Sequence[str] | None = None, keep_unmapped: bool = False):
    """The network as a ``nir.NIRGraph``.

    Sources become ``Input`` nodes, populations ``CubaLIF`` nodes (``IF`` for
    ``du = 1, dv = 0``) with ``tau_syn = dt / du``, ``tau_mem = dt / dv``,
    ``r = tau_mem / dt``, ``w_in = tau_syn / dt``, ``v_leak = bias / dv``,
    ``v_reset = 0`` (so the weights are neurochip's), and each projection a
    ``Linear`` node named after it (dense weights, ``(n_post, n_pre)``), followed
    by a ``Delay`` node ``<name>.delay`` of ``(delay - 1) dt`` when its delay
    exceeds the one-step synaptic latency. See the module docstring for what
    is carried in metadata.

    Parameters
    ----------
    network : Network
    outputs : sequence of str, optional
        Populations that get an ``Output`` node (``output_<name>``); default:
        those no projection reads from, or all populations when every one is read.
    keep_unmapped : bool
        Carry projections' ``device`` and ``plasticity`` as JSON text in metadata
        (restored by :func:`from_nir`, ignored by other tools) instead of refusing them.
    """
    nir = _nir()
    if not isinstance(network, Network):
        raise ValueError(f"to_nir: network should be a neurochip Network, got {type(network).__name__}")
    network.validate()
    dt_s = float(network.dt / second)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for src in network.sources:
        nodes[src.name] = nir.Input(input_type={"input": np.array([src.size])},
                                    metadata=_meta(indices=src.indices.tolist(), steps=src.steps.tolist()))
    for pop in network.populations:
        nodes[pop.name] = _export_population(nir, pop, dt_s)
    sizes = {n.name: n.size for n in [*network.sources, *network.populations]}
    for proj in network.projections:
        extra = {}
        for attr in ("device", "plasticity"):
            value = getattr(proj, attr)
            if value is None:
                continue
            if not keep_unmapped:
                raise ValueError(f"to_nir: Projection '{proj.name}': {attr} {type(value).__name__} has no NIR "
                                 f"node (NIR graphs are static); pass keep_unmapped=True to carry it in the "
                                 f"node's metadata (other tools will ignore it), or export without it")
            extra[attr] = value.to_dict()
        if proj.is_sparse:
            coo = proj.weights.tocoo()
            extra["sparse"] = {"row": coo.row.tolist(), "col": coo.col.tolist()}
        nodes[proj.name] = nir.Linear(weight=np.array(proj.dense_weights(), dtype=float), metadata=_meta(**extra))
        edges.append((proj.pre, proj.name))
        last = proj.name
        if proj.delay > 1:
            delay_name = _unique(f"{proj.name}.delay", nodes)
            nodes[delay_name] = nir.Delay(delay=np.full(sizes[proj.post], (proj.delay - 1) * dt_s))
            edges.append((last, delay_name))
            last = delay_name
        edges.append((last, proj.post))
    if outputs is None:
        read_from = {p.pre for p in network.projections}
        outputs = [p for p in network.population_names if p not in read_from] or network.population_names
    for name in outputs:
        if name not in network.population_names:
            raise ValueError(f"to_nir: outputs: {name!r} is not a population of network '{network.name}' "
                             f"(known: {', '.join(network.population_names)})")
        out = _unique(f"output_{name}", nodes)
        nodes[out] = nir.Output(output_type={"output": np.array([sizes[name]])})
        edges.append((name, out))
    meta = _meta(format="neurochip.network", dt=dt_s, name=network.name,
                 order={"populations": network.population_names, "sources": [s.name for s in network.sources],
                        "projections": [p.name for p in network.projections]})
    # NIR's type inference starts from Input nodes: a network without sources is checked by ours only
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=bool(network.sources))


def _export_population(nir, pop: Population, dt_s: float):
    owner = f"to_nir: Population '{pop.name}'"
    n = pop.size
    full = lambda value: np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()  # noqa: E731
    meta = _meta(du=pop.du, dv=pop.dv, vth=pop.vth, bias=_jsonable(pop.bias), u_init=_jsonable(pop.u_init),
                 v_init=_jsonable(pop.v_init))
    if pop.du == 0:
        raise ValueError(f"{owner}: du = 0 (a current that never decays) has no finite NIR time constant "
                         f"(tau_syn = dt / du); give du > 0")
    if pop.dv == 0:
        if pop.du != 1 or np.any(np.asarray(pop.bias) != 0):
            raise ValueError(f"{owner}: dv = 0 (no leak) maps to NIR's IF node only with du = 1 and bias = 0, "
                             f"got du = {pop.du}, bias {describe(pop.bias)}; give dv > 0")
        return nir.IF(r=np.full(n, 1.0 / dt_s), v_threshold=np.full(n, pop.vth), v_reset=np.zeros(n), metadata=meta)
    tau_syn, tau_mem = dt_s / pop.du, dt_s / pop.dv
    return nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt_s),
                       v_leak=full(pop.bias) / pop.dv, v_threshold=np.full(n, pop.vth), v_reset=np.zeros(n),
                       w_in=np.full(n, tau_syn / dt_s), metadata=meta)


def _meta(**values) -> dict:
    return {META_KEY: json.dumps(values)} if values else {}


def _jsonable(value):
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def _unique(name: str, taken) -> str:
    out, k = name, 1
    while out in taken:
        out, k = f"{name}_{k}", k + 1
    return out


# ----------------------------------------------------------------------------- import
@dataclass
class _Path:
    """One path from a spiking node to a neuron node: the projection it becomes."""

    pre: str
    post: str
    weights: np.ndarray | None          # None: identity
    bias: np.ndarray | None             # constant input (Affine biases along the path)
    delay: int
    chain: list = field(default_factory=list)


def from_nir(graph_or_path, *, dt: Quantity | None = None, time_unit: Quantity = second,
             inputs: Mapping[str, Any] | None = None, name: str | None = None) -> Network:
    """A Network from a ``nir.NIRGraph`` or a NIR file (see the module docstring for the mapping).

    Parameters
    ----------
    graph_or_path : nir.NIRGraph, str or path
    dt : Quantity, optional
        The step of the discretization (the step the graph was trained with,
        e.g. snnTorch exports with 1e-4 s). Default: the ``dt`` a graph written
        by :func:`to_nir` carries; a ValueError when the graph has none.
    time_unit : Quantity
        Unit of the graph's time constants and delays (default second).
    inputs : mapping of Input node name to SpikeSource or (indices, steps), optional
        Spikes of the graph's ``Input`` nodes; default: those carried by a graph
        written by :func:`to_nir`, else none (set ``net.sources`` later).
    name : str, optional
        Name of the Network (default: the carried name, else ``"nir"``).
    """
    nir = _nir()
    graph = read_graph(graph_or_path) if isinstance(graph_or_path, (str, os.PathLike)) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir: expected a nir.NIRGraph or the path of a NIR file, got "
                         f"{type(graph_or_path).__name__}")
    gmeta = _read_meta(graph, "graph")
    unit_s = float(check_quantity("from_nir", "time_unit", time_unit, second, positive=True) / second)
    if dt is not None:
        dt_s = float(check_quantity("from_nir", "dt", dt, second, positive=True) / second)
    elif isinstance(gmeta.get("dt"), (int, float)) and gmeta["dt"] > 0:
        dt_s = float(gmeta["dt"])
    else:
        raise ValueError("from_nir: the graph does not say its time step; pass dt= (the step it was trained with, "
                         "e.g. dt=1e-4*second for a graph exported by snnTorch)")
    nodes, edges = _flatten(nir, graph)
    names = _valid_names(nodes)
    kinds = {k: _kind(nir, k, n) for k, n in nodes.items()}

    pops, scale, const_ok = {}, {}, {}
    for key, node in nodes.items():
        if kinds[key] == "neuron":
            pops[key], scale[key], const_ok[key] = _import_neuron(node, key, names[key], dt_s, unit_s,
                                                                  _incoming_size(nodes, edges, key))
    sources = {}
    given = dict(inputs or {})
    for key, node in nodes.items():
        if kinds[key] == "source":
            sources[key] = _import_source(node, key, names[key], given.pop(key, given.pop(names[key], None)))
    if given:
        raise ValueError(f"from_nir: inputs: {', '.join(map(repr, given))} is not an Input node of the graph "
                         f"(Input nodes: {', '.join(map(repr, sources)) or 'none'})")

    out_edges: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        out_edges[a].append(b)
    paths = []
    for key in nodes:
        if kinds[key] in ("source", "neuron"):
            size = pops[key].size if kinds[key] == "neuron" else sources[key].size
            _walk(nodes, kinds, out_edges, key, key, None, None, 1, [], size, dt_s, unit_s, paths)

    projections, used = [], {names[k] for k in [*pops, *sources]}
    sizes = {**{k: s.size for k, s in sources.items()}, **{k: p.size for k, p in pops.items()}}
    for path in paths:
        projections.append(_projection(nodes, names, path, pops, sizes, scale, const_ok, used))
    order = gmeta.get("order") if isinstance(gmeta.get("order"), dict) else {}
    net = Network(populations=_ordered(pops.values(), order.get("populations")),
                  sources=_ordered(sources.values(), order.get("sources")),
                  projections=_ordered(projections, order.get("projections")),
                  dt=dt_s * second, name=name or (gmeta.get("name") if isinstance(gmeta.get("name"), str) else "nir"))
    return net.validate()


def _ordered(items, order) -> list:
    items = list(items)
    if not isinstance(order, list):
        return items
    rank = {n: k for k, n in enumerate(order) if isinstance(n, str)}
    return sorted(items, key=lambda item: rank.get(item.name, len(rank)))


def _read_meta(node, label: str) -> dict:
    text = (getattr(node, "metadata", None) or {}).get(META_KEY)
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf8")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        warnings.warn(f"from_nir: {label}: metadata[{META_KEY!r}] is not neurochip's JSON object; ignored",
                      stacklevel=3)
        return {}
    return value


def _flatten(nir, graph, prefix: str = ""):
    """Nodes and edges of ``graph`` with nested NIRGraph nodes inlined (``outer.inner`` names)."""
    nodes, edges = {}, []
    inner_io: dict[str, tuple[list, list]] = {}
    for key, node in graph.nodes.items():
        full = prefix + str(key)
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(nir, node, full + ".")
            ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            for k in ins + outs:  # the subgraph's ports pass signals through
                sub_nodes[f"{full}.{k}"] = _PassThrough(f"{full}.{k}")
            nodes.update(sub_nodes)
            edges += sub_edges
            inner_io[full] = ([f"{full}.{k}" for k in ins], [f"{full}.{k}" for k in outs])
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + str(a), prefix + str(b)
        edges.append((_port(a, inner_io, 1, nodes), _port(b, inner_io, 0, nodes)))
    return nodes, edges


def _port(key: str, inner_io: dict, side: int, nodes: dict) -> str:
    if key in nodes:
        return key
    if key in inner_io:
        ports = inner_io[key][side]
        if len(ports) != 1:
            what = "Output" if side else "Input"
            raise ValueError(f"from_nir: subgraph '{key}' has {len(ports)} {what} nodes; name the one an edge "
                             f"uses as '{key}.<node>'")
        return ports[0]
    raise ValueError(f"from_nir: an edge names node '{key}', which is not in the graph")


class _PassThrough:
    """The Input / Output node of an inlined subgraph: passes its signal on unchanged."""

    def __init__(self, name):
        self.name = name


def _kind(nir, key: str, node) -> str:
    tname = type(node).__name__
    if isinstance(node, _PassThrough):
        return "pass"
    if isinstance(node, nir.Input):
        return "source"
    if isinstance(node, nir.Output):
        return "sink"
    if tname in _NEURONS:
        return "neuron"
    if tname in _TRANSFORMS:
        return "transform"
    why = _WHY_NOT.get(tname, "not one of the node types neurochip maps")
    raise ValueError(f"from_nir: node '{key}' ({tname}) cannot be mapped to a neurochip network: it is {why}; "
                     f"neurochip maps {', '.join(_NEURONS)} neurons, {', '.join(_TRANSFORMS)} edges, Input and "
                     f"Output nodes")


def _valid_names(nodes: dict) -> dict:
    """NIR node names as neurochip names (letters, digits, '_', '-'; starting with a letter), unique."""
    out, taken = {}, set()
    for key in nodes:
        name = "".join(c if (c.isalnum() or c in "_-") and c.isascii() else "_" for c in key)
        if not name or not (name[0].isalpha() or name[0] == "_"):
            name = "n" + name
        name = _unique(name, taken)
        taken.add(name)
        out[key] = name
    return out


def _param(node, key: str, attr: str, size: int) -> np.ndarray:
    value = np.asarray(getattr(node, attr), dtype=float).ravel()
    if value.size == 1:
        value = np.full(size, float(value[0]))
    if value.size != size:
        raise ValueError(f"from_nir: node '{key}' ({type(node).__name__}): {attr} should have {size} values "
                         f"(one per neuron), got {value.size}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"from_nir: node '{key}': {attr} should be finite, got "
                         f"{int(np.sum(~np.isfinite(value)))} non-finite values")
    return value


def _uniform(key: str, node, attr: str, value: np.ndarray) -> float:
    if value.size and np.ptp(value) != 0:
        raise ValueError(f"from_nir: node '{key}' ({type(node).__name__}): {attr} should be the same for every "
                         f"neuron (a neurochip population shares du, dv and vth), got values in "
                         f"[{value.min():g}, {value.max():g}]; split the node into nodes of equal {attr}")
    return float(value[0])


def _incoming_size(nodes, edges, key) -> int | None:
    for a, b in edges:
        if b == key:
            w = getattr(nodes[a], "weight", None)
            if w is not None and np.ndim(w) == 2:
                return int(np.shape(w)[0])
    return None


def _import_neuron(node, key: str, name: str, dt_s: float, unit_s: float, incoming: int | None):
    """(Population, per-neuron input factor, whether a constant input is exact) of a neuron node."""
    tname = type(node).__name__
    shape = np.shape(node.v_threshold)
    size = int(np.prod(shape)) if len(shape) else (incoming or 1)
    p = {a: _param(node, key, a, size) for a in ("v_threshold", "v_reset", "r")}
    if tname == "IF":
        du, dv, factor, v_leak = 1.0, 0.0, dt_s * p["r"], np.zeros(size)
    else:
        taus = {a: _param(node, key, a, size) * unit_s for a in (("tau_syn", "tau_mem") if tname == "CubaLIF"
                                                                  else ("tau",))}
        for a, tau in taus.items():
            if np.any(tau < dt_s * (1 - 1e-12)):
                raise ValueError(f"from_nir: node '{key}' ({tname}): {a} should be >= dt ({dt_s:g} s) for a "
                                 f"stable forward-Euler step, got minimum {tau.min():g} s; pass a smaller dt")
        tau_mem = _uniform(key, node, "tau_mem" if tname == "CubaLIF" else "tau",
                           taus["tau_mem" if tname == "CubaLIF" else "tau"])
        dv = min(1.0, dt_s / tau_mem)
        v_leak = _param(node, key, "v_leak", size)
        factor = dv * p["r"]
        if tname == "CubaLIF":
            du = min(1.0, dt_s / _uniform(key, node, "tau_syn", taus["tau_syn"]))
            factor = _snap(factor) * _snap(du * _param(node, key, "w_in", size))
        else:
            du = 1.0
    factor = _snap(factor)
    vth = _uniform(key, node, "v_threshold - v_reset", p["v_threshold"] - p["v_reset"])
    if not vth > 0:
        raise ValueError(f"from_nir: node '{key}' ({tname}): v_threshold should be > v_reset, got "
                         f"v_threshold - v_reset = {vth:g}")
    bias = dv * (v_leak - p["v_reset"])
    fields = dict(du=du, dv=dv, vth=vth, bias=_compact(bias), u_init=0.0, v_init=_compact(-p["v_reset"]))
    meta = _read_meta(node, f"node '{key}'")
    if meta:
        fields = _refine(key, fields, meta)
    return Population(name, size, **fields), factor, du == 1.0


def _refine(key: str, fields: dict, meta: dict) -> dict:
    """``fields`` with the exact values of a neurochip export, when they agree with the node's parameters."""
    try:
        exact = {k: meta[k] for k in ("du", "dv", "vth", "bias")}
        agree = all(np.allclose(np.asarray(exact[k], dtype=float), np.asarray(fields[k], dtype=float),
                                rtol=META_RTOL, atol=1e-12) for k in exact)
        if agree:
            return {**fields, **exact, "u_init": meta.get("u_init", 0.0), "v_init": meta.get("v_init", 0.0)}
    except (KeyError, TypeError, ValueError):
        pass
    warnings.warn(f"from_nir: node '{key}': its neurochip metadata does not agree with its NIR parameters "
                  f"(edited after export?); the NIR parameters are used", stacklevel=4)
    return fields


def _snap(x):
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x - 1.0) <= UNIT_FACTOR_RTOL, 1.0, x)


def _compact(values: np.ndarray):
    return float(values[0]) if values.size and np.all(values == values[0]) else values


def _import_source(node, key: str, name: str, given) -> SpikeSource:
    size = int(np.prod(np.asarray(node.input_type["input"]).astype(np.int64)))
    if given is None:
        meta = _read_meta(node, f"node '{key}'")
        given = (meta.get("indices", []), meta.get("steps", []))
    if isinstance(given, SpikeSource):
        if given.size != size:
            raise ValueError(f"from_nir: inputs['{key}']: SpikeSource of size {given.size}, but the Input node "
                             f"has {size} channels")
        given = (given.indices, given.steps)
    try:
        indices, steps = given
    except (TypeError, ValueError):
        raise ValueError(f"from_nir: inputs['{key}'] should be a SpikeSource or (indices, steps), got "
                         f"{describe(given)}") from None
    return SpikeSource(name, size, indices=np.asarray(indices, dtype=np.int64), steps=np.asarray(steps, dtype=np.int64))


def _walk(nodes, kinds, out_edges, start, at, weights, bias, delay, chain, dim, dt_s, unit_s, paths):
    for nxt in out_edges[at]:
        kind = kinds[nxt]
        if kind == "neuron":
            paths.append(_Path(start, nxt, weights, bias, delay, list(chain)))
        elif kind == "sink":
            if chain and any(kinds[c] == "transform" and type(nodes[c]).__name__ not in ("Delay", "Flatten")
                             for c in chain):
                raise ValueError(f"from_nir: '{chain[-1]}' feeds Output '{nxt}' without a neuron node: neurochip "
                                 f"networks output spikes of neuron populations; end the path with a neuron node")
        elif kind == "source":
            raise ValueError(f"from_nir: an edge leads into Input node '{nxt}' (from '{at}'); Input nodes only send")
        else:
            if nxt in chain:
                raise ValueError(f"from_nir: a loop through {' -> '.join([*chain[chain.index(nxt):], nxt])} has no "
                                 f"neuron node (an instantaneous algebraic loop)")
            w, b, d, n = _apply(nodes[nxt], nxt, weights, bias, delay, dim, dt_s, unit_s)
            _walk(nodes, kinds, out_edges, start, nxt, w, b, d, [*chain, nxt], n, dt_s, unit_s, paths)


def _apply(node, key, weights, bias, delay, dim, dt_s, unit_s):
    """Compose one transform node onto a path: (weights, bias, delay, output dimension)."""
    tname = type(node).__name__
    if tname in ("Affine", "Linear"):
        w = np.asarray(node.weight, dtype=float)
        if w.ndim != 2:
            raise ValueError(f"from_nir: node '{key}' ({tname}): weight should be 2-D (n_out, n_in), got shape "
                             f"{w.shape}")
        if w.shape[1] != dim:
            raise ValueError(f"from_nir: node '{key}' ({tname}): weight has {w.shape[1]} inputs, but its input "
                             f"carries {dim} channels")
        weights = w if weights is None else w @ weights
        bias = None if bias is None else w @ bias
        if tname == "Affine":
            b = np.asarray(node.bias, dtype=float).ravel()
            b = np.full(w.shape[0], float(b[0])) if b.size == 1 else b
            if b.size != w.shape[0]:
                raise ValueError(f"from_nir: node '{key}' (Affine): bias should have {w.shape[0]} values, got {b.size}")
            if np.any(b != 0):
                bias = b if bias is None else bias + b
        return weights, bias, delay, w.shape[0]
    if tname == "Scale":
        s = np.asarray(node.scale, dtype=float).ravel()
        s = np.full(dim, float(s[0])) if s.size == 1 else s
        if s.size != dim:
            raise ValueError(f"from_nir: node '{key}' (Scale): scale should have {dim} values, got {s.size}")
        weights = np.diag(s) if weights is None else s[:, None] * weights
        return weights, None if bias is None else s * bias, delay, dim
    if tname == "Delay":
        tau = np.asarray(node.delay, dtype=float).ravel() * unit_s
        steps = tau / dt_s
        if tau.size == 0 or np.ptp(steps) > 1e-9 * max(1.0, float(np.abs(steps).max())):
            raise ValueError(f"from_nir: node '{key}' (Delay): delay should be the same for every channel (one "
                             f"delay per projection), got values in [{tau.min():g}, {tau.max():g}] s")
        k = float(steps[0])
        if k < 0 or abs(k - round(k)) > 1e-6:
            raise ValueError(f"from_nir: node '{key}' (Delay): delay should be a whole number of steps of dt "
                             f"({dt_s:g} s), got {tau[0]:g} s = {k:g} steps")
        return weights, bias, delay + int(round(k)), dim
    return weights, bias, delay, dim   # Flatten (signals are flat, in C order) or a subgraph's port


def _projection(nodes, names, path: _Path, pops, sizes, scale, const_ok, used) -> Projection:
    post = pops[path.post]
    weights = path.weights
    if weights is None:
        n_pre = sizes[path.pre]
        if n_pre != post.size:
            raise ValueError(f"from_nir: edge '{path.pre}' -> '{path.post}' connects {n_pre} to {post.size} "
                             f"channels without weights; put an Affine or Linear node between them")
        weights = np.eye(post.size)
    if weights.shape[0] != post.size:
        raise ValueError(f"from_nir: the path {' -> '.join([path.pre, *path.chain, path.post])} delivers "
                         f"{weights.shape[0]} channels into '{path.post}', which has {post.size} neurons")
    factor = scale[path.post]
    weights = weights if np.all(factor == 1.0) else np.asarray(factor)[:, None] * weights
    if path.bias is not None:
        if not const_ok[path.post]:
            raise ValueError(f"from_nir: the Affine bias on the path into '{path.post}' is a constant input into "
                             f"a synaptic current (du < 1), which a neurochip population does not have; fold it "
                             f"into the node's v_leak or give zero bias")
        post.bias = np.asarray(post.bias, dtype=float) + factor * path.bias
        post.validate()
    weight_nodes = [c for c in path.chain if type(nodes[c]).__name__ in ("Affine", "Linear", "Scale")]
    base = names[weight_nodes[0]] if weight_nodes else f"{names[path.pre]}_{names[path.post]}"
    meta = _read_meta(nodes[weight_nodes[0]], f"node '{weight_nodes[0]}'") if len(weight_nodes) == 1 else {}
    if base in used:
        base = f"{base}_{names[path.pre]}_{names[path.post]}"
    proj_name = _unique(base, used)
    used.add(proj_name)
    w = weights
    pattern = meta.get("sparse") if isinstance(meta.get("sparse"), dict) else None
    if pattern is not None:
        try:
            row, col = np.asarray(pattern["row"], dtype=np.int64), np.asarray(pattern["col"], dtype=np.int64)
            mask = np.zeros(w.shape, dtype=bool)
            mask[row, col] = True
            if not np.any(w[~mask]):
                w = sp.csr_matrix(sp.coo_matrix((w[row, col], (row, col)), shape=w.shape))
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # a damaged pattern: the dense weights stand
    extra = {}
    for attr in ("device", "plasticity"):
        value = meta.get(attr)
        if isinstance(value, dict) and value.get("type") in REGISTRY:
            extra[attr] = REGISTRY[value["type"]].from_dict(value)
    return Projection(proj_name, names[path.pre], names[path.post], w, delay=path.delay, **extra)


# ----------------------------------------------------------------------------- files
def read_graph(path: str | os.PathLike):
    """``nir.read`` of ``path`` (no type check: :func:`from_nir` checks), with errors naming the file."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {path} does not exist")
    try:
        return nir.read(path, type_check=False)
    except (OSError, KeyError, AssertionError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"NIR file {path}: cannot be read as a NIR graph ({type(err).__name__}: {err})") from None


def write(path: str | os.PathLike, network_or_graph, **to_nir_kwargs) -> Path:
    """Write a Network (through :func:`to_nir`) or a NIR graph to ``path`` (HDF5, atomically)."""
    from neurochip.io import atomic_write_bytes

    nir = _nir()
    graph = (to_nir(network_or_graph, **to_nir_kwargs) if isinstance(network_or_graph, Network)
             else network_or_graph)
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"nir write: expected a Network or a nir.NIRGraph, got {type(network_or_graph).__name__}")
    buf = io.BytesIO()
    nir.write(buf, graph)
    return atomic_write_bytes(path, buf.getvalue())


def read(path: str | os.PathLike, **from_nir_kwargs) -> Network:
    """The Network of a NIR file (:func:`from_nir` of :func:`read_graph`)."""
    return from_nir(read_graph(path), **from_nir_kwargs)
