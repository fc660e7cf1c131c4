"""The regulator attached to a running network: it acts during the run, the same way on
numpy, Brian2 and Lava float (events, actions, spikes and learned weights), and what it
does is checked against independent computations (the log's replay, analytic firing)."""
import functools

import numpy as np
import pytest

from neurochip import Network, Population, Projection, SpikeSource, brian_backend, reference
from neurochip.plasticity import pair_stdp
from neurochip.regulator import MetaRegulator, RegulatorLog, apply_recalibration
from neurochip.regulator.attached import open_mask
from neurochip.regulator.model import raw_spikes

T = 600
#: STDP on Lava's coefficient grid, weights far from the bounds (Lava does not clip).
STDP = pair_stdp(a_plus=2 ** -7, a_minus=2 ** -7, w_min=-10, w_max=10).quantized()


def fault_source(seed, faulty):
    """20 Bernoulli inputs at p = 0.1 per step; faulty: bursts in [150, 250) and [400, 480), silence in [250, 330)."""
    p = np.full(T, 0.1)
    if faulty:
        p[150:250], p[250:330], p[400:480] = 0.5, 0.0, 0.6
    rng = np.random.default_rng(seed)
    st, idx = np.nonzero(rng.random((T, 20)) < p[:, None])
    return SpikeSource("in", 20, indices=idx, steps=st)


def network(src, *, gated=True, plastic=True):
    w = np.random.default_rng(7).random((5, 20)) * 0.3
    return Network(sources=[src],
                   populations=[Population("hid", 5, du=0.5, dv=0.2, vth=1.0),
                                Population("out", 3, du=0.5, dv=0.2, vth=0.8)],
                   projections=[Projection("p", "in", "hid", w),
                                Projection("q", "hid", "out", np.random.default_rng(8).random((3, 5)),
                                           plasticity=STDP if plastic else None, gated=gated and plastic)])


def fitted(policy):
    calib = network(fault_source(0, False))
    return MetaRegulator(window=10, warmup_windows=2, policy=policy).fit(calib, reference.simulate(calib, T))


def same_spikes(a, b):
    return all(np.array_equal(a.spikes[n].steps, b.spikes[n].steps)
               and np.array_equal(a.spikes[n].indices, b.spikes[n].indices) for n in a.spikes)


def without_backend(info):
    return {**info, "log": {k: v for k, v in info["log"].items() if k != "backend"}}


@functools.lru_cache(maxsize=None)
def regulated(policy):
    """The same regulated run on numpy, Brian2 and Lava float (computed once per policy)."""
    import mapping

    reg = fitted(policy)
    net = network(fault_source(1, True))
    return reg, {"numpy": reference.simulate(net, T, regulator=reg),
                 "brian2": brian_backend.simulate(net, T, regulator=reg),
                 "lava": mapping.run(mapping.compile(net, "loihi2-sim-float", regulator=reg), T)}


@pytest.fixture(params=["safe_mode", "recalibrate", "learn"])
def runs(request):
    return regulated(request.param)


def test_backends_act_alike(runs):
    reg, res = runs
    ref = res["numpy"]
    info = ref.info["regulator"]
    assert info["policy"] == reg.policy and len(info["log"]["events"]) >= 6
    assert info["gate_intervals"] and info["gate_open_steps"] > 0          # the gate did open
    for name in ("brian2", "lava"):
        other = res[name]
        assert same_spikes(ref, other), name
        assert without_backend(other.info["regulator"]) == without_backend(info), name
        np.testing.assert_allclose(other.info["weights"]["q"], ref.info["weights"]["q"], rtol=1e-12, atol=0)
    assert res["lava"].info["regulator"]["log"]["backend"] == "lava"


