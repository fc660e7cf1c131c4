"""Brian2 differential-pair synapses against the pure numpy functions."""
import brian2 as b2
import numpy as np
import pytest
import scipy.sparse

from neurochip import Network, Population, Projection, SpikeSource, simulate
from neurochip.devices import functional as F
from neurochip.devices import presets
from neurochip.devices.brian import (SYNAPSE_MODEL, device_conductances, dw_step, dw_update_code,
                                     set_device_variables)


def _weights(rng, n_post, n_pre):
    return rng.uniform(-1.0, 1.0, (n_post, n_pre))


@pytest.mark.parametrize("sparse", [False, True])
def test_backend_reads_snapshot_weights_on_each_spike(sparse):
    """u of the post neuron jumps by the device weights (no read noise, du = 1 so u = a_in)."""
    rng = np.random.default_rng(1)
    n_pre, n_post = 4, 3
    W = _weights(rng, n_post, n_pre)
    if sparse:
        W[0, 1] = W[2, 3] = 0.0
        W = scipy.sparse.csr_matrix(W)
    device = presets.ag_a_si(sigma_g_max=0.1, stuck_at_min=0.1, seed=5)
    # one spike per pre neuron, at different steps
    src = SpikeSource("in", n_pre, indices=np.arange(n_pre), steps=np.arange(n_pre) * 2)
    pop = Population("out", n_post, du=1.0, dv=0.0, vth=1e9)
    net = Network(sources=[src], populations=[pop],
                  projections=[Projection("in_out", "in", "out", W, device=device)])
    res = simulate(net, 2 * n_pre + 1, probes={"out": ["u"]})
    expected = device.snapshot_weights(W)
    if sparse:
        assert scipy.sparse.issparse(expected) and expected.nnz == W.nnz
        expected, W = expected.toarray(), W.toarray()
    assert not np.allclose(expected, W, atol=1e-3)  # the devices do change the weights
    u = res.traces["out"]["u"]
    for i in range(n_pre):
        np.testing.assert_allclose(u[2 * i + 1], expected[:, i], rtol=1e-12, atol=1e-12)


def test_backend_read_noise_is_seeded_and_has_configured_spread():
    n_pre = 400
    W = np.full((1, n_pre), 0.5)
    device = presets.ideal(read_sigma=0.1, seed=3)
    src = SpikeSource("in", n_pre, indices=np.arange(n_pre), steps=np.zeros(n_pre, int))
    pop = Population("out", 1, du=1.0, dv=0.0, vth=1e9)

    def run():
        net = Network(sources=[src], populations=[pop], projections=[Projection("p", "in", "out", W, device=device)])
        return simulate(net, 2, probes={"out": ["u"]}).traces["out"]["u"][1, 0]

    a, b = run(), run()
    assert a == b  # seeded with the device's seed
    # noise-free: every synapse is G+ = g_max, G- = g_min, k (G+ - G-) = 0.5 exactly (ideal device)
    np.testing.assert_allclose(device.snapshot_weights(W), W, rtol=1e-12)
    # each read adds k (G+ s z1 - G- s z2): the sum over n_pre reads has this standard deviation
    k = 0.5 / (device.g_max_s - device.g_min_s)
    sd = 0.1 * k * np.sqrt(n_pre * (device.g_max_s ** 2 + device.g_min_s ** 2))
    assert a != n_pre * 0.5
    assert abs(a - n_pre * 0.5) < 4 * sd


def test_noisy_device_seeds_brian2_only_for_its_run():
    """Same device seed, same draws; another seed, other draws; numpy's and Brian2's global generators untouched."""
    n_pre = 50
    W = np.full((1, n_pre), 0.5)
    src = SpikeSource("in", n_pre, indices=np.arange(n_pre), steps=np.zeros(n_pre, int))
    pop = Population("out", 1, du=1.0, dv=0.0, vth=1e9)

    def run(seed):
        device = presets.ideal(read_sigma=0.1, seed=seed)
        net = Network(sources=[src], populations=[pop], projections=[Projection("p", "in", "out", W, device=device)])
        return simulate(net, 2, probes={"out": ["u"]}).traces["out"]["u"][1, 0]

    np.random.seed(123)
    numpy_before = np.random.get_state()[1].copy()
    brian_before = b2.get_device().get_random_state()
    a = run(3)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_before)
    brian_after = b2.get_device().get_random_state()
    np.testing.assert_array_equal(brian_after["numpy_state"][1], brian_before["numpy_state"][1])
    np.testing.assert_array_equal(brian_after["randn_buffer_index"], brian_before["randn_buffer_index"])
    assert run(3) == a and run(4) != a


