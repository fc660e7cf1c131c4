"""NIR import and export (neurochip.nir).

Graphs built with the ``nir`` API are imported and run in Brian2, the numpy
reference and Lava float: the spikes must be identical. The mapping itself is
checked against an independent forward-Euler simulation written from NIR's
equations (tolerance 1e-9 on voltages; identical spikes), and export, write,
read and import must give an equal Network.
"""
import warnings

import numpy as np
import pytest
from brian2 import Hz, ms, second

import nir

from neurochip import Network, Population, Projection, SpikeSource, brian_backend, reference
from neurochip import nir as nnir
from neurochip.testing import make_random_network

DT = 1e-3          # s
STEPS = 120


def cuba(n, *, tau_syn, tau_mem, vth, v_leak=0.0, v_reset=0.0, r=None, w_in=None):
    """A CubaLIF node in snnTorch's export convention (r = tau_mem / dt, w_in = tau_syn / dt) unless given."""
    full = lambda x: np.full(n, float(x)) if np.ndim(x) == 0 else np.asarray(x, dtype=float)  # noqa: E731
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem),
                       r=full(tau_mem / DT if r is None else r), v_leak=full(v_leak),
                       v_threshold=full(vth), v_reset=full(v_reset),
                       w_in=full(tau_syn / DT if w_in is None else w_in))


def branching_recurrent_graph(seed=0):
    """Input -> A (Affine) -> lif1; lif1 -> lif1 (recurrent Linear); lif1 -> B -> lif2 and a skip
    connection Input -> C -> Delay -> lif2; lif2 -> D -> lif1 (a loop through both); two outputs."""
    rng = np.random.default_rng(seed)
    n_in, n1, n2 = 12, 20, 8
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "A": nir.Affine(weight=rng.normal(0.3, 0.2, (n1, n_in)), bias=np.zeros(n1)),
        "lif1": cuba(n1, tau_syn=5e-3, tau_mem=20e-3, vth=1.0, v_leak=rng.uniform(0, 0.3, n1)),
        "W_rec": nir.Linear(weight=rng.normal(0.0, 0.15, (n1, n1))),
        "B": nir.Linear(weight=rng.normal(0.05, 0.1, (n2, n1))),
        "C": nir.Linear(weight=rng.normal(0.05, 0.1, (n2, n_in))),
        "C_delay": nir.Delay(delay=np.full(n2, 3e-3)),
        "lif2": cuba(n2, tau_syn=2e-3, tau_mem=10e-3, vth=0.8, v_reset=-0.2),
        "D": nir.Linear(weight=rng.normal(-0.1, 0.1, (n1, n2))),
        "out1": nir.Output(output_type={"output": np.array([n1])}),
        "out2": nir.Output(output_type={"output": np.array([n2])}),
    }
    edges = [("input", "A"), ("A", "lif1"), ("lif1", "W_rec"), ("W_rec", "lif1"), ("lif1", "B"), ("B", "lif2"),
             ("input", "C"), ("C", "C_delay"), ("C_delay", "lif2"), ("lif2", "D"), ("D", "lif1"),
             ("lif1", "out1"), ("lif2", "out2")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def poisson_input(n, seed=1, rate=80 * Hz):
    return SpikeSource.poisson("input", n, rate=rate, steps=STEPS, random_state=seed)


def assert_same_spikes(a, b, names):
    for name in names:
        np.testing.assert_array_equal(a.spikes[name].steps, b.spikes[name].steps, err_msg=name)
        np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices, err_msg=name)


