"""Meta-regulator: event-driven monitor of spike density and energy, with policies that act during a run.

- :mod:`neurochip.regulator.core`: pure window update on count arrays, and the policy's action step.
- :class:`MetaRegulator`: fit the normal band on a calibration run, detect on a run (replay).
- :mod:`neurochip.regulator.drift`: :class:`DriftDetector`, a class-conditional CUSUM on a per-sample
  spike statistic of a readout (drift on recorded streams, where spike density does not move).
- :mod:`neurochip.regulator.attached`: the regulator attached to a run (``regulator=`` of
  ``neurochip.reference.simulate``, ``neurochip.simulate`` and ``mapping.compile``): thresholds,
  plasticity gate, output hold, and ``result.info["regulator"]``.
- :class:`BrianRegulator` / :func:`attach`: the same in a Brian2 network; :func:`run_regulated`: a Brian2 run with it.
- ``mapping.lava_regulator``: the same update as a Lava process, driving a deployment.
"""
from neurochip.regulator.core import (ACTUATORS, GATE, HIGH, HOLD, KINDS, LOW, RECOVERED, SILENCE, VTH, ActionParams,
                                      ActionState, BandParams, RegulatorState, action_changes, action_step, count_matrix,
                                      fit_band, run_windows, threshold_factor, window_counts, window_step)
from neurochip.regulator.drift import (DriftDetector, DriftLog, DriftParams, DriftState, drift_step,
                                       out_of_fold_statistic, readout_statistic)
from neurochip.regulator.model import (POLICIES, MetaRegulator, RegulatorEvent, RegulatorLog,
                                       apply_recalibration, hold_outputs, raw_spikes, regulator_cost)


def run_regulated(net, regulator: MetaRegulator, steps: int, *, codegen_target: str | None = None):
    """Run ``net`` in Brian2 with the regulator attached (:func:`neurochip.simulate` with ``regulator=``).

    Returns ``(SimulationResult, RegulatorLog)``.
    """
    from neurochip.brian_backend import simulate

    result = simulate(net, steps, codegen_target=codegen_target, regulator=regulator)
    return result, RegulatorLog.from_dict(result.info["regulator"]["log"])


def __getattr__(name):
    # The Brian2 component is imported lazily (brian2 code generation set-up is not needed otherwise).
    if name in ("BrianRegulator", "BrianAttachment", "attach"):
        from neurochip.regulator import brian

        return getattr(brian, name)
    raise AttributeError(f"module 'neurochip.regulator' has no attribute {name!r}")


__all__ = ["HIGH", "LOW", "SILENCE", "RECOVERED", "KINDS", "VTH", "GATE", "HOLD", "ACTUATORS", "BandParams",
           "RegulatorState", "ActionParams", "ActionState", "window_step", "action_step", "action_changes",
           "threshold_factor", "window_counts", "count_matrix", "fit_band", "run_windows", "MetaRegulator",
           "RegulatorEvent", "RegulatorLog", "apply_recalibration", "hold_outputs", "raw_spikes", "regulator_cost",
           "POLICIES", "DriftDetector", "DriftLog", "DriftParams", "DriftState", "drift_step",
           "out_of_fold_statistic", "readout_statistic", "BrianRegulator", "BrianAttachment", "attach", "run_regulated"]
