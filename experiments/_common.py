"""Builders shared by experiments and benchmarks (not an experiment itself: ``_`` keeps it out of the list).

- :class:`EINetworkConfig` and :func:`ei_network`: the demo's E/I network
  (``ei_demo`` runs it in Brian2, ``lava_deploy`` deploys it to Lava, the
  fixed-point benchmark quantizes it).
- :data:`TUNE_STREAM`, :data:`EVAL_STREAM`, :func:`task_seeds`, :func:`few_shot_tasks`:
  the seeds and tasks of the few-shot experiment (``fewshot_metalearn``), which
  the few-shot benchmarks re-use so that they measure on the same tasks.
- :func:`meta_learn`: a ``MetaLearner`` run from an experiment's CMA-ES fields
  (``fewshot_metalearn``, ``fewshot_default_rule``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from brian2 import Hz, ms

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.experiment import param


# ----------------------------------------------------------------- the E/I network
@dataclass
class EINetworkConfig:
    """Poisson inputs into an excitatory and an inhibitory LIF population (the network fields)."""

    seed: int = param(0, "seed of the inputs and the connectivity", min=0)
    steps: int = param(1000, "steps of dt to simulate", min=1)
    dt_ms: float = param(1.0, "time step (ms)", gt=0)
    n_input: int = param(200, "Poisson input neurons", min=1)
    n_exc: int = param(400, "excitatory LIF neurons", min=1)
    n_inh: int = param(100, "inhibitory LIF neurons", min=1)
    input_rate_hz: float = param(20.0, "rate of each input (Hz; rate * dt <= 1)", min=0)
    p_connect: float = param(0.1, "connection probability of every projection", min=0, max=1)
    tau_u_ms: float = param(5.0, "synaptic time constant (ms, >= dt)", gt=0)
    tau_v_ms: float = param(20.0, "membrane time constant of exc (ms; inh: half of it)", gt=0)
    vth: float = param(1.5, "firing threshold", gt=0)
    w_input: float = param(0.07, "mean input weight (uniform 0.5-1.5 times)")
    w_exc_inh: float = param(0.03, "mean exc -> inh weight")
    w_inh_exc: float = param(-0.1, "mean inh -> exc weight (negative: inhibition)")
    delay_inh_exc: int = param(2, "delay of inh -> exc (steps)", min=1)


def ei_param(name: str):
    """Field ``name`` of :class:`EINetworkConfig` (its default, range and help) for a config that has
    only some of the network fields (``lava_deploy``)."""
    f = {f.name: f for f in dataclasses.fields(EINetworkConfig)}[name]
    return dataclasses.field(default=f.default, metadata=f.metadata)


def ei_network(cfg: EINetworkConfig) -> Network:
    """The demo network, seeded by ``cfg.seed``.

    Input -> exc and input -> inh, exc -> inh, and delayed recurrent inhibition
    inh -> exc, each a sparse projection (connection probability ``p_connect``,
    weights uniform in [0.5, 1.5] times the nominal weight); Loihi-style CUBA
    LIF populations from time constants (inh with half of exc's ``tau_v``).
    """
    rng = np.random.default_rng(cfg.seed)
    dt = cfg.dt_ms * ms

    def sparse(n_post, n_pre, weight):
        mask = rng.random((n_post, n_pre)) < cfg.p_connect
        w = weight * rng.uniform(0.5, 1.5, size=(n_post, n_pre)) * mask
        return sp.csr_matrix(w)

    inputs = SpikeSource.poisson("input", cfg.n_input, rate=cfg.input_rate_hz * Hz, steps=cfg.steps,
                                 dt=dt, random_state=rng)
    exc = Population.from_time_constants("exc", cfg.n_exc, tau_u=cfg.tau_u_ms * ms,
                                         tau_v=cfg.tau_v_ms * ms, dt=dt, vth=cfg.vth)
    inh = Population.from_time_constants("inh", cfg.n_inh, tau_u=cfg.tau_u_ms * ms,
                                         tau_v=cfg.tau_v_ms * ms / 2, dt=dt, vth=cfg.vth)
    return Network(
        name="ei_demo", dt=dt, sources=[inputs], populations=[exc, inh],
        projections=[
            Projection("input_exc", "input", "exc", sparse(cfg.n_exc, cfg.n_input, cfg.w_input)),
            Projection("input_inh", "input", "inh", sparse(cfg.n_inh, cfg.n_input, cfg.w_input)),
            Projection("exc_inh", "exc", "inh", sparse(cfg.n_inh, cfg.n_exc, cfg.w_exc_inh)),
            Projection("inh_exc", "inh", "exc", sparse(cfg.n_exc, cfg.n_inh, cfg.w_inh_exc),
                       delay=cfg.delay_inh_exc),
        ])


# ------------------------------------------------------------------ few-shot tasks
#: SeedSequence streams of the few-shot task seeds, ``[seed, stream]``: STDP tuning (meta-training
#: split) and held-out evaluation.
TUNE_STREAM, EVAL_STREAM = 10, 20


def task_seeds(seed: int, stream: int, n: int) -> np.ndarray:
    """The first ``n`` task seeds of ``stream`` (:data:`TUNE_STREAM` or :data:`EVAL_STREAM`) for ``seed``."""
    return np.random.SeedSequence([seed, stream]).generate_state(n)


def few_shot_tasks(inner, seeds, *, split: str, k_shot: int | None = None) -> list:
    """The tasks of ``seeds`` drawn by ``inner`` (an ``InnerLoop``), at ``k_shot`` (default ``inner.k_shot``)."""
    k = inner.k_shot if k_shot is None else k_shot
    return [inner.task(k_shot=k, split=split, random_state=int(s)) for s in seeds]


def meta_learn(cfg, *, space, inner, x0, checkpoint, run_dir):
    """Run :class:`neurochip.plasticity.MetaLearner` with the CMA-ES fields of an experiment config.

    ``cfg`` has ``generations, popsize, sigma0, tasks_per_eval, validation_tasks, synops_cost,
    candidates_per_job, address, workers, seed``; ``rule.json`` and ``learning_curve.png`` are saved
    into ``run_dir``. Returns the fitted learner and the seconds its ``fit`` took.
    """
    import time

    from neurochip.plasticity import MetaLearner

    ml = MetaLearner(space=space, inner=inner, generations=cfg.generations, popsize=cfg.popsize, sigma0=cfg.sigma0,
                     x0=x0, tasks_per_eval=cfg.tasks_per_eval, validation_tasks=cfg.validation_tasks,
                     synops_cost=cfg.synops_cost, candidates_per_job=cfg.candidates_per_job,
                     address=cfg.address or None, workers=cfg.workers, checkpoint=checkpoint, random_state=cfg.seed)
    start = time.perf_counter()
    ml.fit()
    seconds = time.perf_counter() - start
    ml.save(run_dir)
    return ml, seconds