def euler_nir(graph, inputs: dict, steps: int, dt: float):
    """Independent simulation of NIR's CubaLIF equations by forward Euler with step dt (not neurochip code).

    Per step: I += dt/tau_syn (-I + w_in x); v += dt/tau_mem (v_leak - v + r I) with the new I;
    spike if v > v_threshold, then v = v_reset. x is the weighted input of the spikes of the previous
    step (one step of synaptic latency), plus Delay steps. Returns spikes {node: (steps, n) bool}, v.
    """
    neurons = {k: n for k, n in graph.nodes.items() if isinstance(n, nir.CubaLIF)}
    state = {k: {"I": np.zeros(n.v_threshold.size), "v": np.zeros(n.v_threshold.size)} for k, n in neurons.items()}
    spikes = {k: np.zeros((steps, n.v_threshold.size), bool) for k, n in neurons.items()}
    spikes.update({k: v for k, v in inputs.items()})
    succ = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)

    def paths(start):  # (target neuron, matrix, extra delay) of every path from a spiking node
        out, stack = [], [(start, None, 0)]
        while stack:
            at, w, d = stack.pop()
            for nxt in succ.get(at, []):
                node = graph.nodes[nxt]
                if nxt in neurons:
                    out.append((nxt, w, d))
                elif isinstance(node, (nir.Affine, nir.Linear)):
                    stack.append((nxt, node.weight if w is None else node.weight @ w, d))
                elif isinstance(node, nir.Delay):
                    stack.append((nxt, w, d + int(round(node.delay[0] / dt))))
        return out

    routes = {k: paths(k) for k in spikes}
    vs = {k: np.zeros((steps, n.v_threshold.size)) for k, n in neurons.items()}
    for t in range(steps):
        x = {k: np.zeros(n.v_threshold.size) for k, n in neurons.items()}
        for src, rs in routes.items():
            for post, w, d in rs:
                k = t - 1 - d
                if k >= 0:
                    s = spikes[src][k].astype(float)
                    x[post] += s if w is None else w @ s
        for k, n in neurons.items():
            st = state[k]
            st["I"] = st["I"] + dt / n.tau_syn * (-st["I"] + n.w_in * x[k])
            st["v"] = st["v"] + dt / n.tau_mem * (n.v_leak - st["v"] + n.r * st["I"])
            fire = st["v"] > n.v_threshold
            st["v"] = np.where(fire, n.v_reset, st["v"])
            spikes[k][t] = fire
            vs[k][t] = st["v"]
    return spikes, vs


def raster(result, name, steps):
    out = np.zeros((steps, result.sizes[name]), bool)
    s = result.spikes[name]
    out[s.steps, s.indices] = True
    return out


