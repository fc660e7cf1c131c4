"""The mapping interface: targets, compile/run contracts, plastic and memristive projections."""
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from brian2 import DimensionMismatchError, ms, second

import mapping
from mapping import Target, get_target
from mapping.lava_backend import LavaUnavailableError
from neurochip import Network, Population, Projection, SimulationResult, SpikeSource, reference


def tiny_net(**proj_kw):
    return Network(sources=[SpikeSource("s", 3, indices=[0, 0, 1, 2, 0], steps=[0, 2, 4, 5, 9])],
                   populations=[Population("post", 2, du=1.0, dv=1.0, vth=100.0)],
                   projections=[Projection("p", "s", "post", np.full((2, 3), 0.5), **proj_kw)])


# ---------------------------------------------------------------- targets
def test_targets_and_validation():
    assert get_target("loihi2-sim-fixed").precision == "fixed"
    t = Target("mine", precision="float", chip="loihi1", timeout=5 * second)
    assert get_target(t) is t and t.timeout_seconds == 5.0
    with pytest.raises(ValueError, match="target should be a mapping.Target or one of loihi2-sim-float"):
        get_target("loihi7")
    with pytest.raises(ValueError, match="Target 'x': precision should be one of float, fixed, got 'half'"):
        Target("x", precision="half")
    with pytest.raises(ValueError, match="Target 'x': chip should be one of loihi1, loihi2"):
        Target("x", chip="truenorth")
    with pytest.raises(DimensionMismatchError, match="Target 'x': timeout should have units"):
        Target("x", timeout=3.0)
    assert Target("x", timeout=500 * ms).timeout_seconds == 0.5
    with pytest.raises(ValueError, match="timeout should be > 0"):
        Target("x", timeout=0 * second)
    with pytest.raises(ValueError, match="the hardware platform runs fixed point only"):
        Target("x", platform="hw", precision="float")


def test_hardware_target_without_lava_loihi_says_what_is_missing():
    with pytest.raises(LavaUnavailableError, match=r"needs Intel's lava-loihi extension: module "
                                                   r"lava\.magma\.compiler\.subcompilers\.nc\.ncproc_compiler "
                                                   r"is not importable"):
        mapping.compile(tiny_net(), "loihi2-hw")


def test_importing_mapping_does_not_import_lava():
    code = "import sys, mapping; print(any(m == 'lava' or m.startswith('lava.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- compile / run
def test_run_returns_the_common_result_type_and_can_be_saved(tmp_path):
    dep = mapping.compile(tiny_net(), "loihi2-sim-float")
    assert dep.wired is not None and set(dep.wired.lifs) == {"post"}
    res = mapping.run(dep, 12, probes={"post": ["v"]})
    assert isinstance(res, SimulationResult)
    assert res.steps == 12 and res.sizes == {"post": 2, "s": 3} and res.populations == ["post"]
    assert res.traces["post"]["v"].shape == (12, 2)
    assert res.info["lava_processes"] == 3 and res.info["lava_run_seconds"] > 0
    loaded = SimulationResult.load(res.save(tmp_path / "r.npz"))
    assert loaded.backend == res.backend == "lava-loihi2-sim-float"
    # the Lava processes run once: the next run is wired afresh and starts from the initial state
    again = mapping.run(dep, 12, probes={"post": ["v"]})
    np.testing.assert_array_equal(again.traces["post"]["v"], res.traces["post"]["v"])


def test_runs_longer_than_the_source_horizon_do_not_repeat_the_input():
    # RingBuffer cycles its data: run() must rewire with a long enough buffer.
    net = Network(sources=[SpikeSource("s", 1, indices=[0], steps=[1])],
                  populations=[Population("p", 1, du=1.0, dv=1.0, vth=0.5)],
                  projections=[Projection("sp", "s", "p", [[1.0]])])
    dep = mapping.compile(net, "loihi2-sim-float")
    assert dep.wired.horizon == 2
    res = mapping.run(dep, 20)
    assert res.spikes["p"].steps.tolist() == [2]
    assert res.spikes["s"].steps.tolist() == [1]


def test_disconnected_parts_all_run():
    # Lava compiles what is connected to one process; mapping links the parts with zero weights.
    net = Network(sources=[SpikeSource("s", 1, indices=[0, 0], steps=[0, 5])],
                  populations=[Population("a", 2, du=0.5, dv=0.5, vth=0.4, bias=0.3),
                               Population("b", 3, du=0.5, dv=0.2, vth=1.0, bias=0.25),
                               Population("c", 1, du=1.0, dv=1.0, vth=0.5)],
                  projections=[Projection("sc", "s", "c", [[1.0]])])
    dep = mapping.compile(net, "loihi2-sim-float")
    assert len(dep.wired.links) == 2
    res = mapping.run(dep, 30)
    ref = reference.simulate(net, 30)
    for name in ("a", "b", "c"):
        assert res.spikes[name].steps.size > 0
        np.testing.assert_array_equal(res.spikes[name].steps, ref.spikes[name].steps)
        np.testing.assert_array_equal(res.spikes[name].indices, ref.spikes[name].indices)


