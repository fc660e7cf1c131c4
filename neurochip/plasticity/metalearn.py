"""Offline meta-learning of a plasticity rule with CMA-ES (``cma``).

Outer loop: CMA-ES searches the rule's parameter vector ``theta``
(:class:`MetaSpace` maps it to a :class:`LearningRule`, quantized to Lava's
coefficient grid, so every evaluated rule is deployable). Inner loop, per
candidate and task: a fresh few-shot classifier adapts with ``k_shot`` labelled
shots per class using only the rule, then is scored on held-out samples of
the same task. Tasks come from the sampler :class:`InnerLoop` is given (for
instance ``sensors.TwinTaskSampler``: the digital twin with domain
randomization); all candidates of a generation see the same tasks::

    fitness(theta) = mean_task accuracy - synops_cost * mean synaptic events per query sample

Evaluations go through one executor interface (:func:`open_executor`): a local
process pool by default, a Dask ``distributed`` cluster when given its address
(``"serial"`` runs in-process). Several candidates are evaluated batched in one
job (``candidates_per_job``). After every generation the whole optimizer state
is written atomically to ``checkpoint`` (data only: JSON and arrays, never a
pickle, see :mod:`neurochip.plasticity.checkpoint`); a killed run started again
with the same arguments resumes there and gives exactly the uninterrupted result.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import io
import json
import math
import multiprocessing
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from neurochip._validation import check_float, check_int
from neurochip.io import atomic_write_bytes, write_json
from neurochip.encoding import LatencyPopulationEncoder
from neurochip.plasticity import checkpoint as ckpt_io
from neurochip.plasticity.fewshot import OutputParams, decide, simulate_outputs
from neurochip.plasticity.device_wta import learn_through_device
from neurochip.plasticity.functional import rule_params
from neurochip.plasticity.rules import TERM_NAMES, TRACE_NAMES, LearningRule
from neurochip.progress import bar



# --------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class MetaSpace:
    """Map an unconstrained vector ``theta`` to a rule.

    ``theta[:K]`` are the coefficients of the searched terms (``terms``; all
    of :data:`~neurochip.plasticity.rules.TERM_NAMES` when empty, the others
    are zero) divided by ``coef_scale``; ``theta[K:K+5]`` set the time
    constants of x1, x2, y1, y2, y3 through
    ``tau = tau_min + (tau_max - tau_min) * sigmoid(theta)``. Impulses are 1,
    weights are clipped to ``[w_min, w_max]``. With ``quantize`` the
    coefficients are snapped to Lava's ``m * 2**e`` grid.

    A smaller family (``terms``) is a smaller CMA-ES search: with noisy
    few-shot fitness, 20 dimensions and 10-12 candidates per generation the
    search wanders; 5-8 terms it can resolve.

    ``dead_zone`` (in ``theta`` units) soft-thresholds the coefficients,
    ``c = coef_scale * sign(theta) * max(|theta| - dead_zone, 0)``, so that a
    term being absent is a region of ``theta``, not a point: without it every
    sampled rule has all terms on (Lava's smallest nonzero coefficient is
    ``2**-7``, and a per-step ``u0*w`` term of that size already scales the
    weights by ``(1 + 2**-7)**300`` over 15 shots of 20 steps).

    ``scale="log2"`` searches the coefficients' magnitudes in octaves, as
    Lava's coefficient grid ``m * 2**e`` is laid out:
    ``c = sign(theta) * coef_min * 2**(octaves * (|theta| - dead_zone))`` outside
    the dead zone (``dead_zone > 0`` required), 0 inside. One ``theta`` unit is
    ``octaves`` factors of two, so CMA-ES steps are relative changes whatever
    the size of a coefficient (``2**-7`` and ``2**-2`` are equally easy to tune),
    where the linear map spends most of its range on rules that change the
    weights too fast. ``coef_scale`` is unused then.

    ``integer_taus`` rounds the time constants to whole steps, as Loihi's
    learning engine runs them (a rule meta-learned at fixed precision is then
    deployed as it was evaluated).

    ``pulse_gain_range = (low, high)`` adds one last dimension: the programming
    pulses per nominal device level (the memristive learning rate,
    :attr:`neurochip.devices.DeviceModel.pulse_gain`),
    ``low * (high / low) ** sigmoid(theta[-1])``, searched with the rule when the
    inner loop learns through a device (``InnerLoop(device=...)``).
    """

    coef_scale: float = 0.05
    tau_min: float = 1.0
    tau_max: float = 16.0
    w_min: float = -1.0
    w_max: float = 1.0
    quantize: bool = True
    terms: tuple = ()
    dead_zone: float = 0.0
    scale: str = "linear"
    coef_min: float = 2.0 ** -7
    octaves: float = 4.0
    integer_taus: bool = False
    pulse_gain_range: tuple = ()

    def __post_init__(self):
        check_float("MetaSpace", "dead_zone", self.dead_zone, low=0.0)
        if self.scale not in ("linear", "log2"):
            raise ValueError(f"MetaSpace: scale should be 'linear' or 'log2', got {self.scale!r}")
        if self.scale == "log2" and not self.dead_zone > 0:
            raise ValueError("MetaSpace: scale='log2' needs dead_zone > 0 (the region where a term is absent), "
                             f"got dead_zone={self.dead_zone}")
        check_float("MetaSpace", "coef_min", self.coef_min, low=0.0, low_open=True)
        check_float("MetaSpace", "octaves", self.octaves, low=0.0, low_open=True)
        terms = tuple(self.terms)
        unknown = [t for t in terms if t not in TERM_NAMES]
        if unknown or len(set(terms)) != len(terms):
            raise ValueError(f"MetaSpace: terms should be distinct names of TERM_NAMES "
                             f"({', '.join(TERM_NAMES)}), got {', '.join(map(str, terms))}")
        object.__setattr__(self, "terms", terms)
        gains = tuple(float(g) for g in self.pulse_gain_range)
        if gains and not (len(gains) == 2 and 0 < gains[0] < gains[1]):
            raise ValueError(f"MetaSpace: pulse_gain_range should be () or (low, high) with 0 < low < high, "
                             f"got {self.pulse_gain_range!r}")
        object.__setattr__(self, "pulse_gain_range", gains)

    @property
    def searched_terms(self) -> tuple:
        """Names of the terms whose coefficients are searched (in ``TERM_NAMES`` order)."""
        return tuple(t for t in TERM_NAMES if not self.terms or t in self.terms)

    @property
    def dim(self) -> int:
        return len(self.searched_terms) + len(TRACE_NAMES) + (1 if self.pulse_gain_range else 0)

    def pulse_gain(self, theta) -> float | None:
        """The device's pulses per nominal level at ``theta`` (``None`` when not searched)."""
        if not self.pulse_gain_range:
            return None
        low, high = self.pulse_gain_range
        return float(low * (high / low) ** (1.0 / (1.0 + np.exp(-float(np.asarray(theta)[-1])))))

    def to_rule(self, theta, *, name: str = "meta_learned") -> LearningRule:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.dim,):
            raise ValueError(f"MetaSpace: theta should have shape ({self.dim},), got {theta.shape}")
        k = len(self.searched_terms)
        excess = np.maximum(np.abs(theta[:k]) - self.dead_zone, 0.0)
        if self.scale == "log2":
            c = np.where(excess > 0, np.sign(theta[:k]) * self.coef_min * 2.0 ** (self.octaves * excess), 0.0)
        else:
            c = np.sign(theta[:k]) * excess * self.coef_scale
        coeffs = {t: float(v) for t, v in zip(self.searched_terms, c) if v != 0.0}
        taus = self.tau_min + (self.tau_max - self.tau_min) / (1 + np.exp(-theta[k:k + len(TRACE_NAMES)]))
        kw = {}
        for tr, tau in zip(TRACE_NAMES, taus):
            kw[f"{tr}_tau"] = float(np.round(tau)) if self.integer_taus else float(tau)
            kw[f"{tr}_impulse"] = 1.0
        rule = LearningRule(coefficients=coeffs, w_min=self.w_min, w_max=self.w_max, name=name, **kw)
        return rule.quantized() if self.quantize else rule

    def from_rule(self, rule: LearningRule) -> np.ndarray:
        """``theta`` of a rule (taus clipped into the open range); impulses and unsearched terms are ignored."""
        k = len(self.searched_terms)
        theta = np.zeros(self.dim)
        c = np.array([rule.coefficients.get(t, 0.0) for t in self.searched_terms])
        if self.scale == "log2":
            octs = np.log2(np.maximum(np.abs(c), self.coef_min) / self.coef_min) / self.octaves
            theta[:k] = np.where(c != 0, np.sign(c) * (self.dead_zone + octs), 0.0)
        else:
            c = c / self.coef_scale
            theta[:k] = np.where(c != 0, c + np.sign(c) * self.dead_zone, 0.0)
        for n, tr in enumerate(TRACE_NAMES):
            p = (getattr(rule, f"{tr}_tau") - self.tau_min) / (self.tau_max - self.tau_min)
            p = min(max(p, 1e-3), 1 - 1e-3)
            theta[k + n] = math.log(p / (1 - p))
        return theta


