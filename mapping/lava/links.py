"""Lowering of the network's connectivity: zero links that join disconnected parts.

Lava compiles the processes connected to one root process. ``zero-links`` finds the
connected parts of the network (projections and label / reward third factors join
their ends) and links the first population of every further part from the first
population of the first part by an all-zero ``Dense`` (int32 zeros on fixed-point
targets): it adds exactly 0 to ``a_in``, so no spike changes.
"""
from __future__ import annotations

import numpy as np
from lava.proc.dense.process import Dense

from neurochip.network import Network

from mapping.lava.registry import LoweringContext, kind_of, lowering


@kind_of.register
def _network_kind(net: Network, ctx: LoweringContext) -> str:
    return "zero-links"


def connected_heads(ctx: LoweringContext) -> list:
    """The first population (in network order) of each connected part of the network."""
    from mapping import third_factor_of

    parent = {name: name for name in [*ctx.wired.lifs, *ctx.wired.sources]}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for proj in ctx.network.projections:
        parent[find(proj.pre)] = find(proj.post)
    for post, proj in ctx.third_factor_projections.items():
        parent[find(third_factor_of(proj))] = find(post)
    heads = {}
    for name in ctx.wired.lifs:
        heads.setdefault(find(name), name)
    return list(heads.values())


@lowering("zero-links")
def lower_zero_links(ctx: LoweringContext, net: Network) -> None:
    """An all-zero ``Dense`` from the first part's head to every other part's head."""
    heads = connected_heads(ctx)
    for other in heads[1:]:
        a, b = ctx.wired.lifs[heads[0]], ctx.wired.lifs[other]
        zeros = np.zeros((b.a_in.shape[0], a.s_out.shape[0]), dtype=np.int32 if ctx.fixed else float)
        link = Dense(weights=zeros, name=f"neurochip_link_{other}")
        a.s_out.connect(link.s_in)
        link.a_out.connect(b.a_in)
        ctx.wired.links.append(link)
