"""The Brian2 component and the Lava process raise the same events at the same steps
as the numpy reference, on the same spike trains."""
import numpy as np
import pytest

from neurochip import Network, Population, Projection, SpikeSource
from neurochip.reference import simulate
from neurochip.regulator import MetaRegulator, run_regulated
from neurochip.regulator.model import raw_spikes

T = 400


def fault_source(seed, faulty):
    """20 Bernoulli inputs: p = 0.1 per step; if faulty a burst (0.5) in [150, 250), silence in
    [250, 330) and a burst again from 380 to the end (its alarm falls on the last step, 399)."""
    p = np.full(T, 0.1)
    if faulty:
        p[150:250], p[250:330], p[380:] = 0.5, 0.0, 0.6
    rng = np.random.default_rng(seed)
    st, idx = np.nonzero(rng.random((T, 20)) < p[:, None])
    return SpikeSource("in", 20, indices=idx, steps=st)


def network(src):
    w = np.random.default_rng(7).random((5, 20)) * 0.3
    return Network(sources=[src], populations=[Population("out", 5, du=0.5, dv=0.2, vth=1.0)],
                   projections=[Projection("p", "in", "out", w)])


@pytest.fixture(scope="module")
def fitted():
    calib_net = network(fault_source(0, False))
    return MetaRegulator(window=10, warmup_windows=2).fit(calib_net, simulate(calib_net, T))


@pytest.fixture(scope="module")
def brian_run(fitted):
    return run_regulated(network(fault_source(1, True)), fitted, T)


def test_brian2_component_matches_numpy_reference(fitted, brian_run):
    result, log = brian_run
    ref = fitted.detect(result)
    rows = log.rows()
    assert rows.shape[0] >= 6                       # the faults do raise events
    assert rows[:, 0].min() >= 3 * 10 - 1           # nothing in the 2 warm-up windows
    assert {e.kind for e in log.events} >= {"high", "silence", "recovered"}
    assert rows[-1, 0] == T - 1                      # the window closed on the last step is logged
    assert np.array_equal(rows, ref.rows())
    assert [e.count for e in log.events] == [e.count for e in ref.events]
    # safe mode withholds the output's spikes from the result, but the network ran as the plain one
    plain = simulate(network(fault_source(1, True)), T)
    assert np.array_equal(plain.spikes["out"].steps, raw_spikes(result, "out").steps)
    assert result.spikes["out"].steps.size < plain.spikes["out"].steps.size


def test_lava_process_matches_brian2_on_same_trains(fitted, brian_run):
    from mapping.lava_regulator import replay_regulated

    result, log = brian_run
    lava_log = replay_regulated(fitted, {p: raw_spikes(result, p) for p in fitted.populations_}, T, timeout=120)
    assert np.array_equal(lava_log.rows(), log.rows())
    assert [e.count for e in lava_log.events] == [e.count for e in log.events]
    assert lava_log.backend == "lava"


