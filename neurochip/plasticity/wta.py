"""The few-shot output network, described once, and its batched numpy twin.

::

    source "input" (n_in) --"plastic": W (n_out, n_in), rule, delay 1--> population "out" (n_out LIF)
    source "input"        --"ff": -ff everywhere (static feed-forward inhibition), delay 1--> "out"
    source "clock" (1)    --"clock_out": clock to every output, delay 1--> "out"   (one spike per extra step)
    "out" --"wta": lateral_weights(n_out, w_inh, groups), delay 1--> "out"
    while learning: bias teacher_bias(n_out, label, teacher) on "out" (the label neuron is driven),
                    source "label": a third-factor event (y3) on the label neuron every step

Each sample is run for ``raster steps + extra_steps`` steps from zero state and
zero traces. ``"ff"`` exists when ``out.ff != 0`` and ``"clock"`` / ``"clock_out"`` when
``out.clock != 0`` (it spikes once at every step after the sample's raster,
so the best-matching output always reaches its threshold eventually). The
lateral inhibition acts between *groups* of output neurons (the classes): from
neuron ``j`` to a neuron of another group it is ``-w_inh / n_j``, ``n_j`` the
size of ``j``'s group, so a class inhibits the others with the same total
strength whatever its number of neurons; ``groups=None`` makes every neuron its
own group (``-w_inh`` between distinct neurons: one neuron per class).

Two readouts of the classifiers in :mod:`neurochip.plasticity.fewshot` use it:

- *prototype* (``PrototypeSpikingClassifier``, meta-learning's inner loop):
  one neuron per class, ``ff = clock = 0``, ``groups=None``, a teacher current.
- *exemplar* (``FewShotSpikingClassifier``): one neuron per stored shot,
  perfect integrators (``du = 1``, ``dv = 0``), ``ff`` and ``clock`` set in
  fit, class-wise inhibition; decided by :func:`decide_spikes`.

:func:`wta_network` builds the :class:`~neurochip.network.Network`
description: the Brian2 backend and the Lava mapper run it as it is (the
classifiers' ``backend="brian2"`` / ``"lava"``, one network per shot).
:func:`readout` and :func:`simulate_outputs` run it in numpy, batched over
candidate rules and samples: they build the description once per call and
take the LIF parameters and every static weight from it, so the topology is
written in one place. The neuron update is :func:`neurochip.lif.lif_step`
(tested equal spike for spike to the reference, Brian2 and Lava runs of the
description, and the learned weights to Brian2's and Lava's).

The learning step is looked up by *precision* (:func:`learning_engine`):
``"float"`` is :func:`neurochip.plasticity.functional.plasticity_step`; another
precision (a bit-accurate fixed-point twin of Loihi's learning engine) is
added with :func:`register_learning_engine` and selected with
``simulate_outputs(..., precision=name)``.
"""
from __future__ import annotations

import copy
from typing import Callable, NamedTuple

import numpy as np
import scipy.sparse as sp

from neurochip.lif import LIFParams, LIFState, lif_step
from neurochip.network import Network, Population, Projection, SpikeSource
from neurochip.plasticity.functional import RuleParams, init_state, plasticity_step
from neurochip.plasticity.rules import LearningRule


class OutputParams(NamedTuple):
    """Output neurons of the few-shot network.

    ``du``, ``dv``, ``vth``: Loihi float LIF; ``w_inh``: lateral inhibition
    (>= 0, see :func:`lateral_weights`); ``teacher``: bias of the label neuron
    while learning; ``extra_steps``: steps run after a sample's raster;
    ``ff``: feed-forward inhibition per input spike (projection ``"ff"``, weight
    ``-ff``); ``clock``: weight of the clock spike of every extra step to every
    output (source ``"clock"``, projection ``"clock_out"``); ``groups``: the group (class index) of each
    output neuron, ``None`` for one neuron per group.
    """

    du: float
    dv: float
    vth: float
    w_inh: float
    teacher: float
    extra_steps: int
    ff: float = 0.0
    clock: float = 0.0
    groups: tuple | None = None


