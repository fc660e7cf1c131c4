"""Brian2 backend: build an explicit ``brian2.Network`` from a description and run it.

Each population is a ``NeuronGroup`` whose update is a ``run_regularly``
operation at the start of every step, written in the order of Lava's
``PyLifModelFloat`` (see :mod:`neurochip.network`)::

    u = u*(1 - du) + a_in
    v = v*(1 - dv) + u + bias
    a_in = 0

followed by the threshold ``v > vth`` and the reset ``v = 0``. Projections are
``Synapses`` with ``on_pre: a_in_post += w`` and a Brian2 delay of
``(delay - 1) * dt``: a spike of step ``k`` is added to ``a_in`` in step
``k + delay - 1`` (after that step's update) and consumed in step ``k + delay``,
which is Lava ``Dense``'s one-step latency for ``delay == 1``.

Brian2 objects get canonical names (``neurochip_pop0``, ``neurochip_proj0``, ...)
so that generated code, and so the compiled Cython cache, is shared between
networks of the same structure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import brian2 as b2
import numpy as np

from neurochip._brian import building, check_target, run_network
from neurochip.network import Network
from neurochip.reference import check_probes, check_steps
from neurochip.results import SimulationResult, Spikes

LIF_MODEL = """
u : 1
v : 1
a_in : 1
bias : 1
du : 1 (shared, constant)
dv : 1 (shared, constant)
vth : 1 (shared, constant)
"""

LIF_UPDATE = """
u = u*(1 - du) + a_in
v = v*(1 - dv) + u + bias
a_in = 0
"""


@dataclass
class BrianModel:
    """The Brian2 objects built for a network (use :func:`build`)."""

    network: Network
    brian: b2.Network
    groups: dict = field(default_factory=dict)
    synapses: dict = field(default_factory=dict)
    spike_monitors: dict = field(default_factory=dict)
    state_monitors: dict = field(default_factory=dict)
    others: list = field(default_factory=list)


@building  # set-up code (connect) for numpy: it runs once (issue 12)
def build(net: Network, probes: Mapping[str, Sequence[str]] | None = None) -> BrianModel:
    """Build Brian2 groups, synapses and monitors for ``net`` inside an explicit ``brian2.Network``."""
    net.validate()  # fields may have changed since construction (issue 12)
    probes = check_probes(net, probes)
    dt = net.dt
    model = BrianModel(network=net, brian=b2.Network(name="neurochip_network"))
    for k, pop in enumerate(net.populations):
        g = b2.NeuronGroup(pop.size, LIF_MODEL, threshold="v > vth", reset="v = 0",
                           dt=dt, name=f"neurochip_pop{k}")
        g.du = pop.du
        g.dv = pop.dv
        g.vth = pop.vth
        g.bias = pop.bias
        g.u = pop.u_init
        g.v = pop.v_init
        g.run_regularly(LIF_UPDATE, dt=dt, when="start", name=f"neurochip_pop{k}_update")
        model.groups[pop.name] = g
    for k, src in enumerate(net.sources):
        g = b2.SpikeGeneratorGroup(src.size, src.indices, src.steps * dt, dt=dt,
                                   name=f"neurochip_src{k}")
        model.groups[src.name] = g
    for k, proj in enumerate(net.projections):
        if proj.plasticity is not None:
            from neurochip.plasticity.brian import build_plastic_projection
            model.synapses[proj.name], extra = build_plastic_projection(proj, k, model.groups, dt)
            model.others += extra
            continue
        if proj.device is not None:
            from neurochip.devices.brian import build_device_synapses

            model.synapses[proj.name] = build_device_synapses(
                proj, model.groups[proj.pre], model.groups[proj.post], dt=dt, name=f"neurochip_proj{k}")
            continue
        pre_idx, post_idx, w = proj.synapses()
        syn = b2.Synapses(model.groups[proj.pre], model.groups[proj.post], "w : 1 (constant)",
                          on_pre="a_in_post += w", delay=(proj.delay - 1) * dt, dt=dt,
                          name=f"neurochip_proj{k}")
        syn.connect(i=pre_idx, j=post_idx)
        syn.w = w
        model.synapses[proj.name] = syn
    for k, name in enumerate(model.groups):
        model.spike_monitors[name] = b2.SpikeMonitor(model.groups[name], name=f"neurochip_spikemon{k}")
    for k, pop in enumerate(net.population_names):
        if pop in probes:
            model.state_monitors[pop] = b2.StateMonitor(
                model.groups[pop], probes[pop], record=True, when="end", dt=dt,
                name=f"neurochip_statemon{k}")
    model.brian.add(*model.groups.values(), *model.synapses.values(),
                    *model.spike_monitors.values(), *model.state_monitors.values(), *model.others)
    return model


def simulate(net: Network, steps: int, probes: Mapping[str, Sequence[str]] | None = None, *,
             codegen_target: str | None = None, report: str | None = None) -> SimulationResult:
    """Run ``net`` for ``steps`` steps in Brian2.

    Parameters
    ----------
    net : Network
    steps : int
        Number of steps; step numbers in the result are ``0 .. steps-1``.
    probes : dict of population name to list of variables, optional
        State traces to record (``"u"``, ``"v"``), for all neurons of the population.
    codegen_target : {"auto", "numpy", "cython"}, optional
        Brian2 code generation target for this run (default ``"auto"``: numpy for small runs,
        Cython where compiling pays; see :mod:`neurochip._brian`).
    report : {"text", "stdout", "stderr"}, optional
        Brian2 progress report for long runs.

    Returns
    -------
    SimulationResult
    """
    start = time.perf_counter()
    steps = check_steps(steps)
    check_target(codegen_target)
    if steps == 0:
        # Nothing to run: an empty result (building Brian2 objects that never run only warns).
        return empty_result(net, check_probes(net, probes))
    model = build(net, probes)
    target = run_network(model.brian, steps * net.dt, codegen_target=codegen_target, report=report)
    result = collect(model, steps, time.perf_counter() - start)
    result.backend = f"brian2-{target}"
    return result


def empty_result(net: Network, probes: dict) -> SimulationResult:
    """The result of a zero-step run."""
    empty = Spikes(np.zeros(0, np.int64), np.zeros(0, np.int64))
    sizes = {n.name: n.size for n in [*net.populations, *net.sources]}
    return SimulationResult(
        steps=0, dt=net.dt, sizes=sizes, populations=net.population_names,
        spikes={name: empty for name in sizes},
        traces={pop: {var: np.zeros((0, sizes[pop])) for var in vs} for pop, vs in probes.items()},
        trace_indices={pop: np.arange(sizes[pop]) for pop in probes}, backend="brian2")


def collect(model: BrianModel, steps: int, wall_time: float) -> SimulationResult:
    """Turn a run model's monitors into a :class:`SimulationResult`."""
    net = model.network
    dt_s = float(net.dt / b2.second)
    spikes = {}
    for name, mon in model.spike_monitors.items():
        step = np.round(np.asarray(mon.t_) / dt_s).astype(np.int64)
        spikes[name] = Spikes.sorted(np.asarray(mon.i, dtype=np.int64), step)
    traces, trace_indices = {}, {}
    for pop, mon in model.state_monitors.items():
        traces[pop] = {var: np.asarray(getattr(mon, var)).T.copy() for var in mon.record_variables}
        trace_indices[pop] = np.asarray(mon.record)
    sizes = {n.name: n.size for n in [*net.populations, *net.sources]}
    info = {}
    plastic = [p for p in net.projections if p.plasticity is not None]
    if plastic:
        from neurochip.plasticity.brian import final_weights
        # Learned weights, dense (n_post, n_pre), as lists so that info stays JSON.
        info["weights"] = {p.name: final_weights(p, model.synapses[p.name]).tolist() for p in plastic}
    return SimulationResult(steps=steps, dt=net.dt, sizes=sizes, populations=net.population_names,
                            spikes=spikes, traces=traces, trace_indices=trace_indices,
                            backend="brian2", wall_time=wall_time, info=info)
