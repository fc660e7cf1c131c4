"""Seeded test networks, importable by tests and benchmarks alike (as ``numpy.testing``).

:func:`make_random_network` is the generator of the mapping tests' random
recurrent networks (``tests/mapping``) and of ``benchmarks/bench_fixed_point.py``
(the agreement table of docs/mapping.md), so both measure the same networks.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from brian2 import Hz

from neurochip.network import Network, Population, Projection, SpikeSource

#: Steps of the random networks' Poisson sources by default.
RANDOM_NETWORK_STEPS = 120


def make_random_network(seed: int, *, steps: int = RANDOM_NETWORK_STEPS) -> Network:
    """Two sources, two LIF populations, six projections (recurrent and delayed, dense and sparse).

    The structure is the same for every seed (so Brian2 reuses its compiled code);
    sizes, parameters, weights and delays are drawn from ``seed``.
    """
    rng = np.random.default_rng(1000 + seed)
    n_src, n_cue, n_a, n_b = (int(x) for x in rng.integers(4, 25, size=4))
    src = SpikeSource.poisson("src", n_src, rate=rng.uniform(30, 120) * Hz, steps=steps, random_state=rng)
    cue = SpikeSource.poisson("cue", n_cue, rate=rng.uniform(10, 60) * Hz, steps=steps, random_state=rng)
    a = Population("a", n_a, du=rng.uniform(0.05, 1), dv=rng.uniform(0.02, 0.5), vth=rng.uniform(0.5, 2),
                   bias=rng.uniform(0, 0.08, n_a), v_init=rng.uniform(0, 0.4, n_a))
    b = Population("b", n_b, du=rng.uniform(0.05, 1), dv=rng.uniform(0.02, 0.5), vth=rng.uniform(0.5, 2),
                   bias=float(rng.uniform(-0.02, 0.05)), u_init=rng.uniform(-0.1, 0.1, n_b))

    def weights(n_post, n_pre, mean, sparse):
        if sparse:
            return sp.random(n_post, n_pre, density=0.35, random_state=int(rng.integers(1 << 31)),
                             data_rvs=lambda k: rng.normal(mean, abs(mean) + 0.1, size=k), format="csr")
        return rng.normal(mean, abs(mean) + 0.1, size=(n_post, n_pre))

    projections = [
        Projection("src_a", "src", "a", weights(n_a, n_src, 0.45, seed % 2 == 0), delay=int(rng.integers(1, 4))),
        Projection("cue_b", "cue", "b", weights(n_b, n_cue, 0.4, True), delay=int(rng.integers(1, 5))),
        Projection("a_b", "a", "b", weights(n_b, n_a, 0.3, seed % 3 == 0), delay=int(rng.integers(1, 7))),
        Projection("b_a", "b", "a", weights(n_a, n_b, -0.3, False), delay=int(rng.integers(1, 4))),
        Projection("a_a", "a", "a", weights(n_a, n_a, 0.05, True), delay=int(rng.integers(1, 5))),
        Projection("b_b", "b", "b", weights(n_b, n_b, 0.0, False), delay=1),
    ]
    return Network(sources=[src, cue], populations=[a, b], projections=projections, name=f"random{seed}")


def _rate_of_threshold(weights: np.ndarray, inputs: np.ndarray, bias: np.ndarray, du: float, dv: float,
                       vth: float) -> float:
    """Mean output rate per step of a feed-forward LIF layer (the reference's arithmetic, inputs precomputed)."""
    from neurochip.lif import LIFParams, LIFState, lif_step

    n_out = weights.shape[0]
    state = LIFState(np.zeros(n_out), np.zeros(n_out))
    params = LIFParams(du, dv, vth, bias)
    count = 0
    zero = np.zeros(n_out)
    for k in range(inputs.shape[1]):
        # Dense's one-step delay: spikes of step k - 1 arrive at step k (the reference's w[:, s].sum(axis=1))
        a_in = weights[:, inputs[:, k - 1]].sum(axis=1) if k >= 1 else zero
        state, spikes = lif_step(state, a_in, params)
        count += int(spikes.sum())
    return count / (n_out * inputs.shape[1])


def make_fixed_point_job(seed: int = 0, *, n_in: int = 1000, n_out: int = 2000, steps: int = 1000,
                         rate_limit_hz: float = 15.0) -> Network:
    """The fixed-point agreement job of issue 17: Poisson inputs into Loihi CUBA LIF neurons with integer weights.

    ``rng = default_rng((seed, n_in, n_out))``; inputs ``S = rng.random((n_in, steps)) < 0.02``
    (20 Hz at 1 ms) with ``S[:, 0] = 0``; ``X = rng.normal(mu, sd, (n_out, n_in))`` with
    ``sd = 1200 / sqrt(n_in)``, ``mu = 0.15 sd``, each row shifted to mean exactly ``mu``;
    weights ``2 * clip(round(X / 2), -127, 127)`` (even integers, Loihi's mixed-sign 8-bit
    mantissas); biases ``rng.integers(0, 11, n_out)``; ``du = dv = 0.1``, delay 1; ``vth``
    the smallest integer in [1, 131071] (bisection) whose mean output rate in the float
    reference is <= ``rate_limit_hz``. Every parameter but the decays is an integer, so a
    fixed-point deployment can represent everything exactly except ``du`` and ``dv``.
    """
    rng = np.random.default_rng((seed, n_in, n_out))
    inputs = rng.random((n_in, steps)) < 0.02
    inputs[:, 0] = False
    sd = 1200 / np.sqrt(n_in)
    mu = 0.15 * sd
    x = rng.normal(mu, sd, (n_out, n_in))
    x = x - x.mean(axis=1, keepdims=True) + mu
    weights = 2 * np.clip(np.round(x / 2), -127, 127)
    bias = rng.integers(0, 11, n_out).astype(float)
    du = dv = 0.1
    limit = rate_limit_hz * 1e-3  # spikes per 1 ms step
    low, high = 1, 131071
    while low < high:
        mid = (low + high) // 2
        if _rate_of_threshold(weights, inputs, bias, du, dv, float(mid)) <= limit:
            high = mid
        else:
            low = mid + 1
    idx, st = np.nonzero(inputs)
    src = SpikeSource("in", n_in, indices=idx, steps=st)
    pop = Population("out", n_out, du=du, dv=dv, vth=float(low), bias=bias)
    return Network(sources=[src], populations=[pop], projections=[Projection("in_out", "in", "out", weights)],
                   name=f"job{n_in}x{n_out}")