class Readout(NamedTuple):
    """Output spikes of a run without learning (:func:`readout`), per sample.

    ``counts`` (..., n_samples, n_out): spikes per output neuron; ``first``
    (same shape, int): step of each neuron's first spike, ``-1`` if it stayed
    silent; ``drive`` (same shape): summed input current; ``synops`` (...):
    synaptic events (spikes times the number of synapses they reach).
    """

    counts: np.ndarray
    first: np.ndarray
    drive: np.ndarray
    synops: np.ndarray


class LearningEngine(NamedTuple):
    """How the twin learns at one precision: ``init(n_pre, n_post, batch) -> state`` and
    ``step(W, state, pre, post, third, params) -> (W, dw, state)`` (as :mod:`~neurochip.plasticity.functional`)."""

    init: Callable
    step: Callable


_ENGINES: dict[str, LearningEngine] = {"float": LearningEngine(init_state, plasticity_step)}


def register_learning_engine(precision: str, engine: LearningEngine, *, replace: bool = False) -> None:
    """Make ``simulate_outputs(..., precision=precision)`` learn with ``engine``."""
    if not isinstance(precision, str) or not precision:
        raise ValueError(f"register_learning_engine: precision should be a non-empty string, got {precision!r}")
    if not isinstance(engine, LearningEngine):
        raise ValueError(f"register_learning_engine: engine should be a LearningEngine(init, step), "
                         f"got {type(engine).__name__}")
    if precision in _ENGINES and not replace:
        raise ValueError(f"register_learning_engine: precision {precision!r} is registered already; "
                         f"pass replace=True to replace it")
    _ENGINES[precision] = engine


def learning_engine(precision: str = "float") -> LearningEngine:
    """The learning step of ``precision`` (``"float"`` built in)."""
    try:
        return _ENGINES[precision]
    except (KeyError, TypeError):
        raise ValueError(f"precision should be one of {', '.join(sorted(_ENGINES))} (register others with "
                         f"neurochip.plasticity.wta.register_learning_engine), got {precision!r}") from None


def group_sizes(groups) -> np.ndarray:
    """Size of each neuron's group, shape ``(n_out,)``."""
    g = np.asarray(groups)
    _, inverse, sizes = np.unique(g, return_inverse=True, return_counts=True)
    return sizes[inverse].astype(float)


def lateral_weights(n_out: int, w_inh: float, groups=None) -> np.ndarray:
    """Weights of projection ``"wta"``, shape ``(n_out, n_out)`` (post, pre).

    ``groups=None``: ``-w_inh`` between distinct neurons, 0 to self. Else from
    neuron ``j`` to neuron ``i`` of another group ``-w_inh / n_j`` (``n_j``: size
    of ``j``'s group), 0 within a group.
    """
    if groups is None:
        return -w_inh * (1 - np.eye(n_out))
    g = np.asarray(groups)
    if g.shape != (n_out,):
        raise ValueError(f"lateral_weights: groups should have shape ({n_out},), got shape {g.shape}")
    other = g[:, None] != g[None, :]
    return np.where(other, -w_inh / group_sizes(g)[None, :], 0.0)


def teacher_bias(n_out: int, label: int, teacher: float) -> np.ndarray:
    """Bias of population ``"out"`` while learning ``label``: ``teacher`` on the label neuron, 0 elsewhere."""
    onehot = np.zeros(n_out)
    onehot[label] = 1.0
    return teacher * onehot


