"""Files a user may receive: real crafted pickles, truncated, bit-flipped and empty files (issue 12, items 2, 8)."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from brian2 import ms

from neurochip import Network, Population, Projection, SimulationResult, SpikeSource, Spikes, cli
from neurochip.io import read_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _RunsCode:
    """Unpickling this runs ``os.system`` (the attack a pickled checkpoint allows)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ------------------------------------------------------------------ checkpoints
def _learner(**kw):
    from neurochip.plasticity import InnerLoop, MetaLearner
    from sensors import SensorTaskSampler

    base = dict(inner=InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4), generations=2, popsize=4, tasks_per_eval=2,
                candidates_per_job=2, validation_tasks=2, address="serial", progress=False, random_state=0)
    base.update(kw)
    return MetaLearner(**base)


def test_a_crafted_pickle_checkpoint_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "code-ran"
    crafted = tmp_path / "checkpoint.pkl"
    crafted.write_bytes(pickle.dumps({"format": "neurochip.metalearn.checkpoint/1", "es": _RunsCode(marker)}))
    with pytest.raises(ValueError, match=r"checkpoint.pkl is not a meta-learning checkpoint: it is a Python "
                                         r"pickle .* it was not opened"):
        _learner(checkpoint=crafted).fit()
    assert not marker.exists(), "the checkpoint's code ran"
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):  # every pickle protocol, not only 0x80 ones
        crafted.write_bytes(pickle.dumps(_RunsCode(marker), protocol=protocol))
        with pytest.raises(ValueError, match="is not a meta-learning checkpoint"):
            _learner(checkpoint=crafted).fit()
        assert not marker.exists()


def test_a_zip_smuggling_a_pickled_array_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    crafted = tmp_path / "ckpt.npz"
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps({"format": "neurochip.metalearn.checkpoint", "version": 2})),
             asked=np.array([_RunsCode(marker)], dtype=object), fitness=np.zeros(0),
             gen_best_thetas=np.zeros(0), best_theta=np.zeros(0))
    crafted.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match=r"ckpt.npz is not a meta-learning checkpoint or is damaged.*allow_pickle=False"):
        _learner(checkpoint=crafted).fit()
    assert not marker.exists()


