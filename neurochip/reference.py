"""Pure-numpy reference simulator of the network description.

An independent implementation of DESIGN.md's discrete update, written in the
order of Lava's ``PyLifModelFloat`` (the neuron is :func:`neurochip.lif.lif_step`)
and ``PyDenseModelFloat`` (including ``weights[:, s].sum(axis=1)`` for the
dendritic sum), used to check the Brian2
backend and the Lava mapping. It is plain Python over steps: for tests and
small networks, not for speed.
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from neurochip.lif import LIFParams, LIFState, lif_step
from neurochip.network import Network
from neurochip.results import SimulationResult, Spikes

TRACEABLE = ("u", "v")


def check_probes(net: Network, probes: Mapping[str, Sequence[str]] | None) -> dict:
    """Validate ``{population: [variable, ...]}`` and return it as a dict of lists."""
    probes = dict(probes or {})
    for pop, variables in probes.items():
        if pop not in net.population_names:
            raise ValueError(f"probes: {pop!r} is not a population of network '{net.name}' "
                             f"(populations: {', '.join(net.population_names) or 'none'})")
        if isinstance(variables, str):
            variables = [variables]
        for var in variables:
            if var not in TRACEABLE:
                raise ValueError(f"probes: cannot record {var!r} of {pop!r}; traceable variables are "
                                 f"{', '.join(TRACEABLE)}")
        probes[pop] = list(variables)
    return probes


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps should be a non-negative integer, got {steps!r}")
    return int(steps)


def simulate(net: Network, steps: int, probes: Mapping[str, Sequence[str]] | None = None) -> SimulationResult:
    """Run ``net`` for ``steps`` steps with numpy; see :mod:`neurochip.network` for the update."""
    start = time.perf_counter()
    net.validate()  # fields may have changed since construction (issue 12)
    steps = check_steps(steps)
    probes = check_probes(net, probes)
    pops = net.populations
    state = {p.name: LIFState(np.broadcast_to(p.u_init, (p.size,)).astype(float),
                              np.broadcast_to(p.v_init, (p.size,)).astype(float)) for p in pops}
    params = {p.name: LIFParams(p.du, p.dv, p.vth, p.bias) for p in pops}
    sizes = {n.name: n.size for n in [*pops, *net.sources]}
    # spike history ring: history[name][k % depth] is the boolean spike vector of step k
    depth = net.max_delay + 1
    history = {name: np.zeros((depth, n), dtype=bool) for name, n in sizes.items()}
    source_at = {}
    for s in net.sources:
        for step in np.unique(s.steps):
            source_at.setdefault(step, []).append((s.name, s.indices[s.steps == step]))
    weights = {p.name: (p.weights.tocsc() if p.is_sparse else p.weights) for p in net.projections}
    events = {name: [] for name in sizes}
    traces = {pop: {var: np.zeros((steps, sizes[pop])) for var in vs} for pop, vs in probes.items()}

    for k in range(steps):
        slot = k % depth
        for name in sizes:
            history[name][slot] = False
        for name, idx in source_at.get(k, ()):
            history[name][slot, idx] = True
        # Dendritic input: spikes of step k - delay, summed as Lava Dense does.
        a_in = {p.name: np.zeros(p.size) for p in pops}
        for proj in net.projections:
            if k - proj.delay < 0:
                continue
            s_in = history[proj.pre][(k - proj.delay) % depth]
            w = weights[proj.name]
            if proj.is_sparse:
                a = np.asarray(w[:, np.nonzero(s_in)[0]].sum(axis=1)).ravel()
            else:
                a = w[:, s_in].sum(axis=1)
            a_in[proj.post] = a_in[proj.post] + a
        for p in pops:
            name = p.name
            state[name], history[name][slot] = lif_step(state[name], a_in[name], params[name])
            for var in probes.get(name, ()):
                traces[name][var][k] = getattr(state[name], var)
        for name in sizes:
            idx = np.nonzero(history[name][slot])[0]
            if idx.size:
                events[name].append((idx, np.full(idx.size, k)))

    spikes = {}
    for name, ev in events.items():
        if ev:
            spikes[name] = Spikes(np.concatenate([e[0] for e in ev]).astype(np.int64),
                                  np.concatenate([e[1] for e in ev]).astype(np.int64))
        else:
            spikes[name] = Spikes(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return SimulationResult(
        steps=steps, dt=net.dt, sizes=sizes, populations=net.population_names, spikes=spikes,
        traces=traces, trace_indices={pop: np.arange(sizes[pop]) for pop in probes},
        backend="numpy-reference", wall_time=time.perf_counter() - start)