def test_zero_steps_and_source_only_networks():
    dep = mapping.compile(tiny_net(), "loihi2-sim-float")
    empty = mapping.run(dep, 0, probes={"post": ["u"]})
    assert empty.steps == 0 and empty.spikes["post"].steps.size == 0
    only = Network(sources=[SpikeSource("s", 2, indices=[1], steps=[3])])
    res = mapping.run(mapping.compile(only, "loihi2-sim-float"), 5)
    assert res.spikes["s"].steps.tolist() == [3]


def test_run_input_errors():
    dep = mapping.compile(tiny_net(), "loihi2-sim-float")
    with pytest.raises(ValueError, match="steps should be a non-negative integer, got -1"):
        mapping.run(dep, -1)
    with pytest.raises(ValueError, match="probes: 'nope' is not a population"):
        mapping.run(dep, 5, probes={"nope": ["v"]})
    with pytest.raises(ValueError, match="probes: cannot record 'w' of 'post'"):
        mapping.run(dep, 5, probes={"post": ["w"]})
    with pytest.raises(ValueError, match="run: deployment should be a mapping.Deployment"):
        mapping.run(tiny_net(), 5)
    with pytest.raises(ValueError, match="compile: network should be a neurochip.Network, got dict"):
        mapping.compile({}, "loihi2-sim-float")
    with pytest.raises(ValueError, match="verify: reference should be 'numpy' or 'brian2'"):
        mapping.verify(dep, 5, reference="nest")


def test_placement_is_checked_at_compile():
    big = Network(populations=[Population("p", 130 * 1024, du=0.5, dv=0.5, vth=1.0)])
    with pytest.raises(mapping.PlacementError, match=r"needs 130 cores, loihi1 has 128 \(by 2\)"):
        mapping.compile(big, Target("l1", chip="loihi1"), wire=False)
    dep = mapping.compile(big, Target("l2", chip="loihi2"), wire=False)
    assert dep.report["placement"]["cores_used"] == 17
    dep = mapping.compile(big, Target("l1", chip="loihi1", check_fit=False), wire=False)
    assert "placement" not in dep.report
    # 2-part fixed-point weights cost twice the synaptic memory
    net = Network(sources=[SpikeSource("s", 2000)], populations=[Population("p", 200, du=0.5, dv=0.5, vth=1.0)],
                  projections=[Projection("sp", "s", "p", np.full((200, 2000), 0.01))])
    one = mapping.compile(net, Target("f1", precision="fixed", chip="loihi1"), wire=False)
    two = mapping.compile(net, Target("f1", precision="fixed", chip="loihi1"), weight_parts=2, wire=False)
    assert one.report["placement"]["cores_used"] == 4 and two.report["placement"]["cores_used"] == 7


def test_fixed_report_is_json_serializable():
    dep = mapping.compile(tiny_net(), "loihi2-sim-fixed")
    text = json.dumps(dep.report)
    assert '"quantization"' in text and '"placement"' in text


# ---------------------------------------------------------------- plasticity (stand-in rule)
def test_plastic_projection_runs_as_learning_dense(constant_rule):
    # dw = 2^-2 * x0 with t_epoch = 1: each pre spike adds 0.25 to its column.
    net = tiny_net(plasticity=constant_rule("2^-2 * x0"))
    res = mapping.run(mapping.compile(net, "loihi2-sim-float"), 10)
    w = np.array(res.info["weights"]["p"])
    pre_counts = np.bincount(net.sources[0].indices, minlength=3)  # spikes at steps 0..9: 3, 1, 1
    np.testing.assert_allclose(w, 0.5 + 0.25 * np.tile(pre_counts, (2, 1)), rtol=0, atol=1e-12)


def test_post_spikes_reach_the_learning_rule(constant_rule):
    # dw = 2^-3 * y0: each post spike adds 0.125 to its row; post neuron 0 is driven to spike.
    net = Network(sources=[SpikeSource("s", 1, indices=[0, 0, 0], steps=[1, 4, 6])],
                  populations=[Population("post", 2, du=1.0, dv=1.0, vth=0.5)],
                  projections=[Projection("p", "s", "post", [[1.0], [0.0]],
                                          plasticity=constant_rule("2^-3 * y0"))])
    res = mapping.run(mapping.compile(net, "loihi2-sim-float"), 12)
    post_counts = np.bincount(res.spikes["post"].indices, minlength=2)
    assert post_counts.tolist() == [3, 0]
    w = np.array(res.info["weights"]["p"])
    np.testing.assert_allclose(w[:, 0], [1.0 + 0.125 * 3, 0.0], atol=1e-12)