# --------------------------------------------------------------------------- inner loop
class TaskSampler(Protocol):
    """What :class:`InnerLoop` is handed: draws few-shot tasks (e.g. ``sensors.TwinTaskSampler``).

    ``sample`` returns an object with ``X_support``, ``y_support``, ``X_query``,
    ``y_query`` (``n_query`` query samples per class); the same ``random_state``
    must give the same task.
    """

    def sample(self, *, k_shot: int, n_query: int, split: str, random_state: int): ...


def describe_sampler(sampler) -> dict:
    """JSON description of a task sampler: its type and parameters (the checkpoint fingerprint).

    A dataclass is described by its ``__init__`` fields, another object by its
    ``to_dict()`` when it has one, else by its ``repr`` (then a checkpoint can
    only be resumed if that repr is stable).
    """
    cls = type(sampler)
    out = {"type": f"{cls.__module__}.{cls.__qualname__}"}
    if dataclasses.is_dataclass(sampler):
        out.update({f.name: getattr(sampler, f.name) for f in dataclasses.fields(sampler) if f.init})
    elif callable(getattr(sampler, "to_dict", None)):
        out.update(sampler.to_dict())
    else:
        out["repr"] = repr(sampler)
    return _jsonable(out)


def _jsonable(value):
    """``value`` as plain JSON types (tuples become lists, numpy scalars and arrays numbers and lists)."""
    def default(v):
        if isinstance(v, (np.ndarray, np.generic)):
            return v.tolist()
        return repr(v)
    return json.loads(json.dumps(value, default=default))


