"""Lava ProcessModels that record in the child process and ship results in bulk.

Reading a Lava ``Var`` back moves one value per message (about 60,000 values
per second, see DESIGN.md). These models subclass Lava's own LIF and
LearningDense models, change nothing in their computation, and add:

* spike events ``(index, step)`` appended in the child at every step;
* optional state traces (``u``, ``v``) copied at the end of every step;
* on the STOP command, one ``numpy.savez`` of everything to a file named in
  the process parameters (``nc_record``), before the child acknowledges the
  stop. The parent reads the file after the stop returns.

Lava time step ``t`` (1-based) is neurochip step ``t - 1``.
"""
from __future__ import annotations

import os

import numpy as np
from lava.proc.dense.models import (
    PyLearningDenseModelBitApproximate,
    PyLearningDenseModelFloat,
)
from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
from lava.magma.core.learning.random import TraceRandom
from lava.magma.core.model.py.connection import LearningConnectionModelBitApproximate as _BitApprox
from lava.proc.lif.models import (PyLearningLifModelFloat, PyLearningLIFModelFixed, PyLifModelBitAcc,
                                  PyLifModelFloat)


class _RecordOnStop:
    """Mixin (before the Lava model in the bases): write recorded data once on STOP."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._nc_init()

    def _nc_init(self):
        params = self.proc_params
        self._nc_path = params.get("nc_record", None)
        self._nc_spikes = bool(params.get("nc_spikes", False))
        self._nc_probe = tuple(params.get("nc_probe", ()))
        self._nc_dump = tuple(params.get("nc_dump", ()))
        self._nc_idx = []
        self._nc_steps = []
        self._nc_traces = {var: [] for var in self._nc_probe}

    def _nc_record_step(self):
        if self._nc_spikes:
            idx = np.flatnonzero(self.s_out_buff)
            if idx.size:
                self._nc_idx.append(idx)
                self._nc_steps.append(np.full(idx.size, self.time_step - 1, dtype=np.int64))
        for var, values in self._nc_traces.items():
            values.append(np.array(getattr(self, var), dtype=np.float64, copy=True))

    def _nc_write(self):
        if not self._nc_path:
            return
        arrays = {}
        if self._nc_spikes:
            arrays["indices"] = (np.concatenate(self._nc_idx) if self._nc_idx
                                 else np.zeros(0, np.int64)).astype(np.int64)
            arrays["steps"] = (np.concatenate(self._nc_steps) if self._nc_steps
                               else np.zeros(0, np.int64))
        for var, values in self._nc_traces.items():
            arrays["trace_" + var] = np.stack(values) if values else np.zeros((0, 0))
        for var in self._nc_dump:
            arrays["var_" + var] = np.array(getattr(self, var), dtype=np.float64)
        arrays.update(self._nc_extra())
        tmp = self._nc_path + ".part.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self._nc_path)

    def _nc_extra(self) -> dict:
        """Further arrays a subclass writes (e.g. :mod:`mapping.lava_regulator.actuators`)."""
        return {}

    def _stop(self):
        # Write before acknowledging STOP: once the parent's stop returns, the file exists.
        self._nc_write()
        super()._stop()


class _RecordEveryStep(_RecordOnStop):
    """Mixin: also record spikes and traces after every step."""

    def run_spk(self):
        super().run_spk()
        self._nc_record_step()


class RecordingLifFloat(_RecordEveryStep, PyLifModelFloat):
    """Lava's floating-point LIF (``PyLifModelFloat``) plus bulk spike/trace recording."""


class RecordingLifFixed(_RecordEveryStep, PyLifModelBitAcc):
    """Lava's bit-accurate fixed-point LIF (``PyLifModelBitAcc``) plus bulk recording."""


