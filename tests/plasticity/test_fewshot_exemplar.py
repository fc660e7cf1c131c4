"""FewShotSpikingClassifier (the exemplar design): its network against independent runs, its fit and adapt."""
import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from neurochip.encoding import LatencyPopulationEncoder, RayScaler
from neurochip.plasticity import FewShotSpikingClassifier, LearningRule, supervised_hebbian
from neurochip.plasticity.fewshot import is_row_local, load_default_rule, read_default_rule_file
from neurochip.plasticity.functional import rule_params
from neurochip.plasticity.wta import (OutputParams, decide_spikes, input_current, lateral_weights, readout,
                                      sample_steps, simulate_outputs, write_rows, wta_network)

WRITER = supervised_hebbian(eta=2 ** -2, decay=2 ** -2, tau=64.0, name="writer")


#: Response directions of three "gases" on 8 sensors.
DIRECTIONS = np.array([[1.0, 0.2, 0.1, 0.6, 0.1, 0.8, 0.3, 0.2], [0.1, 1.0, 0.3, 0.2, 0.9, 0.1, 0.1, 0.5],
                       [0.4, 0.3, 1.0, 0.1, 0.2, 0.2, 0.9, 0.1]])


def rays(n_per_class=12, seed=0, directions=DIRECTIONS):
    """Three gases as rays through the origin: direction times a concentration over two decades, plus noise."""
    rng = np.random.default_rng(seed)
    d = np.asarray(directions)
    X, y = [], []
    for c, v in enumerate(d):
        conc = 10 ** rng.uniform(0, 2, n_per_class)
        X.append(conc[:, None] * v * np.exp(rng.normal(0, 0.05, (n_per_class, v.size))))
        y += [c] * n_per_class
    return np.vstack(X), np.array(y)


def exemplar_out(groups, *, vth=2.0, ff=0.05, clock=0.6, w_inh=1.5, extra_steps=5):
    return OutputParams(du=1.0, dv=0.0, vth=vth, w_inh=w_inh, teacher=0.0, extra_steps=extra_steps, ff=ff,
                        clock=clock, groups=tuple(groups))


# --------------------------------------------------------------------------- the network and its twin
def test_lateral_weights_between_groups_only_normalized_by_the_source_class():
    W = lateral_weights(4, 0.6, groups=[0, 0, 1, 2])
    # from neuron j (columns) to neuron i (rows): -w_inh / n_j across groups, 0 inside a group
    np.testing.assert_allclose(W, [[0, 0, -0.6, -0.6], [0, 0, -0.6, -0.6], [-0.3, -0.3, 0, -0.6],
                                   [-0.3, -0.3, -0.6, 0]])
    np.testing.assert_array_equal(lateral_weights(3, 0.7), lateral_weights(3, 0.7, groups=[0, 1, 2]))
    with pytest.raises(ValueError, match=r"groups should have shape \(3,\), got shape \(2,\)"):
        lateral_weights(3, 0.7, groups=[0, 1])


def test_exemplar_network_description():
    out = exemplar_out([0, 1, 1])
    raster = np.zeros((4, 5), dtype=bool)
    raster[0, 1] = raster[2, 3] = True
    net = wta_network(np.full((3, 5), 0.1), out, raster=raster)
    np.testing.assert_array_equal(net["ff"].weights, np.full((3, 5), -0.05))
    assert (net["clock"].steps.tolist(), net["clock"].indices.tolist()) == ([4, 5, 6, 7, 8], [0] * 5)
    np.testing.assert_array_equal(net["clock_out"].weights, np.full((3, 1), 0.6))
    np.testing.assert_allclose(net["wta"].weights, lateral_weights(3, 1.5, groups=[0, 1, 1]))
    pop = net["out"]
    assert (pop.du, pop.dv, pop.vth) == (1.0, 0.0, 2.0) and sample_steps(raster, out) == 9
    # ff = 0 and clock = 0: the prototype network, unchanged
    plain = wta_network(np.full((3, 5), 0.1), out._replace(ff=0.0, clock=0.0, groups=None), raster=raster)
    assert {p.name for p in plain.projections} == {"plastic", "wta"} and "clock" not in plain.nodes