def wta_network(W, out: OutputParams, *, raster=None, raster_steps: int | None = None, label: int | None = None,
                rule: LearningRule | None = None, name: str = "fewshot") -> Network:
    """The output network of one sample (see the module docstring).

    Parameters
    ----------
    W : array (n_out, n_in)
        Weights of projection ``"plastic"``.
    out : OutputParams
    raster : bool array (steps, n_in), optional
        The sample's input spikes (source ``"input"``); ``None``: no input spikes.
    raster_steps : int, optional
        Steps of the raster when ``raster`` is None (where the clock starts); default 0.
    label : int, optional
        Output neuron that learns (third factor, teacher); required when learning.
    rule : LearningRule, optional
        Learn: ``"plastic"`` gets a copy of the rule with ``third_factor="label"``,
        source ``"label"`` fires the label neuron's third factor every step and
        the label neuron gets the teacher bias. ``None``: static weights, no teacher.

    Returns
    -------
    Network
        Run it for :func:`sample_steps` steps from zero state; the learned weights
        of a backend run are ``result.info["weights"]["plastic"]``.
    """
    W = np.asarray(W, dtype=float)
    n_out, n_in = W.shape
    if raster is None:
        raster = np.zeros((0 if raster_steps is None else int(raster_steps), n_in), dtype=bool)
    raster = np.asarray(raster, dtype=bool)
    total = sample_steps(raster, out)
    steps, indices = np.nonzero(raster)
    sources = [SpikeSource("input", n_in, indices=indices, steps=steps)]
    bias = 0.0
    plastic = Projection("plastic", "input", "out", W.copy())
    if rule is not None:
        if label is None:
            raise ValueError("wta_network: label is required when learning (rule given), got None")
        rule = copy.deepcopy(rule)
        rule.third_factor = "label"
        bias = teacher_bias(n_out, label, out.teacher)
        sources.append(SpikeSource("label", n_out, indices=np.full(total, label), steps=np.arange(total)))
        plastic = Projection("plastic", "input", "out", W.copy(), plasticity=rule)
    elif label is not None:
        raise ValueError(f"wta_network: label ({label!r}) is only used when learning; pass rule as well")
    projections = [plastic]
    if out.ff:
        projections.append(Projection("ff", "input", "out", np.full((n_out, n_in), -float(out.ff))))
    if out.clock and total > raster.shape[0]:
        clock_steps = np.arange(raster.shape[0], total)
        sources.append(SpikeSource("clock", 1, indices=np.zeros(clock_steps.size, dtype=int), steps=clock_steps))
        projections.append(Projection("clock_out", "clock", "out", np.full((n_out, 1), float(out.clock))))
    projections.append(Projection("wta", "out", "out", lateral_weights(n_out, out.w_inh, out.groups)))
    return Network(name=name, sources=sources,
                   populations=[Population("out", n_out, du=out.du, dv=out.dv, vth=out.vth, bias=bias)],
                   projections=projections)


def sample_steps(raster, out: OutputParams) -> int:
    """Steps one sample runs: its raster's steps plus ``out.extra_steps``."""
    return int(np.shape(raster)[0]) + int(out.extra_steps)


class _Twin(NamedTuple):
    """What the numpy twin reads from the description: LIF parameters and the static weights."""

    lif: LIFParams
    lateral_t: np.ndarray     # (n_out, n_out), pre x post
    fanout: np.ndarray        # (n_out,) synapses each output spike reaches
    ff: float                 # feed-forward inhibition per input spike (>= 0)
    clock: np.ndarray         # (n_out,) weight of a clock spike to each output
    clock_steps: np.ndarray   # steps at which the clock spikes


def _uniform(proj: Projection, owner: str) -> float:
    w = np.asarray(proj.weights)
    if not np.all(w == w.flat[0]):
        raise ValueError(f"{owner}: the numpy twin expects uniform weights in projection '{proj.name}'")
    return float(w.flat[0])


def _twin_arrays(n_out: int, n_in: int, raster_steps: int, out: OutputParams) -> _Twin:
    """The LIF parameters of ``"out"`` and the static projections, read from the description."""
    net = wta_network(np.zeros((n_out, n_in)), out, raster_steps=raster_steps)
    pop, wta = net["out"], net["wta"]
    names = {p.name for p in net.projections}
    if any(p.delay != 1 for p in net.projections):
        raise ValueError("simulate_outputs: the numpy twin runs projections of delay 1 only, got delays "
                         + ", ".join(f"{p.name}={p.delay}" for p in net.projections))
    lateral = np.asarray(wta.weights)
    ff = -_uniform(net["ff"], "simulate_outputs") if "ff" in names else 0.0
    if "clock_out" in names:
        clock, clock_steps = np.asarray(net["clock_out"].weights)[:, 0].copy(), np.asarray(net["clock"].steps)
    else:
        clock, clock_steps = np.zeros(n_out), np.zeros(0, dtype=int)
    return _Twin(LIFParams(pop.du, pop.dv, pop.vth, pop.bias), np.ascontiguousarray(lateral.T),
                 np.count_nonzero(lateral, axis=0).astype(float), ff, clock, clock_steps)