def test_learning_dense_matches_brian2_plastic_synapses():
    # Needs the plasticity package (neurochip.plasticity, on main).
    plasticity = pytest.importorskip("neurochip.plasticity")
    from brian2 import Hz

    from neurochip import brian_backend

    # Coefficients on Lava's grid (m * 2**e): the emitted rule string is the quantized rule.
    rule = plasticity.pair_stdp(a_plus=0.05, a_minus=0.06, tau_plus=8 * ms, tau_minus=12 * ms).quantized()
    rng = np.random.default_rng(3)
    net = Network(sources=[SpikeSource.poisson("pre", 12, rate=80 * Hz, steps=200, random_state=1),
                           SpikeSource.poisson("drive", 4, rate=60 * Hz, steps=200, random_state=2)],
                  populations=[Population("post", 4, du=0.5, dv=0.2, vth=1.0)],
                  projections=[Projection("pre_post", "pre", "post", rng.uniform(0.1, 0.4, (4, 12)),
                                          plasticity=rule),
                               Projection("drive_post", "drive", "post", 1.5 * np.eye(4))])
    brian = brian_backend.simulate(net, 200)
    dep = mapping.compile(net, "loihi2-sim-float")
    assert dep.report["plasticity"]["pre_post"]["coefficients_on_lava_grid"] is True
    lava = mapping.run(dep, 200)
    w_brian = np.array(brian.info["weights"]["pre_post"])
    w_lava = np.array(lava.info["weights"]["pre_post"])
    assert np.abs(w_brian - net.projections[0].weights).max() > 0.05  # learning happened
    np.testing.assert_allclose(w_lava, w_brian, rtol=1e-9, atol=1e-12)  # stated tolerance
    assert lava.spike_counts()["post"] == brian.spike_counts()["post"] > 0


def test_label_third_factor_runs_as_loihi3f_like_brian2():
    """A label-gated rule (third factor from a spike source): Lava LearningLIF + Loihi3F == Brian2."""
    plasticity = pytest.importorskip("neurochip.plasticity")
    from brian2 import Hz

    from neurochip import brian_backend

    rule = plasticity.LearningRule(
        coefficients={"u0*x1*y3": 2 ** -4, "u0*x1*y3*w": -2 ** -3, "y0*x1": 2 ** -5, "x0*y1*w": -2 ** -4,
                      "y0*x1*y3": -2 ** -5}, x1_impulse=1.0, x1_tau=6.0, y1_impulse=1.0, y1_tau=4.0,
        y3_impulse=1.0, y3_tau=3.0, third_factor="label", name="label_gated")
    rng = np.random.default_rng(5)
    net = Network(sources=[SpikeSource.poisson("pre", 10, rate=120 * Hz, steps=150, random_state=1),
                           SpikeSource.poisson("label", 3, rate=100 * Hz, steps=150, random_state=2),
                           SpikeSource.poisson("drive", 3, rate=80 * Hz, steps=150, random_state=3)],
                  populations=[Population("out", 3, du=0.5, dv=0.2, vth=1.0)],
                  projections=[Projection("pre_out", "pre", "out", rng.uniform(0.05, 0.3, (3, 10)),
                                          plasticity=rule),
                               Projection("drive_out", "drive", "out", 1.5 * np.eye(3))])
    brian = brian_backend.simulate(net, 150)
    lava = mapping.run(mapping.compile(net, "loihi2-sim-float"), 150)
    w_brian = np.array(brian.info["weights"]["pre_out"])
    w_lava = np.array(lava.info["weights"]["pre_out"])
    assert np.abs(w_brian - net.projections[0].weights).max() > 0.05  # learning happened
    np.testing.assert_allclose(w_lava, w_brian, rtol=1e-9, atol=1e-12)  # stated tolerance
    # With y3 following the post spikes instead (Loihi2F), the weights differ: the label did reach Lava's rule.
    rule.third_factor = None
    w_post = np.array(brian_backend.simulate(net, 150).info["weights"]["pre_out"])
    assert np.abs(w_post - w_lava).max() > 0.05
    assert lava.spike_counts()["out"] == brian.spike_counts()["out"] > 0


def test_plasticity_report(constant_rule):
    dep = mapping.compile(tiny_net(plasticity=constant_rule("2^-2 * x0")), "loihi2-sim-float")
    rep = dep.report["plasticity"]["p"]
    assert rep["rule"] == "StandInRule" and rep["lava_rule_kwargs"]["dw"] == "2^-2 * x0"
    assert rep["coefficients_on_lava_grid"] is None  # the stand-in cannot say


