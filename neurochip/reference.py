"""Pure-numpy reference simulator of the network description.

An independent implementation of DESIGN.md's discrete update, written in the
order of Lava's ``PyLifModelFloat`` (the neuron is :func:`neurochip.lif.lif_step`)
and ``PyDenseModelFloat`` (including ``weights[:, s].sum(axis=1)`` for the
dendritic sum), used to check the Brian2
backend and the Lava mapping. It is plain Python over steps: for tests and
small networks, not for speed.

Plastic projections (a :class:`~neurochip.plasticity.rules.LearningRule`, plain
weights) learn as in the Brian2 backend and Lava's ``LearningDense``: at the end
of step ``k`` the spikes read in that step are transmitted with the weights
before the step's update, then the traces and ``w = clip(w + dw, w_min, w_max)``
of :mod:`neurochip.plasticity.functional` (``gated`` projections: ``w + gate * dw``).
``regulator=`` attaches a fitted meta-regulator to the loop
(:class:`neurochip.regulator.attached.NumpyRegulator`).
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


class _Plastic:
    """A plastic projection's weights and traces in the reference loop (plain weights only)."""

    def __init__(self, proj, sizes: dict):
        from neurochip.plasticity import functional as F
        from neurochip.plasticity.rules import LearningRule

        owner = f"Projection '{proj.name}'"
        if not isinstance(proj.plasticity, LearningRule):
            raise ValueError(f"{owner}: plasticity should be a LearningRule to run in the numpy reference, "
                             f"got {type(proj.plasticity).__name__}")
        if proj.device is not None:
            raise ValueError(f"{owner}: the numpy reference does not run plastic memristive projections "
                             f"(use the Brian2 backend, neurochip.simulate)")
        third = proj.plasticity.third_factor
        if third is not None and sizes.get(third) != proj.shape[0]:
            raise ValueError(f"{owner}: plasticity third_factor {third!r} should be a node of the post size "
                             f"{proj.shape[0]}, got {sizes.get(third)!r}")
        self.proj, self.F, self.third = proj, F, third
        self.params = F.rule_params(proj.plasticity)
        self.w = proj.dense_weights().astype(float).copy()
        self.mask = _explicit(proj) if proj.is_sparse else None
        self.traces = F.init_state(proj.shape[1], proj.shape[0])

    def transmit(self, s_in: np.ndarray) -> np.ndarray:
        """Input to the post population of pre spikes ``s_in`` with the current weights."""
        return self.w[:, s_in].sum(axis=1)

    def learn(self, pre: np.ndarray, post: np.ndarray, third: np.ndarray | None, gate: float) -> None:
        """One step of the rule: traces, then ``w = clip(w + dw)`` (``w + gate * dw`` when gated)."""
        F, params = self.F, self.params
        self.traces = F.trace_step(self.traces, pre, post, post if third is None else third, params)
        dw = F.delta_w(self.w, self.traces, pre, post, params)
        if self.proj.gated:
            dw = gate * dw
        w = np.clip(self.w + dw, params.w_min, params.w_max)
        self.w = w if self.mask is None else np.where(self.mask, w, 0.0)


def _explicit(proj) -> np.ndarray:
    """Stored entries (explicit zeros included) of a sparse projection, dense boolean."""
    coo = proj.weights.tocoo()
    out = np.zeros(proj.shape, dtype=bool)
    out[coo.row, coo.col] = True
    return out


def simulate(net: Network, steps: int, probes: Mapping[str, Sequence[str]] | None = None, *,
             regulator=None) -> SimulationResult:
    """Run ``net`` for ``steps`` steps with numpy; see :mod:`neurochip.network` for the update.

    ``regulator``: a fitted :class:`~neurochip.regulator.MetaRegulator` attached to the
    run (thresholds, plasticity gate, output hold; see :mod:`neurochip.regulator.attached`);
    its log and actions are in ``result.info["regulator"]``.
    """
    start = time.perf_counter()
    net.validate()  # fields may have changed since construction (issue 12)
    steps = check_steps(steps)
    probes = check_probes(net, probes)
    attached = None
    if regulator is not None:
        from neurochip.regulator.attached import NumpyRegulator, check_attachable
        from neurochip.regulator.core import VTH

        attached = NumpyRegulator(check_attachable(regulator, net, "reference.simulate"), net)
        monitored = attached.regulator.populations_
        held = {name: [] for name in attached.outputs}
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
    plastic = {p.name: _Plastic(p, sizes) for p in net.projections if p.plasticity is not None}
    pending = {name: np.zeros(net[name].shape[0]) for name in plastic}
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
            if proj.name in plastic:   # read in step k - 1 with that step's weights (below)
                a_in[proj.post] = a_in[proj.post] + pending[proj.name]
                continue
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
        for name, pl in plastic.items():
            proj = pl.proj
            # the read of step k (spikes of step k - delay + 1), then the update of step k
            pending[name] = pl.transmit(history[proj.pre][(k - proj.delay + 1) % depth])
            pl.learn(history[proj.pre][slot], history[proj.post][slot],
                     None if pl.third is None else history[pl.third][slot],
                     0.0 if attached is None else float(attached.state.gate))   # gated: closed alone
        for name in sizes:
            idx = np.nonzero(history[name][slot])[0]
            if idx.size:
                if attached is not None and name in held and attached.state.hold:
                    held[name].append((idx, np.full(idx.size, k)))   # safe mode: withheld
                else:
                    events[name].append((idx, np.full(idx.size, k)))
        if attached is not None:
            for _, code, index, value in attached.end_step(
                    k, np.array([history[name][slot].sum() for name in monitored], dtype=np.int64)):
                if code == VTH:   # a threshold, from step k + 1 on
                    name = monitored[index]
                    params[name] = params[name]._replace(vth=value)

    spikes = {name: _join(ev) for name, ev in events.items()}
    info = {}
    if plastic:
        # Learned weights, dense (n_post, n_pre), as lists (as the Brian2 backend).
        info["weights"] = {name: pl.w.tolist() for name, pl in plastic.items()}
    if attached is not None:
        from neurochip.regulator.attached import run_info

        info["regulator"] = run_info(attached.regulator, net, attached.log(steps, "numpy-reference"),
                                     attached.rows, steps, held={n: _join(ev) for n, ev in held.items()})
    return SimulationResult(
        steps=steps, dt=net.dt, sizes=sizes, populations=net.population_names, spikes=spikes,
        traces=traces, trace_indices={pop: np.arange(sizes[pop]) for pop in probes},
        backend="numpy-reference", wall_time=time.perf_counter() - start, info=info)


def _join(events: list) -> Spikes:
    """Spikes from a list of ``(indices, steps)`` pairs of the loop."""
    if not events:
        return Spikes(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Spikes(np.concatenate([e[0] for e in events]).astype(np.int64),
                  np.concatenate([e[1] for e in events]).astype(np.int64))
