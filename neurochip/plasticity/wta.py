"""The few-shot winner-take-all network, described once, and its batched numpy twin.

::

    source "input" (n_in) --"plastic": W (n_out, n_in), rule, delay 1--> population "out" (n_out LIF)
    "out" --"wta": lateral_weights(n_out, w_inh) = -w_inh (1 - I), delay 1--> "out"
    while learning: bias teacher_bias(n_out, label, teacher) on "out" (the label neuron is driven),
                    source "label": a third-factor event (y3) on the label neuron every step

Each sample is run for ``raster steps + extra_steps`` steps from zero state and
zero traces. :func:`wta_network` builds that :class:`~neurochip.network.Network`
description: the Brian2 backend and the Lava mapper run it as it is (the
classifier's ``backend="brian2"`` / ``"lava"``, one network per shot), and
:func:`simulate_outputs` runs it in numpy, batched over candidate rules and
samples: it builds the description once per call and takes the output
neurons' LIF parameters and the lateral weights from it, so the topology is
written in one place. The neuron update is :func:`neurochip.lif.lif_step`
(same floating-point order as the backends: tested equal weight for weight).
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from neurochip.lif import LIFParams, LIFState, lif_step
from neurochip.network import Network, Population, Projection, SpikeSource
from neurochip.plasticity.functional import RuleParams, init_state, plasticity_step
from neurochip.plasticity.rules import LearningRule


class OutputParams(NamedTuple):
    """Output neurons of the winner-take-all network.

    ``du``, ``dv``, ``vth``: Loihi float LIF; ``w_inh``: lateral inhibition
    (>= 0); ``teacher``: bias of the label neuron while learning;
    ``extra_steps``: steps run after a sample's raster.
    """

    du: float
    dv: float
    vth: float
    w_inh: float
    teacher: float
    extra_steps: int


def lateral_weights(n_out: int, w_inh: float) -> np.ndarray:
    """Weights of projection ``"wta"``, shape ``(n_out, n_out)``: ``-w_inh`` between distinct neurons, 0 to self."""
    return -w_inh * (1 - np.eye(n_out))


def teacher_bias(n_out: int, label: int, teacher: float) -> np.ndarray:
    """Bias of population ``"out"`` while learning ``label``: ``teacher`` on the label neuron, 0 elsewhere."""
    onehot = np.zeros(n_out)
    onehot[label] = 1.0
    return teacher * onehot


def wta_network(W, out: OutputParams, *, raster=None, label: int | None = None, rule: LearningRule | None = None,
                name: str = "fewshot") -> Network:
    """The winner-take-all network of one sample (see the module docstring).

    Parameters
    ----------
    W : array (n_out, n_in)
        Weights of projection ``"plastic"``.
    out : OutputParams
    raster : bool array (steps, n_in), optional
        The sample's input spikes (source ``"input"``); ``None``: no input spikes.
    label : int, optional
        Output neuron of the sample's class; required when learning.
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
    raster = np.zeros((0, n_in), dtype=bool) if raster is None else np.asarray(raster, dtype=bool)
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
    return Network(name=name, sources=sources,
                   populations=[Population("out", n_out, du=out.du, dv=out.dv, vth=out.vth, bias=bias)],
                   projections=[plastic, Projection("wta", "out", "out", lateral_weights(n_out, out.w_inh))])


def sample_steps(raster, out: OutputParams) -> int:
    """Steps one sample runs: its raster's steps plus ``out.extra_steps``."""
    return int(np.shape(raster)[0]) + int(out.extra_steps)


def _twin_arrays(n_out: int, n_in: int, out: OutputParams) -> tuple[LIFParams, np.ndarray]:
    """LIF parameters of ``"out"`` and the transposed ``"wta"`` weights, read from the description."""
    net = wta_network(np.zeros((n_out, n_in)), out)
    pop, wta = net["out"], net["wta"]
    if net["plastic"].delay != 1 or wta.delay != 1:
        raise ValueError("simulate_outputs: the numpy twin runs projections of delay 1 only, got delays "
                         f"{net['plastic'].delay} and {wta.delay}")
    return LIFParams(pop.du, pop.dv, pop.vth, pop.bias), np.ascontiguousarray(np.asarray(wta.weights).T)


def simulate_outputs(W, rasters, out: OutputParams, *, rule: RuleParams | None = None, labels=None):
    """Run the winner-take-all network on input rasters; learn sample by sample when ``rule`` is given.

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
        Teacher and third factor (required when learning).

    Returns
    -------
    W : ndarray
        Weights after learning (unchanged without ``rule``).
    counts : ndarray (..., n_samples, n_out)
        Output spikes per sample.
    drive : ndarray (..., n_samples, n_out)
        Summed input current per sample (tie-break).
    synops : ndarray (...)
        Synaptic events (input spikes times fan-out, lateral spikes times fan-out).
    """
    W = np.array(W, dtype=float)
    batch = W.shape[:-2]
    n_out, n_in = W.shape[-2:]
    n_samples, steps, _ = rasters.shape
    total = sample_steps(rasters[0], out)
    pad = np.zeros((n_samples, total, n_in), dtype=bool)
    pad[:, :steps] = rasters
    lif, lateral_t = _twin_arrays(n_out, n_in, out)
    synops = np.zeros(batch)
    if rule is None:
        x = pad.astype(float)
        state = LIFState.zeros((*batch, n_samples, n_out))
        counts = np.zeros_like(state.u)
        drive = np.zeros_like(state.u)
        prev = np.zeros((n_samples, n_in))
        prev_out = np.zeros_like(state.u)
        for k in range(total):
            a_in = np.einsum("si,...oi->...so", prev, W) + prev_out @ lateral_t
            state, spk = lif_step(state, a_in, lif)
            counts += spk
            drive += a_in
            synops = synops + prev.sum() * n_out + prev_out.sum(axis=(-1, -2)) * (n_out - 1)
            prev, prev_out = x[:, k], spk.astype(float)
        return W, counts, drive, synops
    if labels is None:
        raise ValueError("simulate_outputs: labels are required when learning")
    counts = np.zeros((*batch, n_samples, n_out))
    drive = np.zeros_like(counts)
    for s in range(n_samples):
        onehot = teacher_bias(n_out, labels[s], 1.0)     # the label's third-factor events
        lif_s = lif._replace(bias=teacher_bias(n_out, labels[s], out.teacher))
        traces = init_state(n_in, n_out, batch)
        state = LIFState.zeros((*batch, n_out))
        prev = np.zeros(n_in)
        prev_out = np.zeros_like(state.u)
        sent = np.zeros_like(state.u)   # input current of the last step's spikes, through the weights of then
        for k in range(total):
            a_in = sent + prev_out @ lateral_t
            state, spk = lif_step(state, a_in, lif_s)
            counts[..., s, :] += spk
            drive[..., s, :] += a_in
            synops = synops + prev.sum() * n_out + prev_out.sum(axis=-1) * (n_out - 1)
            pre = pad[s, k]
            sent = W @ pre.astype(float)
            W, _, traces = plasticity_step(W, traces, pre, spk, onehot, rule)
            prev, prev_out = pre.astype(float), spk.astype(float)
    return W, counts, drive, synops


def decide(counts, drive) -> np.ndarray:
    """Class per sample: most spikes, ties broken by the largest summed input current."""
    key = counts + 1e-6 * np.tanh(drive)
    return np.argmax(key, axis=-1)
