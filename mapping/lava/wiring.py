"""Wire a deployment into Lava processes: a loop over the registered lowerings.

Importing this module registers every node family's lowerings
(:mod:`mapping.lava.populations`, :mod:`~mapping.lava.sources`,
:mod:`~mapping.lava.projections`, :mod:`~mapping.lava.links`,
:mod:`~mapping.lava.regulation`; see :mod:`mapping.lava.registry`).
"""
from __future__ import annotations

from mapping.lava import links, populations, projections, regulation, sources  # noqa: F401  (register the lowerings)
from mapping.lava.registry import LOWERINGS, LoweringContext, Wired, lowering_kind
from mapping.lava.side_effects import no_new_log_handlers


def wire(deployment, *, horizon: int, probes: dict) -> Wired:
    """Build and connect the Lava processes of ``deployment`` (no run).

    Populations, spike sources and projections are lowered in network order, each
    by the function registered for its kind; then the network itself (zero links
    joining disconnected parts) and an attached regulator. Fixed-point integers are checked against Loihi's
    ranges first (:func:`mapping.quantization.check_ranges`).
    """
    if deployment.target.precision == "fixed":
        from mapping.quantization import check_ranges

        check_ranges(deployment.quantized)
    ctx = LoweringContext.for_deployment(deployment, horizon=horizon, probes=probes)
    with no_new_log_handlers():  # Lava adds one root-logger handler per process
        for node in ctx.nodes():
            LOWERINGS[lowering_kind(node, ctx)](ctx, node)
    return ctx.finish()