def test_actions_follow_the_log(runs):
    """Gate, hold and thresholds equal what the log's events imply (an independent replay)."""
    reg, res = runs
    r = res["numpy"]
    info = r.info["regulator"]
    log = RegulatorLog.from_dict(info["log"])
    assert np.array_equal(open_mask(info, "gate_intervals", T), log.alarm_mask())
    held = open_mask(info, "held_intervals", T)
    assert np.array_equal(held, log.alarm_mask() if reg.policy == "safe_mode" else np.zeros(T, bool))
    net = network(fault_source(1, True))
    final = apply_recalibration(net, log)
    for pop, changes in info["thresholds"].items():
        assert changes[-1][1] == final[pop].vth                   # the same doubles
    if reg.policy == "recalibrate":
        assert len(info["thresholds"]["hid"]) > 1                 # thresholds did change during the run
    # replaying the run's raw spikes gives the run's own log
    assert np.array_equal(reg.detect(r).rows(), log.rows())


def test_recalibration_changes_the_run():
    """Spikes equal the listening run's up to the first action's step, then the threshold change shows."""
    reg, res = regulated("recalibrate")
    listen = reference.simulate(network(fault_source(1, True)), T, regulator=fitted("learn"))
    first = min(a["step"] for a in res["numpy"].info["regulator"]["actions"] if a["actuator"] == "vth")
    hid, base = res["numpy"].spikes["hid"], listen.spikes["hid"]
    assert np.array_equal(hid.steps[hid.steps < first], base.steps[base.steps < first])
    assert not np.array_equal(hid.steps, base.steps)


def test_safe_mode_withholds_output_spikes():
    reg, res = regulated("safe_mode")
    r = res["numpy"]
    held = open_mask(r.info["regulator"], "held_intervals", T)
    out, raw = r.spikes["out"], raw_spikes(r, "out")
    assert not held[out.steps].any() and raw.steps.size > out.steps.size
    assert np.array_equal(np.sort(raw.steps[held[raw.steps]]), np.sort(r.info["regulator"]["held_spikes"]["out"]["steps"]))
    assert r.info["regulator"]["outputs"] == ["out"]
    # the network underneath ran as without the hold (the regulator sees a recovery)
    plain = reference.simulate(network(fault_source(1, True)), T, regulator=fitted("learn"))
    assert np.array_equal(raw.steps, plain.spikes["out"].steps)


def test_gated_plasticity_learns_only_while_open(runs):
    reg, res = runs
    r = res["numpy"]
    start = r.info["regulator"]["gate_intervals"][0][0]
    w0 = network(fault_source(1, True))["q"].weights
    before = reference.simulate(network(fault_source(1, True)), start, regulator=reg)
    np.testing.assert_array_equal(before.info["weights"]["q"], w0)        # closed: not a single update
    assert np.abs(np.array(r.info["weights"]["q"]) - w0).max() > 1e-3       # open: learned


def test_gated_projection_without_regulator_does_not_learn():
    import mapping

    net = network(fault_source(1, True))
    w0 = net["q"].weights
    for result in (reference.simulate(net, 200), brian_backend.simulate(net, 200),
                   mapping.run(mapping.compile(net, "loihi2-sim-float"), 200)):
        np.testing.assert_array_equal(result.info["weights"]["q"], w0, err_msg=result.backend)
    learns = reference.simulate(network(fault_source(1, True), gated=False), 200)
    assert np.abs(np.array(learns.info["weights"]["q"]) - w0).max() > 1e-3