class PackedRasters(NamedTuple):
    """Input rasters as a sparse matrix of the spikes that arrive within a run (:func:`pack_rasters`)."""

    matrix: sp.csr_matrix    # (n_samples * arrive, n_in)
    n_samples: int
    arrive: int              # raster steps whose spikes arrive within the run
    total: int


def pack_rasters(rasters, total: int) -> PackedRasters:
    """``rasters`` (n_samples, steps, n_in) packed for :func:`input_current` in runs of ``total`` steps."""
    rasters = np.asarray(rasters, dtype=bool)
    n_samples, steps, n_in = rasters.shape
    arrive = max(min(steps, total - 1), 0)
    matrix = sp.csr_matrix(rasters[:, :arrive].reshape(n_samples * arrive, n_in), dtype=float)
    return PackedRasters(matrix, n_samples, arrive, total)


def input_current(W, rasters, total: int | None = None) -> np.ndarray:
    """Current of projection ``"plastic"`` at every step: ``(..., n_samples, total, n_out)``.

    A spike of raster step ``k`` arrives at step ``k + 1`` (delay 1). Computed as a
    sparse product (the sum over a sample's active inputs in input order), so the
    current of one output neuron does not depend on the other neurons: a column
    computed alone equals the same column computed with the others. ``rasters``
    may be :func:`pack_rasters`'s result (then ``total`` is its own).
    """
    W = np.asarray(W, dtype=float)
    packed = rasters if isinstance(rasters, PackedRasters) else pack_rasters(rasters, total)
    n_samples, arrive, total = packed.n_samples, packed.arrive, packed.total
    batch = W.shape[:-2]
    n_out, n_in = W.shape[-2:]
    out = np.zeros((*batch, n_samples, total, n_out))
    if arrive <= 0 or n_out == 0:
        return out
    R = packed.matrix
    Wf = W.reshape(-1, n_out, n_in)
    flat = out.reshape(-1, n_samples, total, n_out)
    for b in range(Wf.shape[0]):
        flat[b, :, 1:arrive + 1] = np.asarray(R @ Wf[b].T).reshape(n_samples, arrive, n_out)
    return out


def _static_current(rasters, twin: _Twin, total: int) -> np.ndarray:
    """Current of ``"ff"`` plus ``"clock_out"`` at every step, ``(n_samples, total, n_out)``."""
    n_samples, steps, _ = rasters.shape
    n_out = twin.clock.size
    cur = np.zeros((n_samples, total, n_out))
    if twin.ff:
        arrive = min(steps, total - 1)
        cur[:, 1:arrive + 1] -= twin.ff * rasters[:, :arrive].sum(axis=-1)[..., None]
    arrivals = twin.clock_steps + 1
    arrivals = arrivals[arrivals < total]
    cur[:, arrivals] += twin.clock
    return cur


def _input_events(rasters, twin: _Twin, total: int) -> float:
    """Synaptic events of the input and clock spikes that arrive within a run (all samples)."""
    n_out = twin.clock.size
    arrive = min(rasters.shape[1], total - 1)
    spikes = float(rasters[:, :max(arrive, 0)].sum())
    clock = float(np.sum(twin.clock_steps + 1 < total)) * rasters.shape[0]
    return spikes * n_out * (2 if twin.ff else 1) + (clock * n_out if np.any(twin.clock) else 0.0)


