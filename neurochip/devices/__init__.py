"""Memristive device models: pure step functions, thin classes, presets, weight mapping, plots.

* :mod:`~neurochip.devices.functional`: programming / read step functions on arrays.
* :mod:`~neurochip.devices.model`: :class:`DeviceModel` (what ``Projection(device=...)``
  holds), :class:`LinearDevice`, :class:`SoftBoundedDevice`, :class:`PCMDevice`,
  :class:`DeviceArray`.
* :mod:`~neurochip.devices.presets`: ``ideal``, ``ag_a_si``, ``pcm`` with sources.
* :mod:`~neurochip.devices.mapping`: float weights <-> quantized conductance pairs.
* :mod:`~neurochip.devices.brian`: Brian2 synapses and the learning-rule contract.
* :mod:`~neurochip.devices.plots`: pulse response, conductance histogram, drift.
"""
from neurochip.devices import functional, presets
from neurochip.devices.mapping import (WeightMapping, conductances_to_weights, map_weights, mapping_error,
                                       weights_to_conductances)
from neurochip.devices.model import DeviceArray, DeviceModel, LinearDevice, PCMDevice, SoftBoundedDevice

__all__ = ["functional", "presets", "DeviceModel", "LinearDevice", "SoftBoundedDevice", "PCMDevice",
           "DeviceArray", "WeightMapping", "map_weights", "mapping_error", "weights_to_conductances",
           "conductances_to_weights"]