def test_plasticity_errors(constant_rule, noisy_device):
    with pytest.raises(ValueError, match="Projection 'p': plastic projections need delay 1"):
        mapping.compile(tiny_net(plasticity=constant_rule("x0"), delay=2), "loihi2-sim-float")
    with pytest.raises(ValueError, match="Projection 'p': fixed-point learning needs a neurochip.plasticity.LearningRule"):
        mapping.compile(tiny_net(plasticity=constant_rule("x0")), "loihi2-sim-fixed")
    with pytest.raises(ValueError, match="Projection 'p': plastic memristive projections cannot run on Lava"):
        mapping.compile(tiny_net(plasticity=constant_rule("x0"), device=noisy_device()), "loihi2-sim-float")
    rule = constant_rule("x0")
    rule.third_factor = "s"
    with pytest.raises(ValueError, match=r"Projection 'p': third factor source 's' should have the post size 2, "
                                         r"got 3"):
        mapping.compile(tiny_net(plasticity=rule), "loihi2-sim-float")
    rule.third_factor = "post"
    with pytest.raises(ValueError, match=r"third factor 'post' should name a spike source of the network to run "
                                         r"on Lava \(sources: s\); a population as third factor runs in Brian2"):
        mapping.compile(tiny_net(plasticity=rule), "loihi2-sim-float")
    dep = mapping.compile(tiny_net(plasticity=constant_rule("x0")), "loihi2-sim-float")
    with pytest.raises(ValueError, match=r"verify: the float references have no plasticity yet; projection\(s\) p"):
        mapping.verify(dep, 5)


# ---------------------------------------------------------------- memristive projections (stand-in device)
def test_memristive_projection_compiles_from_a_seeded_snapshot(noisy_device, random_network):
    base = random_network(2)
    d = base.to_dict()
    net = Network.from_dict(d)
    net.projections[0].device = noisy_device(0.2)
    net.projections[2].device = noisy_device(0.1)
    dep = mapping.compile(net, "loihi2-sim-float", random_state=7)
    same = mapping.compile(net, "loihi2-sim-float", random_state=7)
    other = mapping.compile(net, "loihi2-sim-float", random_state=8)
    w0 = dep.weights["src_a"]
    w0 = w0.toarray() if sp.issparse(w0) else w0
    same0 = same.weights["src_a"]
    np.testing.assert_array_equal(w0, same0.toarray() if sp.issparse(same0) else same0)
    diff0 = other.weights["src_a"]
    assert not np.array_equal(w0, diff0.toarray() if sp.issparse(diff0) else diff0)
    assert dep.weights["a_b"] is not base.projections[2].weights
    # the run equals the float reference of the snapshot weights, spike for spike
    agreement = mapping.verify(dep, 100)
    assert agreement["total"]["exact_fraction"] == 1.0 and agreement["total"]["n_a"] > 0


def test_a_bad_device_snapshot_is_reported(noisy_device):
    class Broken(noisy_device):
        def snapshot_weights(self, weights, *, random_state=None):
            return np.ones((1, 1))

    from neurochip.network import REGISTRY

    REGISTRY["Broken"] = Broken
    try:
        net = tiny_net(device=Broken())
        with pytest.raises(ValueError, match=r"Projection 'p': device Broken.snapshot_weights should return "
                                             r"finite weights of shape \(2, 3\), got shape \(1, 1\)"):
            mapping.compile(net, "loihi2-sim-float")
    finally:
        del REGISTRY["Broken"]


def test_real_memristive_device_matches_the_brian2_device_synapses():
    # neurochip.devices (landed on main): with its own seed, the snapshot is the
    # Brian2 backend's initial conductance state; without read noise or drift the
    # runs agree spike for spike.
    from brian2 import Hz

    from neurochip import brian_backend, compare_spikes
    from neurochip.devices import presets

    dev = presets.get("ag_a_si", sigma_g_max=0.1, seed=3)
    assert dev.read_sigma == 0 and dev.drift_nu == 0
    rng = np.random.default_rng(0)
    net = Network(sources=[SpikeSource.poisson("s", 20, rate=100 * Hz, steps=150, random_state=1)],
                  populations=[Population("a", 15, du=0.3, dv=0.1, vth=1.0)],
                  projections=[Projection("sa", "s", "a", rng.normal(0.3, 0.3, (15, 20)), device=dev)])
    dep = mapping.compile(net, "loihi2-sim-float")
    assert not np.array_equal(dep.weights["sa"], net.projections[0].weights)  # the devices changed them
    brian = brian_backend.simulate(net, 150)
    lava = mapping.run(dep, 150)
    c = compare_spikes(brian, lava, "a")
    assert c["n_a"] > 100 and c["exact"] == c["n_a"] == c["n_b"]
