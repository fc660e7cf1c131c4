"""The network description: JSON round trips and every validation error path."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from brian2 import DimensionMismatchError, Hz, ms, mV, second

from neurochip import Network, Population, Projection, SpikeSource


def make_network():
    return Network(
        name="rt",
        dt=0.5 * ms,
        sources=[SpikeSource("in", 3, indices=[2, 0, 1], steps=[4, 1, 1])],
        populations=[Population("a", 4, du=0.25, dv=0.1, vth=1.5, bias=[0.0, 0.1, 0.2, 0.3], v_init=0.2),
                     Population("b", 2, du=1.0, dv=0.0, vth=2.0, u_init=[0.5, -0.5])],
        projections=[Projection("in_a", "in", "a", np.arange(12.0).reshape(4, 3) / 10, delay=3),
                     Projection("a_b", "a", "b", sp.csr_matrix(np.array([[0, 1.5, 0, 0], [0.0, 0, 0, -2]]))),
                     Projection("b_b", "b", "b", np.zeros((2, 2)))],
    )


@pytest.mark.parametrize("node", make_network().populations + make_network().sources + make_network().projections,
                         ids=lambda n: f"{type(n).__name__}-{n.name}")
def test_every_node_type_round_trips_through_dict_and_json(node):
    d = json.loads(json.dumps(node.to_dict()))
    again = type(node).from_dict(d)
    assert again == node
    assert again.to_dict() == node.to_dict()


def test_network_round_trips_through_file(tmp_path):
    net = make_network()
    path = net.save(tmp_path / "net.json")
    again = Network.load(path)
    assert again == net
    assert float(again.dt / ms) == 0.5
    assert again["a_b"].is_sparse and again["a_b"].weights.nnz == 2
    np.testing.assert_array_equal(again["a"].bias, [0.0, 0.1, 0.2, 0.3])
    # the file is plain JSON with a format tag
    assert json.loads(path.read_text())["format"] == "neurochip.network"


def test_changed_network_is_not_equal():
    a, b = make_network(), make_network()
    b["in_a"].weights[0, 0] += 1e-9
    assert a != b


def test_spike_source_sorts_events_and_converts_times():
    s = SpikeSource("s", 3, indices=[2, 0, 1], steps=[4, 1, 1])
    np.testing.assert_array_equal(s.steps, [1, 1, 4])
    np.testing.assert_array_equal(s.indices, [0, 1, 2])
    t = SpikeSource.from_times("t", 2, [0, 1], [1.0, 2.5] * ms, dt=0.5 * ms)
    np.testing.assert_array_equal(t.steps, [2, 5])


def test_poisson_source_is_seeded_and_has_the_rate():
    a = SpikeSource.poisson("p", 100, rate=50 * Hz, steps=2000, random_state=1)
    b = SpikeSource.poisson("p", 100, rate=50 * Hz, steps=2000, random_state=1)
    c = SpikeSource.poisson("p", 100, rate=50 * Hz, steps=2000, random_state=2)
    assert a == b and a != c
    # expected 100 * 2000 * 0.05 = 10,000 spikes; sd = sqrt(n p (1-p)) ~ 97: 5 sd tolerance
    assert abs(a.steps.size - 10_000) < 5 * 97


def test_from_time_constants():
    p = Population.from_time_constants("p", 3, tau_u=4 * ms, tau_v=20 * ms, dt=1 * ms, vth=1.0)
    assert p.du == pytest.approx(0.25) and p.dv == pytest.approx(0.05)
    assert float(p.tau_v(1 * ms) / ms) == pytest.approx(20)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,match", [
    (dict(name="", size=1), r"name should be a non-empty string"),
    (dict(name="1abc", size=1), r"name should start with a letter"),
    (dict(name="p", size=0), r"Population 'p': size should be >= 1, got 0"),
    (dict(name="p", size=-3), r"size should be >= 1, got -3"),
    (dict(name="p", size=2.5), r"size should be an integer, got 2.5"),
    (dict(name="p", size=2, du=1.5), r"Population 'p': du should be <= 1.0, got 1.5"),
    (dict(name="p", size=2, dv=-0.1), r"dv should be >= 0.0, got -0.1"),
    (dict(name="p", size=2, vth=0.0), r"vth should be > 0.0, got 0.0"),
    (dict(name="p", size=2, vth=float("nan")), r"vth should be finite"),
    (dict(name="p", size=2, vth=1 * mV), r"vth should be dimensionless"),
    (dict(name="p", size=2, bias=[1.0, 2.0, 3.0]), r"bias should be a scalar or have shape \(2,\), got shape \(3,\)"),
    (dict(name="p", size=2, bias=[1.0, np.inf]), r"bias should be finite"),
    (dict(name="p", size=2, v_init="x"), r"v_init should be a number or an array"),
])
def test_population_validation(kwargs, match):
    params = dict(du=0.1, dv=0.1, vth=1.0)
    params.update(kwargs)
    with pytest.raises((ValueError, DimensionMismatchError), match=match):
        Population(**params)


def test_time_constant_errors():
    with pytest.raises(DimensionMismatchError, match=r"tau_u should have units .*got 5.0 \(no units\)"):
        Population.from_time_constants("p", 1, tau_u=5.0, tau_v=10 * ms, vth=1.0)
    with pytest.raises(DimensionMismatchError, match=r"tau_v should have units .*got 10. mV"):
        Population.from_time_constants("p", 1, tau_u=5 * ms, tau_v=10 * mV, vth=1.0)
    with pytest.raises(ValueError, match=r"tau_u should be >= dt"):
        Population.from_time_constants("p", 1, tau_u=0.5 * ms, tau_v=10 * ms, dt=1 * ms, vth=1.0)
    with pytest.raises(ValueError, match=r"tau_v should be > 0"):
        Population.from_time_constants("p", 1, tau_u=5 * ms, tau_v=-10 * ms, vth=1.0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(size=0), r"SpikeSource 's': size should be >= 1"),
    (dict(indices=[0, 1], steps=[0]), r"indices and steps should have the same length, got 2 and 1"),
    (dict(indices=[0, 3], steps=[0, 1]), r"indices should be in \[0, 2\], got values in \[0, 3\]"),
    (dict(indices=[-1], steps=[0]), r"indices should be in \[0, 2\]"),
    (dict(indices=[0], steps=[-2]), r"steps should be >= 0, got minimum -2"),
    (dict(indices=[0], steps=[1.5]), r"steps should be whole numbers"),
    (dict(indices=[[0]], steps=[[1]]), r"indices should be 1-D"),
    (dict(indices=["a"], steps=[1]), r"indices should be integers"),
    (dict(indices=[1, 1], steps=[4, 4]), r"neuron 1 spikes twice at step 4"),
])
def test_spike_source_validation(kwargs, match):
    params = dict(name="s", size=3)
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SpikeSource(**params)


def test_spike_source_constructor_errors():
    with pytest.raises(ValueError, match=r"times should have units of time"):
        SpikeSource.from_times("s", 1, [0], [1.0], dt=1 * ms)
    with pytest.raises(ValueError, match=r"rate \* dt should be in \[0, 1\], got 2"):
        SpikeSource.poisson("s", 1, rate=2000 * Hz, steps=10, dt=1 * ms)
    with pytest.raises(DimensionMismatchError, match=r"rate should have units"):
        SpikeSource.poisson("s", 1, rate=20 * second, steps=10)


@pytest.mark.parametrize("kwargs,match", [
    (dict(weights=np.ones(3)), r"Projection 'w': weights should be 2-D \(n_post, n_pre\), got shape \(3,\)"),
    (dict(weights=[[1.0, np.nan]]), r"weights should be finite, got 1 non-finite values"),
    (dict(weights=[["a"]]), r"weights should be a 2-D array of numbers"),
    (dict(weights=np.ones((1, 1)), delay=0), r"delay should be >= 1, got 0"),
    (dict(weights=np.ones((1, 1)), delay=1.5), r"delay should be an integer"),
    (dict(weights=np.ones((1, 1)), pre=""), r"pre: name should be a non-empty string"),
    (dict(weights=np.ones((1, 1)), device=object()), r"device should be a registered model object"),
])
def test_projection_validation(kwargs, match):
    params = dict(name="w", pre="a", post="b")
    params.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Projection(**params)


def test_network_validation():
    a = Population("a", 2, du=0.1, dv=0.1, vth=1.0)
    s = SpikeSource("s", 3)
    with pytest.raises(ValueError, match=r"name 'a' is used twice \(Population and SpikeSource\)"):
        Network(populations=[a], sources=[SpikeSource("a", 1)])
    with pytest.raises(ValueError, match=r"Projection 'p': pre 'x' is not a population or source"):
        Network(populations=[a], projections=[Projection("p", "x", "a", np.ones((2, 2)))])
    with pytest.raises(ValueError, match=r"post 's' is not a population of the network"):
        Network(populations=[a], sources=[s], projections=[Projection("p", "a", "s", np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"weights should have shape \(n_post, n_pre\) = \(2, 3\), got \(3, 2\)"):
        Network(populations=[a], sources=[s], projections=[Projection("p", "s", "a", np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"populations\[0\] should be a Population, got SpikeSource"):
        Network(populations=[s])
    with pytest.raises(DimensionMismatchError, match=r"dt should have units"):
        Network(populations=[a], dt=1.0 * mV)
    with pytest.raises(ValueError, match=r"dt should be > 0"):
        Network(populations=[a], dt=0 * ms)
    with pytest.raises(KeyError, match=r"no node or projection named 'zz'"):
        Network(populations=[a])["zz"]


def test_corrupt_network_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "neurochip.network",\n "nodes": [}')
    with pytest.raises(ValueError, match=r"bad.json is not valid JSON: .* line 2, column"):
        Network.load(bad)
    with pytest.raises(ValueError, match=r"cannot read .*missing.json"):
        Network.load(tmp_path / "missing.json")
    d = make_network().to_dict()
    cases = [
        ({**d, "format": "other"}, r"not a neurochip network description"),
        ({**d, "version": 99}, r"network format version 99 is not supported"),
        ({k: v for k, v in d.items() if k != "edges"}, r"missing field 'edges'"),
        ({**d, "nodes": [{"type": "Banana"}]}, r"item 0 has unknown type 'Banana'"),
        ({**d, "nodes": [{"type": "Population", "name": "a", "size": 2}]}, r"Population 'a': missing field\(s\) du, dv, vth"),
        ({**d, "nodes": [{**d["nodes"][0], "colour": 1}]}, r"unknown field\(s\) colour"),
        ({**d, "edges": [{**d["edges"][1], "weights": {"format": "csr"}}]}, r"unknown sparse format 'csr'"),
        ({**d, "edges": [{**d["edges"][1], "weights": {"format": "coo", "shape": [2, 4]}}]}, r"malformed sparse weights"),
        ({**d, "dt": -1}, r"dt should be > 0"),
    ]
    for k, (content, match) in enumerate(cases):
        path = tmp_path / f"case{k}.json"
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=match):
            Network.load(path)