@pytest.mark.parametrize("scheme", ["pair", "set_only"])
def test_dw_update_code_matches_numpy(scheme):
    """Scripted weight changes through Brian2 code == functional.apply_dw (no c2c noise)."""
    n_syn, steps = 12, 25
    rng = np.random.default_rng(7)
    device = presets.ag_a_si(sigma_g_min=0.1, sigma_g_max=0.1, sigma_nonlinearity=0.5, stuck_at_max=0.1,
                             c2c_sigma=0.0, update_scheme=scheme, seed=11)
    mapping = device.map_weights(rng.uniform(-1, 1, n_syn))
    step = dw_step(device, mapping.k)
    dws = rng.integers(-12, 13, (steps, n_syn)) * step * rng.uniform(0.8, 1.2, (steps, n_syn))
    # numpy
    sp, sm = mapping.state_plus, mapping.state_minus
    for s in range(steps):
        sp, sm = F.apply_dw(sp, sm, dws[s], mapping.arrays_plus, mapping.arrays_minus, device.pulse_params,
                            step, scheme)
    # brian2: one pre neuron per synapse spiking every step; dw from a 2-D TimedArray
    dt = 1 * b2.ms
    table = b2.TimedArray(dws, dt=dt, name="neurochip_devtest_dw")
    pre = b2.SpikeGeneratorGroup(n_syn, np.repeat(np.arange(n_syn)[None], steps, 0).ravel(),
                                 np.repeat(np.arange(steps), n_syn) * dt, dt=dt, name="neurochip_devtest_src")
    post = b2.NeuronGroup(n_syn, "a_in : 1", dt=dt, name="neurochip_devtest_pop")
    syn = b2.Synapses(pre, post, SYNAPSE_MODEL, dt=dt, name="neurochip_devtest_syn",
                      on_pre="dw = neurochip_devtest_dw(t, i)\n" + dw_update_code("dw", scheme),
                      namespace={"neurochip_devtest_dw": table})
    syn.connect(j="i")
    set_device_variables(syn, device, mapping)
    b2.Network(pre, post, syn).run(steps * dt, namespace={})
    gp, gm = device_conductances(syn)
    np.testing.assert_allclose(gp, sp.g, rtol=1e-9, atol=0)
    np.testing.assert_allclose(gm, sm.g, rtol=1e-9, atol=0)
    assert np.any(gp != mapping.state_plus.g) and np.any(gm != mapping.state_minus.g)


def test_device_part_with_a_toy_rule_part_matches_numpy():
    """Any rule part composes with the device part: each pre spike asks dw = +3 levels (pre 0) or -2 (pre 1)."""
    from neurochip.brian_synapses import RulePart, build_synapses
    from neurochip.devices.brian import device_part, device_weights

    device = presets.ag_a_si(c2c_sigma=0.0, sigma_g_max=0.1, seed=2)
    W = np.array([[0.5, -0.25], [0.0, 1.0]])  # (n_post, n_pre)
    proj = Projection("p", "in", "out", W, device=device)
    pre_idx, post_idx, w = proj.synapses()
    mapping = device.map_weights(w)
    step = dw_step(device, mapping.k)
    dt = 1 * b2.ms
    n_spikes = 6
    src = b2.SpikeGeneratorGroup(2, np.tile([0, 1], n_spikes), np.repeat(np.arange(n_spikes), 2) * dt, dt=dt,
                                 name="neurochip_devtest_src")
    post = b2.NeuronGroup(2, "a_in : 1", dt=dt, name="neurochip_devtest_pop")
    gain = np.where(pre_idx == 0, 3.0, -2.0)
    toy = RulePart(model="gain : 1 (constant)\nspiked : 1", on_pre="spiked = 1", on_post="", before="spiked = 0",
                   dw="spiked*gain*dw_step_dev", setup=lambda syn, i, j: setattr(syn, "gain", gain))
    syn, others = build_synapses(src, post, i=pre_idx, j=post_idx, delay=1, dt=dt, name="neurochip_devtest_syn",
                                 weights=device_part(device, w), rule=toy)
    assert others == []
    b2.Network(src, post, syn).run(n_spikes * dt, namespace={})
    sp, sm = mapping.state_plus, mapping.state_minus
    for _ in range(n_spikes):
        sp, sm = F.apply_dw(sp, sm, gain * step, mapping.arrays_plus, mapping.arrays_minus, device.pulse_params,
                            step, device.update_scheme)
    gp, gm = device_conductances(syn)
    np.testing.assert_allclose(gp, sp.g, rtol=1e-9)
    np.testing.assert_allclose(gm, sm.g, rtol=1e-9)
    np.testing.assert_allclose(device_weights(syn), mapping.k * (sp.g - sm.g), rtol=1e-9, atol=1e-12)
    assert device_weights(syn)[0] > mapping.weights_realized[0]  # pre 0 potentiated