class LabelTraceLifFloat(_RecordEveryStep, PyLearningLifModelFloat):
    """Lava's floating-point ``LearningLIF`` that owns the post traces of a Loihi3F rule.

    Lava 0.10's float ``LearningLIF`` model sends nothing on its trace ports.
    This one, after the LIF step, updates and sends every step (the order of
    neurochip's numpy / Brian2 rule, so the synapse sees this step's traces)::

        y1 = y1 * exp(-1/y1_tau) + y1_impulse * spikes        (y2 alike)
        y3 = y3 * exp(-1/y3_tau) + y3_impulse * third_factor  (events on a_third_factor_in)

    plus the spikes on ``s_out_bap``. The impulses and time constants come from
    the process parameter ``learning_rule`` (a ``Loihi2FLearningRule`` holding
    the rule's y settings).
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        rule = proc_params["learning_rule"]
        self._nc_y_decay = np.exp(-1.0 / np.array([rule.y1_tau, rule.y2_tau, rule.y3_tau], dtype=float))
        self._nc_y_impulse = np.array([rule.y1_impulse, rule.y2_impulse, rule.y3_impulse], dtype=float)

    def run_spk(self):
        super().run_spk()
        third = self.a_third_factor_in.recv()
        spikes = np.asarray(self.s_out_buff, dtype=float)
        d, i = self._nc_y_decay, self._nc_y_impulse
        self.y1 = self.y1 * d[0] + i[0] * spikes
        self.y2 = self.y2 * d[1] + i[1] * spikes
        self.y3 = self.y3 * d[2] + i[2] * third
        self.s_out_bap.send(np.asarray(self.s_out_buff, dtype=bool))
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2)
        self.s_out_y3.send(self.y3)


class DumpingLearningDenseFloat(_RecordOnStop, PyLearningDenseModelFloat):
    """Lava's floating-point ``LearningDense`` model; writes its weights on STOP.

    With a ``Loihi3FLearningRule`` the post traces arrive from the neuron
    (:class:`LabelTraceLifFloat`) already updated for this step; Lava's float
    model would still decay them once more with its 3F placeholder time
    constant (65535 steps, a relative error of 1.5e-5 per use). Here they are
    used as received (time constant infinite: ``exp(-1/inf) = 1`` exactly).
    """

    def _store_impulses_and_taus(self):
        super()._store_impulses_and_taus()
        from lava.magma.core.learning.learning_rule import Loihi3FLearningRule

        if isinstance(self._learning_rule, Loihi3FLearningRule):
            self._y_taus = np.full(3, np.inf)


class LabelTraceLifFixed(_RecordEveryStep, PyLearningLIFModelFixed):
    """Lava's fixed-point ``LearningLIF`` that owns the integer post traces of a Loihi3F rule.

    Lava 0.10's fixed-point ``LearningLIF`` model sends nothing on its trace
    ports. This one, after the bit-accurate LIF step, updates the 7-bit traces
    with the arithmetic of Lava's fixed-point learning engine (its own
    ``_decay_trace`` / ``_add_impulse``: stochastic rounding with one random number
    per step) and sends them with the spikes::

        y1 = add_impulse(decay(y1), spikes)            (y2 alike)
        y3 = add_impulse(decay(y3), third_factor)      (events on a_third_factor_in)

    The random numbers are those a Loihi2F ``LearningDense`` uses for its y
    traces: ``TraceRandom(rng_seed + 2, rng_seed + 3)``, advanced twice per step.
    Impulses (trace units), integer time constants and ``rng_seed`` come from the
    process parameter ``learning_rule`` (a ``Loihi2FLearningRule``).
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        rule = proc_params["learning_rule"]
        self._nc_taus = np.array([rule.y1_tau, rule.y2_tau, rule.y3_tau])
        self._nc_imp_int, self._nc_imp_frac = _BitApprox._decompose_impulses(
            np.array([rule.y1_impulse, rule.y2_impulse, rule.y3_impulse], dtype=float))
        self._nc_random = TraceRandom(seed_trace_decay=rule.rng_seed + 2, seed_impulse_addition=rule.rng_seed + 3)

    def run_spk(self):
        super().run_spk()
        third = np.asarray(self.a_third_factor_in.recv()) > 0
        spikes = np.asarray(self.s_out_buff, dtype=bool)
        self._nc_random.advance()
        self._nc_random.advance()
        r_decay, r_imp = self._nc_random.random_trace_decay, self._nc_random.random_impulse_addition
        traces = np.stack([self.y1, self.y2, self.y3]).astype(int)
        decayed = _BitApprox._decay_trace(traces, 1, self._nc_taus[:, None], r_decay)
        for n, events in enumerate((spikes, spikes, third)):
            decayed[n, events] = _BitApprox._add_impulse(decayed[n, events], r_imp, self._nc_imp_int[n],
                                                         self._nc_imp_frac[n])
        self.y1, self.y2, self.y3 = (decayed[n].astype(np.int32) for n in range(3))
        self.s_out_bap.send(spikes)
        self.s_out_y1.send(self.y1)
        self.s_out_y2.send(self.y2)
        self.s_out_y3.send(self.y3)


class DumpingLearningDenseFixed(_RecordOnStop, PyLearningDenseModelBitApproximate):
    """Lava's fixed-point ``LearningDense`` model (``PyLearningDenseModelBitApproximate``); writes its weights on STOP.

    With a ``Loihi3FLearningRule`` the post traces arrive from the neuron
    (:class:`LabelTraceLifFixed`) already updated for this step; Lava's model
    would decay them once more with its 3F placeholder time constant (65535
    steps: a trace loses one unit with probability about ``y / 65535`` per step).
    Here they are used as received (infinite time constant: ``exp(-1/inf) = 1``,
    no fraction, nothing rounded), as in :class:`DumpingLearningDenseFloat`.
    Everything else is Lava's model unchanged.
    """

    def _store_impulses_and_taus(self):
        super()._store_impulses_and_taus()
        if isinstance(self._learning_rule, Loihi3FLearningRule):
            self._y_taus = np.full(3, np.inf)