def test_readout_twin_spikes_as_the_reference_and_brian2_runs_of_the_description():
    """Counts and first-spike steps of readout() == the network run per sample on the reference and on Brian2."""
    from neurochip import brian_backend, reference

    X, y = rays(4)
    enc = LatencyPopulationEncoder(n_centers=4, steps=10, threshold=0.3).fit(RayScaler().fit_transform(X))
    rasters = enc.transform(RayScaler().fit(X).transform(X))
    rng = np.random.default_rng(2)
    W = rng.uniform(0, 0.4, (5, enc.n_outputs_))
    out = exemplar_out([0, 0, 1, 2, 2], vth=1.2, ff=0.04, clock=0.3, w_inh=0.8)
    r = readout(W, rasters, out)
    assert r.counts.sum() > 20 and np.any(r.first > rasters.shape[1])     # clock-driven spikes too
    for s, raster in enumerate(rasters):
        net = wta_network(W, out, raster=raster)
        for run in (reference.simulate, brian_backend.simulate):
            res = run(net, sample_steps(raster, out))
            spk = res.spikes["out"]
            np.testing.assert_array_equal(np.bincount(spk.indices, minlength=5), r.counts[s],
                                          err_msg=f"sample {s}, {run.__module__}")
            first = [spk.steps[spk.indices == j].min() if np.any(spk.indices == j) else -1 for j in range(5)]
            np.testing.assert_array_equal(first, r.first[s], err_msg=f"sample {s}, {run.__module__}")
    # batched over rules (leading axis) = one by one; synaptic events counted synapse by synapse
    rb = readout(np.stack([W, 0.5 * W]), rasters, out)
    np.testing.assert_array_equal(rb.counts[1], readout(0.5 * W, rasters, out).counts)
    n_in_events = rasters.sum() * 5 * 2            # plastic and ff projections reach all 5 outputs
    clock_events = rasters.shape[0] * (out.extra_steps - 1) * 5    # the last clock spike arrives after the run
    fanout = np.count_nonzero(lateral_weights(5, 1.0, out.groups), axis=0)
    lateral = 0
    for s, raster in enumerate(rasters):
        res = reference.simulate(wta_network(W, out, raster=raster), sample_steps(raster, out))
        late = res.spikes["out"].steps < sample_steps(raster, out) - 1      # spikes of the last step arrive later
        lateral += fanout[res.spikes["out"].indices[late]].sum()
    assert r.synops == n_in_events + clock_events + lateral


def test_input_current_of_a_column_alone_is_the_column_of_all():
    rng = np.random.default_rng(0)
    rasters = rng.random((6, 8, 30)) < 0.2
    W = rng.normal(size=(4, 30))
    full = input_current(W, rasters, 11)
    for j in range(4):
        np.testing.assert_array_equal(input_current(W[j:j + 1], rasters, 11)[..., 0], full[..., j])
    # delay 1: step k carries the spikes of raster step k - 1
    np.testing.assert_allclose(full[:, 3], rasters[:, 2].astype(float) @ W.T, rtol=1e-12)
    assert not full[:, 0].any() and not full[:, 9:].any()


def test_write_rows_is_what_the_network_learns_for_a_row_local_rule():
    rng = np.random.default_rng(1)
    rasters = rng.random((3, 9, 20)) < 0.25
    W0 = rng.uniform(-0.2, 0.2, (3, 20))
    rule = LearningRule(coefficients={"u0*x1*y3": 2 ** -2, "u0*y3*w": -2 ** -3, "u0*x1*y3*w": -2 ** -4,
                                      "x0*y3": 2 ** -5}, x1_tau=20.0, y3_tau=1.5, y3_impulse=1.0, w_min=-1, w_max=1)
    assert is_row_local(rule) and not is_row_local(supervised_hebbian(anti=0.1))
    assert not is_row_local(LearningRule(coefficients={"x0*y1*y3": 0.1}))
    out = exemplar_out([0, 1, 2], vth=0.3, ff=0.01, clock=0.2)
    rows = write_rows(W0, rasters, rule_params(rule), out.extra_steps)
    W, counts, _, _ = simulate_outputs(W0, rasters, out, rule=rule_params(rule), labels=np.arange(3))
    assert counts.sum() > 0                                          # the outputs spiked while learning
    np.testing.assert_array_equal(rows, W)                           # bit for bit


