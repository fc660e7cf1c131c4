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
from lava.proc.lif.models import PyLifModelBitAcc, PyLifModelFloat


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
        tmp = self._nc_path + ".part.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self._nc_path)

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


class DumpingLearningDenseFloat(_RecordOnStop, PyLearningDenseModelFloat):
    """Lava's floating-point ``LearningDense`` model; writes its weights on STOP."""


class DumpingLearningDenseFixed(_RecordOnStop, PyLearningDenseModelBitApproximate):
    """Lava's fixed-point ``LearningDense`` model; writes its weights on STOP."""
