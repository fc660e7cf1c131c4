"""Lava runners for :mod:`neurochip.runners`: ``"lava"`` (float) and ``"lava-fixed"`` (fixed point).

Each is ``fn(network, steps, probes=None) -> SimulationResult``: compile the
network for the Lava simulator target and run it through :func:`mapping.run`
(bounded in time, always stopped, child errors raised). ``import mapping``
registers them by reference (``"mapping.runner:run_lava_float"``: this module is
imported when a runner is first asked for, so ``mapping`` does not import its
adapter), and they are installed as entry points of the group
``neurochip.runners`` (``setup.cfg``), so ``neurochip`` finds them by name
without anyone importing ``mapping``::

    >>> from neurochip.runners import get_runner                  # doctest: +SKIP
    >>> result = get_runner("lava")(net, 100)                      # doctest: +SKIP
"""
from __future__ import annotations

from typing import Mapping, Sequence

from neurochip.network import Network
from neurochip.results import SimulationResult

from mapping import compile as compile_network
from mapping import run as run_deployment


def _run_on(target: str, network: Network, steps: int,
            probes: Mapping[str, Sequence[str]] | None) -> SimulationResult:
    return run_deployment(compile_network(network, target), steps, probes)


def run_lava_float(network: Network, steps: int,
                   probes: Mapping[str, Sequence[str]] | None = None) -> SimulationResult:
    """Run ``network`` on Lava's floating-point simulator (target ``"loihi2-sim-float"``)."""
    return _run_on("loihi2-sim-float", network, steps, probes)


def run_lava_fixed(network: Network, steps: int,
                   probes: Mapping[str, Sequence[str]] | None = None) -> SimulationResult:
    """Run ``network`` on Lava's fixed-point simulator (target ``"loihi2-sim-fixed"``, Loihi bit widths)."""
    return _run_on("loihi2-sim-fixed", network, steps, probes)
