"""neurochip: spiking networks from nanosensor digital twins to Loihi-style chips.

The network description (:class:`Network`, :class:`Population`,
:class:`SpikeSource`, :class:`Projection`) is plain data; backends run it:
:func:`simulate` (Brian2), :func:`neurochip.reference.simulate` (numpy
reference) and the Lava mapper in :mod:`mapping`.
"""
from neurochip.network import Network, Population, Projection, SpikeSource
from neurochip.results import SimulationResult, Spikes, compare_spikes

__version__ = "0.1.0"

__all__ = ["Network", "Population", "Projection", "SpikeSource", "SimulationResult", "Spikes",
           "compare_spikes", "simulate"]


def simulate(net, steps, probes=None, **kwargs):
    """Run ``net`` with the Brian2 backend (see :func:`neurochip.brian_backend.simulate`)."""
    from neurochip.brian_backend import simulate as _simulate

    return _simulate(net, steps, probes, **kwargs)
