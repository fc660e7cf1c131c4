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
"""
from __future__ import annotations

import brian2 as b2
import numpy as np

from neurochip._brian import building as _building, choose_target, run_network
from neurochip._validation import describe
from neurochip.regulator.core import RegulatorState, window_step
from neurochip.regulator.model import MetaRegulator, RegulatorLog

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


@_building  # set-up code (connect) for numpy: it runs once (issue 12)
def run_regulated(net, regulator: MetaRegulator, steps: int, *, codegen_target: str | None = None):
    """Build ``net`` in Brian2 with the regulator attached, run ``steps`` steps.

    Returns ``(SimulationResult, RegulatorLog)``.
    """
    import time

    from neurochip.brian_backend import build, collect
    from neurochip.reference import check_steps

    start = time.perf_counter()
    steps = check_steps(steps)
    model = build(net)
    reg = BrianRegulator(model, regulator)
    old = b2.prefs.codegen.target
    try:
        if codegen_target is not None:
            b2.prefs.codegen.target = codegen_target
        with model.seeded():  # every Brian2 run is checked (issue 12)
            target = run_network(model.brian, steps * net.dt, codegen_target=codegen_target) if steps else \
                choose_target(codegen_target)
    finally:
        b2.prefs.codegen.target = old
    result = collect(model, steps, time.perf_counter() - start)
    result.backend = f"brian2-{target}"
    return result, reg.log()
