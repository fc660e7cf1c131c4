"""Bounded sizes and validation at every run, not only at construction (issue 12, items 6, 7)."""
import time

import numpy as np
import pytest
import scipy.sparse as sp
from brian2 import Hz

from neurochip import Network, Population, Projection, SpikeSource, brian_backend, reference
from neurochip.network import MAX_DELAY, MAX_SIZE


def _net(sparse=False):
    w = np.full((3, 2), 0.6)
    return Network(sources=[SpikeSource("in", 2, indices=[0, 1, 0], steps=[0, 3, 6])],
                   populations=[Population("out", 3, du=0.5, dv=0.1, vth=1.0)],
                   projections=[Projection("in_out", "in", "out", sp.csr_matrix(w) if sparse else w)])


def test_huge_sizes_and_delays_are_refused_at_once():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"Population 'big': size should be <= 16777216 \(2\*\*24\) neurons, "
                                         r"got 1000000000000"):
        Population("big", 10 ** 12, du=0.1, dv=0.1, vth=1.0)
    with pytest.raises(ValueError, match=r"SpikeSource 'big': size should be <= 16777216"):
        SpikeSource("big", 10 ** 12)
    with pytest.raises(ValueError, match=r"SpikeSource 'big': size should be <= 16777216"):
        SpikeSource.poisson("big", 10 ** 12, rate=1 * Hz, steps=10)
    with pytest.raises(ValueError, match=r"Projection 'p': delay should be <= 65536 steps, got 1000000000; "
                                         r"a delay is given in steps"):
        Projection("p", "a", "b", np.ones((1, 1)), delay=10 ** 9)
    assert time.perf_counter() - t0 < 1.0  # refused before anything is allocated
    # the limits themselves are accepted
    Projection("p", "a", "b", np.ones((1, 1)), delay=MAX_DELAY)
    assert Population("edge", MAX_SIZE, du=0.1, dv=0.1, vth=1.0).size == MAX_SIZE


def test_poisson_in_blocks_draws_the_same_spikes_as_one_array():
    for size, steps in ((3, 10), (5000, 1000), (2 ** 21 + 3, 3)):  # one block, several blocks, block of 1 step
        rng = np.random.default_rng(7)
        st, idx = np.nonzero(rng.random((steps, size)) < 0.02)
        src = SpikeSource.poisson("p", size, rate=20 * Hz, steps=steps, random_state=7)
        np.testing.assert_array_equal(src.steps, st)
        np.testing.assert_array_equal(src.indices, idx)
    assert SpikeSource.poisson("p", 4, rate=20 * Hz, steps=0).steps.size == 0


@pytest.mark.parametrize("sparse", [False, True])
def test_changes_after_construction_are_validated_by_every_backend(sparse):
    import mapping

    changes = {
        "vth": (lambda n: setattr(n["out"], "vth", -1), r"Population 'out': vth should be > 0.0, got -1"),
        "weight": (lambda n: n["in_out"].weights.data.__setitem__(0, np.nan) if sparse
                   else n["in_out"].weights.__setitem__((0, 0), np.nan),
                   r"Projection 'in_out': weights should be finite, got 1 non-finite values"),
        "delay": (lambda n: setattr(n["in_out"], "delay", 0), r"Projection 'in_out': delay should be >= 1"),
        "size": (lambda n: setattr(n["out"], "size", 4),
                 r"Population 'out': bias should be a scalar or have shape \(4,\)|weights should have shape"),
        "spikes": (lambda n: setattr(n["in"], "indices", np.array([0, 1, 5])),
                   r"SpikeSource 'in': indices should be in \[0, 1\], got values in \[0, 5\]"),
        "bias": (lambda n: setattr(n["out"], "bias", np.array([0.0, np.inf, 0.0])),
                 r"Population 'out': bias should be finite"),
    }
    runners = {"brian2": lambda n: brian_backend.simulate(n, 10, codegen_target="numpy"),
               "reference": lambda n: reference.simulate(n, 10),
               "lava compile": lambda n: mapping.compile(n, "loihi2-sim-float", wire=False)}
    for change, (edit, message) in changes.items():
        for runner_name, run in runners.items():
            net = _net(sparse)
            edit(net)
            with pytest.raises(ValueError, match=message):
                run(net)
    # an unchanged network still runs, identically on both backends
    a, b = brian_backend.simulate(_net(sparse), 10, codegen_target="numpy"), reference.simulate(_net(sparse), 10)
    np.testing.assert_array_equal(a.spikes["out"].steps, b.spikes["out"].steps)


def test_validate_keeps_the_arrays_it_was_given():
    net = _net()
    w = net["in_out"].weights
    assert net.validate() is net and net["in_out"].weights is w  # no copy at each run
    mine = np.ones((3, 2))
    proj = Projection("q", "in", "out", mine)
    mine[0, 0] = np.nan  # the caller's array is not the projection's (copied at construction)
    assert np.isfinite(proj.weights).all()