def test_lava_regulator_on_lif_spike_ports():
    """RingBuffer -> Dense -> LIF, the regulator fed by the LIF's and the input's s_out ports."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF

    from mapping.lava_regulator import connect_spike_ports, read_log, regulator_process, run_bounded

    steps = 60
    rng = np.random.default_rng(1)
    p = np.where(np.arange(steps) < 30, 0.15, 0.6)
    st, idx = np.nonzero(rng.random((steps, 8)) < p[:, None])
    w = rng.random((3, 8)) * 0.5
    net = Network(sources=[SpikeSource("in", 8, indices=idx, steps=st)],
                  populations=[Population("out", 3, du=0.5, dv=0.25, vth=1.0)],
                  projections=[Projection("p", "in", "out", w)])
    ref = simulate(net, steps)
    reg = MetaRegulator(window=5, k=2.0, persist=1).fit(net, ref, stop_step=30)
    expected = reg.detect(ref)
    assert {e.population for e in expected.events} == {"out", "in"}
    raster = np.zeros((8, steps))
    raster[idx, st] = 1.0
    rb, dense = RingBuffer(data=raster), Dense(weights=w)
    lif = LIF(shape=(3,), du=0.5, dv=0.25, vth=1.0, bias_mant=0.0)
    rb.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    proc = regulator_process(reg)
    with pytest.raises(ValueError, match="monitors 2 populations, got 1 ports"):
        connect_spike_ports(proc, [lif.s_out])
    with pytest.raises(ValueError, match=r"port 0 has shape \(8,\), the regulator expects \(3,\)"):
        connect_spike_ports(proc, [rb.s_out, lif.s_out])
    connect_spike_ports(proc, [lif.s_out, rb.s_out])
    log = run_bounded(proc, steps, timeout=120, read=lambda: read_log(proc, reg, steps))
    assert np.array_equal(log.rows(), expected.rows())
    assert [e.count for e in log.events] == [e.count for e in expected.events]


def test_backend_errors(fitted):
    from mapping.lava_regulator import RegulatorProcess, regulator_process, replay_regulated

    from neurochip.brian_backend import build
    from neurochip.regulator import BrianRegulator

    with pytest.raises(ValueError, match="not fitted"):
        BrianRegulator(build(network(fault_source(0, False))), MetaRegulator())
    other = Network(sources=[SpikeSource("in", 20)], populations=[Population("out", 6, du=1, dv=1, vth=1)])
    with pytest.raises(ValueError, match="'out' has 6 neurons in the model but 5 in calibration"):
        BrianRegulator(build(other), fitted)
    with pytest.raises(ValueError, match="regulator should be a MetaRegulator"):
        regulator_process("x")
    with pytest.raises(ValueError, match="no spikes given for monitored population 'in'"):
        replay_regulated(fitted, {"out": ([], [])}, 10)
    with pytest.raises(ValueError, match=r"low should have shape \(2,\)"):
        RegulatorProcess(sizes=[3, 4], window=5, low=[0.0], high=[1.0, 1.0], silence_windows=[3, 3], persist=1)
    with pytest.raises(ValueError, match="at most 8 populations"):
        RegulatorProcess(sizes=[1] * 9, window=5, low=[0.0] * 9, high=[1.0] * 9, silence_windows=[3] * 9,
                         persist=1)


@pytest.mark.parametrize("tag", ["floating_pt", "fixed_pt"])
def test_lava_safe_out_flags_follow_the_log(fitted, brian_run, tag):
    """safe_out at step k is the alarm state after step k: it equals the log's safe-mode mask at k + 1."""
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer

    from mapping.lava_regulator import connect_spike_ports, read_log, regulator_process, run_bounded

    result, log = brian_run
    sources = []
    for p, size in zip(fitted.populations_, fitted.sizes_):
        raster = np.zeros((size, T))
        raw = raw_spikes(result, p)
        raster[raw.indices, raw.steps] = 1
        sources.append(RingBuffer(data=raster))
    proc = regulator_process(fitted)
    connect_spike_ports(proc, [s.s_out for s in sources])
    sink = Sink(shape=(2,), buffer=T)
    proc.safe_out.connect(sink.a_in)
    lava_log, flags = run_bounded(proc, T, timeout=120, run_cfg=Loihi2SimCfg(select_tag=tag),
                                  read=lambda: (read_log(proc, fitted, T), sink.data.get()))
    assert np.array_equal(lava_log.rows(), log.rows())
    for k, p in enumerate(fitted.populations_):
        mask = log.safe_mode_mask(p)
        assert mask.any()
        assert np.array_equal(flags[k, :-1] != 0, mask[1:])


def test_brian2_component_numpy_codegen(fitted, brian_run):
    """The abstract-code window update gives the same events with Brian2's numpy target."""
    result, log = brian_run
    res_np, log_np = run_regulated(network(fault_source(1, True)), fitted, T, codegen_target="numpy")
    assert res_np.backend == "brian2-numpy"
    assert np.array_equal(log_np.rows(), log.rows())


def test_lava_regulator_run_is_bounded_and_released(fitted):
    """The regulator's runs use mapping's run primitive: a time bound, a clear error, nothing left behind."""
    import os

    from mapping import lava_backend
    from mapping.lava_regulator import replay_regulated

    spikes = {p: ([], []) for p in fitted.populations_}
    with pytest.raises(lava_backend.LavaTimeoutError, match="did not finish within the time bound"):
        replay_regulated(fitted, spikes, 200_000, timeout=2.0)
    assert lava_backend.LAST_RUN_SEGMENTS, "the run should have used shared memory"
    assert not any(os.path.exists(os.path.join("/dev/shm", n)) for n in lava_backend.LAST_RUN_SEGMENTS)
