"""Parts of the pipeline experiment (``experiments/pipeline.py``); ``_`` keeps it out of ``neurochip list``.

- :class:`DeltaTwinTasks`: few-shot tasks whose samples are the *spike trains* of a
  delta (send-on-delta, UP/DOWN) encoder on transient recordings of the sensors'
  digital twin (:func:`sensors.make_dataset`): what the SNN consumes, no features.
- :class:`DeltaInnerLoop`: how a candidate rule is scored on such a task, learning
  through a memristive device preset with device-to-device spread
  (:func:`neurochip.plasticity.device_wta.learn_through_device`); handed to
  :class:`neurochip.plasticity.MetaLearner` (it has ``evaluate_rules``).
- :func:`stream_network`: samples one after another in one run (silent gaps between
  them), the few-shot network of :func:`neurochip.plasticity.wta.wta_network` with
  an optional label source and a regulator-gated plastic projection.
- :func:`decide_windows`: the class of every sample of a stream run from output spikes.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
from brian2 import ms

from neurochip import Network, Projection, SpikeSource
from neurochip.plasticity.wta import OutputParams, decide_spikes, readout, wta_network

#: Terms searched by meta-learning: label-gated (``y3``) and independent of post spikes, so a shot is
#: written whatever the readout does (as ``fewshot_default_rule``'s search).
ROW_LOCAL_TERMS = ("u0*x1*y3", "u0*y3*w", "x0*y3")


def twin_spec(*, analytes: tuple, classes: tuple, n_sensors: int, array_seed: int, duration_ms: float,
              dt_ms: float):
    """The twin's recording protocol: clean fluid, exposure from 10 % to 85 % of the recording."""
    from sensors.randomization import RandomizationSpec

    d = float(duration_ms)
    return RandomizationSpec(analytes=tuple(analytes), classes=tuple(classes), n_sensors=n_sensors,
                             array_seed=array_seed, duration=d * ms, dt=dt_ms * ms, onset=0.1 * d * ms,
                             exposure=0.75 * d * ms, feature_window=0.2 * d * ms)


def encode(encoder, signals: np.ndarray) -> np.ndarray:
    """Spike rasters (n_samples, steps, 2 n_sensors) of a fitted delta encoder: its own output, transposed."""
    spikes = encoder.transform(signals)                     # one SpikeSource per sample
    raster = encoder.spikes_raster(spikes, signals.shape[-1])
    return np.ascontiguousarray(np.transpose(raster, (0, 2, 1))).astype(bool)


@dataclass
class RasterTask:
    """A few-shot task of spike rasters (support shots, queries) and the analytes drawn."""

    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray
    y_query: np.ndarray
    analytes: np.ndarray


@dataclass(frozen=True, kw_only=True)
class DeltaTwinTasks:
    """Few-shot tasks of delta-encoded twin recordings (a new device array per task).

    Train tasks draw ``n_way`` analytes from the first ``n_train_analytes`` of the
    library, test tasks from the others. The encoder's threshold is
    ``threshold_factor`` times the noise floor it measures on the task's recordings.
    """

    n_analytes: int = 8
    n_train_analytes: int = 5
    n_way: int = 3
    n_sensors: int = 8
    duration_ms: float = 400.0
    dt_ms: float = 2.0
    threshold_factor: float = 3.0
    random_state: int = 0

    def analytes(self) -> tuple:
        return tuple(f"analyte{a}" for a in range(self.n_analytes))

    def sample(self, *, k_shot: int, n_query: int = 10, split: str = "train", random_state=None) -> RasterTask:
        from sensors.dataset import make_dataset
        from sensors.encoders import DeltaEncoder

        if split not in ("train", "test"):
            raise ValueError(f"DeltaTwinTasks.sample: split should be 'train' or 'test', got {split!r}")
        rng = np.random.default_rng(random_state)
        pool = np.arange(self.n_train_analytes) if split == "train" else np.arange(self.n_train_analytes,
                                                                                   self.n_analytes)
        pick = np.sort(rng.choice(pool, self.n_way, replace=False))
        names = self.analytes()
        spec = twin_spec(analytes=names, classes=tuple(names[a] for a in pick), n_sensors=self.n_sensors,
                         array_seed=int(rng.integers(2 ** 31)), duration_ms=self.duration_ms, dt_ms=self.dt_ms)
        data = make_dataset(spec, self.n_way * (k_shot + n_query), random_state=rng)
        y = np.asarray(data.labels)
        support = rng.permutation(np.concatenate([np.nonzero(y == c)[0][:k_shot] for c in range(self.n_way)]))
        query = np.setdiff1d(np.arange(y.size), support)
        enc = DeltaEncoder(factor=self.threshold_factor, dt=self.dt_ms * ms).fit(data.signals[support])
        R = encode(enc, data.signals)
        return RasterTask(R[support], y[support], R[query], y[query], pick)


