"""Meta-regulator: event-driven monitor of spike density and energy, with policies.

- :mod:`neurochip.regulator.core`: pure window update on count arrays.
- :class:`MetaRegulator`: fit the normal band on a calibration run, detect on a run.
- :class:`BrianRegulator` / :func:`run_regulated`: the same update inside a Brian2 network.
- ``mapping.lava_regulator``: the same update as a Lava process.
"""
from neurochip.regulator.core import (HIGH, KINDS, LOW, RECOVERED, SILENCE, BandParams, RegulatorState,
                                      count_matrix, fit_band, run_windows, window_counts, window_step)
from neurochip.regulator.model import (POLICIES, MetaRegulator, RegulatorEvent, RegulatorLog,
                                       apply_recalibration, hold_outputs, regulator_cost)


def __getattr__(name):
    # The Brian2 component is imported lazily (brian2 code generation set-up is not needed otherwise).
    if name in ("BrianRegulator", "run_regulated"):
        from neurochip.regulator import brian

        return getattr(brian, name)
    raise AttributeError(f"module 'neurochip.regulator' has no attribute {name!r}")


__all__ = ["HIGH", "LOW", "SILENCE", "RECOVERED", "KINDS", "BandParams", "RegulatorState", "window_step",
           "window_counts", "count_matrix", "fit_band", "run_windows", "MetaRegulator", "RegulatorEvent",
           "RegulatorLog", "apply_recalibration", "hold_outputs", "regulator_cost", "POLICIES",
           "BrianRegulator", "run_regulated"]
