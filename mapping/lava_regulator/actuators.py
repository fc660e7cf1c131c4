"""What the regulator process drives in a deployment: a regulated LIF and a gated LearningDense.

Subclasses of Lava's processes with one more ``InPort`` each, and float process
models built on Lava's own (nothing of Lava is patched):

* :class:`RegulatedLIF` is Lava's ``LIF`` with ``ctl_in`` (shape ``(2,)``):
  ``[vth, hold]`` from the regulator's ``act_out<j>`` port. Every step, before the
  LIF update, its model (:class:`PyRegulatedLifFloat`) takes ``vth`` as the threshold
  and, while ``hold`` is 1, withholds the step's spikes from its output record
  (``s_out`` still sends them: the network and the regulator see them).
* :class:`GatedLearningDense` is Lava's ``LearningDense`` with ``gate_in`` (shape
  ``(1,)``) from the regulator's ``gate_out``: its model
  (:class:`PyGatedLearningDenseFloat`) applies the rule's weight update of a step
  only when the gate it received in that step is 1; traces evolve all the time.

The regulator sends at the start of its step what the windows closed before that
step decided (:mod:`mapping.lava_regulator.process`), so a window completed at step
``s`` acts from step ``s + 1``, as in the numpy reference and Brian2.

Kept in this folder (not in :mod:`mapping.lava`): Lava looks for a process's
models by executing every module beside the process's file.
"""
from __future__ import annotations

import numpy as np

import mapping.lava  # noqa: F401  (first: imports Lava whatever multiprocessing start method is set)
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.process import LearningDense
from lava.proc.lif.models import AbstractPyLifModelFloat
from lava.proc.lif.process import LIF

from mapping.lava.models import DumpingLearningDenseFloat, _RecordOnStop


class RegulatedLIF(LIF):
    """Lava's ``LIF`` whose threshold and output hold come from the regulator (``ctl_in``: ``[vth, hold]``)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ctl_in = InPort(shape=(2,))


class GatedLearningDense(LearningDense):
    """Lava's ``LearningDense`` that learns only while the regulator's gate (``gate_in``) is 1."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gate_in = InPort(shape=(1,))


@implements(proc=RegulatedLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRegulatedLifFloat(_RecordOnStop, AbstractPyLifModelFloat):
    """Lava's float LIF update (``AbstractPyLifModelFloat``, as ``PyLifModelFloat``) with the
    threshold of ``ctl_in``; records emitted and withheld spikes apart (``held_indices``, ``held_steps``)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)
    ctl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

    def _nc_init(self):
        super()._nc_init()
        self._nc_held_idx, self._nc_held_steps = [], []

    def spiking_activation(self):
        return self.v > self.vth

    def run_spk(self):
        ctl = self.ctl_in.recv()
        self.vth = float(ctl[0])
        super().run_spk()
        spikes = self.s_out_buff
        if ctl[1] != 0 and spikes.any():
            idx = np.flatnonzero(spikes)
            self._nc_held_idx.append(idx)
            self._nc_held_steps.append(np.full(idx.size, self.time_step - 1, dtype=np.int64))
            self.s_out_buff = np.zeros_like(spikes)   # the output record gets none of them
            self._nc_record_step()
            self.s_out_buff = spikes
        else:
            self._nc_record_step()

    def _nc_extra(self) -> dict:
        def cat(parts):
            return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

        return {"held_indices": cat(self._nc_held_idx), "held_steps": cat(self._nc_held_steps)}


@implements(proc=GatedLearningDense, protocol=LoihiProtocol)
class PyGatedLearningDenseFloat(DumpingLearningDenseFloat):
    """Lava's float ``LearningDense`` model (as :class:`mapping.lava.models.DumpingLearningDenseFloat`)
    that skips the weight update of steps whose gate was 0."""

    # ``implements`` refuses a subclass of a model of another process unless this is reset here.
    implements_process = None
    gate_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)

    def run_spk(self):
        super().run_spk()
        self._nc_gate = bool(self.gate_in.recv()[0])

    def _apply_learning_rules(self, x_traces_history, y_traces_history):
        if self._nc_gate:
            super()._apply_learning_rules(x_traces_history, y_traces_history)