@dataclass(frozen=True, kw_only=True)
class InnerLoop:
    """How one candidate rule is scored on one task (picklable, sent to workers).

    ``sampler`` draws the tasks: an object with
    ``sample(*, k_shot, n_query, split, random_state)`` returning a task with
    ``X_support, y_support, X_query, y_query`` (``sensors.TwinTaskSampler``: the
    digital twin; ``sensors.SensorTaskSampler``: its fast steady-state stand-in).
    It is sent to the workers with the loop, so it must pickle; a hashable
    sampler (a frozen dataclass) has its tasks cached per process, as every
    candidate of a generation sees the same tasks. ``neurochip`` never imports
    a sampler: it is handed one.

    ``k_shot`` shots per class, or, when ``k_shots`` is not empty, task ``t`` of
    an evaluation uses ``k_shots[t % len(k_shots)]`` (meta-training over several k).

    ``score`` is what meta-training maximizes per task: ``"accuracy"`` (the
    fraction of query samples classified right) or ``"soft"`` (the mean
    softmax probability of the right class from the output spike counts,
    ``exp(n_c) / sum_j exp(n_j)``: it also rewards margins, so candidate rules
    are ranked with less noise than by 0/1 accuracy). Held-out evaluation
    always reports accuracy.

    ``precision="fixed"`` evaluates every candidate at the chip's precision:
    learning and scoring run in the bit-accurate integer twin of Loihi's
    learning engine and fixed-point LIF (:mod:`neurochip.plasticity.fixed_wta`),
    with the integers ``mapping.compile(..., "loihi2-sim-fixed")`` deploys for the
    network (threshold of about ``2**vth_bits``); a candidate the chip cannot run
    scores 0.

    ``device`` (a :class:`~neurochip.devices.DeviceModel`): the plastic weights
    live on the device's differential pairs and each update is programming
    pulses (:mod:`neurochip.plasticity.device_wta`); the pulses per level of
    each candidate can be searched (``MetaSpace(pulse_gain_range=...)``).
    """

    sampler: TaskSampler | None = None
    k_shot: int = 5
    k_shots: tuple = ()
    n_query: int = 10
    n_centers: int = 6
    steps: int = 16
    feature_range: tuple = (-0.2, 1.0)
    du: float = 0.5
    dv: float = 0.2
    vth: float = 1.0
    w_inh: float = 1.0
    teacher: float = 0.3
    w_init: float = 0.05
    extra_steps: int = 4
    score: str = "accuracy"
    bias_spikes: int = 0
    precision: str = "float"
    vth_bits: int = 20
    device: object = None

    def __post_init__(self):
        if self.device is not None:
            if not callable(getattr(self.device, "map_weights", None)):
                raise ValueError(f"InnerLoop: device should be a neurochip.devices.DeviceModel, got "
                                 f"{type(self.device).__name__}")
            if self.precision == "fixed":
                raise ValueError("InnerLoop: learning through a memristive device runs in float (the device "
                                 "model); precision='fixed' models Loihi's integer learning engine, not devices")
        if self.precision not in ("float", "fixed"):
            raise ValueError(f"InnerLoop: precision should be 'float' (the float twin) or 'fixed' (Loihi fixed "
                             f"point: the bit-accurate integer twin), got {self.precision!r}")
        if self.sampler is not None and not callable(getattr(self.sampler, "sample", None)):
            raise ValueError(f"InnerLoop: sampler should be an object with a method "
                             f"sample(*, k_shot, n_query, split, random_state) (e.g. sensors.TwinTaskSampler()), "
                             f"got {type(self.sampler).__name__}")
        object.__setattr__(self, "k_shots", tuple(self.k_shots))
        if self.feature_range is not None:
            object.__setattr__(self, "feature_range", tuple(self.feature_range))

    def task(self, *, k_shot: int, split: str, random_state: int):
        """The task of ``random_state`` (``n_query`` query samples per class), cached for hashable samplers."""
        if self.sampler is None:
            raise ValueError("InnerLoop: sampler is None; give InnerLoop(sampler=...) an object with "
                             "sample(*, k_shot, n_query, split, random_state), e.g. sensors.TwinTaskSampler()")
        try:
            hash(self.sampler)
        except TypeError:
            return self.sampler.sample(k_shot=k_shot, n_query=self.n_query, split=split, random_state=random_state)
        return _cached_task(self.sampler, k_shot, self.n_query, split, random_state)

    def describe(self) -> dict:
        """JSON description (the sampler by :func:`describe_sampler`): what a checkpoint fingerprints."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("sampler", "device")}
        device = getattr(self, "device", None)  # DriftInnerLoop has no device
        fields["device"] = None if device is None else device.to_dict()
        return {"sampler": None if self.sampler is None else describe_sampler(self.sampler), **_jsonable(fields)}

    def classifier_kwargs(self) -> dict:
        return {"n_centers": self.n_centers, "steps": self.steps, "feature_range": self.feature_range,
                "du": self.du, "dv": self.dv, "vth": self.vth, "w_inh": self.w_inh,
                "teacher": self.teacher, "w_init": self.w_init, "extra_steps": self.extra_steps,
                "bias_spikes": self.bias_spikes}


@functools.lru_cache(maxsize=64)
def _cached_task(sampler, k: int, n_query: int, split: str, seed: int):
    """Tasks per process: every candidate of a generation (and twin tasks are simulated recordings) shares them."""
    return sampler.sample(k_shot=k, n_query=n_query, split=split, random_state=seed)


def loop_tasks(inner, task_seeds, *, split: str, k_shot: int | None = None):
    """``(t, task)`` for each seed of ``task_seeds``: at ``k_shot`` shots, else ``inner.k_shots`` cycled
    over the tasks, else ``inner.k_shot`` (an :class:`InnerLoop` or another classifier's inner loop)."""
    for t, seed in enumerate(task_seeds):
        k = k_shot if k_shot is not None else (inner.k_shots[t % len(inner.k_shots)] if inner.k_shots
                                               else inner.k_shot)
        yield t, inner.task(k_shot=k, split=split, random_state=int(seed))


def evaluate_rules(rules: list, task_seeds, inner: InnerLoop, *, split: str = "train",
                   k_shot: int | None = None, score: str = "accuracy",
                   pulse_gains=None) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and synaptic events per query sample of each rule on each task, batched over rules.

    With ``score="soft"`` the first array is the soft score of :class:`InnerLoop`
    (mean softmax probability of the right class over the output spike counts).

    The same as :class:`~neurochip.plasticity.fewshot.PrototypeSpikingClassifier`
    ``(rule=r, random_state=seed, **inner.classifier_kwargs()).fit(support).score(query)`` per rule (tested),
    with all rules simulated at once. ``None`` in ``rules`` means no plasticity.
    ``pulse_gains`` (one per rule) sets each rule's device learning rate when
    ``inner.device`` is given (default: the device's own ``pulse_gain``).

    Returns
    -------
    accuracy, synops : arrays of shape (n_rules, n_tasks)
    """
    if score not in ("accuracy", "soft"):
        raise ValueError(f"evaluate_rules: score should be 'accuracy' or 'soft', got {score!r}")
    out = OutputParams(inner.du, inner.dv, inner.vth, inner.w_inh, inner.teacher, inner.extra_steps)
    plastic = [n for n, r in enumerate(rules) if r is not None]
    params = rule_params([rules[n] for n in plastic]) if plastic else None
    acc = np.zeros((len(rules), len(task_seeds)))
    ops = np.zeros_like(acc)
    for t, task in loop_tasks(inner, bar(task_seeds, desc=f"{len(rules)} rules on tasks", unit="task"),
                              split=split, k_shot=k_shot):
        seed = task_seeds[t]
        enc = LatencyPopulationEncoder(n_centers=inner.n_centers, steps=inner.steps,
                                       feature_range=inner.feature_range,
                                       bias_spikes=inner.bias_spikes).fit(task.X_support)
        rng = np.random.default_rng(int(seed))
        classes = np.unique(task.y_support)
        W0 = rng.uniform(0, inner.w_init, (classes.size, enc.n_outputs_))
        order = rng.permutation(task.y_support.size)
        labels = np.searchsorted(classes, task.y_support)
        support = enc.transform(task.X_support)[order]
        if inner.device is not None:
            W = np.tile(W0, (len(rules), 1, 1))
            if plastic:
                gains = None if pulse_gains is None else np.array([pulse_gains[n] for n in plastic], dtype=float)
                W[plastic] = learn_through_device(W0, support, out, inner.device, rule=params, labels=labels[order],
                                                  pulse_gain=gains, random_state=int(seed))
            _, counts, drive, synops = simulate_outputs(W, enc.transform(task.X_query), out)
            deployable = np.ones(len(rules), bool)
        elif inner.precision == "fixed":
            counts, drive, synops, deployable = fixed_counts(rules, W0, support, labels[order],
                                                             enc.transform(task.X_query), out, inner)
        else:
            W = np.tile(W0, (len(rules), 1, 1))
            if plastic:
                Wp, _, _, _ = simulate_outputs(W[plastic], support, out, rule=params, labels=labels[order])
                W[plastic] = Wp
            _, counts, drive, synops = simulate_outputs(W, enc.transform(task.X_query), out)
            deployable = np.ones(len(rules), bool)
        pred = classes[decide(counts, drive)]
        if score == "soft":
            p = np.exp(counts - counts.max(axis=-1, keepdims=True))
            p /= p.sum(axis=-1, keepdims=True)
            right = np.searchsorted(classes, task.y_query)
            acc[:, t] = np.mean(p[:, np.arange(right.size), right], axis=1)
        else:
            acc[:, t] = np.mean(pred == task.y_query[None, :], axis=1)
        ops[:, t] = synops / task.y_query.size
        acc[~deployable, t] = 0.0
        ops[~deployable, t] = 0.0
    return acc, ops


def fixed_counts(rules: list, W0, support, labels, query, out: OutputParams, inner: "InnerLoop"):
    """Learn ``support`` and count output spikes on ``query`` in Loihi fixed point (the integer twin).

    Rules are grouped by their weight bounds (each group is one quantization of
    the network, :func:`neurochip.plasticity.fixed_wta.quantize_wta`); ``None``
    (no plasticity) keeps ``W0`` at the bounds ``[0, max W0]``. A rule the chip
    cannot run (:class:`~neurochip.plasticity.fixed.FixedPointError`) is marked
    not deployable.

    Returns
    -------
    counts, drive : arrays (n_rules, n_query, n_out)
    synops : array (n_rules,)
    deployable : bool array (n_rules,)
    """
    from neurochip.plasticity import fixed as F
    from neurochip.plasticity import fixed_wta as FW

    n_out, n_in = W0.shape
    counts = np.zeros((len(rules), query.shape[0], n_out))
    drive = np.zeros_like(counts)
    synops = np.zeros(len(rules))
    deployable = np.ones(len(rules), bool)
    groups: dict = {}
    for n, rule in enumerate(rules):
        key = None if rule is None else (rule.w_min, rule.w_max)
        groups.setdefault(key, []).append(n)
    events = FW.rule_events(support, out)
    for key, idx in groups.items():
        w_min, w_max = key if key is not None else (0.0, max(float(W0.max()), 2.0 ** -8))
        try:
            wta = FW.quantize_wta(n_out, n_in, out, w_min=w_min, w_max=w_max, vth_bits=inner.vth_bits)
        except F.FixedPointError:
            deployable[idx] = False
            continue
        W = np.tile(FW.initial_weights(W0, wta), (len(idx), 1, 1))
        if key is not None:
            plans = FW.plan_rules([rules[n] for n in idx], wta, events)
            ok = np.array([p is not None for p in plans])
            deployable[np.asarray(idx)[~ok]] = False
            if ok.any():
                rule = F.FixedRule.stack([p.fixed for p in plans if p is not None])
                W[ok], _, _, _ = FW.simulate_outputs_fixed(W[ok], support, out, wta, rule=rule, labels=labels)
        _, c, d, ops = FW.simulate_outputs_fixed(W, query, out, wta)
        counts[idx], drive[idx], synops[idx] = c, d, ops
    return counts, drive, synops, deployable


def _evaluate_job(job):
    """Worker entry point: ``(thetas, seeds, space, inner)`` -> (accuracy, synops), batched."""
    thetas, seeds, space, inner = job
    rules = [space.to_rule(th) for th in thetas]
    gains = [space.pulse_gain(th) for th in thetas] if space.pulse_gain_range else None
    evaluate = getattr(inner, "evaluate_rules", None)  # the inner loop of another classifier (DriftInnerLoop)
    if evaluate is not None:
        if gains is not None:
            raise ValueError(f"{type(inner).__name__} does not search a device pulse gain; drop "
                             f"pulse_gain_range from the search space or use InnerLoop")
        return evaluate(rules, seeds, score=inner.score)
    return evaluate_rules(rules, seeds, inner, score=inner.score, pulse_gains=gains)


# --------------------------------------------------------------------------- executors
class SerialExecutor(concurrent.futures.Executor):
    """Runs jobs in the calling process (debugging, tiny runs, tests)."""

    def submit(self, fn, /, *args, **kwargs):
        fut = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(err)
        return fut


@contextlib.contextmanager
def open_executor(address: str | None = None, *, workers: int = 2):
    """One executor interface for candidate evaluations.

    Parameters
    ----------
    address : str, optional
        ``None``: a local process pool of ``workers`` processes; ``"serial"``:
        in-process; anything else: the address of a Dask ``distributed``
        scheduler (e.g. ``"tcp://10.0.0.5:8786"`` or a ``LocalCluster``'s
        ``scheduler_address``).

    Yields
    ------
    concurrent.futures.Executor
        Use ``executor.map(fn, jobs)`` (results in job order).
    """
    if address == "serial":
        yield SerialExecutor()
    elif address is None:
        workers = check_int("open_executor", "workers", workers, minimum=1)
        # An explicit context leaves the process-wide default start method unset (Lava sets it later).
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            yield ex
    else:
        if not isinstance(address, str):
            raise ValueError(f"open_executor: address should be a string or None, got {type(address).__name__}")
        from distributed import Client

        client = Client(address)
        try:
            yield client.get_executor()
        finally:
            client.close()


# --------------------------------------------------------------------------- the optimizer
class _GeneratorRandn:
    """Picklable normal sampler for cma's ``randn`` option: exact resume from a checkpoint."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, *shape):
        return self.rng.standard_normal(shape)


def print_progress(record: dict, stream=None) -> None:
    stream = sys.stderr if stream is None else stream
    print(f"[metalearn] generation {record['generation'] + 1}/{record['generations']}: "
          f"best {record['best_fitness']:.4f} mean {record['mean_fitness']:.4f} "
          f"(best so far {record['best_so_far']:.4f}, {record['seconds']:.1f} s)", file=stream, flush=True)


class MetaLearner:
    """CMA-ES meta-learning of a plasticity rule (scikit-learn style: ``fit`` sets ``rule_``).

    Parameters
    ----------
    space : MetaSpace
    inner : InnerLoop
        The task distribution (its ``sampler``, required) and the classifier.
    generations : int
    popsize : int
    sigma0 : float
        Initial CMA-ES step size in ``theta`` units.
    x0 : array or LearningRule, optional
        Initial mean (default: all zeros: no plasticity, mid-range time constants).
    tasks_per_eval : int
        Tasks per candidate per generation (the same tasks for all candidates).
    synops_cost : float
        Fitness cost per synaptic event per query sample.
    candidates_per_job : int
        Candidates evaluated batched in one job (1: one job per candidate).
    address : str, optional
        Executor (see :func:`open_executor`).
    workers : int
        Local processes (``address=None``).
    checkpoint : path, optional
        Checkpoint file (a data-only ``.npz``), written atomically every generation;
        resumed when it exists. Old pickled checkpoints are refused, never loaded.
    progress : callable or bool
        Called with a record dict after every generation (``True``: print to stderr).
    random_state : int
        Seeds CMA-ES sampling and the tasks.
    validation_tasks : int
        Train-split tasks on which the generation bests and the final CMA-ES mean
        are re-scored to choose ``rule_``.

    Attributes
    ----------
    rule_ : LearningRule
        Best rule found: the best on the validation tasks among the generation
        bests and the final CMA-ES mean.
    rule_params_ : ndarray
        Its ``theta``.
    pulse_gain_ : float or None
        The device's pulses per nominal level found with it
        (``MetaSpace(pulse_gain_range=...)``; ``None`` when not searched).
    history_ : list of dict
        Per generation: best / mean fitness, best accuracy, best so far, seconds.
    """

    def __init__(self, *, space: MetaSpace = MetaSpace(), inner: InnerLoop | None = None, generations: int = 10,
                 popsize: int = 8, sigma0: float = 0.5, x0=None, tasks_per_eval: int = 4,
                 synops_cost: float = 1e-5, candidates_per_job: int = 4, address: str | None = None,
                 workers: int = 2, checkpoint=None, progress: Callable | bool = True, random_state: int = 0,
                 validation_tasks: int = 8):
        self.space = space
        self.inner = inner
        self.generations = generations
        self.popsize = popsize
        self.sigma0 = sigma0
        self.x0 = x0
        self.tasks_per_eval = tasks_per_eval
        self.synops_cost = synops_cost
        self.candidates_per_job = candidates_per_job
        self.address = address
        self.workers = workers
        self.checkpoint = checkpoint
        self.progress = progress
        self.random_state = random_state
        self.validation_tasks = validation_tasks

    def _check(self):
        owner = "MetaLearner"
        loop = isinstance(self.inner, InnerLoop) or callable(getattr(self.inner, "evaluate_rules", None))
        if not loop or getattr(self.inner, "sampler", None) is None:
            name = type(self.inner).__name__
            got = name if not loop else f"{'an' if name[0] in 'AEIOU' else 'a'} {name} without sampler"
            raise ValueError(f"{owner}: inner should be an InnerLoop with a task sampler "
                             f"(e.g. InnerLoop(sampler=sensors.TwinTaskSampler())), got {got}")
        check_int(owner, "generations", self.generations, minimum=1)
        check_int(owner, "popsize", self.popsize, minimum=2)
        check_float(owner, "sigma0", self.sigma0, low=0.0, low_open=True)
        check_int(owner, "tasks_per_eval", self.tasks_per_eval, minimum=1)
        check_float(owner, "synops_cost", self.synops_cost, low=0.0)
        check_int(owner, "candidates_per_job", self.candidates_per_job, minimum=1)
        check_int(owner, "random_state", self.random_state, minimum=0)
        check_int(owner, "validation_tasks", self.validation_tasks, minimum=1)

    def _x0(self) -> np.ndarray:
        if self.x0 is None:
            return np.zeros(self.space.dim)
        if isinstance(self.x0, LearningRule):
            return self.space.from_rule(self.x0)
        x0 = np.asarray(self.x0, dtype=float)
        if x0.shape != (self.space.dim,):
            raise ValueError(f"MetaLearner: x0 should have shape ({self.space.dim},), got {x0.shape}")
        return x0

    def _fingerprint(self) -> dict:
        """What a checkpoint must match to be resumed (plain JSON types; the sampler by type and parameters)."""
        return _jsonable({"space": asdict(self.space), "inner": self.inner.describe(), "popsize": self.popsize,
                          "sigma0": self.sigma0, "x0": self._x0().tolist(), "tasks_per_eval": self.tasks_per_eval,
                          "synops_cost": self.synops_cost, "random_state": self.random_state,
                          "validation_tasks": self.validation_tasks})

    def task_seeds(self, generation: int) -> np.ndarray:
        ss = np.random.SeedSequence([self.random_state, 1, generation])
        return ss.generate_state(self.tasks_per_eval, dtype=np.uint32)

    def _new_state(self) -> dict:
        import cma

        opts = {"popsize": self.popsize, "randn": _GeneratorRandn([self.random_state, 0]),
                "seed": self.random_state + 1, "verbose": -9, "verb_log": 0, "verb_disp": 0}
        with contextlib.redirect_stdout(io.StringIO()):
            es = cma.CMAEvolutionStrategy(self._x0(), self.sigma0, opts)
        return {"fingerprint": self._fingerprint(), "es": es,
                "generation": 0, "history": [], "best_theta": None, "best_fitness": -np.inf}

    def _load(self) -> dict | None:
        """The state of a checkpoint (data only, never unpickled; see :mod:`neurochip.plasticity.checkpoint`)."""
        if self.checkpoint is None or not Path(self.checkpoint).exists():
            return None
        import cma

        meta, arrays = ckpt_io.load(self.checkpoint)
        if meta["fingerprint"] != ckpt_io.normalized(self._fingerprint()):
            raise ValueError(f"MetaLearner: checkpoint {self.checkpoint} was written with other settings; "
                             f"remove it or use the same configuration to resume")
        state = self._new_state()
        ckpt_io.replay(state["es"], arrays["asked"], arrays["fitness"], label=f"MetaLearner: {self.checkpoint}",
                          cma_version=cma.__version__, written_by=meta.get("cma_version"))
        state.update(generation=meta["generation"], history=meta["history"], best_fitness=meta["best_fitness"],
                     best_theta=arrays["best_theta"] if arrays["best_theta"].size else None,
                     gen_best_thetas=list(arrays["gen_best_thetas"]), asked=list(arrays["asked"]),
                     fitness=list(arrays["fitness"]))
        return state

    def _save(self, state: dict, X: np.ndarray, fitness: np.ndarray) -> None:
        """Record generation ``X`` / ``fitness`` in ``state`` and write the checkpoint (if any)."""
        state.setdefault("asked", []).append(np.array(X, dtype=float))
        state.setdefault("fitness", []).append(np.array(fitness, dtype=float))
        if self.checkpoint is not None:
            import cma

            ckpt_io.save(self.checkpoint, state, cma_version=cma.__version__)

    def fit(self) -> "MetaLearner":
        """Run (or resume) the optimization; sets ``rule_``, ``rule_params_``, ``history_``."""
        self._check()
        state = self._load() or self._new_state()
        es = state["es"]
        progress = print_progress if self.progress is True else (self.progress or None)
        with open_executor(self.address, workers=self.workers) as ex, \
                bar(total=self.generations, initial=state["generation"], desc="meta-learning", unit="gen") as gens:
            while state["generation"] < self.generations:
                g = state["generation"]
                start = time.perf_counter()
                X = np.array(es.ask())
                seeds = self.task_seeds(g)
                n = self.candidates_per_job
                jobs = [(X[i:i + n], seeds, self.space, self.inner) for i in range(0, len(X), n)]
                results = list(ex.map(_evaluate_job, jobs))
                acc = np.concatenate([r[0] for r in results]).mean(axis=1)
                ops = np.concatenate([r[1] for r in results]).mean(axis=1)
                fitness = acc - self.synops_cost * ops
                es.tell(list(X), list(-fitness))
                b = int(np.argmax(fitness))
                if fitness[b] > state["best_fitness"]:
                    state["best_fitness"], state["best_theta"] = float(fitness[b]), X[b].copy()
                state.setdefault("gen_best_thetas", []).append(X[b].copy())
                record = {"generation": g, "generations": self.generations,
                          "best_fitness": float(fitness[b]), "mean_fitness": float(fitness.mean()),
                          "best_accuracy": float(acc[b]), "mean_accuracy": float(acc.mean()),
                          "best_synops": float(ops[b]), "best_so_far": state["best_fitness"],
                          "sigma": float(es.sigma), "evaluations": int(len(X) * len(seeds)),
                          "seconds": time.perf_counter() - start}
                state["history"].append(record)
                state["generation"] = g + 1
                self._save(state, X, fitness)
                gens.update()
                if progress is not None:
                    progress(record)
            # Final choice: generation bests and the CMA-ES mean, re-scored on validation tasks
            # (train split, seeds apart from the generations') to undo the selection noise.
            candidates = np.array([*state["gen_best_thetas"], np.asarray(es.mean)])
            seeds = np.random.SeedSequence([self.random_state, 2]).generate_state(
                self.validation_tasks, dtype=np.uint32)
            n = self.candidates_per_job
            # Chosen by accuracy (the held-out measure), whatever score meta-training maximized.
            val_inner = replace(self.inner, score="accuracy")
            jobs = [(candidates[i:i + n], seeds, self.space, val_inner) for i in range(0, len(candidates), n)]
            results = list(ex.map(_evaluate_job, jobs))
        acc = np.concatenate([r[0] for r in results]).mean(axis=1)
        ops = np.concatenate([r[1] for r in results]).mean(axis=1)
        val = acc - self.synops_cost * ops
        b = int(np.argmax(val))
        self.history_ = state["history"]
        self.rule_params_ = candidates[b]
        self.rule_ = self.space.to_rule(self.rule_params_)
        self.pulse_gain_ = self.space.pulse_gain(self.rule_params_)
        self.best_fitness_ = state["best_fitness"]
        self.validation_fitness_ = float(val[b])
        self.validation_accuracy_ = float(acc[b])
        return self

    def save(self, folder) -> dict:
        """Write ``rule.json`` (rule, theta, fitness, history) and ``learning_curve.png`` into ``folder``."""
        if not hasattr(self, "rule_"):
            raise ValueError("MetaLearner: call fit before save")
        folder = Path(folder)
        rule_path = write_json(folder / "rule.json", {
            "rule": self.rule_.to_dict(), "lava_dw": self.rule_.lava_rule_string(),
            "theta": np.asarray(self.rule_params_).tolist(), "best_fitness": self.best_fitness_,
            "validation_fitness": self.validation_fitness_, "validation_accuracy": self.validation_accuracy_,
            "pulse_gain": self.pulse_gain_, "history": self.history_})
        from neurochip.plasticity.plots import learning_curve
        fig = learning_curve(np.array([h["best_fitness"] for h in self.history_]),
                             np.array([h["mean_fitness"] for h in self.history_]),
                             np.array([h["best_so_far"] for h in self.history_]))
        png = folder / "learning_curve.png"
        _save_figure(fig, png)
        return {"rule": rule_path, "learning_curve": png}


def _save_figure(fig, path: Path) -> Path:
    """Atomic PNG (``neurochip.experiment.save_figure`` when available)."""
    try:
        from neurochip.experiment import save_figure
    except ImportError:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())
        return path
    save_figure(fig, path)
    return path


def load_rule(path) -> LearningRule:
    """The rule saved by :meth:`MetaLearner.save` (``rule.json``)."""
    from neurochip.io import read_json

    d = read_json(path)
    try:
        return LearningRule.from_dict(d["rule"] if isinstance(d, dict) and "rule" in d else d)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"rule file {path}: not a learning rule ({type(err).__name__}: {err})") from None
