"""Lava floating point against the numpy reference and the Brian2 backend, spike for spike.

Independent implementations of the same update (DESIGN.md): Lava's own
``PyLifModelFloat``/``Dense``/``DelayDense``/``Sparse`` models, the numpy
reference and Brian2. Spike trains must be identical on every seed; state traces
agree with the reference to 1e-12 (the same float operations, possibly summed in
another order).
"""
import numpy as np
import pytest

import mapping
from neurochip import brian_backend, compare_spikes, reference

SEEDS = range(22)
STEPS = 120


def assert_same_spikes(a, b, names):
    for name in names:
        np.testing.assert_array_equal(a.spikes[name].steps, b.spikes[name].steps, err_msg=name)
        np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices, err_msg=name)


@pytest.mark.parametrize("seed", SEEDS)
def test_lava_float_matches_reference_and_brian2(seed, random_network):
    net = random_network(seed)
    dep = mapping.compile(net, "loihi2-sim-float")
    lava = mapping.run(dep, STEPS, probes={"a": ["u", "v"], "b": ["v"]})
    ref = reference.simulate(net, STEPS, probes={"a": ["u", "v"], "b": ["v"]})
    brian = brian_backend.simulate(net, STEPS)
    # not vacuous: both populations spike
    assert lava.spikes["a"].steps.size > 0 and lava.spikes["b"].steps.size > 0, lava.spike_counts()
    assert_same_spikes(lava, ref, ["a", "b", "src", "cue"])
    assert_same_spikes(lava, brian, ["a", "b"])
    np.testing.assert_allclose(lava.traces["a"]["u"], ref.traces["a"]["u"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lava.traces["a"]["v"], ref.traces["a"]["v"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lava.traces["b"]["v"], ref.traces["b"]["v"], rtol=0, atol=1e-12)
    assert lava.backend == "lava-loihi2-sim-float"
    assert lava.steps == STEPS and lava.sizes == ref.sizes and lava.populations == ["a", "b"]


def test_a_wrong_delay_is_detected(random_network):
    # The comparison is not vacuous: one more step of delay changes Lava's spikes.
    from neurochip import Network

    net = random_network(3)
    shifted = Network.from_dict(net.to_dict())
    shifted.projections[0].delay += 1
    lava = mapping.run(mapping.compile(shifted, "loihi2-sim-float"), STEPS)
    ref = reference.simulate(net, STEPS)
    assert compare_spikes(ref, lava, "a")["exact"] < ref.spikes["a"].steps.size


def test_delay_semantics_single_spike():
    # A spike of step k reaches a_in at step k + delay: with du = dv = 1 and vth
    # below the weight, the post neuron spikes exactly at k + delay.
    from neurochip import Network, Population, Projection, SpikeSource

    for delay in (1, 2, 5):
        net = Network(sources=[SpikeSource("s", 1, indices=[0], steps=[3])],
                      populations=[Population("p", 1, du=1.0, dv=1.0, vth=0.5)],
                      projections=[Projection("sp", "s", "p", [[1.0]], delay=delay)])
        res = mapping.run(mapping.compile(net, "loihi2-sim-float"), 12)
        assert res.spikes["p"].steps.tolist() == [3 + delay]
