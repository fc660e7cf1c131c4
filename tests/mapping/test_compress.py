"""Compression (issue 15): exact pruning counts, structured removal consistent across projections,
fit mode minimal by one step, bit-depth rounding bounds, placement counting the bits, bad input."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

import mapping
from mapping.compress import compress_weights, synaptic_memory_bytes
from mapping.placement import LOIHI1, ResourceModel, fits, needed_sparsity
from mapping.pruning import (prune_magnitude, prune_network, pruning_order, quantize_levels, remove_neurons,
                             stored_synapses, weakest_neurons)
from _gas_data import needs_data
from neurochip import Network, Population, Projection, SpikeSource
from neurochip.devices import presets
from neurochip.reference import simulate


def ff(n_in=6, n_hid=5, n_out=4, seed=0, steps=40):
    rng = np.random.default_rng(seed)
    return Network(
        sources=[SpikeSource.poisson("in", n_in, rate=200 * __import__("brian2").Hz, steps=steps, random_state=seed)],
        populations=[Population("hid", n_hid, du=0.5, dv=0.2, vth=1.0, bias=np.linspace(0, 0.01, n_hid)),
                     Population("out", n_out, du=0.5, dv=0.2, vth=1.0)],
        projections=[Projection("in_hid", "in", "hid", rng.uniform(0.1, 1.0, (n_hid, n_in))),
                     Projection("hid_out", "hid", "out", rng.uniform(0.1, 1.0, (n_out, n_hid))),
                     Projection("hid_hid", "hid", "hid", -rng.uniform(0.0, 0.2, (n_hid, n_hid)), delay=2)])


def test_magnitude_pruning_removes_exactly_the_smallest():
    w = np.arange(1.0, 21.0).reshape(4, 5) * np.where(np.arange(20).reshape(4, 5) % 2, 1, -1)
    out, k = prune_magnitude(w, 0.3)
    assert k == 6  # floor(0.3 * 20 + 1/2)
    np.testing.assert_array_equal(out == 0, np.abs(w) <= 6)
    np.testing.assert_array_equal(out[out != 0], w[np.abs(w) > 6])
    # sparse input: fraction of the stored (nonzero) synapses, same format back
    s = sp.random(30, 20, density=0.25, random_state=1, format="csr")
    pruned, k = prune_magnitude(s, 0.5)
    assert sp.issparse(pruned) and k == int(np.floor(0.5 * s.nnz + 0.5)) and pruned.nnz == s.nnz - k
    kept = np.sort(np.abs(s.data))[k:]
    np.testing.assert_array_equal(np.sort(np.abs(pruned.data)), kept)


def test_sparsity_per_projection_and_report_counts():
    net = ff()
    small, rep = mapping.compress(net, sparsity={"in_hid": 0.5, "hid_out": 0.25})
    assert rep.sparsity["in_hid"] == {"requested": 0.5, "nnz_before": 30, "removed": 15, "nnz_after": 15}
    assert rep.sparsity["hid_out"]["removed"] == 5 and rep.sparsity["hid_out"]["nnz_after"] == 15
    assert rep.sparsity["hid_hid"]["removed"] == 0
    assert net.projections[0].weights.min() > 0  # the input is not modified


def test_ties_broken_by_position_or_seeded_permutation():
    w = np.ones((3, 4))
    by_position, _ = prune_magnitude(w, 0.5)
    np.testing.assert_array_equal(by_position.ravel() == 0, np.arange(12) < 6)
    a, _ = prune_magnitude(w, 0.5, random_state=3)
    b, _ = prune_magnitude(w, 0.5, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert np.count_nonzero(a) == 6


def test_importance_prunes_the_least_important_not_the_smallest():
    w = np.array([[0.0, 0.9, 0.8, 0.7], [0.6, 0.5, 0.0, 0.4]])
    imp = np.array([[5.0, 0.1, 3.0, 0.2], [4.0, 9.0, 0.0, 0.3]])  # at the zero weights: never counted
    out, k = prune_magnitude(w, 0.5, importance=imp)
    assert k == 3  # of the 6 nonzero weights: the ones of importance 0.1, 0.2, 0.3
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.8, 0.0], [0.6, 0.5, 0.0, 0.0]])
    # sparse weights: the same synapses (importance stays dense, of the weights' shape)
    spout, _ = prune_magnitude(sp.csr_matrix(w), 0.5, importance=imp)
    np.testing.assert_array_equal(spout.toarray(), out)
    # importance |w| is magnitude pruning
    np.testing.assert_array_equal(prune_magnitude(w, 0.5, importance=np.abs(w))[0], prune_magnitude(w, 0.5)[0])
    q, info = compress_weights(w, sparsity=0.5, importance=imp, rescale=True)
    assert info["removed"] == 3
    np.testing.assert_allclose(np.abs(q).sum(axis=1), np.abs(w).sum(axis=1))  # rows back to their L1 norm
    with pytest.raises(ValueError, match=r"importance should have the weights' shape \(2, 4\), got \(4,\)"):
        prune_magnitude(w, 0.5, importance=np.ones(4))
    with pytest.raises(ValueError, match="importance should be finite and >= 0"):
        compress_weights(w, sparsity=0.5, importance=-imp)


def test_a_known_pruning_order_gives_the_same_pruning():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(7, 9)) * (rng.random((7, 9)) < 0.6)
    w[0, :3] = 0.5  # ties
    for seed in (None, 3):
        order = pruning_order(w, random_state=seed)
        for s in (0.1, 0.5, 0.9):
            np.testing.assert_array_equal(prune_magnitude(w, s, order=order, random_state=seed)[0],
                                          prune_magnitude(w, s, random_state=seed)[0])
    net = ff()
    orders = {p.name: pruning_order(p.weights) for p in net.projections}
    a, _ = prune_network(net, {"in_hid": 0.5, "hid_out": 0.3}, orders=orders)
    b, _ = prune_network(net, {"in_hid": 0.5, "hid_out": 0.3})
    for p, q in zip(a.projections, b.projections):
        np.testing.assert_array_equal(p.weights, q.weights)
    with pytest.raises(ValueError, match="order should rank the"):
        prune_magnitude(w, 0.5, order=order[:-1])


def test_stored_synapses_drops_what_the_grid_rounds_to_zero():
    # step of the 8-bit one-sign grid: 0.8 / 255 = 3.1e-3; below half a step the chip stores nothing
    w = np.array([[0.8, 6e-6, 0.0, 1.5e-3], [0.75, 1.6e-3, 0.72, 0.0]])
    out = stored_synapses(w)
    np.testing.assert_array_equal(out, [[0.8, 0.0, 0.0, 0.0], [0.75, 1.6e-3, 0.72, 0.0]])  # values kept, not rounded
    np.testing.assert_array_equal(stored_synapses(sp.csr_matrix(w)).toarray(), out)
    # 4 bits: step 0.8 / 15, so 1.6e-3 goes too
    assert np.count_nonzero(stored_synapses(w, 4)) == 3
    # a sparsity counted from the stored synapses: half of 4 is 2
    assert compress_weights(out, sparsity=0.5)[1]["removed"] == 2


def test_structured_removal_is_consistent_in_every_projection():
    net = ff(n_hid=6)
    w_in = net["in_hid"].weights.copy()
    w_in[[1, 4]] *= 1e-3  # neurons 1 and 4 of hid: the smallest L1 over rows and columns
    net["in_hid"].weights = w_in
    net["hid_out"].weights[:, [1, 4]] *= 1e-3
    net["hid_hid"].weights[[1, 4]] *= 1e-3
    net["hid_hid"].weights[:, [1, 4]] *= 1e-3
    np.testing.assert_array_equal(weakest_neurons(net, "hid", 2), [1, 4])
    small, rep = mapping.compress(net, structured={"hid": 2, "in": 1 / 6})
    kept = np.array([0, 2, 3, 5])
    np.testing.assert_array_equal(rep.index_maps["hid"], [0, -1, 1, 2, -1, 3])
    assert small["hid"].size == 4 and rep.structured["hid"]["removed"] == [1, 4]
    kin = np.nonzero(rep.index_maps["in"] >= 0)[0]
    assert kin.size == 5
    np.testing.assert_array_equal(small["in_hid"].weights, net["in_hid"].weights[kept][:, kin])
    np.testing.assert_array_equal(small["hid_out"].weights, net["hid_out"].weights[:, kept])
    np.testing.assert_array_equal(small["hid_hid"].weights, net["hid_hid"].weights[np.ix_(kept, kept)])
    np.testing.assert_array_equal(small["hid"].bias, net["hid"].bias[kept])
    # the source's spikes of removed neurons are gone, the others renumbered
    src, new = net["in"], small["in"]
    on = rep.index_maps["in"][src.indices] >= 0
    np.testing.assert_array_equal(new.indices, rep.index_maps["in"][src.indices[on]])
    np.testing.assert_array_equal(new.steps, src.steps[on])


def test_removing_a_disconnected_neuron_keeps_every_other_spike():
    """Independent check: a hidden neuron without outgoing synapses removed, the rest spikes exactly as before."""
    net = ff(n_hid=5, steps=60)
    net["hid_out"].weights[:, 2] = 0.0
    net["hid_hid"].weights[:, 2] = 0.0
    small, maps = remove_neurons(net, {"hid": np.array([2])})
    before, after = simulate(net, 60), simulate(small, 60)
    for name in ("out",):
        np.testing.assert_array_equal(before.spikes[name].indices, after.spikes[name].indices)
        np.testing.assert_array_equal(before.spikes[name].steps, after.spikes[name].steps)
    keep = before.spikes["hid"].indices != 2
    np.testing.assert_array_equal(maps["hid"][before.spikes["hid"].indices[keep]], after.spikes["hid"].indices)
    np.testing.assert_array_equal(before.spikes["hid"].steps[keep], after.spikes["hid"].steps)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_bit_depth_rounding_error_bounds(bits):
    rng = np.random.default_rng(bits)
    w = rng.uniform(0.01, 0.7, (20, 30))
    q, info = quantize_levels(w, bits)
    step = w.max() / (2 ** bits - 1)
    assert info["step"] == pytest.approx(step) and info["sign_mode"] == "excitatory"
    assert np.abs(q - w).max() <= step / 2 + 1e-12 and info["max_abs_error"] <= info["error_bound"] + 1e-12
    assert np.unique(q).size <= 2 ** bits and q.max() == pytest.approx(w.max())
    np.testing.assert_allclose(q / step, np.rint(q / step), atol=1e-9)
    # mixed signs: two's complement, the sign takes a bit
    m = rng.uniform(-1, 1, (10, 10))
    if bits == 1:
        with pytest.raises(ValueError, match="weight_bits should be >= 2 for mixed-sign"):
            quantize_levels(m, bits)
        return
    qm, im = quantize_levels(m, bits)
    assert im["sign_mode"] == "mixed" and im["mantissa_range"] == [-2 ** (bits - 1), 2 ** (bits - 1) - 1]
    assert np.abs(qm - m).max() <= im["step"] / 2 + 1e-12


def test_zeros_stay_zero_and_compress_weights_counts():
    w = np.array([[0.0, 0.1, 0.5], [0.9, 0.0, 0.3]])
    q, info = compress_weights(w, sparsity=0.25, weight_bits=2)
    assert info["removed"] == 1 and info["nnz_before"] == 4
    assert q[0, 0] == 0 and q[1, 1] == 0 and q[0, 1] == 0  # 0.1 pruned
    np.testing.assert_allclose(q[q != 0], [0.6, 0.9, 0.3])  # step 0.3


def test_placement_counts_the_chosen_bits():
    net = ff()
    full = synaptic_memory_bytes(net, LOIHI1)
    half = synaptic_memory_bytes(net, LOIHI1, {"in_hid": 4, "hid_out": 4, "hid_hid": 4})
    # hid_hid has delay 2: 6 delay bits on top of the weight bits
    assert full == (30 * 8 + 20 * 8 + 25 * 14) / 8 and half == (30 * 4 + 20 * 4 + 25 * 10) / 8
    tiny = ResourceModel("tiny", cores=1, neurons_per_core=64, synaptic_memory_bytes=40)
    small = Network(populations=[Population("a", 10, du=0.5, dv=0.5, vth=1.0)],
                    sources=[SpikeSource("s", 8)], projections=[Projection("p", "s", "a", np.ones((10, 8)))])
    with pytest.raises(mapping.PlacementError):
        mapping.place(small, tiny, suggest=False)  # 80 bytes at 8 bits
    assert mapping.place(small, tiny, weight_bits=4).cores_used == 1  # 40 bytes at 4 bits
    _, rep = mapping.compress(small, tiny, weight_bits=4)
    assert rep.placement_before["fits"] is False and rep.placement_after["fits"] is True
    assert rep.placement_after["synaptic_memory_bytes"] == 40


def test_memristor_levels_are_the_same_knob():
    dev = presets.ideal()
    net = Network(populations=[Population("a", 3, du=0.5, dv=0.5, vth=1.0)], sources=[SpikeSource("s", 2)],
                  projections=[Projection("p", "s", "a", np.full((3, 2), 0.5), device=dev)])
    small, rep = mapping.compress(net, weight_bits=3)
    assert small["p"].device.n_levels == 8 and small["p"].device.n_levels_d == 8 and rep.levels == {"p": 8}
    small, rep = mapping.compress(net, levels=5)
    assert small["p"].device.n_levels == 5


def chip_for_fit():
    """A small chip on which ``wide`` needs 5 cores and has 4: memory limits 4 neurons per core."""
    return ResourceModel("small", cores=4, neurons_per_core=16, synaptic_memory_bytes=4 * 40 * 18 // 8 + 1,
                         fan_in_axons=None, fan_out_axons=None, index_bits=10)


def wide(density=0.5, dense=False, seed=1):
    rng = np.random.default_rng(seed)
    w = sp.random(18, 80, density=density, random_state=seed, format="csr",
                  data_rvs=lambda n: rng.uniform(0.05, 1.0, n))
    w = w.toarray() if dense else w
    return Network(populations=[Population("h", 18, du=0.5, dv=0.5, vth=1.0)], sources=[SpikeSource("s", 80)],
                   projections=[Projection("p", "s", "h", w)])


def test_fit_magnitude_places_and_one_step_less_does_not():
    chip = chip_for_fit()
    net = wide()
    assert not fits(net, chip) and not fits(mapping.placement.compact_formats(net, chip), chip)
    small, rep = mapping.compress(net, chip, fit=True)
    assert rep.fit["applied"] == "magnitude" and rep.placement_after["fits"]
    s = rep.fit["magnitude"]["sparsity"]
    assert 0 < s < 1 and needed_sparsity(net, chip) == s
    less, _ = prune_network(net, {"p": s - 0.001})
    assert not fits(mapping.placement.compact_formats(less, chip), chip)
    assert mapping.place(small, chip).cores_used <= 4


def test_fit_structured_when_neurons_per_core_bind():
    chip = ResourceModel("few", cores=2, neurons_per_core=8, synaptic_memory_bytes=10 ** 6)
    net = wide(density=1.0, dense=True)
    small, rep = mapping.compress(net, chip, fit=True)
    assert "magnitude" not in rep.fit and rep.fit["applied"] == "structured"
    assert rep.fit["structured"]["remove"] == 2 and small["h"].size == 16
    removed = rep.fit["structured"]["removed"]
    np.testing.assert_array_equal(removed, weakest_neurons(net, "h", 2))
    assert (rep.index_maps["h"][removed] == -1).all()
    one_less, _ = remove_neurons(net, {"h": weakest_neurons(net, "h", 1)})
    assert not fits(one_less, chip) and fits(small, chip)


def test_placement_error_suggests_the_computed_sparsity():
    chip = chip_for_fit()
    with pytest.raises(mapping.PlacementError, match=r"mapping.compress\(net, chip, sparsity=") as info:
        mapping.place(wide(), chip)
    s = info.value.suggestion["sparsity"]
    assert s == needed_sparsity(wide(), chip) and f"sparsity={s:g}" in str(info.value)
    small, rep = mapping.compress(wide(), chip, sparsity=s)  # the suggested call fits
    assert rep.placement_after["fits"] and fits(small, chip)

    chip2 = ResourceModel("few", cores=2, neurons_per_core=8, synaptic_memory_bytes=10 ** 6)
    with pytest.raises(mapping.PlacementError, match=r"structured=\{'h': 2\}"):
        mapping.place(wide(density=1.0, dense=True), chip2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sparsity=1.5), r"compress: sparsity should be <= 1, got 1.5"),
    (dict(sparsity={"nope": 0.1}), r"sparsity names projections \['nope'\]"),
    (dict(weight_bits=0), r"weight_bits should be an integer 1..8"),
    (dict(weight_bits=9), r"weight_bits should be an integer 1..8"),
    (dict(weight_bits=1.5), r"weight_bits should be an integer 1..8"),
    (dict(structured={"hid": 5}), r"would remove 5 of the 5 neurons of 'hid'"),
    (dict(structured={"zzz": 1}), r"structured names 'zzz'"),
    (dict(structured={"hid": 1.0}), r"structured\['hid'\] should be < 1"),
    (dict(structured=[1]), r"structured should be a dict"),
    (dict(fit=True), r"fit=True needs a target chip"),
    (dict(levels=4), r"levels\['in_hid'\]: projection 'in_hid' has no device model"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mapping.compress(ff(), **kwargs)


def test_one_bit_mixed_sign_projection_is_refused_with_its_name():
    net = ff()
    net["hid_hid"].weights[0, 0] = 0.1  # now mixed sign
    with pytest.raises(ValueError, match=r"projection 'hid_hid': weight_bits should be >= 2 for mixed-sign"):
        mapping.compress(net, weight_bits=1)
    assert mapping.compress(net, weight_bits={"in_hid": 1, "hid_out": 1})[1].weight_bits == {"in_hid": 1,
                                                                                             "hid_out": 1}


def test_bad_target_and_network():
    with pytest.raises(ValueError, match="compress: model should be one of loihi1, loihi2"):
        mapping.compress(ff(), "loihi9")
    with pytest.raises(ValueError, match="compress: net should be a neurochip Network, got"):
        mapping.compress({"not": "a network"})


def test_compress_is_deterministic_and_round_trips():
    net = ff()
    a, ra = mapping.compress(net, "loihi2", sparsity=0.5, weight_bits=4, random_state=0)
    b, rb = mapping.compress(net, "loihi2", sparsity=0.5, weight_bits=4, random_state=0)
    assert a == b and ra.to_dict() == rb.to_dict()
    assert Network.from_dict(a.to_dict()) == a
    assert replace(ra, fit=None).placement_after["fits"]


def test_rescale_keeps_each_row_l1_norm():
    rng = np.random.default_rng(5)
    w = rng.uniform(0.0, 1.0, (6, 10))
    out, info = compress_weights(w, sparsity=0.5, rescale=True)
    np.testing.assert_allclose(np.abs(out).sum(1), np.abs(w).sum(1))
    assert info["nnz_after"] == 30
    net = ff()
    small, _ = mapping.compress(net, sparsity={"in_hid": 0.5}, rescale=True)
    np.testing.assert_allclose(np.abs(small["in_hid"].dense_weights()).sum(1), np.abs(net["in_hid"].weights).sum(1))
    np.testing.assert_array_equal(small["hid_out"].weights, net["hid_out"].weights)


def test_mse_clip_bounds_and_improves_heavy_tails():
    rng = np.random.default_rng(2)
    w = rng.lognormal(0.0, 1.5, (200, 200))
    qmax, imax = quantize_levels(w, 4)
    qmse, imse = quantize_levels(w, 4, clip="mse")
    assert np.mean((qmse - w) ** 2) < np.mean((qmax - w) ** 2)
    lo, hi = imse["range"]
    inside = (w >= lo) & (w <= hi)
    assert imse["clipped"] == np.count_nonzero(~inside) > 0
    assert np.abs(qmse - w)[inside].max() <= imse["step"] / 2 + 1e-12
    np.testing.assert_allclose(qmse[~inside], hi)  # clipped to the top level
    with pytest.raises(ValueError, match="clip should be one of 'max', 'mse', got 'p99'"):
        mapping.compress(ff(), weight_bits=4, clip="p99")


@needs_data
def test_compression_experiment_tiny(tmp_path):
    import json
    from pathlib import Path

    from neurochip.experiment import find_experiment, load_config

    exp = find_experiment("compression", Path(__file__).resolve().parents[2] / "experiments")
    run_dir = exp.main(load_config(exp.Config, base={**exp.TINY, "results_root": str(tmp_path)}))
    for png in ("raster.png", "pareto.png"):
        assert (run_dir / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "complete" and m["points"] == ["s=0,b=8", "s=0,b=4", "s=0.5,b=8", "s=0.5,b=4"]
    fit = m["feed_forward"]["fit"]
    assert fit["before"]["cores_needed"] == exp.TINY["fit_cores_needed"] and not fit["before"]["fits"]
    assert fit["after"]["fits"] and fit["after"]["cores_used"] <= exp.TINY["fit_chip_cores"]
    assert 0 < fit["agreement"] < 1
    # the uncompressed 8-bit point of the feed-forward network agrees almost exactly with float
    assert m["feed_forward"]["points"]["s=0,b=8"]["agreement"] > 0.97
    lava = m["lava_deploy"]["agreement_total"]
    assert lava["n_a"] > 0 and lava["agreement"] >= 0.9
