"""Lowering of an attached meta-regulator: the regulator process wired into the deployment.

``mapping.compile(net, target, regulator=reg)`` puts a fitted
:class:`~neurochip.regulator.MetaRegulator` on the deployment; the lowering context
yields it after the network's nodes (:meth:`~mapping.lava.registry.LoweringContext.nodes`).

* ``regulator``: one :class:`~mapping.lava_regulator.process.RegulatorProcess` fed by the
  ``s_out`` port of every monitored population and spike source (a monitored source no
  projection reads is lowered for it), driving the regulated populations' ``ctl_in``
  (``act_out<j>``) and the gated projections' ``gate_in`` (``gate_out``). When the
  run stops it writes its log and actions; a reader (``wired.readers``) turns them,
  with the withheld output spikes, into ``result.info["regulator"]``
  (:func:`neurochip.regulator.attached.run_info`, as the numpy and Brian2 backends).
* ``lif-regulated``: a population whose threshold the policy scales (``recalibrate``:
  every monitored population) or whose spikes it holds (``safe_mode``: the regulator's
  outputs) is a :class:`~mapping.lava_regulator.actuators.RegulatedLIF` (float targets,
  plain ``lif-float`` populations).
* ``plastic-gated`` / ``plastic-third-factor-gated``: a ``gated`` projection is a
  :class:`~mapping.lava_regulator.actuators.GatedLearningDense` (with or without a
  regulator: an unconnected gate is 0, closed, as in the other backends).

The kinds are chosen by a refiner (:data:`mapping.lava.registry.REFINERS`) before the
node families' own :func:`~mapping.lava.registry.kind_of`.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np

from neurochip.network import Population, Projection
from neurochip.regulator.attached import run_info
from neurochip.regulator.model import MetaRegulator
from neurochip.results import Spikes

from mapping.lava.populations import _float_lif
from mapping.lava.projections import lower_plastic, lower_plastic_third_factor
from mapping.lava.registry import LOWERINGS, REFINERS, LoweringContext, kind_of, lowering
from mapping.lava.side_effects import no_new_log_handlers
from mapping.lava_regulator.actuators import GatedLearningDense, RegulatedLIF
from mapping.lava_regulator.process import RegulatorProcess

#: Name of the regulator's record file in ``wired.paths`` (no node can be named so).
RECORD = "(regulator)"
#: Gated kind of each plastic kind.
GATED = {"plastic": "plastic-gated", "plastic-third-factor": "plastic-third-factor-gated"}


def regulated_populations(ctx: LoweringContext) -> list[str]:
    """Populations the attached regulator drives (thresholds or hold), in network order."""
    reg = getattr(ctx.deployment, "regulator", None)
    if reg is None:
        return []
    net = ctx.network
    params, _ = reg.action_params(net)
    scaled = {p for p, s in zip(reg.populations_, params.scalable) if s and params.recalibrate}
    held = set(reg.held_outputs(net))
    return [p for p in net.population_names if p in scaled or p in held]


def _refine(node, ctx: LoweringContext) -> str | None:
    if isinstance(node, Projection) and node.gated:
        return GATED[kind_of(node, ctx)]
    if isinstance(node, Population) and node.name in regulated_populations(ctx):
        base = kind_of(node, ctx)
        if base != "lif-float":
            raise ValueError(f"Population '{node.name}': the attached regulator scales its threshold or holds "
                             f"its output, which runs on plain float LIF populations only (this one is "
                             f"lowered as {base!r}); monitor it with policy 'learn', or do not list it in "
                             f"the regulator's outputs")
        return "lif-regulated"
    return None


REFINERS.append(_refine)


@kind_of.register
def _regulator_kind(reg: MetaRegulator, ctx: LoweringContext) -> str:
    return "regulator"


@lowering("lif-regulated")
def lower_regulated_lif(ctx: LoweringContext, pop: Population) -> None:
    """A :class:`RegulatedLIF` with the population's own parameters (its ``ctl_in`` is wired by ``regulator``)."""
    _float_lif(RegulatedLIF, ctx, pop)


@lowering("plastic-gated")
def lower_plastic_gated(ctx: LoweringContext, proj: Projection) -> None:
    """``plastic`` as a :class:`GatedLearningDense`."""
    lower_plastic(ctx, proj, cls=GatedLearningDense)


@lowering("plastic-third-factor-gated")
def lower_plastic_third_factor_gated(ctx: LoweringContext, proj: Projection) -> None:
    """``plastic-third-factor`` as a :class:`GatedLearningDense`."""
    lower_plastic_third_factor(ctx, proj, cls=GatedLearningDense)


@lowering("regulator")
def lower_regulator(ctx: LoweringContext, reg: MetaRegulator) -> None:
    """The regulator process, its spike inputs, its actuator outputs and the reader of its record."""
    net = ctx.network
    params, state = reg.action_params(net)
    index = {p: k for k, p in enumerate(reg.populations_)}
    regulated = regulated_populations(ctx)
    outputs = reg.held_outputs(net)
    actuated = [(index[p] if params.recalibrate and p in index else -1, net[p].vth, int(p in outputs))
                for p in regulated]
    windows = max(1, ctx.wired.horizon // reg.window)
    band = reg.band_
    with no_new_log_handlers():  # Lava adds one root-logger handler per process
        proc = RegulatorProcess(sizes=reg.sizes_.tolist(), window=band.window, low=band.low, high=band.high,
                                silence_windows=band.silence_windows, persist=band.persist,
                                warmup_windows=reg.warmup_windows, max_events=windows * len(reg.populations_) + 1,
                                mean=params.mean, vth=state.vth, recalibrate=params.recalibrate,
                                safe_mode=params.safe_mode, actuated=actuated, nc_record=ctx.record_path(RECORD),
                                name="neurochip_regulator")
    for k, p in enumerate(reg.populations_):
        if p not in ctx.wired.lifs and p not in ctx.wired.sources:
            LOWERINGS["spike-source"](ctx, net[p])   # a source only the regulator reads
        ctx.spiking(p).s_out.connect(getattr(proc, f"s_in{k}"))
    for j, p in enumerate(regulated):
        getattr(proc, f"act_out{j}").connect(ctx.wired.lifs[p].ctl_in)
    for proj in net.projections:
        if proj.gated:
            proc.gate_out.connect(ctx.wired.connections[proj.name].gate_in)
    ctx.wired.extras.append(proc)
    ctx.wired.readers.append(functools.partial(read_regulator, reg, net, outputs))


def read_regulator(reg: MetaRegulator, net, outputs: list, files: dict, steps: int) -> dict:
    """``{"regulator": info}`` from the regulator's and the held populations' record files."""
    data = files[RECORD]
    n = int(np.asarray(data["n_events"]).ravel()[0])
    rows = np.asarray(data["log"], dtype=np.int64).reshape(-1, 4)
    if n > rows.shape[0]:
        warnings.warn(f"lava regulator log overflowed: {n} events, capacity {rows.shape[0]}; the later "
                      f"events are lost", RuntimeWarning, stacklevel=2)
    held = {p: Spikes.sorted(files[p]["held_indices"], files[p]["held_steps"]) for p in outputs}
    log = reg.make_log(rows, n_steps=steps, backend="lava")
    actions = [tuple(r) for r in np.asarray(data["actions"], dtype=float).reshape(-1, 4).tolist()]
    return {"regulator": run_info(reg, net, log, actions, steps, held=held)}
