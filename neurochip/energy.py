"""Energy model: operation counts of a run, turned into joules with a target profile.

The model works from a :class:`~neurochip.results.SimulationResult` and the
:class:`~neurochip.network.Network` that produced it, so it applies to Brian2,
numpy-reference and Lava results alike. It counts, for a run of ``T`` steps:

========================  ==================================================================
count                     definition
========================  ==================================================================
``neuron_updates``        ``size * T`` per population (every compartment updates every step)
``spikes``                spikes emitted by a population or source
``encoder_events``        spikes of a :class:`~neurochip.network.SpikeSource` (encoder output)
``spikes_routed``         per projection: pre spikes delivered in the run, one message each
``synaptic_ops``          per projection: ``sum over delivered pre spikes of fan_out[pre]``
``learning_updates``      per plastic projection: ``synaptic_ops + sum over post spikes of fan_in[post]``;
                          a rule with a ``u0`` term: ``n_synapses`` per step instead (every
                          synapse updates once per step); ``gated``: only steps the gate was open
``memristor_reads``       per projection with a device: ``synaptic_ops * devices_per_weight``
``memristor_writes``      per projection with a device: ``learning_updates * devices_per_weight``
========================  ==================================================================

A pre spike of step ``k`` is *delivered* when ``k + delay < T`` (it reaches the
post population inside the run). ``fan_out[i]`` is the number of synapses of
pre neuron ``i`` in the projection (a dense weight matrix has a synapse for
every pair, zeros included; a sparse one has its stored entries).

A run with an attached meta-regulator (``result.info["regulator"]``, see
:mod:`neurochip.regulator.attached`) is counted as it ran on chip: output spikes
the safe mode withheld still happened (they are counted); a gated projection
learns only at the steps of ``gate_intervals`` (none without a regulator); and
the regulator itself is an item (``"(regulator)"``) counted as an on-chip
implementation: one compartment per monitored node updated every step
(``neuron_updates``), one synaptic op per monitored spike (``synaptic_ops``),
plus ``window_evaluations`` (monitored nodes x windows) and ``actuator_writes``
(threshold, gate and hold changes), reported as counts with no energy figure of
their own (the evaluation is the compartment's threshold test, a write a
register write).

Energy is the dot product of counts and per-event energies::

    E = E_syn * synaptic_ops + E_neuron * neuron_updates + E_learn * learning_updates
        + E_route * spikes_routed + E_read * memristor_reads + E_write * memristor_writes
        + E_enc * encoder_events

with ``E_read = V_read**2 * G * t_read`` for a memristor read (Ohmic device at
read voltage ``V_read``, conductance ``G``, read pulse ``t_read``) and
``E_write`` the energy of one programming pulse.

Sources of the figures
----------------------
Loihi 1: M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with
On-Chip Learning", IEEE Micro 38(1), 2018, Table 1: synaptic spike operation
23.6 pJ, neuron update 52 pJ, synaptic update (learning) 120 pJ, within-tile
spike energy 1.7 pJ. Loihi 2 has no published per-operation table of that kind;
the ``loihi2`` profile borrows the Loihi 1 figures and says so in ``notes``.
The memristor crossbar profiles are illustrative order-of-magnitude values (see
:data:`CROSSBAR_PRESETS`), not measurements of a specific device.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
from brian2 import Quantity, joule, second, siemens, volt

pJ = 1e-12 * joule

from neurochip._validation import check_int, check_quantity, describe
from neurochip.network import Network
from neurochip.results import SimulationResult

__all__ = ["EnergyProfile", "CrossbarDevice", "CROSSBAR_PRESETS", "LOIHI1", "LOIHI2", "PROFILES",
           "OperationCounts", "EnergyReport", "count_operations", "estimate_energy", "fan_out",
           "fan_in", "plot_energy", "report_bars", "COUNT_FIELDS", "REGULATOR", "learning_energy"]

#: Item name of the attached meta-regulator in counts and reports (no node can be named so).
REGULATOR = "(regulator)"

#: Count names and the profile field giving their energy per event.
COUNT_FIELDS = {
    "synaptic_ops": "synaptic_op",
    "neuron_updates": "neuron_update",
    "learning_updates": "learning_update",
    "spikes_routed": "spike_routed",
    "memristor_reads": "memristor_read",
    "memristor_writes": "memristor_write",
    "encoder_events": "encoder_event",
}


@dataclass(frozen=True)
class CrossbarDevice:
    """Read/write energetics of one memristive device in a crossbar.

    Parameters
    ----------
    name : str
    v_read : Quantity (volt)
        Read voltage across the device.
    g_read : Quantity (siemens)
        Conductance assumed for a read (e.g. the middle of ``[Gmin, Gmax]``).
    t_read : Quantity (second)
        Duration of a read pulse.
    e_write : Quantity (joule)
        Energy of one programming pulse.
    source : str
        Where the figures come from.

    Notes
    -----
    Read energy of an Ohmic device: ``E_read = V_read**2 * G * t_read``.
    """

    name: str
    v_read: Quantity
    g_read: Quantity
    t_read: Quantity
    e_write: Quantity
    source: str = ""

    def __post_init__(self):
        owner = f"CrossbarDevice '{self.name}'"
        object.__setattr__(self, "v_read", check_quantity(owner, "v_read", self.v_read, volt))
        object.__setattr__(self, "g_read", check_quantity(owner, "g_read", self.g_read, siemens))
        object.__setattr__(self, "t_read", check_quantity(owner, "t_read", self.t_read, second))
        object.__setattr__(self, "e_write", check_quantity(owner, "e_write", self.e_write, joule))
        for name in ("g_read", "t_read", "e_write"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{owner}: {name} should be >= 0, got {getattr(self, name)!r}")

    @property
    def e_read(self) -> Quantity:
        """``V_read**2 * G * t_read`` (joule)."""
        return self.v_read ** 2 * self.g_read * self.t_read


#: Illustrative crossbar devices. Order-of-magnitude values typical of the
#: oxide RRAM / PCM literature (read at 0.1-0.2 V, 10-100 uS, ~10 ns; write
#: pulses of pJ), NOT a measurement of one device: replace by the device model
#: presets of ``neurochip.devices`` (or your own data) for real estimates.
CROSSBAR_PRESETS: dict[str, CrossbarDevice] = {
    "illustrative_rram": CrossbarDevice(
        "illustrative_rram", v_read=0.2 * volt, g_read=50e-6 * siemens, t_read=10e-9 * second,
        e_write=10 * pJ, source="illustrative order of magnitude (oxide RRAM), not a measured device"),
    "illustrative_pcm": CrossbarDevice(
        "illustrative_pcm", v_read=0.2 * volt, g_read=10e-6 * siemens, t_read=50e-9 * second,
        e_write=100 * pJ, source="illustrative order of magnitude (PCM), not a measured device"),
}


@dataclass(frozen=True)
class EnergyProfile:
    """Energy per event of a target (all fields in joules).

    Use :data:`LOIHI1`, :data:`LOIHI2`, or :meth:`with_crossbar` to add memristive
    synapses. ``notes`` says where the figures come from.
    """

    name: str
    synaptic_op: Quantity = 0 * joule
    neuron_update: Quantity = 0 * joule
    learning_update: Quantity = 0 * joule
    spike_routed: Quantity = 0 * joule
    memristor_read: Quantity = 0 * joule
    memristor_write: Quantity = 0 * joule
    encoder_event: Quantity = 0 * joule
    notes: str = ""

    def __post_init__(self):
        owner = f"EnergyProfile '{self.name}'"
        for fname in COUNT_FIELDS.values():
            q = check_quantity(owner, fname, getattr(self, fname), joule)
            if float(q) < 0:
                raise ValueError(f"{owner}: {fname} should be >= 0 J, got {q!r}")
            object.__setattr__(self, fname, q)

    def with_crossbar(self, device: CrossbarDevice | str) -> "EnergyProfile":
        """This profile with memristor read/write energies of ``device`` (a preset name or object)."""
        if isinstance(device, str):
            if device not in CROSSBAR_PRESETS:
                raise ValueError(f"EnergyProfile.with_crossbar: unknown crossbar preset {device!r} "
                                 f"(known: {', '.join(sorted(CROSSBAR_PRESETS))})")
            device = CROSSBAR_PRESETS[device]
        if not isinstance(device, CrossbarDevice):
            raise ValueError(f"EnergyProfile.with_crossbar: device should be a CrossbarDevice or a preset "
                             f"name, got {describe(device)}")
        return replace(self, name=f"{self.name}+{device.name}", memristor_read=device.e_read,
                       memristor_write=device.e_write,
                       notes=f"{self.notes}; crossbar: {device.source}")

    def to_dict(self) -> dict:
        d = {f: float(getattr(self, f) / joule) for f in COUNT_FIELDS.values()}
        return {"name": self.name, "unit": "J", **d, "notes": self.notes}


#: Loihi 1, Davies et al., IEEE Micro 38(1) 2018, Table 1.
LOIHI1 = EnergyProfile(
    "loihi1", synaptic_op=23.6 * pJ, neuron_update=52 * pJ, learning_update=120 * pJ,
    spike_routed=1.7 * pJ,
    notes="Davies et al., IEEE Micro 38(1), 2018, Table 1 (synaptic spike op 23.6 pJ, neuron update "
          "52 pJ, synaptic update 120 pJ, within-tile spike 1.7 pJ)")

#: Loihi 2: no per-operation table published; borrows the Loihi 1 figures.
LOIHI2 = replace(LOIHI1, name="loihi2",
                 notes="BORROWS Loihi 1 figures (Davies et al. 2018); no per-operation energy table "
                       "published for Loihi 2")

PROFILES = {"loihi1": LOIHI1, "loihi2": LOIHI2}


# ---------------------------------------------------------------- counting
def fan_out(proj) -> np.ndarray:
    """Number of synapses of each pre neuron of a projection (shape ``(n_pre,)``)."""
    n_post, n_pre = proj.shape
    if proj.is_sparse:
        return np.diff(proj.weights.tocsc().indptr).astype(np.int64)
    return np.full(n_pre, n_post, dtype=np.int64)


def fan_in(proj) -> np.ndarray:
    """Number of synapses onto each post neuron of a projection (shape ``(n_post,)``)."""
    n_post, n_pre = proj.shape
    if proj.is_sparse:
        return np.diff(proj.weights.tocsr().indptr).astype(np.int64)
    return np.full(n_post, n_pre, dtype=np.int64)


@dataclass
class OperationCounts:
    """Counts of a run, per population / source and per projection.

    ``nodes[name]`` has ``spikes``, ``neuron_updates`` and ``encoder_events``;
    ``projections[name]`` has ``spikes_routed``, ``synaptic_ops``,
    ``learning_updates``, ``memristor_reads`` and ``memristor_writes``;
    ``regulator`` (empty without an attached regulator) has ``neuron_updates``,
    ``synaptic_ops``, ``window_evaluations`` and ``actuator_writes`` (all Python ints);
    ``posts[projection]`` is its post population.
    """

    steps: int
    dt: Quantity
    nodes: dict = field(default_factory=dict)
    projections: dict = field(default_factory=dict)
    regulator: dict = field(default_factory=dict)
    posts: dict = field(default_factory=dict)

    def total(self, count: str) -> int:
        if count not in COUNT_FIELDS and count != "spikes":
            raise ValueError(f"OperationCounts.total: unknown count {count!r} "
                             f"(known: spikes, {', '.join(COUNT_FIELDS)})")
        return int(sum(c.get(count, 0) for c in [*self.nodes.values(), *self.projections.values(),
                                                 self.regulator]))

    def to_dict(self) -> dict:
        return {"steps": self.steps, "dt_s": float(self.dt / second), "nodes": self.nodes,
                "projections": self.projections, "regulator": self.regulator,
                "totals": {c: self.total(c) for c in ["spikes", *COUNT_FIELDS]}}


def _check_mapping(owner: str, field_name: str, value, known: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{owner}: {field_name} should be a mapping of projection name to count, "
                         f"got {describe(value)}")
    out = {}
    for k, v in value.items():
        if k not in known:
            raise ValueError(f"{owner}: {field_name} names unknown projection {k!r} "
                             f"(known: {', '.join(known) or 'none'})")
        out[k] = check_int(owner, f"{field_name}[{k!r}]", v, minimum=0)
    return out


def count_operations(net: Network, result: SimulationResult, *, learning_updates=None,
                     memristor_writes=None, devices_per_weight: int = 2) -> OperationCounts:
    """Count the operations of a run (see the module docstring for the definitions).

    Parameters
    ----------
    net : Network
        The network that produced ``result``.
    result : SimulationResult
        Spikes of every population and source (any backend).
    learning_updates, memristor_writes : mapping of projection name to int, optional
        Measured counts that replace the default estimates for those projections.
    devices_per_weight : int
        Memristors per weight (2 for a differential pair ``w = k (G+ - G-)``).

    Returns
    -------
    OperationCounts
    """
    owner = "count_operations"
    if not isinstance(net, Network):
        raise ValueError(f"{owner}: net should be a Network, got {describe(net)}")
    if not isinstance(result, SimulationResult):
        raise ValueError(f"{owner}: result should be a SimulationResult, got {describe(result)}")
    devices_per_weight = check_int(owner, "devices_per_weight", devices_per_weight, minimum=1)
    names = [p.name for p in net.projections]
    learning_updates = _check_mapping(owner, "learning_updates", learning_updates, names)
    memristor_writes = _check_mapping(owner, "memristor_writes", memristor_writes, names)
    for node in [*net.populations, *net.sources]:
        if node.name not in result.spikes:
            raise ValueError(f"{owner}: result has no spikes of {node.name!r} (has: "
                             f"{', '.join(sorted(result.spikes)) or 'none'}); was it run with this network?")
        if result.sizes.get(node.name) != node.size:
            raise ValueError(f"{owner}: {node.name!r} has size {node.size} in the network but "
                             f"{result.sizes.get(node.name)} in the result")
    T = int(result.steps)
    counts = OperationCounts(steps=T, dt=result.dt)
    regulated = result.info.get("regulator") or {}
    spikes = {name: _emitted(result, name, regulated) for name in result.spikes}
    for pop in net.populations:
        counts.nodes[pop.name] = {"spikes": int(spikes[pop.name].steps.size),
                                  "neuron_updates": int(pop.size) * T, "encoder_events": 0}
    for src in net.sources:
        n = int(spikes[src.name].steps.size)
        counts.nodes[src.name] = {"spikes": n, "neuron_updates": 0, "encoder_events": n}
    gate = None
    if any(p.gated for p in net.projections):
        gate = np.zeros(T, dtype=bool)           # closed without a regulator
        for a, b in regulated.get("gate_intervals", []):
            gate[a:b] = True
    for proj in net.projections:
        pre = spikes[proj.pre]
        delivered = pre.steps + proj.delay < T
        syn_ops = int(fan_out(proj)[pre.indices[delivered]].sum())
        c = {"spikes_routed": int(delivered.sum()), "synaptic_ops": syn_ops}
        if proj.name in learning_updates:
            c["learning_updates"] = learning_updates[proj.name]
        elif proj.plasticity is not None:
            c["learning_updates"] = _learning_updates(proj, pre, delivered, spikes[proj.post], T,
                                                      gate if proj.gated else None)
        else:
            c["learning_updates"] = 0
        if proj.device is not None:
            c["memristor_reads"] = syn_ops * devices_per_weight
            c["memristor_writes"] = memristor_writes.get(proj.name,
                                                         c["learning_updates"] * devices_per_weight)
        else:
            c["memristor_reads"] = 0
            c["memristor_writes"] = memristor_writes.get(proj.name, 0)
        counts.projections[proj.name] = c
        counts.posts[proj.name] = proj.post
    if regulated:
        log = regulated["log"]
        n = len(log["populations"])
        counts.regulator = {"neuron_updates": n * T,
                            "synaptic_ops": int(sum(spikes[p].steps.size for p in log["populations"])),
                            "window_evaluations": n * (T // int(log["window"])),
                            "actuator_writes": len(regulated.get("actions", []))}
    return counts


def _emitted(result: SimulationResult, name: str, regulated: dict):
    """Spikes of ``name`` that happened in the run: those withheld by a safe mode included."""
    from neurochip.results import Spikes

    s = result.spikes[name]
    held = regulated.get("held_spikes", {}).get(name)
    if not held or not held["steps"]:
        return s
    return Spikes.sorted(np.concatenate([s.indices, np.asarray(held["indices"], dtype=np.int64)]),
                         np.concatenate([s.steps, np.asarray(held["steps"], dtype=np.int64)]))


def _learning_updates(proj, pre, delivered: np.ndarray, post, T: int, gate: np.ndarray | None) -> int:
    """Synapse updates of a plastic projection; ``gate``: at open steps only.

    A rule with a ``u0`` term updates every synapse at every step (once per epoch,
    whatever spiked); otherwise, per delivered pre spike its fan-out and per post
    spike its fan-in.
    """
    terms = getattr(proj.plasticity, "coefficients", None)
    if isinstance(terms, Mapping) and any(v != 0 and k.startswith("u0") for k, v in terms.items()):
        return int(fan_out(proj).sum()) * (T if gate is None else int(gate.sum()))
    pre_on = delivered if gate is None else delivered & gate[np.clip(pre.steps, 0, max(T - 1, 0))]
    post_on = np.ones(post.steps.size, dtype=bool) if gate is None else gate[post.steps]
    return int(fan_out(proj)[pre.indices[pre_on]].sum()) + int(fan_in(proj)[post.indices[post_on]].sum())


def learning_energy(report: "EnergyReport") -> float:
    """Joules of learning in a report: learning updates and memristor writes of every projection."""
    return float(sum(parts.get("learning_updates", 0.0) + parts.get("memristor_writes", 0.0)
                     for parts in report.projections.values()))


@dataclass
class EnergyReport:
    """Energy of a run: per node and projection, per count, totals and rates.

    Attributes
    ----------
    counts : OperationCounts
    profile : EnergyProfile
    nodes, projections : dict of name to dict of count name to float (joule)
    total : Quantity (joule)
    per_second : Quantity (watt): ``total / (steps * dt)``
    per_inference : Quantity (joule): ``total / n_inferences``
    """

    counts: OperationCounts
    profile: EnergyProfile
    nodes: dict
    projections: dict
    total: Quantity
    per_second: Quantity
    per_inference: Quantity
    n_inferences: int
    regulator: dict = field(default_factory=dict)

    def items(self) -> list:
        """``(name, joules per count)`` of every node, projection and the regulator."""
        items = [*self.nodes.items(), *self.projections.items()]
        return items + [(REGULATOR, self.regulator)] if self.regulator else items

    def by_item(self) -> dict[str, float]:
        """Total joules of every population, source, projection and the regulator (``"(regulator)"``)."""
        return {name: float(sum(parts.values())) for name, parts in self.items()}

    def by_count(self) -> dict[str, float]:
        """Total joules of every count type (synaptic_ops, neuron_updates, ...)."""
        out = {c: 0.0 for c in COUNT_FIELDS}
        for _, parts in self.items():
            for c, e in parts.items():
                out[c] += e
        return out

    def by_population(self, *, per_inference: bool = False) -> dict[str, dict[str, float]]:
        """Joules per population (and source, and the regulator) and per kind of operation.

        A projection's operations (synaptic ops, routing, learning, memristor reads and
        writes) are those of its post population, whose core holds its synapses.
        ``per_inference``: divided by ``n_inferences``.
        """
        out = {name: dict(parts) for name, parts in self.nodes.items()}
        for name, parts in self.projections.items():
            target = out.setdefault(self.counts.posts.get(name, name), {})
            for c, e in parts.items():
                target[c] = target.get(c, 0.0) + e
        if self.regulator:
            out[REGULATOR] = dict(self.regulator)
        scale = 1.0 / self.n_inferences if per_inference else 1.0
        return {name: {c: e * scale for c, e in parts.items()} for name, parts in out.items()}

    def to_dict(self) -> dict:
        return {"profile": self.profile.to_dict(), "counts": self.counts.to_dict(),
                "energy_J": {"nodes": self.nodes, "projections": self.projections, "regulator": self.regulator,
                             "by_count": self.by_count(), "total": float(self.total / joule),
                             "per_second_W": float(self.per_second / (joule / second)),
                             "per_inference": float(self.per_inference / joule),
                             "per_inference_by_population": self.by_population(per_inference=True),
                             "learning": learning_energy(self),
                             "n_inferences": self.n_inferences}}


def estimate_energy(net: Network, result: SimulationResult, profile: EnergyProfile | str = LOIHI1, *,
                    n_inferences: int = 1, **count_kwargs) -> EnergyReport:
    """Energy of a run on a target: :func:`count_operations` times ``profile``.

    Parameters
    ----------
    net, result
        The network and one of its runs (any backend).
    profile : EnergyProfile or {"loihi1", "loihi2"}
    n_inferences : int
        Inferences in the run (for the energy per inference).
    **count_kwargs
        Passed to :func:`count_operations`.

    Examples
    --------
    >>> import numpy as np
    >>> from neurochip import Network, Population, Projection, SpikeSource
    >>> from neurochip.reference import simulate
    >>> net = Network(sources=[SpikeSource("in", 2, indices=[0, 1], steps=[0, 1])],
    ...               populations=[Population("out", 3, du=1.0, dv=1.0, vth=10.0)],
    ...               projections=[Projection("p", "in", "out", np.ones((3, 2)))])
    >>> report = estimate_energy(net, simulate(net, 5))
    >>> report.counts.projections["p"]["synaptic_ops"]   # 2 spikes x fan-out 3
    6
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"estimate_energy: unknown profile {profile!r} (known: {', '.join(PROFILES)})")
        profile = PROFILES[profile]
    if not isinstance(profile, EnergyProfile):
        raise ValueError(f"estimate_energy: profile should be an EnergyProfile or a name, got {describe(profile)}")
    n_inferences = check_int("estimate_energy", "n_inferences", n_inferences, minimum=1)
    counts = count_operations(net, result, **count_kwargs)

    def energies(c: dict) -> dict:
        return {k: float(v * getattr(profile, COUNT_FIELDS[k]) / joule)
                for k, v in c.items() if k in COUNT_FIELDS}

    nodes = {n: energies(c) for n, c in counts.nodes.items()}
    projections = {n: energies(c) for n, c in counts.projections.items()}
    regulator = energies(counts.regulator) if counts.regulator else {}
    total = sum(sum(p.values()) for p in [*nodes.values(), *projections.values(), regulator]) * joule
    duration = counts.steps * counts.dt
    per_second = total / duration if counts.steps else 0 * joule / second
    return EnergyReport(counts=counts, profile=profile, nodes=nodes, projections=projections,
                        total=total, per_second=per_second, per_inference=total / n_inferences,
                        n_inferences=n_inferences, regulator=regulator)