def test_decide_spikes():
    counts = np.array([[2, 3, 3, 0], [1, 1, 0, 1], [0, 0, 0, 0], [4, 0, 1, 4]])
    first = np.array([[0, 5, 2, -1], [3, 3, -1, 3], [-1, -1, -1, -1], [6, -1, 2, 1]])
    groups = np.array([0, 1, 2, 1])          # class 1 has two neurons
    d = decide_spikes(counts, first, groups, 3)
    # sample 0: classes 1 and 2 have 3 spikes, class 2 fired first (step 2 < 5); sample 1: all 1, all at 3: index 0;
    # sample 2: no spikes: index 0; sample 3: class 0 and class 1 (neuron 3) 4 spikes, class 1 fired first (step 1)
    assert d.index.tolist() == [2, 0, 0, 1]
    assert d.count_tie.tolist() == [True, True, True, True] and d.first_tie.tolist() == [False, True, True, False]
    assert d.winner_first.tolist() == [2, 3, -1, 1]


# --------------------------------------------------------------------------- fit, adapt, predict
def test_ray_scaler_removes_the_concentration():
    X, _ = rays(5)
    sc = RayScaler().fit(X)
    np.testing.assert_allclose(sc.transform(7.5 * X), sc.transform(X), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(sc.transform(X), axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sc.scale_, np.median(np.abs(X), axis=0))
    z = RayScaler().fit(np.array([[0.0, 1.0], [0.0, -3.0]]))
    np.testing.assert_array_equal(z.scale_, [1.0, 2.0])
    np.testing.assert_array_equal(z.transform(np.zeros((1, 2))), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="RayScaler: call fit before transform"):
        RayScaler().transform(X)


def test_calibration_follows_its_formula():
    """ff_ and vth_ from the trial exemplars' drives, recomputed independently from the weights the rule wrote."""
    X, y = rays(10)
    clf = FewShotSpikingClassifier(rule=WRITER, k_cal=2, random_state=3)
    clf._check_params()
    clf.classes_ = np.unique(y)
    clf.scaler_ = RayScaler().fit(X)
    clf.encoder_ = LatencyPopulationEncoder(threshold=0.5).fit(clf.scaler_.transform(X))
    R = clf._encode(X)
    clf._clock_ = 0
    rng = np.random.default_rng(3)
    clf._calibrate(R, y, rng)
    draw = np.random.default_rng(3)
    shots = np.concatenate([draw.choice(np.nonzero(y == c)[0], 2, replace=False) for c in range(3)])
    np.testing.assert_array_equal(clf.owner_, y[shots])
    W = write_rows(np.zeros((6, R.shape[2])), R[shots], rule_params(WRITER), clf.extra_steps)
    np.testing.assert_array_equal(clf.W_, W)
    t = np.setdiff1d(np.arange(y.size), shots)
    D = np.array([[np.sum(W[j] * R[i].sum(axis=0)) for j in range(6)] for i in t])
    N = R[t].sum(axis=(1, 2))
    right = np.array([D[n][y[shots] == y[i]].max() for n, i in enumerate(t)])
    wrong = np.array([D[n][y[shots] != y[i]].max() for n, i in enumerate(t)])
    ff = np.median(wrong / N)
    assert clf.ff_ == pytest.approx(ff, rel=1e-12)
    assert clf.vth_ == pytest.approx(np.median(right - ff * N) / clf.n_target, rel=1e-12)


def naive_allocation(clf, X, y):
    """Error-driven allocation as the design states it: sample after sample, one readout each."""
    clf._check_params()
    rng = np.random.default_rng(clf.random_state)
    clf.classes_, yi = np.unique(y, return_inverse=True)
    clf.scaler_ = RayScaler().fit(X)
    clf.encoder_ = LatencyPopulationEncoder(threshold=clf.threshold).fit(clf.scaler_.transform(X))
    R = clf._encode(X)
    clf._clock_ = 0
    clf._calibrate(R, yi, rng)
    clf.W_, clf.owner_, clf.age_ = np.zeros((0, R.shape[2])), np.zeros(0, int), np.zeros(0, np.int64)
    first = [int(rng.choice(np.nonzero(yi == c)[0])) for c in range(clf.classes_.size)]
    clf._write(clf._new_neurons(yi[first]), R[first])
    used = set(first)
    for _ in range(clf.passes):
        for i in rng.permutation(yi.size):
            if i in used:
                continue
            r = readout(clf.W_, R[i:i + 1], clf._out())
            if decide_spikes(r.counts, r.first, clf.owner_, clf.classes_.size).index[0] != yi[i]:
                clf._write(clf._new_neurons([yi[i]]), R[i:i + 1])
                used.add(int(i))
    return clf


def test_batched_allocation_is_the_sequential_one():
    X, y = rays(25, seed=4)
    X[::7] = X[::7][:, ::-1]                     # some confusing samples, so that allocation has work to do
    fast = FewShotSpikingClassifier(rule=WRITER, random_state=5).fit(X, y)
    slow = naive_allocation(FewShotSpikingClassifier(rule=WRITER, random_state=5), X, y)
    assert fast.n_fit_outputs_ > 3
    np.testing.assert_array_equal(fast.owner_, slow.owner_)
    np.testing.assert_array_equal(fast.W_, slow.W_)


def test_fit_learns_rays_and_predicts_from_spikes():
    X, y = rays(20)
    names = np.array(["ammonia", "acetone", "toluene"])[y]
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X[::2], names[::2])
    assert clf.score(X[1::2], names[1::2]) == 1.0
    assert clf.score(1000 * X[1::2], names[1::2]) == 1.0          # concentration-invariant input
    s = clf.output_spikes(X[1::2])
    assert s.counts.shape == (X[1::2].shape[0], clf.W_.shape[0]) and s.synops > 0
    np.testing.assert_array_equal(clf.classes_[s.prediction], clf.predict(X[1::2]))
    p = clf.predict_proba(X[1::2])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[p.argmax(axis=1)], clf.predict(X[1::2]))
    assert np.all(s.margin >= 0)
    # no plasticity: the weights stay zero
    none = FewShotSpikingClassifier(rule=None, random_state=0).fit(X[::2], y[::2])
    assert not none.W_.any()
    # same seed, same network; the fit data's order does not matter to the result's quality
    again = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X[::2], names[::2])
    np.testing.assert_array_equal(again.W_, clf.W_)


