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