def plot_energy(names, parts: Mapping[str, np.ndarray], *, unit: str = "nJ", title: str | None = None):
    """Stacked horizontal bars: energy of each item broken down by count type.

    Items whose energy is zero are left out (named in a note below the axis), the
    axis covers the largest bar, and each bar is labelled with its total.

    Parameters
    ----------
    names : sequence of str
        Items (populations, projections), one bar each.
    parts : mapping of count name to array of shape (len(names),)
        Joules of that count type per item.
    unit : {"pJ", "nJ", "µJ", "mJ", "J"}
        ``"uJ"`` is accepted for ``"µJ"``.

    Returns
    -------
    matplotlib.figure.Figure

    Use ``plot_energy(*report_bars(report))`` for an :class:`EnergyReport`.
    """
    import matplotlib.pyplot as plt

    from neurochip.plotting import legend_outside

    scale = {"pJ": 1e12, "nJ": 1e9, "µJ": 1e6, "mJ": 1e3, "J": 1.0}
    unit = "µJ" if unit == "uJ" else unit
    if unit not in scale:
        raise ValueError(f"plot_energy: unit should be one of {', '.join(scale)}, got {unit!r}")
    names = list(names)
    values = {}
    for label, v in parts.items():
        v = np.asarray(v, dtype=float) * scale[unit]
        if v.shape != (len(names),):
            raise ValueError(f"plot_energy: parts[{label!r}] should have shape ({len(names)},), got {v.shape}")
        values[label] = v
    totals = np.sum(list(values.values()), axis=0) if values else np.zeros(len(names))
    keep = [k for k in range(len(names)) if totals[k] > 0]
    dropped = [names[k] for k in range(len(names)) if totals[k] <= 0]
    shown = [names[k] for k in keep]
    fig, ax = plt.subplots(figsize=(8.2, 0.42 * max(1, len(shown)) + 1.8))
    left = np.zeros(len(keep))
    part_colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
    for k, (label, v) in enumerate(values.items()):
        v = v[keep]
        if np.any(v > 0):
            ax.barh(shown, v, left=left, label=label.replace("_", " "), color=part_colors[k % len(part_colors)])
            left += v
    top = float(left.max()) if left.size else 1.0
    for y, total in enumerate(left):
        ax.text(total + 0.01 * top, y, f"{total:.3g}", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_xlabel(f"energy ({unit})")
    ax.set_title(title or "energy per population and projection", fontsize=10)
    if dropped:
        ax.annotate(f"zero energy (not shown): {', '.join(dropped)}", (0, 0), xycoords="axes fraction",
                    xytext=(0, -34), textcoords="offset points", fontsize=7, va="top", wrap=True)
    if ax.get_legend_handles_labels()[0]:
        legend_outside(ax)
    fig.tight_layout()
    return fig


def report_bars(report: EnergyReport) -> tuple[list[str], dict[str, np.ndarray]]:
    """``(names, parts)`` arrays of a report, for :func:`plot_energy`."""
    items = dict(report.items())
    names = list(items)
    parts = {c: np.array([items[n].get(c, 0.0) for n in names]) for c in COUNT_FIELDS}
    return names, parts
