"""The network description: plain, validated, serializable data.

A :class:`Network` holds named nodes (:class:`Population` of Loihi-style CUBA
LIF neurons, :class:`SpikeSource` of given spikes) and :class:`Projection` edges
between them. Nothing here simulates: the Brian2 backend
(:mod:`neurochip.brian_backend`), the numpy reference (:mod:`neurochip.reference`)
and the Lava mapper (:mod:`mapping`) all consume this description.

Time is discrete. Step ``k`` is the interval ``[k dt, (k+1) dt)``; every
population updates once per step in the order of Lava's ``PyLifModelFloat``::

    u[k] = u[k-1] * (1 - du) + a_in[k]        # synaptic current
    v[k] = v[k-1] * (1 - dv) + u[k] + bias    # membrane voltage
    spike[k] = v[k] > vth;  v[k] = 0 where spike[k]

A spike of node ``pre`` at step ``k`` reaches ``a_in`` of ``post`` at step
``k + delay`` through each projection, weighted by ``weights[post, pre]``;
``delay >= 1`` (``delay == 1`` is Lava ``Dense``'s one-step latency).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from brian2 import Quantity, ms, second

from neurochip._validation import (
    check_float,
    check_int,
    check_name,
    check_quantity,
    check_scalar_or_array,
    describe,
)
from neurochip.io import atomic_write_text, read_json

FORMAT = "neurochip.network"
FORMAT_VERSION = 1

#: Largest population / spike-source size (2**24 = 16.8 M neurons: about 1 GB of Brian2 state
#: per population); larger sizes are refused before anything is allocated.
MAX_SIZE = 2 ** 24
#: Largest synaptic delay in steps (2**16 = 65 s at dt = 1 ms); a delay in the millions of
#: steps is a units mistake (seconds given as steps), and Brian2 allocates a queue per step.
MAX_DELAY = 2 ** 16

#: Node and edge types by their ``type`` tag in serialized form (see :func:`register`).
REGISTRY: dict[str, type] = {}


def register(cls):
    """Class decorator: make a node/edge type known to :meth:`Network.from_dict`."""
    REGISTRY[cls.__name__] = cls
    return cls


class _Serializable:
    """Equality by serialized content (numpy fields make dataclass ``==`` ambiguous)."""

    def to_dict(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _canonical(self.to_dict()) == _canonical(other.to_dict())


def _array_to_json(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@register
@dataclass(eq=False)
class Population(_Serializable):
    """A population of Loihi-style current-based (CUBA) LIF neurons.

    Parameters
    ----------
    name : str
        Unique name in the network.
    size : int
        Number of neurons (>= 1).
    du, dv : float
        Fraction of synaptic current / membrane voltage lost per step, in
        ``[0, 1]`` (Lava floating-point ``du``/``dv``). From time constants,
        ``du = dt / tau_u``: use :meth:`from_time_constants`.
    vth : float
        Firing threshold (> 0); a neuron spikes when ``v > vth``.
    bias : float or array of shape (size,)
        Constant input added to ``v`` every step.
    u_init, v_init : float or array of shape (size,)
        State at step -1.

    Notes
    -----
    Units of ``u``, ``v``, ``vth``, ``bias`` and weights are arbitrary but
    shared (dimensionless, as on the chip). The reset is to zero with no
    refractory period (Lava ``LIF``).
    """

    name: str
    size: int
    du: float
    dv: float
    vth: float
    bias: Any = 0.0
    u_init: Any = 0.0
    v_init: Any = 0.0

    kind: ClassVar[str] = "population"

    def __post_init__(self):
        self.validate()

    def validate(self) -> "Population":
        """Check every field again (also after a field was changed); normalizes in place."""
        self.name = check_name("Population", self.name)
        owner = f"Population '{self.name}'"
        self.size = _check_size(owner, self.size)
        self.du = check_float(owner, "du", self.du, low=0.0, high=1.0)
        self.dv = check_float(owner, "dv", self.dv, low=0.0, high=1.0)
        self.vth = check_float(owner, "vth", self.vth, low=0.0, low_open=True)
        self.bias = check_scalar_or_array(owner, "bias", self.bias, self.size)
        self.u_init = check_scalar_or_array(owner, "u_init", self.u_init, self.size)
        self.v_init = check_scalar_or_array(owner, "v_init", self.v_init, self.size)
        return self

    @classmethod
    def from_time_constants(cls, name: str, size: int, *, tau_u: Quantity, tau_v: Quantity,
                            dt: Quantity = 1 * ms, vth: float, bias=0.0, u_init=0.0,
                            v_init=0.0) -> "Population":
        """Build a population from time constants (forward Euler, ``du = dt / tau_u``).

        ``dt`` must be the network's ``dt``. ``tau_u = dt`` gives ``du = 1``
        (current lasts one step); ``tau >= dt`` is required.

        Examples
        --------
        >>> from brian2 import ms
        >>> Population.from_time_constants("exc", 100, tau_u=5*ms, tau_v=20*ms, vth=1.0).du
        0.2
        """
        owner = f"Population '{name}'"
        dt = check_quantity(owner, "dt", dt, second, positive=True)
        tau_u = check_quantity(owner, "tau_u", tau_u, second, positive=True)
        tau_v = check_quantity(owner, "tau_v", tau_v, second, positive=True)
        for field_name, tau in (("tau_u", tau_u), ("tau_v", tau_v)):
            if float(tau) < float(dt) * (1 - 1e-12):
                raise ValueError(
                    f"{owner}: {field_name} should be >= dt ({dt}) for a stable forward-Euler "
                    f"step, got {tau}; use a smaller dt or a longer time constant"
                )
        return cls(name, size, du=min(1.0, float(dt / tau_u)), dv=min(1.0, float(dt / tau_v)),
                   vth=vth, bias=bias, u_init=u_init, v_init=v_init)

    def tau_u(self, dt: Quantity = 1 * ms) -> Quantity:
        """Synaptic time constant ``dt / du`` (infinite for ``du == 0``)."""
        return dt / self.du if self.du > 0 else np.inf * second

    def tau_v(self, dt: Quantity = 1 * ms) -> Quantity:
        """Membrane time constant ``dt / dv`` (infinite for ``dv == 0``)."""
        return dt / self.dv if self.dv > 0 else np.inf * second

    def to_dict(self) -> dict:
        return {"type": "Population", "name": self.name, "size": self.size, "du": self.du,
                "dv": self.dv, "vth": self.vth, "bias": _array_to_json(self.bias),
                "u_init": _array_to_json(self.u_init), "v_init": _array_to_json(self.v_init)}

    @classmethod
    def from_dict(cls, d: dict) -> "Population":
        return cls(**_fields(cls, d))


@register
@dataclass(eq=False)
class SpikeSource(_Serializable):
    """Given spikes: neuron ``indices[i]`` spikes at step ``steps[i]``.

    Pairs are stored sorted by (step, index); a repeated (index, step) pair is
    an error (a neuron spikes at most once per step). Use :meth:`from_times`
    for times with units and :meth:`poisson` for seeded Poisson trains.
    """

    name: str
    size: int
    indices: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    steps: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    kind: ClassVar[str] = "source"

    def __post_init__(self):
        self.validate()

    def validate(self) -> "SpikeSource":
        """Check every field again (also after a field was changed); normalizes in place."""
        self.name = check_name("SpikeSource", self.name)
        owner = f"SpikeSource '{self.name}'"
        self.size = _check_size(owner, self.size)
        indices = _int_array(owner, "indices", self.indices)
        steps = _int_array(owner, "steps", self.steps)
        if indices.shape != steps.shape:
            raise ValueError(
                f"{owner}: indices and steps should have the same length, got {indices.size} and {steps.size}"
            )
        if indices.size:
            if indices.min() < 0 or indices.max() >= self.size:
                raise ValueError(
                    f"{owner}: indices should be in [0, {self.size - 1}], got values in "
                    f"[{indices.min()}, {indices.max()}]"
                )
            if steps.min() < 0:
                raise ValueError(f"{owner}: steps should be >= 0, got minimum {steps.min()}")
        order = np.lexsort((indices, steps))
        indices, steps = indices[order], steps[order]
        if indices.size > 1:
            dup = (np.diff(steps) == 0) & (np.diff(indices) == 0)
            if dup.any():
                k = int(np.argmax(dup))
                raise ValueError(
                    f"{owner}: neuron {indices[k]} spikes twice at step {steps[k]} "
                    f"({int(dup.sum())} repeated (index, step) pairs); a neuron spikes at most once per step"
                )
        self.indices, self.steps = indices, steps
        return self

    @classmethod
    def from_times(cls, name: str, size: int, indices, times: Quantity,
                   dt: Quantity = 1 * ms) -> "SpikeSource":
        """Spikes at times with units, rounded to the nearest step of ``dt``."""
        owner = f"SpikeSource '{name}'"
        dt = check_quantity(owner, "dt", dt, second, positive=True)
        if not isinstance(times, Quantity) or not times.has_same_dimensions(second):
            raise ValueError(f"{owner}: times should have units of time (e.g. ms), got {describe(times)}")
        steps = np.round(np.asarray(times / dt, dtype=float)).astype(np.int64)
        return cls(name, size, indices=indices, steps=steps)

    @classmethod
    def poisson(cls, name: str, size: int, *, rate: Quantity, steps: int,
                dt: Quantity = 1 * ms, random_state=None) -> "SpikeSource":
        """Independent Bernoulli(rate * dt) spikes per neuron and step (seeded)."""
        owner = f"SpikeSource '{name}'"
        dt = check_quantity(owner, "dt", dt, second, positive=True)
        from brian2 import Hz
        rate = check_quantity(owner, "rate", rate, Hz)
        steps = check_int(owner, "steps", steps, minimum=0)
        p = float(rate * dt)
        if not 0 <= p <= 1:
            raise ValueError(f"{owner}: rate * dt should be in [0, 1], got {p:g}; lower the rate or dt")
        size = _check_size(owner, size)
        rng = np.random.default_rng(random_state)
        # Blocks of whole steps draw the same stream as one (steps, size) array, in bounded memory.
        block = max(1, 2 ** 22 // size)
        st, idx = [], []
        for k0 in range(0, steps, block):
            s_k, i_k = np.nonzero(rng.random((min(block, steps - k0), size)) < p)
            st.append(s_k + k0)
            idx.append(i_k)
        if not st:
            return cls(name, size)
        return cls(name, size, indices=np.concatenate(idx), steps=np.concatenate(st))

    def to_dict(self) -> dict:
        return {"type": "SpikeSource", "name": self.name, "size": self.size,
                "indices": self.indices.tolist(), "steps": self.steps.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "SpikeSource":
        return cls(**_fields(cls, d))


@register
@dataclass(eq=False)
class Projection(_Serializable):
    """Synapses from node ``pre`` to population ``post``.

    Parameters
    ----------
    name : str
        Unique name in the network.
    pre, post : str
        Names of the source node (population or spike source) and the target population.
    weights : array of shape (n_post, n_pre), or a scipy.sparse matrix of that shape
        ``weights[j, i]`` is added to ``a_in`` of post neuron ``j`` when pre neuron
        ``i`` spikes (NIR / Lava ``Dense`` convention: output by input). A sparse
        matrix defines which synapses exist (explicit zeros included).
    delay : int
        Steps from a pre spike to its effect on ``u`` of the post neuron (>= 1).
    device : optional
        Memristive device model the weights are stored in (see ``neurochip.devices``);
        ``None`` for ideal (exact float) weights.
    plasticity : optional
        Learning rule in Loihi learning-engine form (see ``neurochip.plasticity``);
        ``None`` for static weights.
    gated : bool
        Plasticity gated by the meta-regulator (event-driven learning): the rule's
        weight updates apply only while an attached regulator holds its gate open
        (a monitored node in alarm, see :mod:`neurochip.regulator`); traces evolve
        all the time. Closed by default: a gated projection run without a
        regulator does not learn. Needs ``plasticity``.

    Notes
    -----
    ``device`` and ``plasticity`` objects serialize through ``to_dict()`` (with a
    ``"type"`` key) and a ``from_dict`` classmethod, and are registered with
    :func:`register` so that :meth:`Network.from_dict` can rebuild them.
    """

    name: str
    pre: str
    post: str
    weights: Any
    delay: int = 1
    device: Any = None
    plasticity: Any = None
    gated: bool = False

    kind: ClassVar[str] = "projection"

    def __post_init__(self):
        self.validate(copy=True)

    def validate(self, *, copy: bool = False) -> "Projection":
        """Check every field again (also after a field or a weight was changed); normalizes in place.

        ``copy``: copy the weights (construction does, so the caller's array is not shared).
        """
        self.name = check_name("Projection", self.name)
        owner = f"Projection '{self.name}'"
        self.pre = check_name(owner + " pre", self.pre)
        self.post = check_name(owner + " post", self.post)
        self.delay = check_int(owner, "delay", self.delay, minimum=1)
        if self.delay > MAX_DELAY:
            raise ValueError(f"{owner}: delay should be <= {MAX_DELAY} steps, got {self.delay}; a delay is "
                             f"given in steps of dt (a delay of 5 ms at dt = 1 ms is delay=5)")
        w = self.weights
        if sp.issparse(w):
            w = sp.csr_matrix(w, dtype=float, copy=copy)
            w.sum_duplicates()
            values = w.data
        else:
            try:
                w = np.array(w, dtype=float) if copy else np.asarray(w, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{owner}: weights should be a 2-D array of numbers or a scipy.sparse matrix, "
                    f"got {describe(self.weights)}"
                ) from None
            values = w
        if w.ndim != 2:
            raise ValueError(f"{owner}: weights should be 2-D (n_post, n_pre), got shape {w.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"{owner}: weights should be finite, got {int(np.sum(~np.isfinite(values)))} non-finite values"
            )
        self.weights = w
        for attr in ("device", "plasticity"):
            value = getattr(self, attr)
            if value is not None and not (hasattr(value, "to_dict") and type(value).__name__ in REGISTRY):
                raise ValueError(f"{owner}: {attr} should be a registered model object with to_dict(), "
                                 f"got {type(value).__name__}")
        if not isinstance(self.gated, (bool, np.bool_)):
            raise ValueError(f"{owner}: gated should be True or False, got {describe(self.gated)}")
        self.gated = bool(self.gated)
        if self.gated and self.plasticity is None:
            raise ValueError(f"{owner}: gated=True gates plasticity, but the projection has none; "
                             f"give it a learning rule or set gated=False")
        return self

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.weights)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weights.shape)

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre_index, post_index, weight)`` of every synapse, sorted by (pre, post).

        Dense weights have a synapse for every pair, zeros included.
        """
        if self.is_sparse:
            coo = self.weights.tocoo()
            order = np.lexsort((coo.row, coo.col))
            return (coo.col[order].astype(np.int64), coo.row[order].astype(np.int64),
                    coo.data[order].astype(float))
        n_post, n_pre = self.weights.shape
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        return pre.ravel(), post.ravel(), self.weights.T.ravel().copy()

    def dense_weights(self) -> np.ndarray:
        return self.weights.toarray() if self.is_sparse else self.weights

    def to_dict(self) -> dict:
        d = {"type": "Projection", "name": self.name, "pre": self.pre, "post": self.post,
             "delay": self.delay}
        if self.is_sparse:
            coo = self.weights.tocoo()
            d["weights"] = {"format": "coo", "shape": list(coo.shape), "row": coo.row.tolist(),
                            "col": coo.col.tolist(), "data": coo.data.tolist()}
        else:
            d["weights"] = self.weights.tolist()
        for attr in ("device", "plasticity"):
            value = getattr(self, attr)
            if value is not None:
                d[attr] = value.to_dict()
        if self.gated:
            d["gated"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Projection":
        kw = _fields(cls, d)
        w = kw["weights"]
        if isinstance(w, dict):
            try:
                if w.get("format") != "coo":
                    raise ValueError(f"unknown sparse format {w.get('format')!r} (expected 'coo')")
                kw["weights"] = sp.coo_matrix((w["data"], (w["row"], w["col"])), shape=tuple(w["shape"]))
            except (KeyError, TypeError) as err:
                raise ValueError(f"Projection '{d.get('name')}': malformed sparse weights ({err})") from None
        else:
            # An empty matrix serializes to [] or [[]...]: keep its 2-D shape.
            try:
                arr = np.array(w, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"Projection '{d.get('name')}': weights should be a 2-D array of numbers "
                                 f"(a list of rows) or a sparse 'coo' object, got {describe(w)}") from None
            kw["weights"] = arr.reshape(len(w), -1) if arr.ndim == 1 and arr.size == 0 else arr
        for attr in ("device", "plasticity"):
            value = kw.get(attr)
            if value is not None:
                tag = value.get("type") if isinstance(value, dict) else None
                if tag not in REGISTRY:
                    raise ValueError(f"Projection '{d.get('name')}': {attr} has unknown type {tag!r}")
                kw[attr] = REGISTRY[tag].from_dict(value)
        return cls(**kw)


def _check_size(owner: str, size) -> int:
    size = check_int(owner, "size", size, minimum=1)
    if size > MAX_SIZE:
        raise ValueError(f"{owner}: size should be <= {MAX_SIZE} (2**24) neurons, got {size}; "
                         f"split a larger network into several populations")
    return size


def _int_array(owner: str, field_name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{owner}: {field_name} should be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{owner}: {field_name} should be whole numbers, got {describe(arr)}")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{owner}: {field_name} should be integers, got {describe(arr)}")
    return arr.astype(np.int64)


def _fields(cls, d: dict) -> dict:
    """Keyword arguments for ``cls`` from a dict, with clear errors for missing/unknown keys."""
    if not isinstance(d, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {describe(d)}")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    label = f"{cls.__name__} '{d.get('name', '?')}'"
    missing = sorted(required - d.keys())
    if missing:
        raise ValueError(f"{label}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(d) - names - {"type"})
    if unknown:
        raise ValueError(f"{label}: unknown field(s) {', '.join(unknown)}")
    return {k: v for k, v in d.items() if k in names}


@dataclass(eq=False)
class Network(_Serializable):
    """Populations, spike sources and projections, with unique names.

    Parameters
    ----------
    populations : list of Population
    projections : list of Projection
    sources : list of SpikeSource
    dt : Quantity
        Duration of one step (default 1 ms); it only sets the time axis.
    name : str

    Examples
    --------
    >>> import numpy as np
    >>> from neurochip import Network, Population, Projection, SpikeSource
    >>> net = Network(
    ...     sources=[SpikeSource("in", 2, indices=[0, 1], steps=[0, 3])],
    ...     populations=[Population("out", 1, du=0.5, dv=0.1, vth=1.0)],
    ...     projections=[Projection("in_out", "in", "out", np.ones((1, 2)))])
    >>> Network.from_dict(net.to_dict()) == net
    True
    """

    populations: list = field(default_factory=list)
    projections: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    dt: Quantity = field(default_factory=lambda: 1 * ms)
    name: str = "network"

    def __post_init__(self):
        self.populations = list(self.populations)
        self.projections = list(self.projections)
        self.sources = list(self.sources)
        self._check(items=False)

    def validate(self) -> "Network":
        """Check the whole description again, every node and edge included.

        Fields are plain, mutable data (as in NIR): ``pop.vth = -1`` or
        ``proj.weights[0, 0] = nan`` after construction is not caught there, so
        every backend entry (Brian2 ``build`` / ``simulate``, the numpy
        reference, ``mapping.compile``) calls this before it runs anything.
        Returns the network; raises ValueError naming the object and field.
        """
        self._check(items=True)
        return self

    def _check(self, *, items: bool) -> None:
        self.name = check_name("Network", self.name)
        owner = f"Network '{self.name}'"
        self.dt = check_quantity(owner, "dt", self.dt, second, positive=True)
        for label, group, cls in (("populations", self.populations, Population),
                                  ("sources", self.sources, SpikeSource),
                                  ("projections", self.projections, Projection)):
            if not isinstance(group, list):
                raise ValueError(f"{owner}: {label} should be a list, got {type(group).__name__}")
            for k, item in enumerate(group):
                if not isinstance(item, cls):
                    raise ValueError(f"{owner}: {label}[{k}] should be a {cls.__name__}, got {type(item).__name__}")
                if items:
                    try:
                        item.validate()
                    except ValueError as err:
                        raise ValueError(f"{owner} is not valid (checked before a run): {err}") from None
        seen: dict[str, str] = {}
        for item in [*self.populations, *self.sources, *self.projections]:
            if item.name in seen:
                raise ValueError(
                    f"{owner}: name {item.name!r} is used twice ({seen[item.name]} and "
                    f"{type(item).__name__}); names must be unique"
                )
            seen[item.name] = type(item).__name__
        nodes = self.nodes
        for proj in self.projections:
            p = f"{owner}: Projection '{proj.name}'"
            if proj.pre not in nodes:
                raise ValueError(f"{p}: pre {proj.pre!r} is not a population or source of the network "
                                 f"(known: {', '.join(sorted(nodes)) or 'none'})")
            if proj.post not in self.population_names:
                raise ValueError(f"{p}: post {proj.post!r} is not a population of the network "
                                 f"(known: {', '.join(self.population_names) or 'none'})")
            expected = (nodes[proj.post].size, nodes[proj.pre].size)
            if proj.shape != expected:
                raise ValueError(f"{p}: weights should have shape (n_post, n_pre) = {expected}, got {proj.shape}")

    # ------------------------------------------------------------------ access
    @property
    def nodes(self) -> dict:
        """Populations and sources by name."""
        return {n.name: n for n in [*self.populations, *self.sources]}

    @property
    def population_names(self) -> list[str]:
        return [p.name for p in self.populations]

    def __getitem__(self, name: str):
        for item in [*self.populations, *self.sources, *self.projections]:
            if item.name == name:
                return item
        raise KeyError(f"Network '{self.name}' has no node or projection named {name!r}")

    def projections_into(self, post: str) -> list:
        return [p for p in self.projections if p.post == post]

    @property
    def max_delay(self) -> int:
        return max((p.delay for p in self.projections), default=1)

    # --------------------------------------------------------------- serialize
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "dt": float(self.dt / second),
            "dt_unit": "second",
            "nodes": [n.to_dict() for n in [*self.populations, *self.sources]],
            "edges": [p.to_dict() for p in self.projections],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Network":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a neurochip network description (expected 'format': {FORMAT!r})")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"network format version {d.get('version')!r} is not supported "
                             f"(this neurochip reads version {FORMAT_VERSION})")
        for key in ("nodes", "edges", "dt"):
            if key not in d:
                raise ValueError(f"network description: missing field {key!r}")
        for key in ("nodes", "edges"):
            if not isinstance(d[key], list):
                raise ValueError(f"network description: {key!r} should be a list, got {describe(d[key])}")
        if not isinstance(d.get("name", "network"), str):
            raise ValueError(f"network description: 'name' should be a string, got {describe(d['name'])}")
        pops, sources, projections = [], [], []
        for k, item in enumerate([*d["nodes"], *d["edges"]]):
            tag = item.get("type") if isinstance(item, dict) else None
            if tag not in REGISTRY:
                raise ValueError(f"network description: item {k} has unknown type {tag!r} "
                                 f"(known: {', '.join(sorted(REGISTRY))})")
            obj = REGISTRY[tag].from_dict(item)
            {"population": pops, "source": sources, "projection": projections}[obj.kind].append(obj)
        return cls(populations=pops, sources=sources, projections=projections,
                   dt=check_float("network description", "dt", d["dt"], low=0, low_open=True) * second,
                   name=d.get("name", "network"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the network as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        d = read_json(path)
        try:
            return cls.from_dict(d)
        except ValueError as err:
            raise ValueError(f"network file {path}: {err}") from None
        except (TypeError, KeyError, AttributeError, IndexError) as err:
            # wrong JSON types deep inside a node (e.g. an object where numbers belong)
            raise ValueError(f"network file {path}: malformed description ({type(err).__name__}: {err})") from None


def _canonical(d: dict) -> str:
    return json.dumps(d, sort_keys=True)

