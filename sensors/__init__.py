"""sensors: nanosensor digital twin, domain randomization, datasets and ADC-free spike encoders.

- :mod:`sensors.physics` -- pure step functions (Langmuir, transport, noise, drift) on SI arrays.
- :mod:`sensors.twin` -- :class:`SensorArray` (unit-checked API), concentration profiles, faults.
- :mod:`sensors.randomization` -- :class:`RandomizationSpec` of parameter distributions.
- :mod:`sensors.dataset` -- :class:`Dataset`, :func:`make_dataset`, :func:`load_csv`.
- :mod:`sensors.gas_drift` -- :func:`load_gas_drift`, the recorded UCI gas-sensor drift batches.
- :mod:`sensors.encoders` -- delta (level crossing), rate, latency and population encoders.
- :mod:`sensors.codesign` -- encoder threshold sweeps against the sensor noise floor.
- :mod:`sensors.tasks` -- few-shot task samplers (:class:`TwinTaskSampler`, :class:`SensorTaskSampler`).
"""
from sensors.dataset import CSVFormatError, Dataset, load_csv, make_dataset, steady_state_features
from sensors.encoders import (DeltaEncoder, EncodingReport, LatencyEncoder, PopulationEncoder, RateEncoder,
                              delta_encode, hold, resample)
from sensors.randomization import (Constant, LogNormal, LogUniform, Normal, RandomizationSpec, Uniform,
                                   default_shifted, default_train, sample_task)
from sensors.twin import (FAULT_KINDS, Conditions, Fault, Pulse, Ramp, SensorArray, Step, fault_mask,
                          inject_faults, render_profiles)
from sensors.gas_drift import GAS_DRIFT_GASES, GasDriftBatch, load_gas_drift
from sensors.tasks import SensorTaskSampler, Task, TwinTaskSampler

__all__ = [
    "CSVFormatError", "Dataset", "load_csv", "make_dataset", "steady_state_features",
    "DeltaEncoder", "EncodingReport", "LatencyEncoder", "PopulationEncoder", "RateEncoder", "delta_encode",
    "hold", "resample",
    "Constant", "LogNormal", "LogUniform", "Normal", "RandomizationSpec", "Uniform", "default_shifted",
    "default_train", "sample_task",
    "FAULT_KINDS", "Conditions", "Fault", "Pulse", "Ramp", "SensorArray", "Step", "fault_mask", "inject_faults",
    "render_profiles",
    "GAS_DRIFT_GASES", "GasDriftBatch", "load_gas_drift",
    "SensorTaskSampler", "Task", "TwinTaskSampler",
]
