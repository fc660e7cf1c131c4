"""Edge-case store (format, validation on load) and the scoring of alarms on streams with boundaries."""
import numpy as np
import pytest

from sensors.edge_cases import FORMAT, REASONS, EdgeCaseStore
from sensors.feedback import score_alarms, widen_drift
from sensors.randomization import DriftSpec


def _store():
    s = EdgeCaseStore.empty(4)
    s.add(np.ones((2, 4)), reason="in_alarm", predicted=["a", "b"], stream_index=[10, 11])
    s.add(np.full((1, 4), 2.0), reason="misclassified_before_adapt", predicted=["a"], labels=["b"],
          concentration=[50.0], stream_index=[3])
    return s


def test_store_round_trip(tmp_path):
    s = _store()
    t = EdgeCaseStore.load(s.save(tmp_path / "e.npz"))
    for f in ("features", "labels", "predicted", "concentration", "reason", "stream_index"):
        np.testing.assert_array_equal(getattr(t, f), getattr(s, f))
    assert t.labeled().tolist() == [False, False, True]
    assert t.reason.tolist() == [REASONS.index("in_alarm")] * 2 + [REASONS.index("misclassified_before_adapt")]
    with np.load(tmp_path / "e.npz", allow_pickle=False) as z:     # the documented arrays, no pickles
        assert str(z["format"]) == FORMAT and z["labels"].dtype.kind == "U"


def test_store_refuses_bad_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        EdgeCaseStore.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something"), version=np.array(1))
    with pytest.raises(ValueError, match="not a 'neurochip.edge_cases' file"):
        EdgeCaseStore.load(tmp_path / "other.npz")
    arrays = {f: getattr(_store(), f) for f in ("features", "labels", "predicted", "concentration", "reason",
                                                "stream_index")}
    arrays["labels"] = arrays["labels"][:2]
    np.savez(tmp_path / "short.npz", format=np.array(FORMAT), version=np.array(1), **arrays)
    with pytest.raises(ValueError, match=r"labels should have shape \(3,\), got shape \(2,\)"):
        EdgeCaseStore.load(tmp_path / "short.npz")
    arrays = {f: np.array([b"x"], dtype=object) for f in ("features",)}
    np.savez(tmp_path / "obj.npz", format=np.array(FORMAT), version=np.array(1), **arrays)
    with pytest.raises(ValueError, match="not a readable .npz"):       # object arrays need pickles: refused
        EdgeCaseStore.load(tmp_path / "obj.npz")


def test_store_errors():
    s = _store()
    with pytest.raises(ValueError, match="reason should be one of"):
        s.add(np.ones((1, 4)), reason="odd", predicted=["a"])
    with pytest.raises(ValueError, match="should have 4 columns, got 3"):
        s.add(np.ones((1, 3)), reason="in_alarm", predicted=["a"])
    with pytest.raises(ValueError, match="finite"):
        s.add(np.full((1, 4), np.nan), reason="in_alarm", predicted=["a"])


def test_score_alarms():
    r = score_alarms([5, 102, 130, 260], (100, 250), 400)
    assert r["delays"] == [2, 10]
    assert r["false_alarms"] == 2          # 5 (before the first boundary) and 130 (a second alarm in segment 2)
    assert r["flagged_within"] == 2 and r["false_per_1000"] == pytest.approx(5.0)
    assert score_alarms([], (100,), 200)["delays"] == [None]


def test_widen_drift():
    w = widen_drift(DriftSpec(), 2.0)
    assert w.collision == (0.0, 1.0) and w.kinetics == (0.0, 0.6)
    with pytest.raises(ValueError, match="factor should be >= 1"):
        widen_drift(DriftSpec(), 0.5)


def test_recorded_stream_signal_drops_at_the_boundary():
    from sensors import load_gas_drift
    from sensors.feedback import recorded_stream
    try:
        b1, b2 = load_gas_drift(1), load_gas_drift(2)
    except ValueError:
        pytest.skip("gas drift recordings not available")
    s = recorded_stream(b1, b2)
    n1 = s.boundaries[0]
    assert n1 == int(np.sum(~__import__("sensors").calibration.first_half(b1.labels)))
    assert s.x[n1:].mean() < s.x[:n1].mean() - 1.0     # measured 4.64 -> 2.90 winner spikes


def test_feedback_round_needs_labeled_edge_cases():
    from sensors.feedback import documented_rules, feedback_round
    s = EdgeCaseStore.empty(128).add(np.ones((2, 128)), reason="in_alarm", predicted=["Ethanol", "Ethanol"])
    with pytest.raises(ValueError, match="no labeled samples with a concentration"):
        feedback_round(s, rules=documented_rules())