def readout(W, rasters, out: OutputParams, *, current=None) -> Readout:
    """Run the network without learning, batched over samples (and rules: leading axes of ``W``).

    Parameters
    ----------
    W : array (..., n_out, n_in)
    rasters : bool array (n_samples, steps, n_in)
    out : OutputParams
    current : array (..., n_samples, steps + extra_steps, n_out), optional
        :func:`input_current` of ``W`` and ``rasters`` when the caller has it already.

    Returns
    -------
    Readout
    """
    W = np.asarray(W, dtype=float)
    rasters = np.asarray(rasters, dtype=bool)
    batch = W.shape[:-2]
    n_out, n_in = W.shape[-2:]
    n_samples, steps, _ = rasters.shape
    total = steps + int(out.extra_steps)
    twin = _twin_arrays(n_out, n_in, steps, out)
    cur = input_current(W, rasters, total) if current is None else np.asarray(current, dtype=float)
    if twin.ff or twin.clock_steps.size:
        cur = cur + _static_current(rasters, twin, total)
    state = LIFState.zeros((*batch, n_samples, n_out))
    counts = np.zeros_like(state.u)
    drive = np.zeros_like(state.u)
    first = np.full(state.u.shape, -1, dtype=np.int64)
    prev_out = np.zeros_like(state.u)
    out_events = np.zeros(batch)
    for k in range(total):
        a_in = cur[..., k, :] + prev_out @ twin.lateral_t
        state, spk = lif_step(state, a_in, twin.lif)
        counts += spk
        drive += a_in
        first = np.where(spk & (first < 0), k, first)
        out_events = out_events + (prev_out * twin.fanout).sum(axis=(-1, -2))
        prev_out = spk.astype(float)
    return Readout(counts, first, drive, out_events + _input_events(rasters, twin, total))


def simulate_outputs(W, rasters, out: OutputParams, *, rule: RuleParams | None = None, labels=None,
                     precision: str = "float"):
    """Run the network on input rasters; learn sample by sample when ``rule`` is given.

    Parameters
    ----------
    W : array (..., n_out, n_in)
        Weights; leading axes batch candidate rules.
    rasters : bool array (n_samples, steps, n_in)
    out : OutputParams
    rule : RuleParams, optional
        Learn with this rule (batch axes as ``W``); samples are then run one after another.
        As in Lava's ``LearningDense`` and the Brian2 backend, a pre spike of step ``k``
        reaches the output neurons at step ``k + 1`` with the weights of step ``k``
        (before that step's update); tested equal to both running :func:`wta_network`.
    labels : int array (n_samples,), optional
        The output neuron that learns each sample: teacher and third factor (required when learning).
    precision : str
        The learning step (:func:`learning_engine`): ``"float"`` (Lava's floating-point ``LearningDense``).

    Returns
    -------
    W : ndarray
        Weights after learning (unchanged without ``rule``).
    counts : ndarray (..., n_samples, n_out)
        Output spikes per sample.
    drive : ndarray (..., n_samples, n_out)
        Summed input current per sample (tie-break of :func:`decide`).
    synops : ndarray (...)
        Synaptic events (spikes times the synapses they reach).
    """
    W = np.array(W, dtype=float)
    if rule is None:
        r = readout(W, rasters, out)
        return W, r.counts, r.drive, r.synops
    if labels is None:
        raise ValueError("simulate_outputs: labels are required when learning")
    engine = learning_engine(precision)
    rasters = np.asarray(rasters, dtype=bool)
    batch = W.shape[:-2]
    n_out, n_in = W.shape[-2:]
    n_samples, steps, _ = rasters.shape
    total = steps + int(out.extra_steps)
    pad = np.zeros((n_samples, total, n_in), dtype=bool)
    pad[:, :steps] = rasters
    twin = _twin_arrays(n_out, n_in, steps, out)
    static = _static_current(rasters, twin, total) if twin.ff or twin.clock_steps.size else None
    synops = np.full(batch, _input_events(rasters, twin, total))
    counts = np.zeros((*batch, n_samples, n_out))
    drive = np.zeros_like(counts)
    for s in range(n_samples):
        onehot = teacher_bias(n_out, labels[s], 1.0)     # the label's third-factor events
        lif_s = twin.lif._replace(bias=teacher_bias(n_out, labels[s], out.teacher))
        traces = engine.init(n_in, n_out, batch)
        state = LIFState.zeros((*batch, n_out))
        prev_out = np.zeros_like(state.u)
        sent = np.zeros_like(state.u)   # input current of the last step's spikes, through the weights of then
        for k in range(total):
            a_in = sent if static is None else sent + static[s, k]
            a_in = a_in + prev_out @ twin.lateral_t
            state, spk = lif_step(state, a_in, lif_s)
            counts[..., s, :] += spk
            drive[..., s, :] += a_in
            synops = synops + (prev_out * twin.fanout).sum(axis=-1)
            pre = pad[s, k]
            sent = W @ pre.astype(float)
            W, _, traces = engine.step(W, traces, pre, spk, onehot, rule)
            prev_out = spk.astype(float)
    return W, counts, drive, synops