# ------------------------------------------------------------------------------ import
def test_branching_recurrent_graph_imports_as_the_stated_discretization():
    graph = branching_recurrent_graph()
    src = poisson_input(12)
    net = nnir.from_nir(graph, dt=DT * second, inputs={"input": src})
    assert sorted(net.population_names) == ["lif1", "lif2"]
    assert {(p.name, p.pre, p.post, p.delay) for p in net.projections} == {
        ("A", "input", "lif1", 1), ("W_rec", "lif1", "lif1", 1), ("B", "lif1", "lif2", 1),
        ("C", "input", "lif2", 4), ("D", "lif2", "lif1", 1)}
    lif1, lif2 = net["lif1"], net["lif2"]
    assert lif1.du == pytest.approx(0.2, rel=1e-12) and lif1.dv == pytest.approx(0.05, rel=1e-12)
    assert lif2.vth == pytest.approx(1.0) and lif2.v_init == pytest.approx(0.2)   # reset shift: v' = v + 0.2
    # snnTorch's convention r = tau_mem/dt, w_in = tau_syn/dt: the factor is exactly 1, weights unchanged
    np.testing.assert_array_equal(net["A"].weights, graph.nodes["A"].weight)
    np.testing.assert_array_equal(net["W_rec"].weights, graph.nodes["W_rec"].weight)

    ref = reference.simulate(net, STEPS, {"lif1": ["v"], "lif2": ["v"]})
    euler, v_euler = euler_nir(graph, {"input": raster(ref, "input", STEPS)}, STEPS, DT)
    for name in ("lif1", "lif2"):
        np.testing.assert_array_equal(raster(ref, name, STEPS), euler[name], err_msg=name)
    np.testing.assert_allclose(ref.traces["lif1"]["v"], v_euler["lif1"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(ref.traces["lif2"]["v"] - 0.2, v_euler["lif2"], atol=1e-9, rtol=0)
    assert ref.spikes["lif1"].steps.size > 20 and ref.spikes["lif2"].steps.size > 5, ref.spike_counts()


def test_imported_graph_spikes_identically_in_brian2_and_the_reference():
    net = nnir.from_nir(branching_recurrent_graph(seed=3), dt=DT * second, inputs={"input": poisson_input(12, 4)})
    ours = brian_backend.simulate(net, STEPS, {"lif1": ["v"]})
    ref = reference.simulate(net, STEPS, {"lif1": ["v"]})
    assert_same_spikes(ours, ref, ["input", "lif1", "lif2"])
    assert ref.spikes["lif2"].steps.size > 0
    np.testing.assert_allclose(ours.traces["lif1"]["v"], ref.traces["lif1"]["v"], atol=1e-9, rtol=0)


def test_imported_graph_spikes_identically_on_lava_float():
    import mapping

    net = nnir.from_nir(branching_recurrent_graph(seed=5), dt=DT * second, inputs={"input": poisson_input(12, 6)})
    ref = reference.simulate(net, STEPS)
    target = mapping.get_target("loihi2-sim-float").with_options(timeout=120 * second)
    lava = mapping.run(mapping.compile(net, target), STEPS)
    assert_same_spikes(lava, ref, ["lif1", "lif2"])
    assert ref.spikes["lif1"].steps.size > 0 and ref.spikes["lif2"].steps.size > 0


def test_lif_if_scale_and_affine_bias_without_synaptic_filter():
    n = 5
    rng = np.random.default_rng(2)
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Affine(weight=rng.uniform(0, 1, (n, 4)), bias=np.full(n, 0.5)),
        "s": nir.Scale(scale=np.linspace(0.5, 1.5, n)),
        "lif": nir.LIF(tau=np.full(n, 4e-3), r=np.full(n, 2.0), v_leak=np.full(n, 0.1), v_threshold=np.full(n, 1.0)),
        "if": nir.IF(r=np.full(n, 300.0), v_threshold=np.full(n, 2.0)),
        "out": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("in", "fc"), ("fc", "s"), ("s", "lif"), ("lif", "if"), ("if", "out")])
    net = nnir.from_nir(graph, dt=1e-3 * second)
    lif, if_ = net["lif"], net["if"]
    assert lif.du == 1.0 and lif.dv == pytest.approx(0.25)
    # a_in = dv r (s W x); the Affine bias is a constant input: dv r s b, plus dv v_leak
    s = np.linspace(0.5, 1.5, n)
    np.testing.assert_allclose(net["fc"].weights, 0.5 * s[:, None] * graph.nodes["fc"].weight, rtol=1e-12)
    np.testing.assert_allclose(lif.bias, 0.25 * 0.1 + 0.5 * s * 0.5, rtol=1e-12)
    assert if_.du == 1.0 and if_.dv == 0.0
    np.testing.assert_allclose(net["lif_if"].weights, 0.3 * np.eye(n), rtol=1e-12)   # dt r, identity edge


def test_flatten_passes_multidimensional_inputs_through():
    graph = nir.NIRGraph(nodes={"img": nir.Input(input_type={"input": np.array([2, 3])}),
                                "flat": nir.Flatten(input_type={"input": np.array([2, 3])}, start_dim=0, end_dim=-1),
                                "fc": nir.Linear(weight=np.arange(24.0).reshape(4, 6)),
                                "lif": cuba(4, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)},
                         edges=[("img", "flat"), ("flat", "fc"), ("fc", "lif")], type_check=False)
    net = nnir.from_nir(graph, dt=DT * second)
    assert net["img"].size == 6 and net["fc"].shape == (4, 6)
    np.testing.assert_array_equal(net["fc"].weights, graph.nodes["fc"].weight)