def test_recalibrated_threshold_gives_the_analytic_firing_period():
    """A perfect integrator (du = 1, dv = 0) with bias b fires every floor(vth / b) + 1 steps:
    after the regulator scales vth by count / mean, the period is that of the new threshold."""
    def net(bias):
        return Network(populations=[Population("p", 1, du=1.0, dv=0.0, vth=10.0, bias=bias)])

    calib = reference.simulate(net(1.0), 440)             # period 11: 2 spikes per 22-step window
    assert np.all(np.diff(calib.spikes["p"].steps) == 11)
    reg = MetaRegulator(window=22, k=0.25, persist=1, policy="recalibrate", warmup_windows=1).fit(net(1.0), calib)
    assert reg.mean_[0] == 2.0
    for run in (reference.simulate, brian_backend.simulate):
        r = run(net(2.0), 440, regulator=reg)            # period 6: 3-4 spikes per window, high
        info = r.info["regulator"]
        step, vth = info["thresholds"]["p"][-1]
        event = RegulatorLog.from_dict(info["log"]).events[0]
        assert event.kind == "high" and step == event.step + 1
        assert vth == 10.0 * (event.count / 2.0)
        isi = np.diff(r.spikes["p"].steps)
        assert set(isi[r.spikes["p"].steps[1:] < step].tolist()) == {6}
        assert set(isi[r.spikes["p"].steps[:-1] > step].tolist()) == {int(vth // 2.0) + 1}


def test_errors():
    import mapping

    net = network(fault_source(1, True))
    with pytest.raises(ValueError, match="not fitted"):
        reference.simulate(net, 10, regulator=MetaRegulator())
    with pytest.raises(ValueError, match="neurochip.simulate: regulator should be a fitted neurochip.regulator.MetaRegulator, got 'reg'"):
        brian_backend.simulate(net, 10, regulator="reg")
    small = Network(sources=[SpikeSource("in", 20)], populations=[Population("hid", 4, du=1, dv=1, vth=1),
                                                                   Population("out", 3, du=1, dv=1, vth=1)])
    with pytest.raises(ValueError, match="'hid' has 4 neurons in network 'network' but 5 in calibration"):
        reference.simulate(small, 10, regulator=fitted("learn"))
    with pytest.raises(ValueError, match="an attached regulator runs on floating-point targets"):
        mapping.compile(network(fault_source(1, True), plastic=False), "loihi2-sim-fixed", regulator=fitted("learn"))
    with pytest.raises(ValueError, match="output 'nope' is not a population"):
        MetaRegulator(outputs=["nope"]).fit(net, reference.simulate(net, 100))
    with pytest.raises(ValueError, match="gated=True gates plasticity, but the projection has none"):
        Projection("x", "in", "hid", np.zeros((5, 20)), gated=True)
    with pytest.raises(ValueError, match="Projection 'x': gated should be True or False, got 'yes'"):
        Projection("x", "in", "hid", np.zeros((5, 20)), plasticity=STDP, gated="yes")
    assert Network.from_dict(net.to_dict()) == net and Network.from_dict(net.to_dict())["q"].gated


def test_label_trace_population_cannot_be_regulated():
    """A Loihi3F post population (label third factor) is a LearningLIF on Lava: no regulated kind for it."""
    import dataclasses

    import mapping

    rule = dataclasses.replace(STDP, third_factor="label")
    src = fault_source(0, False)
    label = SpikeSource("label", 3, indices=np.zeros(50, int), steps=np.arange(50))
    net = Network(sources=[src, label], populations=[Population("out", 3, du=0.5, dv=0.2, vth=0.8)],
                  projections=[Projection("q", "in", "out", np.full((3, 20), 0.1), plasticity=rule)])
    reg = MetaRegulator(window=10, policy="safe_mode").fit(net, reference.simulate(net, 100))
    with pytest.raises(ValueError, match="Population 'out': the attached regulator scales its threshold or holds"):
        mapping.compile(net, "loihi2-sim-float", regulator=reg)


def test_zero_steps_and_verify_of_a_regulated_deployment():
    """No step: an empty record; mapping.verify compares with the regulated numpy reference (exact)."""
    import mapping

    reg = fitted("recalibrate")
    net = network(fault_source(1, True), plastic=False)
    for run in (reference.simulate, brian_backend.simulate):
        info = run(net, 0, regulator=reg).info["regulator"]
        assert info["actions"] == [] and info["log"]["events"] == [] and info["gate_intervals"] == []
    dep = mapping.compile(net, "loihi2-sim-float", regulator=reg)
    agreement = mapping.verify(dep, 400)["total"]
    assert agreement["exact_fraction"] == 1.0 and agreement["n_a"] > 0
    assert any(a["actuator"] == "vth" for a in reference.simulate(net, 400, regulator=reg).info["regulator"]["actions"])