def test_synapse_importance_is_the_fisher_score_of_each_input_times_the_weight():
    X, y = rays(20)
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X[::2], y[::2])
    imp = clf.synapse_importance(X, y)
    assert imp.shape == clf.W_.shape and np.all(imp >= 0)
    assert not imp[clf.W_ == 0].any()
    # the score written out by loops: whether each input spiked, per class
    fired = clf._encode(X).sum(axis=1) > 0
    for i in range(fired.shape[1]):
        per = [fired[y == c, i].astype(float) for c in range(3)]
        means = [p.mean() for p in per]
        between = sum((m - sum(means) / 3) ** 2 for m in means) / 3
        within = sum(p.var() for p in per) / 3
        np.testing.assert_allclose(imp[:, i], np.abs(clf.W_[:, i]) * between / (within + 1e-3), rtol=1e-12)
    # an input that spikes for every sample (or never) tells nothing apart: importance 0
    same = fired.all(axis=0) | ~fired.any(axis=0)
    assert same.any() and not imp[:, same].any()
    # an input that spikes for exactly one class: between-class variance 2/9, within 0
    only = [i for i in range(fired.shape[1]) if any(np.array_equal(fired[:, i], y == c) for c in range(3))]
    assert only
    for i in only:
        np.testing.assert_allclose(imp[:, i], np.abs(clf.W_[:, i]) * (2 / 9) / 1e-3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.synapse_importance(X[y == 0], y[y == 0])
    with pytest.raises(ValueError, match="labels never seen"):
        clf.synapse_importance(X, y + 10)
    with pytest.raises(ValueError, match="eps should be > 0"):
        clf.synapse_importance(X, y, eps=0)
    with pytest.raises(NotFittedError):
        FewShotSpikingClassifier().synapse_importance(X, y)


def test_adapt_adds_a_class_and_leaves_old_weights_bit_identical():
    X, y = rays(20)
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X[y < 2], y[y < 2])
    W_old, owner_old = clf.W_.copy(), clf.owner_.copy()
    shots = np.nonzero(y == 2)[0][:3]
    clf.adapt(X[shots], y[shots])
    assert clf.stale_ == [] and list(clf.classes_) == [0, 1, 2]
    np.testing.assert_array_equal(clf.W_[:W_old.shape[0]], W_old)
    np.testing.assert_array_equal(clf.owner_[:W_old.shape[0]], owner_old)
    assert clf.owner_[W_old.shape[0]:].tolist() == [2, 2, 2]
    assert clf.score(X, y) > 0.95


