"""The meta-regulator as a Brian2 component attached to a built network.

No ``NetworkOperation`` and no per-step polling: every spike of a monitored
group reaches one regulator unit through ``Synapses`` (``on_pre: count_post += 1``,
zero delay), and a ``run_regularly`` operation with ``dt = W * dt`` closes each
window (the window update of :mod:`neurochip.regulator.core`, written as
Brian2 abstract code). An event is a spike of the regulator group
(``threshold: code > 0``), recorded by a ``SpikeMonitor`` with the event kind
and the window count.

Window ``w`` (steps ``[w W, (w+1) W)``) is closed at the start of step
``(w + 1) W`` (before thresholds, so its counts hold exactly the spikes of the
window) and its events are stamped ``(w + 1) W - 1``, as in the numpy
reference and the Lava process. A window that completes on the last step of
the run has no following step: :meth:`BrianRegulator.log` closes it from the
group's final state with :func:`~neurochip.regulator.core.window_step`.

:func:`attach` adds what acts (:mod:`neurochip.regulator.attached`): one
``NetworkOperation`` every ``W`` steps, in the ``before_thresholds`` slot right
after the window update, applies :func:`~neurochip.regulator.core.action_step` to
the regulator group's ``code``, ``wcount`` and ``alarm`` and sets the actuators
for the steps that follow: the ``vth`` of the monitored populations' groups (read
by their threshold in the same step), the shared ``gate`` of gated plastic
synapses (read by their weight update, ``after_synapses``) and the ``held`` flag
of the output relays. A relay is a group of the output's size fed by its spikes
(``nxt = 1 - held`` on a spike, zero delay, moved to ``pending`` before the next
step's thresholds); it spikes one step later, so the
output the network emits is the relay's spikes shifted back one step (and the
pending ones after the last step): the spikes of held steps never leave it.
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from neurochip._brian import building
from neurochip._validation import describe
from neurochip.regulator.core import RegulatorState, window_step
from neurochip.regulator.model import MetaRegulator, RegulatorLog
from neurochip.results import Spikes

REGULATOR_MODEL = """
count : integer
wcount : integer
code : integer
run_high : integer
run_low : integer
run_zero : integer
run_ok : integer
alarm : integer
nwin : integer
low : 1 (constant)
high : 1 (constant)
silence_windows : integer (constant)
persist : integer (shared, constant)
warmup : integer (shared, constant)
"""

# The update of neurochip.regulator.core.window_step, branch-free. Call ``nwin`` closes
# window ``nwin - 1``; ``ev`` is 0 on the first call (t = 0, no window) and for the
# ``warmup`` windows, which are closed (count reset) without being judged.
WINDOW_UPDATE = """
ev = int(nwin > warmup)
above = int(count > high) * ev
below = int(count < low) * ev
zero = int(count == 0) * ev
run_high = (run_high + 1) * above + run_high * (1 - ev)
run_low = (run_low + 1) * below + run_low * (1 - ev)
run_zero = (run_zero + 1) * zero + run_zero * (1 - ev)
ok = (1 - above) * (1 - below) * (1 - zero * int(alarm == 3)) * ev
run_ok = (run_ok + 1) * ok + run_ok * (1 - ev)
is_high = int(run_high >= persist)
is_silent = int(run_zero >= silence_windows)
is_low = int(run_low >= persist)
kind = is_high + (1 - is_high) * (3 * is_silent + (1 - is_silent) * 2 * is_low)
new_alarm = int(kind != 0) * int(kind != alarm) * ev
recovered = (1 - new_alarm) * int(alarm != 0) * int(run_ok >= persist) * ev
code = new_alarm * kind + recovered * 4
alarm = new_alarm * kind + (1 - new_alarm) * (1 - recovered) * alarm
wcount = count
count = 0
nwin = nwin + 1
"""


class BrianRegulator:
    """Attach a fitted :class:`MetaRegulator` to a built Brian2 model.

    Parameters
    ----------
    model : neurochip.brian_backend.BrianModel
        From :func:`neurochip.brian_backend.build`; the regulator's objects are added
        to ``model.brian``. Run the model with ``model.brian.run(steps * dt, namespace={})``
        (inside ``with model.seeded():`` when it has noisy memristive devices).
    regulator : MetaRegulator
        Fitted on a calibration run of the same network.

    Examples
    --------
    >>> from neurochip.brian_backend import build, collect   # doctest: +SKIP
    >>> model = build(net); reg = BrianRegulator(model, MetaRegulator().fit(net, calib))
    >>> model.brian.run(1000 * net.dt, namespace={}); log = reg.log()
    """

    def __init__(self, model, regulator: MetaRegulator):
        if not isinstance(regulator, MetaRegulator):
            raise ValueError(f"BrianRegulator: regulator should be a MetaRegulator, got {describe(regulator)}")
        regulator._check_fitted()
        for p, n in zip(regulator.populations_, regulator.sizes_):
            if p not in model.groups:
                raise ValueError(f"BrianRegulator: the Brian2 model has no group for {p!r}")
            if len(model.groups[p]) != n:
                raise ValueError(f"BrianRegulator: {p!r} has {len(model.groups[p])} neurons in the model "
                                 f"but {n} in calibration")
        self.model = model
        self.regulator = regulator
        dt = model.network.dt
        n = len(regulator.populations_)
        band = regulator.band_
        g = b2.NeuronGroup(n, REGULATOR_MODEL, threshold="code > 0", reset="code = 0", dt=dt,
                           name="neurochip_regulator")
        g.low = band.low
        g.high = band.high
        g.silence_windows = band.silence_windows
        g.persist = band.persist
        g.warmup = regulator.warmup_windows
        g.run_regularly(WINDOW_UPDATE, dt=band.window * dt, when="before_thresholds",
                        name="neurochip_regulator_window")
        self.group = g
        self.synapses = []
        for k, p in enumerate(regulator.populations_):
            syn = b2.Synapses(model.groups[p], g, on_pre="count_post += 1", dt=dt,
                              name=f"neurochip_regsyn{k}")
            syn.connect(i=np.arange(len(model.groups[p])), j=np.full(len(model.groups[p]), k))
            self.synapses.append(syn)
        self.monitor = b2.SpikeMonitor(g, variables=["code", "wcount"], name="neurochip_regmon")
        model.brian.add(g, *self.synapses, self.monitor)

    def log(self) -> RegulatorLog:
        """Events so far (call after the run; closes a window completed on the last step)."""
        reg = self.regulator
        dt_s = float(self.model.network.dt / b2.second)
        n_steps = int(round(float(self.model.brian.t / b2.second) / dt_s))
        W = reg.window
        if len(self.monitor.t):
            steps = np.round(np.asarray(self.monitor.t_) / dt_s).astype(np.int64) - 1
            table = np.column_stack([steps, np.asarray(self.monitor.i, dtype=np.int64),
                                     np.asarray(self.monitor.code, dtype=np.int64),
                                     np.asarray(self.monitor.wcount, dtype=np.int64)])
        else:
            table = np.zeros((0, 4), dtype=np.int64)
        if n_steps > 0 and n_steps % W == 0 and n_steps // W - 1 >= reg.warmup_windows:
            g = self.group
            state = RegulatorState(*(np.asarray(getattr(g, f), dtype=np.int64).copy()
                                     for f in RegulatorState._fields))
            event, _ = window_step(state, reg.band_)
            p = np.nonzero(event)[0]
            extra = np.column_stack([np.full(p.size, n_steps - 1), p, event[p], state.count[p]])
            table = np.vstack([table, extra])
        return reg.make_log(table, n_steps=n_steps, backend="brian2")


#: Brian2 model of an output relay (see the module docstring).
RELAY_MODEL = """
pending : integer
nxt : integer
held : integer (shared)
"""


class BrianAttachment:
    """A fitted regulator attached to a built Brian2 model, acting during its run (use :func:`attach`)."""

    def __init__(self, model, regulator: MetaRegulator):
        from neurochip.regulator.attached import Actuation, check_attachable

        net = model.network
        check_attachable(regulator, net, "neurochip.simulate")
        self.model = model
        self.listener = BrianRegulator(model, regulator)
        self.actuation = Actuation(regulator, net)
        dt = model.network.dt
        W = regulator.window
        g = self.listener.group
        self.relays = {}
        for k, name in enumerate(self.actuation.outputs):
            src = model.groups[name]
            relay = b2.NeuronGroup(len(src), RELAY_MODEL, threshold="pending > 0", reset="pending = 0", dt=dt,
                                   name=f"neurochip_hold{k}")
            # resets run after synapses: the feed writes nxt, moved to pending before the thresholds
            relay.run_regularly("pending = nxt\nnxt = 0", dt=dt, when="before_thresholds",
                                name=f"neurochip_hold{k}_shift")
            feed = b2.Synapses(src, relay, on_pre="nxt_post = 1 - held_post", dt=dt,
                               name=f"neurochip_holdsyn{k}")
            feed.connect(i=np.arange(len(src)), j=np.arange(len(src)))
            monitor = b2.SpikeMonitor(relay, name=f"neurochip_holdmon{k}")
            self.relays[name] = (relay, monitor)
            model.brian.add(relay, feed, monitor)
        self.steps_run = 0

        def act(t):
            step = int(round(float(t / dt)))
            if step == 0:
                return   # no window closed yet
            rows = self.actuation.close(step, np.asarray(g.code[:]), np.asarray(g.wcount[:]),
                                        np.asarray(g.alarm[:]))
            self._apply(rows)

        self.operation = b2.NetworkOperation(act, dt=W * dt, when="before_thresholds", order=1,
                                             name="neurochip_regulator_act")
        model.brian.add(self.operation)

    def _apply(self, rows) -> None:
        from neurochip.regulator.core import GATE, HOLD, VTH

        names = self.actuation.regulator.populations_
        for _, code, index, value in rows:
            if code == VTH:
                self.model.groups[names[index]].vth = value
            elif code == GATE:
                for proj in self.actuation.gated:
                    self.model.synapses[proj].gate = value
            elif code == HOLD:
                for relay, _ in self.relays.values():
                    relay.held = int(value)

    def finish(self, result) -> None:
        """Put the emitted outputs in ``result.spikes`` and the regulator's record in ``result.info``."""
        from neurochip.regulator.attached import run_info

        dt_s = float(self.model.network.dt / b2.second)
        held = {}
        for name, (relay, monitor) in self.relays.items():
            steps = np.round(np.asarray(monitor.t_) / dt_s).astype(np.int64) - 1
            idx = np.asarray(monitor.i, dtype=np.int64)
            last = np.nonzero(np.asarray(relay.nxt[:]) > 0)[0] if result.steps else np.zeros(0, np.int64)
            emitted = Spikes.sorted(np.concatenate([idx, last]),
                                    np.concatenate([steps, np.full(last.size, result.steps - 1)]))
            raw = result.spikes[name]
            keep = _member(raw, emitted)
            result.spikes[name] = Spikes(raw.indices[keep], raw.steps[keep])
            held[name] = Spikes(raw.indices[~keep], raw.steps[~keep])
        reg = self.actuation.regulator
        result.info["regulator"] = run_info(reg, self.model.network, self.listener.log(), self.actuation.rows,
                                            result.steps, held=held)


def _member(raw: Spikes, emitted: Spikes) -> np.ndarray:
    """Which of ``raw``'s spikes are in ``emitted`` (boolean mask over ``raw``)."""
    size = int(max(raw.indices.max(initial=-1), emitted.indices.max(initial=-1))) + 1
    return np.isin(raw.steps * size + raw.indices, emitted.steps * size + emitted.indices)


@building  # set-up code (connect) for numpy: it runs once (issue 12)
def attach(model, regulator: MetaRegulator) -> BrianAttachment:
    """Attach a fitted regulator to a built model (:func:`neurochip.brian_backend.build`) so that it
    acts during the run; call :meth:`BrianAttachment.finish` on the collected result.

    :func:`neurochip.simulate` with ``regulator=`` does all of it.
    """
    return BrianAttachment(model, regulator)