@dataclass(frozen=True, kw_only=True)
class DeltaInnerLoop:
    """Scores candidate rules on :class:`DeltaTwinTasks`: learn the shots through the device, read out the queries.

    One output neuron per class (prototype readout, no teacher: the rules searched are
    label-gated), initial weights uniform in ``[0, w_init)``; the device is the preset
    ``device`` with lognormal device-to-device spread ``d2d_sigma`` of ``g_min`` and
    ``g_max`` (a new draw of devices per task). Accuracy is the fraction of queries whose
    most-spiking output (ties: summed drive) is their class.
    """

    sampler: DeltaTwinTasks = None
    k_shot: int = 5
    k_shots: tuple = ()
    n_query: int = 10
    score: str = "accuracy"
    du: float = 0.5
    dv: float = 0.2
    vth: float = 3.0
    w_inh: float = 1.0
    extra_steps: int = 4
    w_init: float = 0.05
    device: str = "ag_a_si"
    d2d_sigma: float = 0.1

    def out(self) -> OutputParams:
        return OutputParams(self.du, self.dv, self.vth, self.w_inh, 0.0, self.extra_steps)

    def device_model(self, seed: int):
        from neurochip.devices import presets

        return presets.get(self.device, sigma_g_min=self.d2d_sigma, sigma_g_max=self.d2d_sigma,
                           seed=int(seed) % 2 ** 31)

    def task(self, *, k_shot: int, split: str, random_state: int):
        return self.sampler.sample(k_shot=k_shot, n_query=self.n_query, split=split, random_state=random_state)

    def describe(self) -> dict:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sampler"}
        return {"sampler": {"type": type(self.sampler).__name__, **dataclasses.asdict(self.sampler)},
                **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}}

    def evaluate_rules(self, rules: list, task_seeds, *, split: str = "train", k_shot: int | None = None,
                       score: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """Accuracy and synaptic events per query of each rule (``None``: no plasticity) on each task."""
        from neurochip.plasticity.device_wta import learn_through_device
        from neurochip.plasticity.functional import rule_params
        from neurochip.plasticity.wta import decide

        out = self.out()
        plastic = [n for n, r in enumerate(rules) if r is not None]
        acc = np.zeros((len(rules), len(task_seeds)))
        ops = np.zeros_like(acc)
        for t, seed in enumerate(task_seeds):
            k = k_shot if k_shot is not None else (self.k_shots[t % len(self.k_shots)] if self.k_shots
                                                   else self.k_shot)
            task = self.task(k_shot=k, split=split, random_state=int(seed))
            rng = np.random.default_rng(int(seed))
            W0 = rng.uniform(0, self.w_init, (self.sampler.n_way, task.X_support.shape[-1]))
            W = np.tile(W0, (len(rules), 1, 1))
            if plastic:
                W[plastic] = learn_through_device(W0, task.X_support, out, self.device_model(seed),
                                                  rule=rule_params([rules[n] for n in plastic]),
                                                  labels=task.y_support, random_state=int(seed))
            r = readout(W, task.X_query, out)
            acc[:, t] = np.mean(decide(r.counts, r.drive) == task.y_query[None, :], axis=1)
            ops[:, t] = r.synops / task.y_query.size
        return acc, ops


# --------------------------------------------------------------------------- streams
def stream_raster(rasters: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples one after another with ``gap`` silent steps after each: (raster, start step of each sample)."""
    n, steps, n_in = rasters.shape
    period = steps + gap
    out = np.zeros((n * period, n_in), dtype=bool)
    for s in range(n):
        out[s * period:s * period + steps] = rasters[s]
    return out, np.arange(n) * period


def stream_network(W, out: OutputParams, rasters: np.ndarray, *, gap: int, labels=None, labelled=None,
                   rule=None, gated: bool = False, name: str = "pipeline_stream") -> tuple[Network, np.ndarray]:
    """The few-shot network run on a stream of samples; returns ``(network, start step of each sample)``.

    Static: :func:`~neurochip.plasticity.wta.wta_network` of the whole stream. With
    ``rule``: projection ``"plastic"`` learns with it (``gated``: only while the
    regulator has it open) and source ``"label"`` fires the third factor of sample
    ``s``'s class neuron at every step of its window (its raster and ``out.extra_steps``,
    as in ``wta_network``) when ``labelled[s]``. Traces are not reset between samples
    (one run): the gap lets them decay.
    """
    raster, starts = stream_raster(rasters, gap)
    base = wta_network(W, out, raster=raster, name=name)
    if rule is None:
        return base, starts
    window = rasters.shape[1] + int(out.extra_steps)      # as wta_network: the sample and its extra steps
    steps, idx = [], []
    for s in np.nonzero(np.ones(len(starts), bool) if labelled is None else np.asarray(labelled))[0]:
        k = np.arange(starts[s], starts[s] + window)
        steps.append(k)
        idx.append(np.full(k.size, int(labels[s])))
    steps = np.concatenate(steps) if steps else np.zeros(0, int)
    idx = np.concatenate(idx) if idx else np.zeros(0, int)
    learn = copy.deepcopy(rule)
    learn.third_factor = "label"
    projections = [Projection("plastic", "input", "out", np.array(W, dtype=float), plasticity=learn, gated=gated)
                   if p.name == "plastic" else p for p in base.projections]
    sources = [*base.sources, SpikeSource("label", W.shape[0], indices=idx, steps=steps)]
    return Network(name=name, sources=sources, populations=base.populations, projections=projections), starts


def readouts_network(weights: dict, out: OutputParams, rasters: np.ndarray, *, gap: int,
                     name: str = "pipeline_readouts") -> tuple[Network, np.ndarray]:
    """Several static readouts of one stream side by side in one population (one run, few Lava processes).

    Population ``"out"`` stacks the readouts' neurons in the order of ``weights`` (readout ``r``:
    neurons ``r * n_out ... (r + 1) * n_out - 1``), projection ``"plastic"`` their weights, and
    ``"wta"`` is block diagonal: each readout's lateral inhibition stays within it, so every
    readout runs as :func:`stream_network` of its weights alone. Returns ``(network, starts)``.
    """
    import scipy.linalg

    Ws = [np.asarray(W, dtype=float) for W in weights.values()]
    base, starts = stream_network(np.vstack(Ws), out, rasters, gap=gap, name=name)
    one, _ = stream_network(Ws[0], out, rasters[:1], gap=gap)
    lateral = scipy.linalg.block_diag(*[np.asarray(one["wta"].weights)] * len(Ws))
    projections = [dataclasses.replace(p, weights=lateral) if p.name == "wta" else p for p in base.projections]
    return Network(name=name, sources=base.sources, populations=base.populations, projections=projections), starts


def split_readout(result, index: int, n_out: int):
    """Readout ``index`` of a :func:`readouts_network` run: its ``n_out`` neurons as population ``"out"``."""
    from neurochip.results import SimulationResult, Spikes

    s = result.spikes["out"]
    mine = (s.indices >= index * n_out) & (s.indices < (index + 1) * n_out)
    return SimulationResult(steps=result.steps, dt=result.dt, sizes={"input": result.sizes["input"], "out": n_out},
                            populations=["out"], spikes={"input": result.spikes["input"],
                                                         "out": Spikes(s.indices[mine] - index * n_out, s.steps[mine])},
                            backend=result.backend, wall_time=result.wall_time)


def decide_windows(spikes, starts: np.ndarray, length: int, n_out: int) -> np.ndarray:
    """Class of each sample of a stream run: the output neuron with most spikes in the sample's window
    ``[start, start + length)``; ties to the first to fire, then the lowest index; ``-1`` if none spiked."""
    idx, steps = np.asarray(spikes.indices), np.asarray(spikes.steps)
    counts = np.zeros((len(starts), n_out))
    first = np.full((len(starts), n_out), -1, dtype=np.int64)
    which = np.searchsorted(starts, steps, side="right") - 1
    inside = (which >= 0) & (steps < starts[np.clip(which, 0, None)] + length)
    for w, i, k in zip(which[inside], idx[inside], steps[inside]):
        counts[w, i] += 1
        if first[w, i] < 0:
            first[w, i] = k
    d = decide_spikes(counts, first, np.arange(n_out), n_out)
    return np.where(counts.sum(axis=1) > 0, d.index, -1)


def window_counts(spikes, starts: np.ndarray, period: int) -> list:
    """Spikes in each sample's period ``[start, start + period)``."""
    which = np.searchsorted(starts, np.asarray(spikes.steps), side="right") - 1
    inside = (which >= 0) & (np.asarray(spikes.steps) < starts[np.clip(which, 0, None)] + period)
    return np.bincount(which[inside], minlength=len(starts)).astype(int).tolist()


def gate_samples(starts: np.ndarray, gate: list) -> list:
    """Samples whose start lies in an interval ``[a, b)`` of ``gate`` (the plasticity gate was open)."""
    s = np.asarray(starts)
    return sorted({int(i) for a, b in gate for i in np.nonzero((s >= a) & (s < b))[0]})


def stream_segments(right: np.ndarray, starts: np.ndarray, drift_sample: int, gate: list) -> dict:
    """Accuracy of a regulated stream in its segments: before the drift, after it until the gate first
    opens, while it was open (learning), after it closed for the last time; ``[first, stop)`` samples each."""
    right = np.asarray(right, dtype=float)
    n = right.size
    opened = [i for i in gate_samples(starts, gate) if i >= drift_sample]
    first = opened[0] if opened else n
    last = opened[-1] + 1 if opened else n
    bounds = {"before drift": (0, drift_sample), "drift, not yet flagged": (drift_sample, first),
              "gate open (learning)": (first, last), "after the gate closed": (last, n)}
    return {name: {"samples": [int(lo), int(hi)], "accuracy": float(right[lo:hi].mean()) if hi > lo else None}
            for name, (lo, hi) in bounds.items()}
