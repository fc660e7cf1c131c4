"""Figures a scientist can read: one colour per population everywhere, legends outside the data,
zeros on log axes not drawn as values, energy bars not clipped, units with their symbols."""
import numpy as np
import pytest
from matplotlib.colors import to_hex

from neurochip import Network, Population, Projection, SpikeSource, plotting, reference
from neurochip.energy import plot_energy


def small_result():
    net = Network(sources=[SpikeSource("input", 3, indices=[0, 1, 2, 0], steps=[0, 2, 4, 6])],
                  populations=[Population("exc", 2, du=0.5, dv=0.2, vth=0.5),
                               Population("inh", 2, du=0.5, dv=0.2, vth=0.5)],
                  projections=[Projection("ie", "input", "exc", np.ones((2, 3))),
                               Projection("ei", "exc", "inh", np.ones((2, 2)))])
    return reference.simulate(net, 20, {"exc": ["v"]})


def _line_colors(fig):
    return {line.get_label(): to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}


def test_a_population_has_one_colour_in_every_figure():
    r = small_result()
    raster = plotting.raster_result(r)
    band_text = {t.get_text(): to_hex(t.get_color()) for t in raster.axes[0].texts}
    rates = _line_colors(plotting.rates_result(r, bin_steps=5))
    assert band_text["exc"] == rates["exc"] == to_hex(plotting.color("exc"))
    assert band_text["inh"] == rates["inh"] == to_hex(plotting.color("inh"))
    assert band_text["input"] == to_hex(plotting.color("input"))
    assert len({band_text["exc"], band_text["inh"], band_text["input"]}) == 3
    traces = plotting.traces(r.traces["exc"]["v"], labels=["a", "b"], population="exc", threshold=0.5)
    assert _line_colors(traces)["a"] == to_hex(plotting.color("exc"))


def test_other_names_get_distinct_stable_colours():
    names = [f"s{k}_{d}" for k in range(3) for d in ("up", "down")]
    first, again = plotting.colors(names), plotting.colors(list(reversed(names)))
    assert first == again and len(set(first.values())) == len(names)
    assert not set(first.values()) & set(plotting.ROLE_COLORS.values())


def test_legends_sit_outside_the_axes():
    r = small_result()
    for fig in (plotting.rates_result(r, bin_steps=5),
                plotting.traces(r.traces["exc"]["v"], labels=["a", "b"], threshold=0.5)):
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1 - 1, "legend overlaps the data"


def test_zeros_on_a_log_axis_are_marked_not_plotted_as_values():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_yscale("log")
    floor = plotting.log_floor(ax, [1, 2, 3], [5.0, 0.0, 0.5])
    assert floor == pytest.approx(0.05)
    (zeros,) = ax.collections
    np.testing.assert_allclose(zeros.get_offsets(), [[2, 0.05]])
    plt.close(fig)


def test_codesign_figure_marks_zero_false_rates_at_the_floor():
    from sensors.codesign import CodesignResult, plot_codesign

    f = np.array([1.0, 2.0, 4.0])
    res = CodesignResult(thresholds=f * 1e-3, factors=f, noise_floor=1e-3, spikes_per_second=np.array([50., 5, 1]),
                         false_spikes_per_second=np.array([3.0, 0.0, 0.0]), rmse=np.array([1e-3, 2e-3, 4e-3]),
                         max_abs_error=f * 1e-3, slew_fraction=np.zeros(3), power=np.ones(3), recommended_index=1,
                         criterion="", info={"max_false_rate_hz": 1.0})
    fig = plot_codesign(res)
    ax = fig.axes[0]
    false_line = next(line for line in ax.get_lines() if line.get_label().startswith("false"))
    assert np.all(false_line.get_ydata() > 0) and len(false_line.get_ydata()) == 1   # only the measured value
    markers = [c.get_offsets() for c in ax.collections]
    assert any(len(m) == 2 and np.all(m[:, 1] == m[0, 1]) and m[0, 1] < 1.0 for m in markers)
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any("no spike at all" in t for t in texts) and any("false-spike limit" in t for t in texts)


def test_energy_bars_leave_out_zero_rows_fit_the_largest_and_use_micro():
    names = ["a", "b", "zero"]
    parts = {"synaptic_ops": np.array([1e-6, 0.0, 0.0]), "neuron_updates": np.array([2e-6, 5e-6, 0.0])}
    fig = plot_energy(names, parts, unit="uJ")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xlim()[1] > 5.0 and ax.get_xlabel() == "energy (µJ)"
    assert any("zero energy (not shown): zero" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="unit should be one of"):
        plot_energy(names, parts, unit="kWh")


def test_a_small_population_beside_a_large_one_gets_a_readable_band():
    import matplotlib.pyplot as plt

    spikes = {"input": (np.array([0, 767]), np.array([1, 2])), "out": (np.array([0, 2]), np.array([3, 4]))}
    fig = plotting.raster(spikes, {"input": 768, "out": 3}, steps=6)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    (inp, out) = [c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())]
    # the 3-neuron band is 8 % of all 771 neurons high (61.68), its neurons spread over it, in order
    assert high - low == pytest.approx(768 + 0.08 * 771)
    np.testing.assert_allclose(out, 768 + (np.array([0, 2]) + 0.5) * (0.08 * 771 / 3) - 0.5)
    np.testing.assert_allclose(inp, [0, 767])  # the large band keeps one unit per neuron
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-2:] == ["0", "2"] and "neuron (index in its band)" == ax.get_ylabel()
    plt.close(fig)
    # bands of similar sizes are drawn as before: global indices, integer ticks
    fig = plotting.raster({"a": (np.array([1]), np.array([0]))}, {"a": 4, "b": 3})
    assert fig.axes[0].get_ylabel() == "neuron" and fig.axes[0].get_ylim() == (-0.5, 6.5)
    plt.close(fig)
    with pytest.raises(ValueError, match=r"min_band should be a fraction in \[0, 1\), got 1.5"):
        plotting.raster({}, {"a": 4}, min_band=1.5)