def write_rows(W, rasters, rule: RuleParams, extra_steps: int, *, precision: str = "float") -> np.ndarray:
    """Rows ``W[s]`` after presenting sample ``s`` with the third factor of its own neuron on, all at once.

    For rules that change only the neuron whose third factor is on, whatever the
    spikes (``fewshot.is_row_local``: every term has ``y3`` and none ``y0``, ``y1`` or
    ``y2``), this is exactly (same floating-point operations, row by row) what
    :func:`simulate_outputs` learns for each sample's neuron: the other neurons, the
    readout's parameters and the output spikes do not enter. ``W``: (n_samples, n_in).
    """
    engine = learning_engine(precision)
    W = np.array(W, dtype=float)[:, None, :]
    rasters = np.asarray(rasters, dtype=bool)
    n_samples, steps, n_in = rasters.shape
    traces = engine.init(n_in, 1, (n_samples,))
    third = np.ones((n_samples, 1))
    silent = np.zeros((n_samples, 1))
    idle = np.zeros((n_samples, n_in), dtype=bool)
    for k in range(steps + int(extra_steps)):
        pre = rasters[:, k] if k < steps else idle
        W, _, traces = engine.step(W, traces, pre, silent, third, rule)
    return W[:, 0, :]


def decide(counts, drive) -> np.ndarray:
    """One neuron per class (prototype readout): most spikes, ties broken by the largest summed input current."""
    key = counts + 1e-6 * np.tanh(drive)
    return np.argmax(key, axis=-1)


class Decision(NamedTuple):
    """A decision from spikes only (:func:`decide_spikes`), per sample.

    ``index``: the winning group; ``count_tie``: several groups had the most
    spikes; ``first_tie``: they also fired first at the same step (the lowest
    group index decided); ``winner_first``: first-spike step of the winning
    group (``-1``: no output spiked at all).
    """

    index: np.ndarray
    count_tie: np.ndarray
    first_tie: np.ndarray
    winner_first: np.ndarray


def decide_spikes(counts, first, groups, n_groups: int) -> Decision:
    """Group (class) per sample from output spikes: the most spikes of any of its neurons;
    ties go to the group that fired first, then to the lowest group index.

    ``counts``, ``first``: (..., n_samples, n_out) of :class:`Readout`; ``groups``:
    the group of each output neuron (ints in ``[0, n_groups)``).
    """
    counts = np.asarray(counts, dtype=float)
    first = np.asarray(first)
    groups = np.asarray(groups, dtype=int)
    shape = counts.shape[:-1] + (n_groups,)
    cnt = np.full(shape, -1.0)
    fst = np.full(shape, np.inf)
    when = np.where(first < 0, np.inf, first)
    for g in range(n_groups):
        members = groups == g
        if members.any():
            cnt[..., g] = counts[..., members].max(axis=-1)
            fst[..., g] = when[..., members].min(axis=-1)
    top = cnt == cnt.max(axis=-1, keepdims=True)
    f2 = np.where(top, fst, np.inf)
    top2 = top & (f2 == f2.min(axis=-1, keepdims=True))
    index = np.argmax(top2, axis=-1)
    winner = np.take_along_axis(fst, index[..., None], axis=-1)[..., 0]
    return Decision(index, top.sum(axis=-1) > 1, top2.sum(axis=-1) > 1,
                    np.where(np.isinf(winner), -1, winner).astype(np.int64))
