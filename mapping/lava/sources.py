"""Lowering of :class:`~neurochip.network.SpikeSource`: a Lava ``RingBuffer``.

``spike-source``: the source's spikes as a ``(size, horizon)`` 0/1 array (int32 on
fixed-point targets) in a ``RingBuffer``; Lava time step ``t`` (from 1) sends
column ``t - 1``, our step ``t - 1``. The horizon covers the whole run, so the
buffer never wraps around. ``unused-source``: a source no projection and no third
factor reads is not lowered (Lava compiles only what is connected).
"""
from __future__ import annotations

import numpy as np
from lava.proc.io.source import RingBuffer

from neurochip.network import SpikeSource

from mapping.lava.registry import LoweringContext, kind_of, lowering


@kind_of.register
def _source_kind(src: SpikeSource, ctx: LoweringContext) -> str:
    from mapping import third_factor_of

    net = ctx.network
    read = {p.pre for p in net.projections} | {third_factor_of(p) for p in ctx.third_factor_projections.values()}
    return "spike-source" if src.name in read else "unused-source"


@lowering("spike-source")
def lower_spike_source(ctx: LoweringContext, src: SpikeSource) -> None:
    """A ``RingBuffer`` replaying the source's spikes of steps ``0 .. horizon - 1``."""
    data = np.zeros((src.size, max(1, ctx.wired.horizon)), dtype=np.int32 if ctx.fixed else float)
    keep = src.steps < ctx.wired.horizon
    data[src.indices[keep], src.steps[keep]] = 1
    ctx.wired.sources[src.name] = RingBuffer(data=data)


@lowering("unused-source")
def skip_unused_source(ctx: LoweringContext, src: SpikeSource) -> None:
    """Nothing reads this source: no process."""