def test_checkpoint_is_data_only_and_damage_is_reported(tmp_path):
    from neurochip.plasticity import checkpoint

    ckpt = tmp_path / "ckpt.npz"
    full = _learner(checkpoint=ckpt).fit()
    with zipfile.ZipFile(ckpt) as z:
        assert sorted(z.namelist()) == sorted(f"{k}.npy" for k in ("meta", *checkpoint.ARRAYS))
    meta, arrays = checkpoint.load(ckpt)  # allow_pickle=False inside
    assert meta["generation"] == 2 and arrays["asked"].shape == (2, 4, full.space.dim)
    # the finished checkpoint resumes to the same result without a new generation
    seen = []
    again = _learner(checkpoint=ckpt, progress=seen.append).fit()
    assert seen == [] and again.rule_ == full.rule_
    data = ckpt.read_bytes()
    for label, content in (("empty", b""), ("truncated", data[: len(data) // 2]), ("zeros", b"PK" + bytes(200))):
        ckpt.write_bytes(content)
        with pytest.raises(ValueError, match=r"ckpt.npz( is not a meta-learning checkpoint|: )"):
            _learner(checkpoint=ckpt).fit()
    # flipped bytes: refused with a clear error, or (a flip in zip padding) still the same data
    for pos in range(0, len(data), 23):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        ckpt.write_bytes(bytes(flipped))
        try:
            meta2, arrays2 = checkpoint.load(ckpt)
        except ValueError as err:
            assert "ckpt.npz" in str(err)
            continue
        assert meta2 == meta and all(np.array_equal(arrays2[k], arrays[k]) for k in arrays)


def test_a_tampered_checkpoint_cannot_resume_silently(tmp_path):
    from neurochip.plasticity import checkpoint

    ckpt = tmp_path / "ckpt.npz"
    _learner(checkpoint=ckpt, generations=1).fit()
    meta, arrays = checkpoint.load(ckpt)
    arrays["asked"][0, 0, 0] += 1e-12  # not what CMA-ES proposed
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    ckpt.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="cannot resume exactly: CMA-ES .* proposes other candidates at generation 0"):
        _learner(checkpoint=ckpt).fit()
    meta["generation"] = "two"
    np.savez(buf := io.BytesIO(), meta=np.array(json.dumps(meta)), **arrays)
    ckpt.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="'generation' should be an integer >= 0, got 'two'"):
        _learner(checkpoint=ckpt).fit()


# ------------------------------------------------------------------ results
def _result():
    return SimulationResult(
        steps=100, dt=1 * ms, sizes={"in": 3, "a": 4}, populations=["a"],
        spikes={"in": Spikes.sorted([0, 2, 1], [5, 1, 9]), "a": Spikes.sorted([1, 3, 1], [10, 20, 40])},
        traces={"a": {"v": np.linspace(0, 1, 400).reshape(100, 4)}}, trace_indices={"a": np.arange(4)},
        backend="test", wall_time=0.5)


def _same(a, b):
    return (a.steps == b.steps and a.sizes == b.sizes and a.populations == b.populations
            and all(np.array_equal(a.spikes[n].steps, b.spikes[n].steps)
                    and np.array_equal(a.spikes[n].indices, b.spikes[n].indices) for n in a.spikes)
            and np.array_equal(a.traces["a"]["v"], b.traces["a"]["v"]))


def test_truncated_flipped_and_empty_result_files_raise_value_errors(tmp_path):
    good = _result()
    path = good.save(tmp_path / "spikes.npz")
    data = path.read_bytes()
    for n in (0, 1, 4, 30, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError, match=r"spikes.npz is not a neurochip result file or is truncated"):
            SimulationResult.load(path)
    refused = 0
    for pos in range(len(data)):  # every single-byte flip
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            loaded = SimulationResult.load(path)
        except ValueError as err:
            assert "spikes.npz" in str(err)
            refused += 1
            continue
        assert _same(loaded, good), f"flip at byte {pos} loaded different data"
    assert refused > 0.8 * len(data)
    with pytest.raises(ValueError, match="no such result file"):
        SimulationResult.load(tmp_path / "missing.npz")


def test_result_files_with_wrong_contents(tmp_path):
    path = tmp_path / "r.npz"
    good = dict(np.load(_result().save(path)))
    cases = {
        "meta should be a JSON object": {"meta": np.array("[1, 2]")},
        "steps should be an integer >= 0, got 'many'": {
            "meta": np.array(str(good["meta"]).replace('"steps": 100', '"steps": "many"'))},
        "spikes of 'a' should be two 1-D integer arrays": {"spikes/a/steps": np.zeros(3)},
        r"spikes of 'a' lie outside 4 neurons x 100 steps": {"spikes/a/indices": np.array([1, 7, 1])},
        r"traces/a/v should be floats of shape \(100, 4\)": {"traces/a/v": np.zeros((5, 4))},
    }
    for message, change in cases.items():
        np.savez(path, **{**good, **change})
        with pytest.raises(ValueError, match=r"r.npz is not a valid neurochip result file: " + message):
            SimulationResult.load(path)
    np.savez(path, **{k: v for k, v in good.items() if k != "spikes/in/steps"})
    with pytest.raises(ValueError, match="no spikes of 'in'"):
        SimulationResult.load(path)


def test_cli_raster_of_a_corrupt_result_prints_one_line_and_exits_2(tmp_path, capsys):
    run = tmp_path / "run"
    path = _result().save(run / "spikes.npz")
    path.write_bytes(path.read_bytes()[:100])
    assert cli.main(["raster", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("neurochip raster: error: ") and "spikes.npz" in err[0], err


# ------------------------------------------------------------------ networks and JSON
def _net():
    return Network(sources=[SpikeSource("in", 2, indices=[0, 1], steps=[0, 3])],
                   populations=[Population("out", 3, du=0.5, dv=0.1, vth=1.0)],
                   projections=[Projection("in_out", "in", "out", np.ones((3, 2)), delay=2)])


def test_network_files_with_wrong_types_or_damage(tmp_path):
    path = _net().save(tmp_path / "net.json")
    d = json.loads(path.read_text())

    def variant(edit):
        e = json.loads(json.dumps(d))
        edit(e)
        path.write_text(json.dumps(e))

    cases = [
        (lambda e: e.update(nodes=5), r"'nodes' should be a list, got 5"),
        (lambda e: e["nodes"][0].update(size="ten"), r"Population 'out': size should be an integer, got 'ten'"),
        (lambda e: e["nodes"][0].update(bias={"a": 1}), r"Population 'out': bias should be a number or an array"),
        (lambda e: e["edges"][0].update(weights="abc"), r"Projection 'in_out': weights should be a 2-D array"),
        (lambda e: e["edges"][0].update(weights={"format": "coo", "shape": 3}), r"malformed sparse weights"),
        (lambda e: e["edges"][0].update(delay=10 ** 9), r"Projection 'in_out': delay should be <= 65536 steps"),
        (lambda e: e["nodes"][1].update(indices=[[0], [1]]), r"SpikeSource 'in': indices should be 1-D"),
        (lambda e: e.update(name=["x"]), r"'name' should be a string"),
        (lambda e: e["nodes"].__setitem__(0, ["Population"]), r"item 0 has unknown type None"),
    ]
    for edit, message in cases:
        variant(edit)
        with pytest.raises(ValueError, match=r"network file .*net.json: .*" + message):
            Network.load(path)
    text = json.dumps(d).encode()
    for label, content in (("empty", b""), ("truncated", text[: len(text) // 2]), ("not utf-8", b"\xff\xfe{}"),
                           ("deep", b"[" * 100_000 + b"]" * 100_000)):
        path.write_bytes(content)
        with pytest.raises(ValueError, match=r"net.json is not valid JSON"):
            Network.load(path)
    for pos in range(0, len(text), 11):  # flipped bytes: a ValueError or (a flip inside a name) a valid network
        flipped = bytearray(text)
        flipped[pos] ^= 0x55
        path.write_bytes(bytes(flipped))
        try:
            Network.load(path)
        except ValueError as err:
            assert "net.json" in str(err)


def test_read_json_and_rule_files(tmp_path):
    from neurochip.plasticity import load_rule

    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.json is not valid JSON: the file is empty"):
        read_json(empty)
    rule = tmp_path / "rule.json"
    for content in ("[1, 2]", '{"rule": 5}', '{"rule": {"coefficients": "lots"}}'):
        rule.write_text(content)
        with pytest.raises(ValueError, match=r"rule.json"):
            load_rule(rule)


def test_cli_config_file_errors_name_the_file(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_bytes(b"\xff\xfe")
    assert cli.main(["run", "ei_demo", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cfg.json is not valid JSON" in err[0]
