"""sensors: nanosensor digital twin, domain randomization, datasets and ADC-free spike encoders.

- :mod:`sensors.physics` -- pure step functions (Langmuir, transport, noise, drift) on SI arrays.
- :mod:`sensors.twin` -- :class:`SensorArray` (unit-checked API), concentration profiles, faults.
- :mod:`sensors.randomization` -- :class:`RandomizationSpec` of parameter distributions.
- :mod:`sensors.dataset` -- :class:`Dataset`, :func:`make_dataset`, :func:`load_csv`.
- :mod:`sensors.gas_drift` -- :func:`load_gas_drift`, the recorded UCI gas-sensor drift batches.
- :mod:`sensors.encoders` -- delta (level crossing), rate, latency and population encoders.
- :mod:`sensors.codesign` -- encoder threshold sweeps against the sensor noise floor.
- :mod:`sensors.calibration` -- the metal-oxide gas-array twin calibrated to recordings (:class:`GasArrayTwin`,
  :func:`calibrate_gas_twin`, :func:`calibration_report`: KS / MMD before and after).
- :mod:`sensors.tasks` -- few-shot task samplers (:class:`TwinTaskSampler`, :class:`SensorTaskSampler`,
  :class:`GasDriftTaskSampler`: drift tasks of the calibrated gas twin, :class:`DriftSpec` drift kinds).
"""
from sensors.dataset import CSVFormatError, Dataset, load_csv, make_dataset, steady_state_features
from sensors.encoders import (DeltaEncoder, EncodingReport, LatencyEncoder, PopulationEncoder, RateEncoder,
                              delta_encode, hold, resample)
from sensors.randomization import (Constant, DriftSpec, LogNormal, LogUniform, Normal, RandomizationSpec, Uniform,
                                   default_shifted, default_train, sample_task)
from sensors.twin import (FAULT_KINDS, Conditions, Fault, Pulse, Ramp, SensorArray, Step, fault_mask,
                          inject_faults, render_profiles)
from sensors.gas_drift import GAS_DRIFT_GASES, GasDriftBatch, load_gas_drift
from sensors.tasks import DriftTask, GasDriftTaskSampler, SensorTaskSampler, Task, TwinTaskSampler
from sensors.calibration import GasArrayTwin, calibrate_gas_twin, calibration_report, default_gas_twin

__all__ = [
    "CSVFormatError", "Dataset", "load_csv", "make_dataset", "steady_state_features",
    "DeltaEncoder", "EncodingReport", "LatencyEncoder", "PopulationEncoder", "RateEncoder", "delta_encode",
    "hold", "resample",
    "Constant", "DriftSpec", "LogNormal", "LogUniform", "Normal", "RandomizationSpec", "Uniform", "default_shifted",
    "default_train", "sample_task",
    "FAULT_KINDS", "Conditions", "Fault", "Pulse", "Ramp", "SensorArray", "Step", "fault_mask", "inject_faults",
    "render_profiles",
    "GAS_DRIFT_GASES", "GasDriftBatch", "load_gas_drift",
    "DriftTask", "GasDriftTaskSampler", "SensorTaskSampler", "Task", "TwinTaskSampler",
    "GasArrayTwin", "calibrate_gas_twin", "calibration_report", "default_gas_twin",
]
