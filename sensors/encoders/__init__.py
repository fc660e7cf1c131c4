"""ADC-free spike encoders: numpy references and Brian2 models with identical spikes.

Four encoders, scikit-learn style (``__init__`` stores, ``fit`` sets fitted
attributes ending in ``_``, ``transform`` encodes), one module each:

- :class:`DeltaEncoder` (:mod:`~sensors.encoders.delta`) -- send-on-delta / level
  crossing with UP and DOWN channels (no ADC: a comparator pair against a
  tracked reference level).
- :class:`RateEncoder` (:mod:`~sensors.encoders.rate`) -- Poisson (Bernoulli per
  step) rate code, seeded.
- :class:`LatencyEncoder` (:mod:`~sensors.encoders.latency`) -- time to first
  spike of a non-leaky integrator.
- :class:`PopulationEncoder` (:mod:`~sensors.encoders.population`) -- Gaussian
  receptive fields for feature vectors (those of :mod:`neurochip.encoding`),
  each field firing once at a latency set by its activation.

:mod:`~sensors.encoders.base` holds what they share: input checks, :func:`hold`,
:func:`resample`, :class:`EncodingReport` and the Brian2 run. ``transform`` runs
the numpy reference, ``transform_brian`` the Brian2 model; both return a
:class:`neurochip.SpikeSource` (a list of them for a batch), and they return
identical spikes.
"""
from sensors.encoders.base import (EXACT_COMPILE_ARGS, EncodingReport, events_to_raster, hold, raster_to_sources,
                                   resample, sources_to_raster)
from sensors.encoders.delta import DeltaEncoder, delta_encode
from sensors.encoders.latency import LatencyEncoder
from sensors.encoders.population import PopulationEncoder
from sensors.encoders.rate import RateEncoder

ENCODERS = {"delta": DeltaEncoder, "rate": RateEncoder, "latency": LatencyEncoder,
            "population": PopulationEncoder}

__all__ = ["EXACT_COMPILE_ARGS", "ENCODERS", "EncodingReport", "DeltaEncoder", "RateEncoder", "LatencyEncoder",
           "PopulationEncoder", "delta_encode", "events_to_raster", "hold", "raster_to_sources", "resample",
           "sources_to_raster"]
