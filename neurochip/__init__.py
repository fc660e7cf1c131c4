"""neurochip: spiking networks from nanosensor digital twins to Loihi-style chips.

The network description (:class:`Network`, :class:`Population`,
:class:`SpikeSource`, :class:`Projection`) is plain data; backends run it:
:func:`simulate` (Brian2), :func:`neurochip.reference.simulate` (numpy
reference) and the Lava mapper in :mod:`mapping`.

The names below are imported on first use (PEP 562), so that ``import
neurochip`` (and the ``neurochip`` command's ``list``, ``versions``, ``--help``)
does not import Brian2.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {"Network": "neurochip.network", "Population": "neurochip.network", "Projection": "neurochip.network",
         "SpikeSource": "neurochip.network", "SimulationResult": "neurochip.results",
         "Spikes": "neurochip.results", "compare_spikes": "neurochip.results",
         "to_nir": "neurochip.nir", "from_nir": "neurochip.nir"}

__all__ = ["Network", "Population", "Projection", "SpikeSource", "SimulationResult", "Spikes",
           "compare_spikes", "simulate", "to_nir", "from_nir"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurochip' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY})


def simulate(net, steps, probes=None, **kwargs):
    """Run ``net`` with the Brian2 backend (see :func:`neurochip.brian_backend.simulate`)."""
    from neurochip.brian_backend import simulate as _simulate

    return _simulate(net, steps, probes, **kwargs)
