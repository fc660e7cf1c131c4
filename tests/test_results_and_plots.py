"""Result files and plots."""
import numpy as np
import pytest
from brian2 import Hz, ms

from neurochip import SimulationResult, Spikes, compare_spikes, plotting


def make_result(extra_shift=0):
    return SimulationResult(
        steps=100, dt=1 * ms, sizes={"in": 3, "a": 4}, populations=["a"],
        spikes={"in": Spikes.sorted([0, 2, 1], [5, 1, 9]),
                "a": Spikes.sorted([1, 3, 1], [10 + extra_shift, 20, 40])},
        traces={"a": {"v": np.linspace(0, 1, 400).reshape(100, 4)}},
        trace_indices={"a": np.arange(4)}, backend="test", wall_time=0.5)


def test_result_round_trips_through_npz(tmp_path):
    r = make_result()
    path = r.save(tmp_path / "r.npz")
    again = SimulationResult.load(path)
    assert again.sizes == r.sizes and again.populations == ["a"] and again.sources == ["in"]
    for name in r.spikes:
        np.testing.assert_array_equal(again.spikes[name].steps, r.spikes[name].steps)
        np.testing.assert_array_equal(again.spikes[name].indices, r.spikes[name].indices)
    np.testing.assert_array_equal(again.traces["a"]["v"], r.traces["a"]["v"])
    assert float(again.dt / ms) == 1.0 and again.backend == "test"


def test_corrupt_result_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"bad.npz is not a neurochip result file"):
        SimulationResult.load(bad)


def test_counts_rates_raster():
    r = make_result()
    assert r.spike_counts() == {"in": 3, "a": 3}
    # 3 spikes / 4 neurons / 0.1 s = 7.5 Hz
    assert float(r.rates()["a"] / Hz) == pytest.approx(7.5)
    raster = r.raster("a")
    assert raster.shape == (100, 4) and raster.sum() == 3 and raster[20, 3]
    starts, rate = r.population_rate("a", bin_steps=10)
    assert starts.tolist() == list(range(0, 100, 10))
    # bin [10, 20): one spike / 4 neurons / 10 ms = 25 Hz
    assert float(rate[1] / Hz) == pytest.approx(25.0)
    np.testing.assert_array_equal(Spikes.from_raster(raster).steps, r.spikes["a"].steps)


def test_compare_spikes_tolerance():
    a, b = make_result(), make_result(extra_shift=1)
    exact = compare_spikes(a, b, "a", tolerance_steps=0)
    within = compare_spikes(a, b, "a", tolerance_steps=1)
    assert exact["exact"] == 2 and exact["agreement"] == pytest.approx(2 / 3)
    assert within["within_tolerance"] == 3 and within["agreement"] == 1.0


def test_plots_return_figures_with_the_data():
    r = make_result()
    fig = plotting.raster_result(r)
    ax = fig.axes[0]
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    # sources are drawn below populations: population 'a' neuron 3 sits at y = 3 + 3
    assert offsets.shape == (6, 2)
    assert {tuple(p) for p in offsets} >= {(20.0, 6.0), (1.0, 2.0)}
    fig2 = plotting.traces(r.traces["a"]["v"], dt=r.dt, threshold=0.5)
    assert len(fig2.axes[0].lines) == 5  # 4 traces + threshold
    fig3 = plotting.rates_result(r, bin_steps=20)
    assert len(fig3.axes[0].lines) == 1
    with pytest.raises(ValueError, match=r"values should have shape \(steps, n\)"):
        plotting.traces(np.zeros((2, 2, 2)))
    import matplotlib.pyplot as plt
    plt.close("all")