def test_adapt_rewrites_stale_classes_after_collision_drift():
    """Gas 0 drifts onto gas 1's old response: the shots find class 0 (and 1) stale, their neurons are rewritten."""
    X, y = rays(20)
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X, y)
    drifted = X.copy()
    drifted[y == 0] = X[y == 1][:np.sum(y == 0)] * np.array([1, 1, 1, 3, 1, 1, 1, 1])   # 0 now looks like 1, nearly
    before = clf.score(drifted, y)
    old2 = clf.W_[clf.owner_ == 2].copy()
    shots = np.concatenate([np.nonzero(y == c)[0][:5] for c in range(3)])
    clf.adapt(drifted[shots], y[shots])
    assert 0 in clf.stale_ and 2 not in clf.stale_
    assert np.sum(clf.owner_ == 0) == 5                                  # exactly the shots of class 0
    np.testing.assert_array_equal(clf.W_[clf.owner_ == 2][:old2.shape[0]], old2)   # class 2 kept its neurons
    rest = np.setdiff1d(np.arange(y.size), shots)
    assert clf.score(drifted[rest], y[rest]) > before


def test_per_class_cap_overwrites_the_oldest_neuron():
    X, y = rays(30)
    clf = FewShotSpikingClassifier(rule=WRITER, max_per_class=3, random_state=0).fit(X[:10], y[:10])
    assert np.sum(clf.owner_ == 0) <= 3
    for round_ in range(4):
        shots = np.nonzero(y == 1)[0][5 * round_:5 * round_ + 2]
        clf.adapt(X[shots], y[shots])
        assert np.bincount(clf.owner_).max() <= 3
    ages = clf.age_[clf.owner_ == 1]
    assert ages.min() >= clf._clock_ - 3                      # the three most recent writes of class 1 are kept


def test_default_rule_file_and_defaults():
    d = read_default_rule_file()
    assert d["format"] == "neurochip.default_rule" and {"command", "git_commit", "date_utc", "seed",
                                                         "task_distribution"} <= set(d["provenance"])
    rule = load_default_rule()
    assert is_row_local(rule) and rule.lava_rule_string() == d["lava_dw"]
    assert load_default_rule() is not load_default_rule()                # a fresh copy each time
    clf = FewShotSpikingClassifier()
    assert clf.get_params()["rule"] == "default"
    X, y = rays(10)
    fitted = clf.fit(X, y)
    assert fitted.rule_.to_dict() == rule.to_dict()


