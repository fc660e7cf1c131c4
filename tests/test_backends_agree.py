"""The Brian2 backend against the independent numpy reference on random networks.

Spike trains must be identical; voltages agree to 1e-9 (Brian2's compiled code may
round differently in the last bits, e.g. through fused multiply-adds).
"""
import numpy as np
import pytest
import scipy.sparse as sp

from neurochip import Network, Population, Projection, SpikeSource, compare_spikes
from neurochip import brian_backend, reference

SEEDS = range(24)


def random_network(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    n_src, n_a, n_b = rng.integers(5, 30, size=3)
    steps = 150
    src = SpikeSource.poisson("src", int(n_src), rate=rng.uniform(20, 80) * 1e0 * __import__("brian2").Hz,
                              steps=steps, random_state=rng)
    a = Population("a", int(n_a), du=rng.uniform(0.05, 1), dv=rng.uniform(0.0, 0.5), vth=rng.uniform(0.5, 2),
                   bias=rng.uniform(0, 0.1, n_a), v_init=rng.uniform(0, 0.5, n_a))
    b = Population("b", int(n_b), du=rng.uniform(0.05, 1), dv=rng.uniform(0.0, 0.5), vth=rng.uniform(0.5, 2),
                   bias=float(rng.uniform(-0.02, 0.05)), u_init=rng.uniform(-0.1, 0.1, n_b))

    def weights(n_post, n_pre, mean, sparse):
        w = rng.normal(mean, abs(mean) + 0.1, size=(n_post, n_pre))
        if sparse:
            return sp.random(n_post, n_pre, density=0.3, random_state=int(rng.integers(1 << 31)),
                             data_rvs=lambda k: rng.normal(mean, abs(mean) + 0.1, size=k))
        return w

    projections = [
        Projection("src_a", "src", "a", weights(n_a, n_src, 0.4, seed % 2 == 0), delay=int(rng.integers(1, 4))),
        Projection("a_b", "a", "b", weights(n_b, n_a, 0.3, seed % 3 == 0), delay=int(rng.integers(1, 6))),
        Projection("b_a", "b", "a", weights(n_a, n_b, -0.3, False), delay=int(rng.integers(1, 3))),
        Projection("a_a", "a", "a", weights(n_a, n_a, 0.0, True), delay=1),
        Projection("src_b", "src", "b", weights(n_b, n_src, 0.2, False), delay=int(rng.integers(1, 8))),
    ]
    return Network(sources=[src], populations=[a, b], projections=projections, name=f"random{seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_brian2_matches_numpy_reference_spike_for_spike(seed):
    net = random_network(seed)
    probes = {"a": ["v", "u"], "b": ["v"]}
    ours = brian_backend.simulate(net, 150, probes)
    ref = reference.simulate(net, 150, probes)
    total = 0
    for name in ("src", "a", "b"):
        np.testing.assert_array_equal(ours.spikes[name].steps, ref.spikes[name].steps, err_msg=name)
        np.testing.assert_array_equal(ours.spikes[name].indices, ref.spikes[name].indices, err_msg=name)
        total += ours.spikes[name].steps.size
    # the comparison must not be vacuous: every network spikes in both populations
    assert ours.spikes["a"].steps.size > 0 and ours.spikes["b"].steps.size > 0, ours.spike_counts()
    np.testing.assert_allclose(ours.traces["a"]["v"], ref.traces["a"]["v"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.traces["a"]["u"], ref.traces["a"]["u"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.traces["b"]["v"], ref.traces["b"]["v"], rtol=0, atol=1e-9)
    assert compare_spikes(ours, ref, "a")["agreement"] == 1.0


def test_a_changed_delay_is_detected():
    # Guard against a vacuous comparison: one step more delay changes the spikes.
    net = random_network(1)
    shifted = Network.from_dict(net.to_dict())
    shifted.projections[0].delay += 1
    a = reference.simulate(net, 150).spikes["a"]
    b = brian_backend.simulate(shifted, 150).spikes["a"]
    assert not (np.array_equal(a.steps, b.steps) and np.array_equal(a.indices, b.indices))


def test_zero_steps_and_numpy_target():
    net = random_network(3)
    empty = brian_backend.simulate(net, 0, {"a": ["v"]})
    assert empty.steps == 0 and all(s.steps.size == 0 for s in empty.spikes.values())
    assert empty.traces["a"]["v"].shape == (0, net["a"].size)
    np_run = brian_backend.simulate(net, 60, codegen_target="numpy")
    ref = reference.simulate(net, 60)
    assert np_run.backend == "brian2-numpy"
    for name in ("a", "b"):
        np.testing.assert_array_equal(np_run.spikes[name].steps, ref.spikes[name].steps)
        np.testing.assert_array_equal(np_run.spikes[name].indices, ref.spikes[name].indices)


def test_bad_run_arguments():
    net = random_network(0)
    with pytest.raises(ValueError, match="steps should be a non-negative integer"):
        brian_backend.simulate(net, -1)
    with pytest.raises(ValueError, match="steps should be a non-negative integer"):
        reference.simulate(net, 1.5)
    with pytest.raises(ValueError, match="'nope' is not a population"):
        brian_backend.simulate(net, 5, {"nope": ["v"]})
    with pytest.raises(ValueError, match="cannot record 'w'"):
        reference.simulate(net, 5, {"a": ["w"]})
    with pytest.raises(ValueError, match="codegen_target should be"):
        brian_backend.simulate(net, 5, codegen_target="cuda")
