"""Placement on cores: cases with known answers and does-not-fit errors."""
import numpy as np
import pytest
import scipy.sparse as sp

from mapping import LOIHI1, LOIHI2, PlacementError, ResourceModel, place
from mapping.placement import cores_needed
from neurochip import Network, Population, Projection, SpikeSource


def pops(*sizes):
    return [Population(f"p{k}", n, du=0.5, dv=0.5, vth=1.0) for k, n in enumerate(sizes)]


@pytest.mark.parametrize("size,model,cores", [(2000, LOIHI1, 2), (1024, LOIHI1, 1), (1025, LOIHI1, 2),
                                              (8192, LOIHI2, 1), (8193, LOIHI2, 2), (20000, "loihi2", 3)])
def test_neuron_limited_core_counts(size, model, cores):
    p = place(Network(populations=pops(size)), model)
    assert p.cores_used == cores == cores_needed(size, model)
    assert sum(s.neurons for s in p.slices) == size
    assert [s.core for s in p.slices] == list(range(cores))


def test_each_core_hosts_one_population_and_reports_utilization():
    p = place(Network(populations=pops(1500, 100)), LOIHI1)
    assert [(s.population, s.start, s.stop) for s in p.slices] == [("p0", 0, 1024), ("p0", 1024, 1500),
                                                                  ("p1", 0, 100)]
    rep = p.report()
    assert rep["cores_used"] == 3 and rep["cores_available"] == 128
    assert rep["per_core"][0]["neuron_utilization"] == 1.0
    assert rep["per_core"][1]["neuron_utilization"] == pytest.approx(476 / 1024)


def test_synaptic_memory_limits_neurons_per_core():
    # 2,000 dense inputs x 8 bits = 2,000 B per neuron; 128 KB per core -> 65 neurons per core.
    n_pre, n_post = 2000, 200
    net = Network(sources=[SpikeSource("s", n_pre)], populations=pops(n_post),
                  projections=[Projection("sp", "s", "p0", np.zeros((n_post, n_pre)))])
    p = place(net, LOIHI1)
    per_core = 128 * 1024 * 8 // (n_pre * 8)
    assert per_core == 65
    assert max(s.neurons for s in p.slices) == per_core
    assert p.cores_used == int(np.ceil(n_post / per_core))
    assert all(s.synaptic_memory_bytes <= 128 * 1024 for s in p.slices)


def test_delays_and_sparse_indices_cost_memory():
    dense = Network(sources=[SpikeSource("s", 100)], populations=pops(10),
                    projections=[Projection("sp", "s", "p0", np.ones((10, 100)), delay=3)])
    assert place(dense, LOIHI1).slices[0].synaptic_memory_bytes == 10 * 100 * (8 + 6) / 8
    w = sp.random(10, 100, density=0.1, random_state=0, format="csr")
    sparse = Network(sources=[SpikeSource("s", 100)], populations=pops(10),
                     projections=[Projection("sp", "s", "p0", w)])
    assert place(sparse, LOIHI1).slices[0].synaptic_memory_bytes == w.nnz * (8 + 10) / 8


def test_fan_in_limit_splits_sparse_populations_and_rejects_single_neurons():
    # Post neuron j has 5 inputs of its own (5,000 distinct in all); 4,096 fan-in axons per core.
    n_pre = 8000
    rows = np.repeat(np.arange(1000), 5)
    cols = (rows * 8 + np.tile(np.arange(5), 1000))
    w = sp.csr_matrix((np.ones(5000), (rows, cols)), shape=(1000, n_pre))
    net = Network(sources=[SpikeSource("s", n_pre)], populations=pops(1000),
                  projections=[Projection("sp", "s", "p0", w)])
    p = place(net, LOIHI1)
    assert p.cores_used == 2 and all(s.fan_in_axons <= 4096 for s in p.slices)
    assert sum(s.fan_in_axons for s in p.slices) == 5000
    wide = Network(sources=[SpikeSource("s", 5000)], populations=pops(1),
                   projections=[Projection("sp", "s", "p0", sp.csr_matrix(np.ones((1, 5000))))])
    with pytest.raises(PlacementError, match=r"Population 'p0': one neuron has fan-in from 5000 distinct "
                                             r"neurons, more than the 4096 input axons per core of loihi1 "
                                             r"\(by 904\)"):
        place(wide, LOIHI1)


def test_too_many_cores_names_the_resource_and_excess():
    with pytest.raises(PlacementError, match=r"needs 130 cores, loihi1 has 128 \(by 2\)"):
        place(Network(populations=pops(130 * 1024)), LOIHI1)


def test_a_neuron_that_exceeds_core_memory():
    n_pre = 200_000  # 200 KB of 8-bit weights into one neuron > 192 KB on Loihi 2
    net = Network(sources=[SpikeSource("s", n_pre)], populations=pops(1),
                  projections=[Projection("sp", "s", "p0", np.zeros((1, n_pre)))])
    with pytest.raises(PlacementError, match=r"one neuron needs 195.3 KB of synaptic memory, more than the "
                                             r"192 KB per core of loihi2 \(by 3.3 KB\)"):
        place(net, LOIHI2)


def test_fan_out_limit():
    tiny = ResourceModel("tiny", cores=100, neurons_per_core=10, synaptic_memory_bytes=10 ** 6,
                         fan_in_axons=None, fan_out_axons=25)
    # 10 pre neurons on one core, each reaching 5 post cores: 50 output axons > 25 -> split.
    net = Network(populations=pops(10, 50),
                  projections=[Projection("pp", "p0", "p1", np.ones((50, 10)))])
    p = place(net, tiny)
    assert all(s.fan_out_axons <= 25 for s in p.slices)
    assert len(p.cores_of("p0")) == 2 and len(p.cores_of("p1")) == 5


def test_bad_model_name():
    with pytest.raises(ValueError, match="model should be one of loihi1, loihi2"):
        place(Network(populations=pops(3)), "loihi9")