def test_default_rule_file_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_default_rule_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad.json: not JSON \(line 1"):
        read_default_rule_file(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a 'neurochip.default_rule' file"):
        read_default_rule_file(tmp_path / "other.json")


def test_bad_input_names_the_problem():
    X, y = rays(6)
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict(X)
    with pytest.raises(NotFittedError):
        clf.adapt(X, y)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="FewShotSpikingClassifier: Input X contains NaN"):
        clf.fit(Xn, y)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="FewShotSpikingClassifier: Input X contains infinity"):
        clf.fit(Xi, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        clf.fit(X)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, np.linspace(0, 1, y.size))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but FewShotSpikingClassifier is expecting 8 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="X has 9 features, but FewShotSpikingClassifier is expecting 8 features"):
        clf.adapt(np.hstack([X, X[:, :1]]), y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(Xn)
    with pytest.raises(ValueError, match=r"y has labels never seen in fit or adapt: 7 \(known: 0, 1, 2\); adapt"):
        clf.score(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match=r"y should have shape \(18,\), got shape \(17,\)"):
        clf.adapt(X, y[:-1])
    for kw, match in [({"rule": "stdp"}, "rule should be a LearningRule, 'default' or None, got str"),
                      ({"scaling": "log"}, "scaling should be 'ray' or None, got 'log'"),
                      ({"n_target": 0.0}, "n_target should be > 0.0"),
                      ({"max_per_class": 0}, "max_per_class should be >= 1, got 0"),
                      ({"precision": "fixed9"}, "precision should be one of float"),
                      ({"backend": "gpu"}, r"backend should be 'numpy' \(the batched twin\) or a runner")]:
        with pytest.raises(ValueError, match=match):
            FewShotSpikingClassifier(**{"rule": WRITER, **kw}).fit(X, y)


def test_the_drift_signal_of_samples_no_exemplar_matches():
    """Samples of a class never seen match no exemplar well: fewer spikes of the winner, a small margin; with
    no match at all (weights wiped) only the clock can make an output fire."""
    X, y = rays(20)
    clf = FewShotSpikingClassifier(rule=WRITER, random_state=0).fit(X[y < 2], y[y < 2])
    known, unseen = clf.output_spikes(X[y < 2]), clf.output_spikes(X[y == 2])
    assert unseen.margin.mean() < 0.5 * known.margin.mean()
    assert unseen.counts.max(axis=1).mean() < known.counts.max(axis=1).mean()
    assert not known.clock_decided.any()
    weak = copy.deepcopy(clf)
    weak.W_[:] = 0.0
    s = weak.output_spikes(X[y < 2])
    assert s.clock_decided.all() and np.all((s.first > clf.steps) | (s.first < 0))


def test_learning_backends_agree_numpy_brian2_lava():
    """Shots written on Brian2 and on Lava (one network per shot, ff, clock and class-wise inhibition included)
    learn the numpy twin's weights; then the predictions are the same."""
    import mapping  # noqa: F401  (registers the "lava" runner)

    X, y = rays(3)
    X = X[:, :4]
    kw = dict(k_cal=1, passes=1, n_centers=3, steps=8, extra_steps=4, random_state=1)
    post = LearningRule(coefficients={"u0*x1*y3": 2 ** -2, "u0*y3*w": -2 ** -2, "y0*x1": -2 ** -6},
                        x1_tau=16.0, y3_tau=1.0, y3_impulse=1.0, y1_tau=4.0, w_min=-4.0, w_max=4.0)
    assert not is_row_local(post)                       # the whole network learns (post spikes enter)
    for rule in (WRITER, post):
        ref = FewShotSpikingClassifier(rule=rule, **kw).fit(X, y)
        shots = np.array([0, 4, 8])
        ref_adapted = copy.deepcopy(ref).adapt(X[shots] * [1, 1, 2, 1], y[shots])
        assert ref.W_.shape[0] >= 3 and np.abs(ref.W_).max() > 0.3
        for backend in ("brian2", "lava"):
            clf = FewShotSpikingClassifier(rule=rule, backend=backend, **kw).fit(X, y)
            np.testing.assert_allclose(clf.W_, ref.W_, rtol=1e-9, atol=1e-12, err_msg=f"{backend} {rule.name}")
            np.testing.assert_array_equal(clf.owner_, ref.owner_)
            clf.adapt(X[shots] * [1, 1, 2, 1], y[shots])
            np.testing.assert_allclose(clf.W_, ref_adapted.W_, rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(clf.predict(X), ref_adapted.predict(X))


def test_readout_network_spikes_on_lava_float_as_the_twin():
    """The exemplar readout (perfect integrators du = 1, dv = 0, feed-forward inhibition, clock, class-wise
    inhibition) runs on Lava's floating-point LIF spike for spike as the numpy twin."""
    import mapping  # noqa: F401
    from neurochip.runners import get_runner

    X, y = rays(2)
    sc = RayScaler().fit(X)
    enc = LatencyPopulationEncoder(n_centers=4, steps=10, threshold=0.3).fit(sc.transform(X))
    rasters = enc.transform(sc.transform(X))[::2]
    W = np.random.default_rng(5).uniform(0, 0.4, (4, enc.n_outputs_))
    out = exemplar_out([0, 1, 1, 2], vth=1.1, ff=0.04, clock=0.35, w_inh=0.7)
    r = readout(W, rasters, out)
    assert r.counts.sum() > 5
    lava = get_runner("lava")
    for s, raster in enumerate(rasters):
        res = lava(wta_network(W, out, raster=raster), sample_steps(raster, out))
        spk = res.spikes["out"]
        np.testing.assert_array_equal(np.bincount(spk.indices, minlength=4), r.counts[s], err_msg=f"sample {s}")
        first = [spk.steps[spk.indices == j].min() if np.any(spk.indices == j) else -1 for j in range(4)]
        np.testing.assert_array_equal(first, r.first[s], err_msg=f"sample {s}")
