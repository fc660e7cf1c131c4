"""Brian2 backend: build an explicit ``brian2.Network`` from a description and run it.

Each population is a ``NeuronGroup`` built by :func:`neurochip.lif.brian_lif_group`:
its update is a ``run_regularly`` operation at the start of every step, written
in the order of Lava's ``PyLifModelFloat`` (see :mod:`neurochip.network`)::

    u = u*(1 - du) + a_in
    v = v*(1 - dv) + u + bias
    a_in = 0

followed by the threshold ``v > vth`` and the reset ``v = 0``. Projections are
``Synapses`` built by :func:`neurochip.brian_synapses.build_synapses` from a
weight part (plain weights, or the memristive pair of
:func:`neurochip.devices.brian.device_part`) and, for plastic projections, the
rule part of :func:`neurochip.plasticity.brian.rule_part`. The read on a pre
spike (``a_in_post += w``) has a Brian2 delay of ``(delay - 1) * dt``: a spike
of step ``k`` is added to ``a_in`` in step ``k + delay - 1`` (after that step's
update) and consumed in step ``k + delay``, which is Lava ``Dense``'s one-step
latency for ``delay == 1``.

Devices with read or cycle-to-cycle noise draw from Brian2's global random
generator: :meth:`BrianModel.seeded` seeds it from the devices' seeds for the
duration of a run and restores the previous state afterwards (same seeds, same
spikes; nothing else's random stream is touched).

Brian2 objects get canonical names (``neurochip_pop0``, ``neurochip_proj0``, ...)
so that generated code, and so the compiled Cython cache, is shared between
networks of the same structure.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import brian2 as b2
import numpy as np

from neurochip._brian import building, check_target, run_network
from neurochip.brian_synapses import build_synapses, plain_weights
from neurochip.lif import brian_lif_group
from neurochip.network import Network, Projection
from neurochip.reference import check_probes, check_steps
from neurochip.results import SimulationResult, Spikes


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
    seeds: list = field(default_factory=list)

    @contextlib.contextmanager
    def seeded(self):
        """Seed Brian2's random generator from :attr:`seeds` (the noisy devices' seeds) for a run.

        One seed is used as is; several are combined with ``numpy.random.SeedSequence``.
        The previous state of Brian2's generator (and of numpy's global one, which
        ``brian2.seed`` sets) is restored on exit. Without seeds nothing is touched.
        """
        if not self.seeds:
            yield
            return
        seeds = sorted(set(self.seeds))
        seed = seeds[0] if len(seeds) == 1 else int(np.random.SeedSequence(seeds).generate_state(1)[0])
        device = b2.get_device()
        saved = device.get_random_state()
        b2.seed(seed)
        try:
            yield
        finally:
            device.set_random_state(saved)


def projection_synapses(proj: Projection, groups: dict, *, dt, name: str) -> tuple[b2.Synapses, list]:
    """The Brian2 synapses of one projection: its weight part and, if plastic, its rule part.

    Weight part: :func:`~neurochip.brian_synapses.plain_weights` (clipped to the
    rule's ``[w_min, w_max]`` when plastic), or the device's
    :func:`~neurochip.devices.brian.device_part`. Rule part:
    :func:`~neurochip.plasticity.brian.rule_part`; a ``gated`` projection's weight change is
    ``gate * dw`` with a shared ``gate`` (0: closed, set by an attached regulator).
    Returns ``(synapses, other objects)``.
    """
    pre_idx, post_idx, w = proj.synapses()
    rule = proj.plasticity
    rule_part = None
    if rule is not None:
        from neurochip.plasticity.brian import rule_part as make_rule_part

        rule_part = make_rule_part(proj, groups, dt=dt, name=name)   # checks that it is a LearningRule
        if proj.gated:   # event-driven learning: the attached regulator sets the gate (issue 19)
            rule_part = dataclasses.replace(rule_part, model=rule_part.model + "\ngate : 1 (shared)",
                                            dw=f"gate*({rule_part.dw})")
    if proj.device is not None:
        from neurochip.devices.brian import device_part

        if rule is not None and proj.delay != 1:
            raise ValueError(f"Projection '{proj.name}': plasticity through a device needs delay 1 "
                             f"(the rule sees the pre spike in the step it is read), got {proj.delay}")
        weights = device_part(proj.device, w)
    else:
        weights = plain_weights(w, bounds=None if rule is None else (rule.w_min, rule.w_max))
    return build_synapses(groups[proj.pre], groups[proj.post], i=pre_idx, j=post_idx, delay=proj.delay, dt=dt,
                          name=name, weights=weights, rule=rule_part)


@building  # set-up code (connect) for numpy: it runs once (issue 12)
def build(net: Network, probes: Mapping[str, Sequence[str]] | None = None) -> BrianModel:
    """Build Brian2 groups, synapses and monitors for ``net`` inside an explicit ``brian2.Network``."""
    net.validate()  # fields may have changed since construction (issue 12)
    probes = check_probes(net, probes)
    dt = net.dt
    model = BrianModel(network=net, brian=b2.Network(name="neurochip_network"))
    for k, pop in enumerate(net.populations):
        model.groups[pop.name] = brian_lif_group(pop.size, du=pop.du, dv=pop.dv, vth=pop.vth, bias=pop.bias,
                                                 u_init=pop.u_init, v_init=pop.v_init, dt=dt,
                                                 name=f"neurochip_pop{k}")
    for k, src in enumerate(net.sources):
        g = b2.SpikeGeneratorGroup(src.size, src.indices, src.steps * dt, dt=dt,
                                   name=f"neurochip_src{k}")
        model.groups[src.name] = g
    for k, proj in enumerate(net.projections):
        model.synapses[proj.name], extra = projection_synapses(proj, model.groups, dt=dt,
                                                               name=f"neurochip_proj{k}")
        model.others += extra
        if proj.device is not None:
            from neurochip.devices.brian import brian_seed

            seed = brian_seed(proj.device)
            if seed is not None:
                model.seeds.append(seed)
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
             codegen_target: str | None = None, report: str | None = None, regulator=None) -> SimulationResult:
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
    regulator : neurochip.regulator.MetaRegulator, optional
        Fitted; attached to the run (:func:`neurochip.regulator.brian.attach`): it acts
        during the run (thresholds, plasticity gate, output hold) and its log and
        actions are in ``result.info["regulator"]``.

    Returns
    -------
    SimulationResult
    """
    start = time.perf_counter()
    steps = check_steps(steps)
    check_target(codegen_target)
    if steps == 0 and regulator is None:
        # Nothing to run: an empty result (building Brian2 objects that never run only warns).
        return empty_result(net, check_probes(net, probes))
    model = build(net, probes)
    attached = None
    if regulator is not None:
        from neurochip.regulator.brian import attach

        attached = attach(model, regulator)
    with model.seeded():
        target = run_network(model.brian, steps * net.dt, codegen_target=codegen_target, report=report)
    result = collect(model, steps, time.perf_counter() - start)
    result.backend = f"brian2-{target}"
    if attached is not None:
        attached.finish(result)
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