def test_nested_subgraph_is_inlined():
    n = 6
    rec = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n])}),
        "lif": cuba(n, tau_syn=2e-3, tau_mem=8e-3, vth=1.0),
        "w_rec": nir.Linear(weight=np.full((n, n), 0.05)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    graph = nir.NIRGraph(nodes={
        "x": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Linear(weight=np.ones((n, 3))),
        "rnn": rec,
        "y": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("x", "fc"), ("fc", "rnn"), ("rnn", "y")])
    net = nnir.from_nir(graph, dt=DT * second)
    assert net.population_names == ["rnn_lif"]
    assert {(p.pre, p.post) for p in net.projections} == {("x", "rnn_lif"), ("rnn_lif", "rnn_lif")}


# ------------------------------------------------------------------------------ export
@pytest.mark.parametrize("seed", range(4))
def test_export_write_read_import_gives_an_equal_network(seed, tmp_path):
    net = make_random_network(seed)
    assert nnir.from_nir(nnir.to_nir(net)) == net
    path = nnir.write(tmp_path / "net.nir", net)
    graph = nir.read(path)                       # nir's own reader, with its type check
    assert isinstance(graph.nodes["a"], nir.CubaLIF) and isinstance(graph.nodes["src_a"], nir.Linear)
    assert nnir.from_nir(graph) == net
    assert nnir.read(path) == net


def test_export_without_metadata_still_defines_the_network():
    net = make_random_network(7)
    graph = nnir.to_nir(net)
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {}
    back = nnir.from_nir(graph, dt=net.dt, inputs={s.name: s for s in net.sources})
    for pop in net.populations:
        other = back[pop.name]
        assert other.du == pytest.approx(pop.du, rel=1e-12) and other.dv == pytest.approx(pop.dv, rel=1e-12)
        np.testing.assert_allclose(other.bias, pop.bias, rtol=1e-12, atol=1e-15)
    for proj in net.projections:
        # the weight factor (dv r)(du w_in) rounds to within 1e-12 of 1: taken as 1, weights bit-identical
        np.testing.assert_array_equal(back[proj.name].dense_weights(), proj.dense_weights())
        assert back[proj.name].delay == proj.delay
    # initial states are not part of NIR (they are carried in metadata): zero without it
    assert np.all(np.asarray(back["a"].v_init) == 0)


def test_metadata_that_disagrees_with_the_parameters_is_ignored():
    net = make_random_network(1)
    graph = nnir.to_nir(net)
    graph.nodes["a"].tau_mem = graph.nodes["a"].tau_mem * 2
    with pytest.warns(UserWarning, match="node 'a': its neurochip metadata does not agree"):
        back = nnir.from_nir(graph)
    assert back["a"].dv == pytest.approx(net["a"].dv / 2, rel=1e-9)


def test_export_refuses_what_nir_cannot_hold():
    net = make_random_network(0)
    zero = Network.from_dict(net.to_dict())
    zero.populations[0].du = 0.0
    with pytest.raises(ValueError, match="Population 'a': du = 0 .* no finite NIR time constant"):
        nnir.to_nir(zero)
    leaky = Network.from_dict(net.to_dict())
    leaky.populations[1].dv = 0.0
    with pytest.raises(ValueError, match="Population 'b': dv = 0 .* IF node only with du = 1"):
        nnir.to_nir(leaky)
    with pytest.raises(ValueError, match="outputs: 'zz' is not a population"):
        nnir.to_nir(net, outputs=["zz"])


def test_plasticity_is_refused_or_carried_in_metadata(tmp_path):
    from neurochip.network import register

    @register
    class NirTestRule:
        def __init__(self, a=0.1):
            self.a = a

        def to_dict(self):
            return {"type": "NirTestRule", "a": self.a}

        @classmethod
        def from_dict(cls, d):
            return cls(d["a"])

    net = make_random_network(2)
    net.projections[0].plasticity = NirTestRule(0.25)
    with pytest.raises(ValueError, match="Projection 'src_a': plasticity NirTestRule has no NIR node .*keep_unmapped"):
        nnir.to_nir(net)
    path = nnir.write(tmp_path / "plastic.nir", net, keep_unmapped=True)
    back = nnir.read(path)
    assert back == net and back.projections[0].plasticity.a == 0.25


# ------------------------------------------------------------------------------ errors
def test_unmappable_nodes_and_parameters_name_the_node(tmp_path):
    n = 3
    base = {"in": nir.Input(input_type={"input": np.array([n])}),
            "out": nir.Output(output_type={"output": np.array([n])})}

    def graph(node, name="x"):
        return nir.NIRGraph(nodes={**base, name: node}, edges=[("in", name), (name, "out")], type_check=False)

    li = nir.LI(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n))
    with pytest.raises(ValueError, match=r"node 'x' \(LI\) cannot be mapped.*leaky integrator without spikes"):
        nnir.from_nir(graph(li), dt=DT * second)
    mixed = cuba(n, tau_syn=np.array([2e-3, 2e-3, 3e-3]), tau_mem=10e-3, vth=1.0)
    with pytest.raises(ValueError, match=r"node 'x' \(CubaLIF\): tau_syn should be the same for every neuron"):
        nnir.from_nir(graph(mixed), dt=DT * second)
    fast = cuba(n, tau_syn=0.5e-3, tau_mem=10e-3, vth=1.0)
    with pytest.raises(ValueError, match=r"node 'x' \(CubaLIF\): tau_syn should be >= dt"):
        nnir.from_nir(graph(fast), dt=DT * second)
    with pytest.raises(ValueError, match="does not say its time step; pass dt="):
        nnir.from_nir(graph(cuba(n, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)))
    half = nir.NIRGraph(nodes={**base, "d": nir.Delay(delay=np.full(n, 1.5e-3)),
                               "x": cuba(n, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)},
                        edges=[("in", "d"), ("d", "x"), ("x", "out")], type_check=False)
    with pytest.raises(ValueError, match=r"node 'd' \(Delay\): delay should be a whole number of steps"):
        nnir.from_nir(half, dt=DT * second)
    biased = nir.NIRGraph(nodes={**base, "fc": nir.Affine(weight=np.eye(n), bias=np.ones(n)),
                                 "x": cuba(n, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)},
                          edges=[("in", "fc"), ("fc", "x"), ("x", "out")], type_check=False)
    with pytest.raises(ValueError, match="Affine bias on the path into 'x' is a constant input into a synaptic"):
        nnir.from_nir(biased, dt=DT * second)
    readout = nir.NIRGraph(nodes={**base, "fc": nir.Linear(weight=np.eye(n))},
                           edges=[("in", "fc"), ("fc", "out")], type_check=False)
    with pytest.raises(ValueError, match="'fc' feeds Output 'out' without a neuron node"):
        nnir.from_nir(readout, dt=DT * second)
    with pytest.raises(ValueError, match=r"inputs: 'nope' is not an Input node"):
        nnir.from_nir(graph(cuba(n, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)), dt=DT * second,
                      inputs={"nope": ([], [])})
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="NIR file .*bad.nir: cannot be read as a NIR graph"):
        nnir.read(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nnir.read(tmp_path / "missing.nir")


def test_names_that_are_not_neurochip_names_are_made_valid():
    n = 2
    graph = nir.NIRGraph(nodes={"0": nir.Input(input_type={"input": np.array([n])}),
                                "fc.1": nir.Linear(weight=np.eye(n)),
                                "lif.1": cuba(n, tau_syn=2e-3, tau_mem=10e-3, vth=1.0)},
                         edges=[("0", "fc.1"), ("fc.1", "lif.1")], type_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = nnir.from_nir(graph, dt=DT * second)
    assert net.population_names == ["lif_1"] and net.sources[0].name == "n0"
    assert net.projections[0].name == "fc_1"


def test_top_level_names():
    import neurochip

    assert neurochip.to_nir is nnir.to_nir and neurochip.from_nir is nnir.from_nir


def test_nir_deploy_experiment_runs_a_graph_file_on_lava_fixed_point(tmp_path):
    import json

    from experiments import nir_deploy
    from neurochip.experiment import make_config

    cfg = make_config(nir_deploy.Config, {**nir_deploy.TINY, "results_root": str(tmp_path)})
    run = nir_deploy.main(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "complete" and (run / "raster.png").is_file() and (run / "model.nir").is_file()
    assert metrics["imported"]["projections"]["skip"]["delay"] == 4          # 1 + the 3-step Delay node
    assert set(metrics["imported"]["populations"]) == {"hidden", "output"}
    for pop, agreement in metrics["fixed_vs_float"].items():
        assert metrics["spike_counts"]["float"][pop] > 0 and agreement["agreement"] >= 0.8, (pop, agreement)
    # the same graph given as a file from elsewhere
    again = nir_deploy.main(make_config(nir_deploy.Config, {**nir_deploy.TINY, "results_root": str(tmp_path),
                                                            "nir_file": str(run / "model.nir")}))
    assert json.loads((again / "metrics.json").read_text())["imported"] == metrics["imported"]
