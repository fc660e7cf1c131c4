"""The meta-regulator estimator, its event log, policies and cost.

:class:`MetaRegulator` follows scikit-learn's split: ``__init__`` stores the
configuration, :meth:`MetaRegulator.fit` learns the normal band from a
calibration run (attributes ending in ``_``), :meth:`MetaRegulator.detect`
replays a run through the pure window update of :mod:`neurochip.regulator.core`
and returns a :class:`RegulatorLog`. The Brian2 component
(:class:`neurochip.regulator.brian.BrianRegulator`) and the Lava process
(``mapping.lava_regulator``) take a fitted regulator and produce the same log
from inside a running network.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from brian2 import joule, second

from neurochip._validation import check_float, check_int, describe
from neurochip.energy import LOIHI1, EnergyProfile, fan_out
from neurochip.network import Network
from neurochip.regulator.core import (HIGH, KINDS, LOW, RECOVERED, SILENCE, ActionParams, ActionState,
                                      BandParams, RegulatorState, count_matrix, fit_band, run_windows,
                                      threshold_factor)
from neurochip.results import SimulationResult, Spikes

#: ``safe_mode``: alarms hold the outputs; ``recalibrate``: high / low scale a population's
#: threshold; ``learn``: alarms only open the plasticity gate (which every policy drives).
POLICIES = ("safe_mode", "recalibrate", "learn")


@dataclass
class RegulatorEvent:
    """One entry of the regulator's log.

    ``step`` is the last step of the window that raised it, ``time`` its start
    time in seconds (``step * dt``); ``count`` the window's spike count,
    ``density`` spikes per neuron per second, ``energy`` the window's energy
    estimate (J); ``action`` what the policy does about it.
    """

    step: int
    time: float
    population: str
    kind: str
    count: int
    density: float
    energy: float
    action: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RegulatorLog:
    """Timestamped events of a regulated run (from any backend)."""

    events: list
    populations: list
    window: int
    n_steps: int
    dt_s: float
    backend: str = ""

    def rows(self) -> np.ndarray:
        """``(step, population index, kind code)`` rows, for comparing backends."""
        code = {v: k for k, v in KINDS.items()}
        return np.array([(e.step, self.populations.index(e.population), code[e.kind]) for e in self.events],
                        dtype=np.int64).reshape(-1, 3)

    def first(self, *, kinds: Sequence[str] = ("high", "low", "silence"), population: str | None = None,
              after_step: int = 0) -> RegulatorEvent | None:
        """First event of ``kinds`` (of ``population``, if given) at or after ``after_step``."""
        for e in self.events:
            if e.kind in kinds and e.step >= after_step and (population is None or e.population == population):
                return e
        return None

    def safe_mode_mask(self, population: str) -> np.ndarray:
        """Boolean array over steps: True while ``population`` is flagged (after an alarm,
        until the step after its ``recovered`` event)."""
        if population not in self.populations:
            raise ValueError(f"RegulatorLog.safe_mode_mask: {population!r} is not monitored "
                             f"(monitored: {', '.join(self.populations)})")
        mask = np.zeros(self.n_steps, dtype=bool)
        start = None
        for e in self.events:
            if e.population != population:
                continue
            if e.kind == "recovered":
                if start is not None:
                    mask[start:e.step + 1] = True
                start = None
            elif start is None:
                start = e.step + 1
        if start is not None:
            mask[start:] = True
        return mask

    def alarm_mask(self) -> np.ndarray:
        """Boolean array over steps: True while any monitored node is flagged (the plasticity
        gate's and, with ``safe_mode``, the output hold's state)."""
        mask = np.zeros(self.n_steps, dtype=bool)
        for p in self.populations:
            mask |= self.safe_mode_mask(p)
        return mask

    def to_dict(self) -> dict:
        return {"backend": self.backend, "window": self.window, "n_steps": self.n_steps, "dt_s": self.dt_s,
                "populations": self.populations, "events": [e.to_dict() for e in self.events]}

    @classmethod
    def from_dict(cls, d: dict) -> "RegulatorLog":
        """The log of :meth:`to_dict` (e.g. ``result.info["regulator"]["log"]``)."""
        try:
            return cls(events=[RegulatorEvent(**e) for e in d["events"]], populations=list(d["populations"]),
                       window=int(d["window"]), n_steps=int(d["n_steps"]), dt_s=float(d["dt_s"]),
                       backend=str(d.get("backend", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"RegulatorLog.from_dict: malformed log ({type(err).__name__}: {err})") from None


def raw_spikes(result: SimulationResult, name: str) -> Spikes:
    """The spikes node ``name`` emitted in a run, the ones a regulator withheld (safe mode) included.

    What the regulator and the energy model count: a held output spike happened in
    the network, it only did not leave it (``result.info["regulator"]["held_spikes"]``).
    """
    s = result.spikes[name]
    held = result.info.get("regulator", {}).get("held_spikes", {}).get(name)
    if not held or not held["steps"]:
        return s
    return Spikes.sorted(np.concatenate([s.indices, np.asarray(held["indices"], dtype=np.int64)]),
                         np.concatenate([s.steps, np.asarray(held["steps"], dtype=np.int64)]))


def hold_outputs(spikes: Spikes, log: RegulatorLog, population: str) -> tuple[Spikes, np.ndarray]:
    """Safe mode on an output: drop ``population``'s spikes while it is flagged.

    Returns the held spikes and the flag mask over steps (see :meth:`RegulatorLog.safe_mode_mask`).
    """
    mask = log.safe_mode_mask(population)
    steps = np.asarray(spikes[1])
    keep = ~mask[np.clip(steps, 0, max(mask.size - 1, 0))] if mask.size else np.ones(steps.size, bool)
    return Spikes(np.asarray(spikes[0])[keep], steps[keep]), mask


class MetaRegulator:
    """Event-driven monitor of spike density and energy per population.

    Parameters
    ----------
    window : int
        Steps per window (``W``); the regulator acts once per completed window.
    k : float
        Half-width of the normal band in standard deviations of the calibration counts.
    persist : int
        Consecutive out-of-band windows that raise an alarm (and in-band windows that clear it).
    alpha : float
        Target probability, under normal operation, of the run of empty windows that raises ``silence``.
    min_std : float
        Floor of the calibration standard deviation (spikes per window).
    policy : {"safe_mode", "recalibrate", "learn"}
        What an attached regulator does during a run (see :func:`~neurochip.regulator.core.action_step`):
        ``safe_mode``: while any monitored node is in alarm, the ``outputs`` are held
        (their spikes withheld from the result). ``recalibrate``: on ``high`` / ``low``
        of a monitored population, its threshold is multiplied by ``count / mean``
        (clipped to [0.25, 4]). ``learn``: nothing but the plasticity gate. Under every
        policy, projections with ``gated=True`` learn only while a monitored node is in
        alarm (event-driven learning).
    populations : sequence of str, optional
        Nodes to monitor (default: every population and spike source of the network).
    outputs : sequence of str, optional
        Populations whose spikes ``safe_mode`` holds (default: the populations no
        projection reads, the network's sinks).
    profile : EnergyProfile
        Energies for the per-window energy estimate and the regulator's own cost.
    warmup_windows : int
        Windows at the start of every run (calibration included) that are closed
        without being judged: the network's start-up transient (e.g. populations
        still silent while their input integrates) is not a fault.

    Attributes
    ----------
    populations_, sizes_ : monitored nodes and their sizes
    is_population_ : bool array, which monitored nodes are populations (not spike sources)
    band_ : BandParams (counts per window)
    mean_, std_ : calibration mean / std of counts per window
    energy_offset_, energy_per_spike_ : arrays (J): window energy ``= offset + per_spike * count``
    n_calibration_windows_ : int

    Notes
    -----
    The energy of a window of population ``p`` is ``size_p * W * E_neuron`` plus,
    per spike, ``sum over outgoing projections of (mean fan-out * E_syn + E_route)``
    (plus ``E_enc`` for a spike source). It is affine in the count, so the energy
    band is the density band mapped through it: energy alarms coincide with
    density alarms. Use :func:`neurochip.energy.estimate_energy` for the exact
    per-neuron fan-out.
    """

    def __init__(self, *, window: int = 10, k: float = 4.0, persist: int = 2, alpha: float = 1e-6,
                 min_std: float = 1.0, policy: str = "safe_mode", populations: Sequence[str] | None = None,
                 outputs: Sequence[str] | None = None, profile: EnergyProfile = LOIHI1, warmup_windows: int = 0):
        self.window = window
        self.warmup_windows = warmup_windows
        self.k = k
        self.persist = persist
        self.alpha = alpha
        self.min_std = min_std
        self.policy = policy
        self.populations = populations
        self.outputs = outputs
        self.profile = profile

    # ------------------------------------------------------------- validation
    def _check_config(self, net: Network) -> list[str]:
        owner = "MetaRegulator"
        self.window = check_int(owner, "window", self.window, minimum=1)
        check_float(owner, "k", self.k, low=0.0, low_open=True)
        check_int(owner, "persist", self.persist, minimum=1)
        check_float(owner, "alpha", self.alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        check_float(owner, "min_std", self.min_std, low=0.0)
        self.warmup_windows = check_int(owner, "warmup_windows", self.warmup_windows, minimum=0)
        if self.policy not in POLICIES:
            raise ValueError(f"{owner}: policy should be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if not isinstance(self.profile, EnergyProfile):
            raise ValueError(f"{owner}: profile should be an EnergyProfile, got {describe(self.profile)}")
        nodes = net.nodes
        if isinstance(self.populations, str):
            raise ValueError(f"{owner}: populations should be a sequence of names, got the string "
                             f"{self.populations!r} (use [{self.populations!r}])")
        pops = list(self.populations) if self.populations is not None else [*net.population_names,
                                                                             *[s.name for s in net.sources]]
        if not pops:
            raise ValueError(f"{owner}: populations is empty; monitor at least one population or source")
        for p in pops:
            if p not in nodes:
                raise ValueError(f"{owner}: population {p!r} is not in network '{net.name}' "
                                 f"(known: {', '.join(sorted(nodes))})")
        if len(set(pops)) != len(pops):
            raise ValueError(f"{owner}: populations has repeated names")
        self.held_outputs(net)
        return pops

    def held_outputs(self, net: Network) -> list[str]:
        """Populations of ``net`` that ``safe_mode`` holds (``[]`` under the other policies)."""
        owner = "MetaRegulator"
        if isinstance(self.outputs, str):
            raise ValueError(f"{owner}: outputs should be a sequence of population names, got the string "
                             f"{self.outputs!r} (use [{self.outputs!r}])")
        if self.outputs is None:
            read = {p.pre for p in net.projections}
            outs = [p for p in net.population_names if p not in read]
        else:
            outs = list(self.outputs)
            for p in outs:
                if p not in net.population_names:
                    raise ValueError(f"{owner}: output {p!r} is not a population of network '{net.name}' "
                                     f"(populations: {', '.join(net.population_names) or 'none'})")
        return outs if self.policy == "safe_mode" else []

    def action_params(self, net: Network) -> tuple[ActionParams, ActionState]:
        """The policy's parameters and the initial actuator state for a run of ``net``.

        Thresholds are those of ``net`` (the network that runs), ``nan`` for spike sources;
        the monitored nodes must be in ``net`` with their calibration sizes.
        """
        self._check_fitted()
        owner = "MetaRegulator"
        for p, n in zip(self.populations_, self.sizes_):
            if p not in net.nodes:
                raise ValueError(f"{owner}: monitored node {p!r} is not in network '{net.name}' "
                                 f"(known: {', '.join(sorted(net.nodes)) or 'none'})")
            if net.nodes[p].size != n:
                raise ValueError(f"{owner}: {p!r} has {net.nodes[p].size} neurons in network '{net.name}' "
                                 f"but {n} in calibration")
        is_pop = np.array([p in net.population_names for p in self.populations_], dtype=bool)
        vth = np.array([float(net.nodes[p].vth) if pop else np.nan for p, pop in zip(self.populations_, is_pop)])
        params = ActionParams(mean=np.asarray(self.mean_, dtype=float), scalable=is_pop,
                              recalibrate=self.policy == "recalibrate", safe_mode=self.policy == "safe_mode")
        return params, ActionState(vth=vth, gate=0, hold=0)

    def _check_fitted(self):
        if not hasattr(self, "band_"):
            raise ValueError("MetaRegulator is not fitted; call fit(net, calibration_result) first")

    # ------------------------------------------------------------------ fit
    def fit(self, net: Network, result: SimulationResult, *, start_step: int = 0,
            stop_step: int | None = None) -> "MetaRegulator":
        """Learn the normal band from steps ``[start_step, stop_step)`` of a calibration run."""
        owner = "MetaRegulator.fit"
        pops = self._check_config(net)
        if not isinstance(result, SimulationResult):
            raise ValueError(f"{owner}: result should be a SimulationResult, got {describe(result)}")
        stop = result.steps if stop_step is None else check_int(owner, "stop_step", stop_step, minimum=0)
        start = check_int(owner, "start_step", start_step, minimum=0)
        if stop > result.steps:
            raise ValueError(f"{owner}: stop_step should be <= the run's {result.steps} steps, got {stop}")
        if stop - start <= 0:
            raise ValueError(f"{owner}: empty calibration: steps [{start}, {stop}) hold no step")
        if self.window > stop - start:
            raise ValueError(f"{owner}: window ({self.window} steps) is larger than the calibration run "
                             f"({stop - start} steps); use a shorter window or a longer calibration")
        if (stop - start) // self.window <= self.warmup_windows:
            raise ValueError(f"{owner}: empty calibration: the calibration run has {(stop - start) // self.window} "
                             f"complete windows, all within warmup_windows = {self.warmup_windows}")
        for p in pops:
            if p not in result.spikes:
                raise ValueError(f"{owner}: result has no spikes of {p!r}")
        counts = count_matrix({p: raw_spikes(result, p) for p in pops}, pops, stop, self.window,
                              start_step=start)[self.warmup_windows:]
        self.populations_ = pops
        self.sizes_ = np.array([net.nodes[p].size for p in pops], dtype=np.int64)
        self.is_population_ = np.array([p in net.population_names for p in pops], dtype=bool)
        self.dt_s_ = float(net.dt / second)
        self.band_ = fit_band(counts, window=self.window, k=self.k, min_std=self.min_std,
                              persist=self.persist, alpha=self.alpha)
        self.mean_ = counts.mean(axis=0)
        self.std_ = counts.std(axis=0)
        self.n_calibration_windows_ = int(counts.shape[0])
        e_nu = float(self.profile.neuron_update / joule)
        e_syn = float(self.profile.synaptic_op / joule)
        e_route = float(self.profile.spike_routed / joule)
        e_enc = float(self.profile.encoder_event / joule)
        pop_names = set(net.population_names)
        self.energy_offset_ = np.array([net.nodes[p].size * self.window * e_nu if p in pop_names else 0.0
                                        for p in pops])
        per_spike = []
        for p in pops:
            e = 0.0 if p in pop_names else e_enc
            for proj in net.projections:
                if proj.pre == p:
                    e += float(fan_out(proj).mean()) * e_syn + e_route
            per_spike.append(e)
        self.energy_per_spike_ = np.array(per_spike)
        return self

    # ---------------------------------------------------------------- detect
    def detect(self, result: SimulationResult, *, start_step: int = 0) -> RegulatorLog:
        """Replay a run through the window update (numpy reference) and log the events.

        Counts the spikes the nodes emitted, withheld ones included (:func:`raw_spikes`).
        """
        self._check_fitted()
        owner = "MetaRegulator.detect"
        if not isinstance(result, SimulationResult):
            raise ValueError(f"{owner}: result should be a SimulationResult, got {describe(result)}")
        if self.window > result.steps - start_step:
            raise ValueError(f"{owner}: window ({self.window} steps) is larger than the run "
                             f"({result.steps - start_step} steps after start_step)")
        for p, n in zip(self.populations_, self.sizes_):
            if result.sizes.get(p) != n:
                raise ValueError(f"{owner}: {p!r} should have size {n} as in calibration, "
                                 f"got {result.sizes.get(p)}")
        counts = self.window_counts(result, start_step=start_step)
        rows, _ = run_windows(counts[self.warmup_windows:], self.band_)
        rows[:, 0] += self.warmup_windows
        steps = start_step + (rows[:, 0] + 1) * self.window - 1
        table = np.column_stack([steps, rows[:, 1], rows[:, 2], counts[rows[:, 0], rows[:, 1]]])
        return self.make_log(table, n_steps=result.steps, backend=f"numpy-reference({result.backend})")

    def window_counts(self, result: SimulationResult, *, start_step: int = 0) -> np.ndarray:
        """Counts per window of the monitored nodes, shape ``(n_windows, n)`` (withheld spikes included,
        :func:`raw_spikes`)."""
        self._check_fitted()
        spikes = {p: raw_spikes(result, p) for p in self.populations_}
        return count_matrix(spikes, self.populations_, result.steps, self.window, start_step=start_step)

    def density(self, counts: np.ndarray) -> np.ndarray:
        """Spikes per neuron per second from counts per window (broadcast over populations)."""
        return np.asarray(counts) / (self.sizes_ * self.window * self.dt_s_)

    def window_energy(self, counts: np.ndarray) -> np.ndarray:
        """Energy estimate (J) of windows from their counts."""
        return self.energy_offset_ + self.energy_per_spike_ * np.asarray(counts)

    # ------------------------------------------------------------------- log
    def action(self, kind: str, count: int, population_index: int) -> dict:
        """What the policy does about one event (the plasticity gate aside, see :meth:`make_log`)."""
        if self.policy == "safe_mode":
            return {"action": "leave_safe_mode" if kind == "recovered" else "enter_safe_mode"}
        if self.policy == "recalibrate" and kind in ("high", "low") and self.is_population_[population_index]:
            factor = float(threshold_factor(count, self.mean_[population_index]))
            return {"action": "scale_threshold", "factor": factor}
        return {"action": "none"}

    def make_log(self, table: np.ndarray, *, n_steps: int, backend: str) -> RegulatorLog:
        """Log from rows ``(step, population index, kind code, count)`` sorted by (step, population)."""
        self._check_fitted()
        table = np.asarray(table, dtype=np.int64).reshape(-1, 4)
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
        events = []
        alarmed = set()          # nodes in alarm: the gate is open while any is
        for step, p, kind, count in table.tolist():
            name = KINDS[kind]
            action = self.action(name, count, p)
            was_open = bool(alarmed)
            (alarmed.discard if name == "recovered" else alarmed.add)(p)
            if was_open != bool(alarmed):
                action["gate"] = "open" if alarmed else "close"
                if self.policy == "learn":
                    action["action"] = "open_plasticity" if alarmed else "close_plasticity"
            events.append(RegulatorEvent(
                step=step, time=step * self.dt_s_, population=self.populations_[p], kind=name,
                count=count, density=float(self.density(np.full(len(self.sizes_), count))[p]),
                energy=float(self.window_energy(np.full(len(self.sizes_), count))[p]),
                action=action))
        return RegulatorLog(events=events, populations=list(self.populations_), window=self.window,
                            n_steps=int(n_steps), dt_s=self.dt_s_, backend=backend)

    def to_dict(self) -> dict:
        """Configuration and learned band (JSON-ready)."""
        self._check_fitted()
        return {"window": self.window, "warmup_windows": self.warmup_windows, "k": self.k,
                "persist": self.persist, "alpha": self.alpha,
                "min_std": self.min_std, "policy": self.policy, "populations": self.populations_,
                "outputs": None if self.outputs is None else list(self.outputs),
                "sizes": self.sizes_.tolist(), "low": self.band_.low.tolist(), "high": self.band_.high.tolist(),
                "silence_windows": self.band_.silence_windows.tolist(), "mean": self.mean_.tolist(),
                "std": self.std_.tolist(), "n_calibration_windows": self.n_calibration_windows_,
                "energy_band_J": [self.window_energy(self.band_.low).tolist(),
                                  self.window_energy(self.band_.high).tolist()]}


def apply_recalibration(net: Network, log: RegulatorLog) -> Network:
    """A copy of ``net`` with the thresholds a recalibrating run ended with.

    Every ``scale_threshold`` action multiplies its population's threshold in turn
    (``vth * f1 * f2 ...``, in the order of the log), as the attached regulator does
    during a run (:func:`neurochip.regulator.core.action_step`); spike sources have
    no threshold.
    """
    vth = {p.name: p.vth for p in net.populations}
    for e in log.events:
        if e.action.get("action") == "scale_threshold" and e.population in vth:
            vth[e.population] = vth[e.population] * e.action["factor"]
    d = net.to_dict()
    for node in d["nodes"]:
        if node["type"] == "Population":
            node["vth"] = vth[node["name"]]
    return Network.from_dict(d)


def regulator_cost(regulator: MetaRegulator, result: SimulationResult,
                   profile: EnergyProfile | None = None) -> dict:
    """The regulator's own operations and energy over a run.

    Counted as an on-chip implementation: one compartment per monitored node,
    updated every step (``n_monitored * steps`` neuron updates), fed by one
    synapse from every monitored neuron (one synaptic op per monitored spike);
    plus the window evaluations (``n_monitored`` per completed window) done by
    the event-driven logic.
    """
    regulator._check_fitted()
    profile = profile or regulator.profile
    spikes = int(sum(raw_spikes(result, p).steps.size for p in regulator.populations_))
    n = len(regulator.populations_)
    updates = n * int(result.steps)
    evaluations = n * (int(result.steps) // regulator.window)
    energy = spikes * float(profile.synaptic_op / joule) + updates * float(profile.neuron_update / joule)
    return {"synaptic_ops": spikes, "neuron_updates": updates, "window_evaluations": evaluations,
            "energy_J": energy, "profile": profile.name}