def test_build_synapses_refuses_a_rule_on_static_weights():
    from neurochip.brian_synapses import RulePart, build_synapses, plain_weights

    dt = 1 * b2.ms
    src = b2.SpikeGeneratorGroup(1, [0], [0] * dt, dt=dt, name="neurochip_devtest_src")
    post = b2.NeuronGroup(1, "a_in : 1", dt=dt, name="neurochip_devtest_pop")
    toy = RulePart(model="", on_pre="", on_post="", before="", dw="0", setup=lambda syn, i, j: None)
    with pytest.raises(ValueError, match="synapses 'neurochip_devtest_syn' have a rule but static weights"):
        build_synapses(src, post, i=[0], j=[0], delay=1, dt=dt, name="neurochip_devtest_syn",
                       weights=plain_weights(np.ones(1)), rule=toy)


def test_backend_read_drifts_with_the_power_law():
    """PCM device with t0 = 1 ms: a spike delivered at step k reads G0 (k dt / t0)^-nu."""
    from brian2 import ms

    device = presets.pcm(drift_t0=1 * ms, drift_nu=0.5, drift_nu_sigma=0.0, read_sigma=0.0, write_sigma=0.0)
    W = np.array([[0.8]])
    steps = [0, 3, 15]  # delivered (added to a_in) at steps 0, 3, 15, read in u one step later
    src = SpikeSource("in", 1, indices=[0, 0, 0], steps=steps)
    pop = Population("out", 1, du=1.0, dv=0.0, vth=1e9)
    net = Network(sources=[src], populations=[pop], projections=[Projection("p", "in", "out", W, device=device)])
    u = simulate(net, 17, probes={"out": ["u"]}).traces["out"]["u"][:, 0]
    w0 = device.snapshot_weights(W)[0, 0]
    for s in steps:
        expected = w0 * max(s, 1) ** -0.5
        assert u[s + 1] == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(device.snapshot_weights(W, t=s * ms)[0, 0], expected, rtol=1e-12)


def test_dw_update_code_cycle_to_cycle_noise_has_configured_spread():
    """Brian2's pulses carry c2c_sigma (g_max - g_min) sqrt(n) noise, like functional.program (statistically)."""
    n_syn = 3000
    device = presets.ideal(c2c_sigma=0.02, seed=4)
    mapping = device.map_weights(np.zeros(n_syn))  # every device at g_min
    step = dw_step(device, mapping.k)
    dt = 1 * b2.ms
    b2.seed(4)
    pre = b2.SpikeGeneratorGroup(n_syn, np.arange(n_syn), np.zeros(n_syn) * dt, dt=dt, name="neurochip_devtest_src")
    post = b2.NeuronGroup(n_syn, "a_in : 1", dt=dt, name="neurochip_devtest_pop")
    syn = b2.Synapses(pre, post, SYNAPSE_MODEL, dt=dt, name="neurochip_devtest_syn",
                      on_pre="dw = 16*dw_step_dev\n" + dw_update_code("dw", "pair"))
    syn.connect(j="i")
    set_device_variables(syn, device, mapping)
    b2.Network(pre, post, syn).run(2 * dt, namespace={})
    gp, gm = device_conductances(syn)
    span = device.g_max_s - device.g_min_s
    level = device.g_min_s + 16 / 63 * span
    assert np.std(gp) / span == pytest.approx(0.02 * 4, rel=0.08)
    assert np.mean(gp) == pytest.approx(level, abs=4 * 0.08 * span / np.sqrt(n_syn))
    np.testing.assert_array_equal(gm, device.g_min_s)  # G- untouched
