"""The prototype classifier (one neuron per class: meta-learning's inner loop), the encoder, the output network."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from neurochip.plasticity import (PrototypeSpikingClassifier, InnerLoop, LatencyPopulationEncoder, LearningRule,
                                  evaluate_rules, load_csv, pair_stdp, supervised_hebbian)
from sensors import SensorTaskSampler


def test_latency_encoder_analytic():
    enc = LatencyPopulationEncoder(n_centers=3, steps=11, threshold=0.2, feature_range=(0.0, 1.0))
    raster = enc.fit_transform(np.array([[0.5]]))
    # z = 0.5 sits on center 1 (a = 1 -> step 0); centers 0 and 1 have a = exp(-0.5) -> step round(10*(1-a)).
    t_side = int(np.round(10 * (1 - np.exp(-0.5))))
    steps, idx = np.nonzero(raster[0])
    assert sorted(zip(idx.tolist(), steps.tolist())) == [(0, t_side), (1, 0), (2, t_side)]
    # Far from a center: below threshold, no spike.
    raster = enc.transform(np.array([[0.0]]))
    assert raster[0, :, 2].sum() == 0 and raster[0, 0, 0]


def test_encoder_errors():
    with pytest.raises(ValueError, match="call fit before transform"):
        LatencyPopulationEncoder().transform(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="n_centers should be >= 2"):
        LatencyPopulationEncoder(n_centers=1).fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="feature_range should be"):
        LatencyPopulationEncoder(feature_range=(1.0, 0.0)).fit(np.zeros((1, 2)))
    enc = LatencyPopulationEncoder().fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="X should have 2 features"):
        enc.transform(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="X should be finite"):
        enc.transform(np.array([[np.nan, 0.0]]))


def separable(n=6):
    X = np.array([[0.1, 0.9, 0.5], [0.9, 0.1, 0.5], [0.5, 0.5, 0.95]] * n)
    y = np.array([0, 1, 2] * n)
    return X, y


def test_classifier_learns_with_rule_and_not_without():
    X, y = separable()
    kw = dict(feature_range=(0.0, 1.0), random_state=0)
    clf = PrototypeSpikingClassifier(rule=supervised_hebbian(), **kw).fit(X, y)
    assert clf.score(X, y) == 1.0
    none = PrototypeSpikingClassifier(rule=None, **kw).fit(X, y)
    assert none.score(X, y) < 0.7
    W0 = PrototypeSpikingClassifier(rule=None, **kw).fit(X[:3], y[:3]).W_
    assert np.all((W0 >= 0) & (W0 <= 0.05))
    assert clf.synops_ > 0


def test_adapt_adds_a_class_with_the_rule_only():
    X, y = separable()
    clf = PrototypeSpikingClassifier(rule=supervised_hebbian(), feature_range=(0.0, 1.0), random_state=0)
    clf.fit(X[y < 2], y[y < 2])
    assert list(clf.classes_) == [0, 1]
    W_old = clf.W_.copy()
    clf.adapt(X[y == 2][:2], y[y == 2][:2])
    assert list(clf.classes_) == [0, 1, 2] and clf.W_.shape[0] == 3
    assert clf.score(X, y) == 1.0
    # The rule is gated by the label (y3): the old classes' weights are untouched.
    np.testing.assert_array_equal(clf.W_[:2], W_old)


def test_same_seed_same_result_and_string_labels():
    X, y = separable()
    ys = np.array(["a", "b", "c"])[y]
    a = PrototypeSpikingClassifier(rule=pair_stdp(a_plus=0.05, a_minus=0.05, w_min=0, w_max=1),
                                 random_state=3, epochs=2).fit(X, ys)
    b = PrototypeSpikingClassifier(rule=pair_stdp(a_plus=0.05, a_minus=0.05, w_min=0, w_max=1),
                                 random_state=3, epochs=2).fit(X, ys)
    np.testing.assert_array_equal(a.W_, b.W_)
    assert set(a.predict(X)) <= {"a", "b", "c"}


def test_classifier_errors():
    X, y = separable(1)
    clf = PrototypeSpikingClassifier(rule=supervised_hebbian())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.predict(X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        clf.adapt(X, y)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[3, 2\]"):
        clf.fit(X, y[:2])
    with pytest.raises(ValueError, match="rule should be a LearningRule"):
        PrototypeSpikingClassifier(rule="stdp").fit(X, y)
    with pytest.raises(ValueError, match="du should be <= 1.0"):
        PrototypeSpikingClassifier(du=2.0).fit(X, y)
    with pytest.raises(ValueError, match="PrototypeSpikingClassifier: Expected 2D array, got 1D array"):
        clf.fit(np.zeros(3), y)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but PrototypeSpikingClassifier is expecting 3 features"):
        clf.adapt(np.zeros((1, 2)), [0])


def test_batched_evaluation_equals_classifier():
    inner = InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4)
    rules = [None, supervised_hebbian(), pair_stdp(a_plus=0.05, a_minus=0.05, tau_plus=4.0,
                                                    tau_minus=4.0, w_min=0, w_max=1)]
    seeds = [5, 6]
    acc, ops = evaluate_rules(rules, seeds, inner)
    sampler = inner.sampler
    for t, seed in enumerate(seeds):
        task = sampler.sample(k_shot=2, n_query=4, random_state=seed)
        for n, rule in enumerate(rules):
            clf = PrototypeSpikingClassifier(rule=rule, random_state=seed, **inner.classifier_kwargs())
            assert clf.fit(task.X_support, task.y_support).score(task.X_query, task.y_query) == acc[n, t]
            assert clf.synops_ / task.y_query.size == pytest.approx(ops[n, t], rel=1e-12)


def test_load_csv(tmp_path):
    p = tmp_path / "rec.csv"
    p.write_text("ch0,ch1,label\n0.1,0.2,a\n0.3,0.4,b\n")
    X, y = load_csv(p)
    np.testing.assert_array_equal(X, [[0.1, 0.2], [0.3, 0.4]])
    assert list(y) == ["a", "b"]
    clf = PrototypeSpikingClassifier(rule=supervised_hebbian(), random_state=0).fit(X, y)
    assert clf.predict(X).shape == (2,)
    p.write_text("ch0,label\nx,1\n")
    with pytest.raises(ValueError, match=r"line 2, column 1 \('ch0'\): expected a number, got 'x'"):
        load_csv(p)
    p.write_text("ch0,cls\n1,1\n")
    with pytest.raises(ValueError, match="missing column 'label'"):
        load_csv(p)
    p.write_text("ch0,label\n1\n")
    with pytest.raises(ValueError, match="line 2, column 2: expected 2 columns, got 1"):
        load_csv(p)


def test_classifier_on_sensors_datasets_and_their_csv(tmp_path):
    """Simulated twin data and a CSV recording (sensors formats) go straight into the classifier."""
    from sensors import RandomizationSpec, load_csv as sensors_csv, make_dataset
    from brian2 import ms

    spec = RandomizationSpec(analytes=("A", "B", "C"), n_sensors=6, duration=400 * ms, dt=2 * ms,
                             onset=60 * ms, exposure=280 * ms, feature_window=80 * ms)
    train, test = make_dataset(spec, 30, random_state=0), make_dataset(spec, 30, random_state=1)
    clf = PrototypeSpikingClassifier(rule=supervised_hebbian(), random_state=0).fit(train)
    acc = clf.score(test)
    assert acc > 0.6  # chance is 1/3
    path = train.to_csv(tmp_path / "rec.csv")
    recorded = sensors_csv(path)
    np.testing.assert_allclose(recorded.features, train.features, rtol=1e-9)
    assert PrototypeSpikingClassifier(rule=supervised_hebbian(), random_state=0).fit(recorded).score(test) == acc


def test_bias_input_spikes_and_shape():
    X = np.array([[0.5], [0.0]])
    base = LatencyPopulationEncoder(n_centers=3, steps=11, feature_range=(0.0, 1.0)).fit(X)
    enc = LatencyPopulationEncoder(n_centers=3, steps=11, feature_range=(0.0, 1.0), bias_spikes=3).fit(X)
    assert (base.n_outputs_, enc.n_outputs_) == (3, 4)
    raster = enc.transform(X)
    np.testing.assert_array_equal(raster[..., :3], base.transform(X))
    for s in range(2):  # floor(j * 11 / 3) = 0, 3, 7 whatever the sample
        assert np.nonzero(raster[s, :, 3])[0].tolist() == [0, 3, 7]
    every = LatencyPopulationEncoder(n_centers=3, steps=11, bias_spikes=11).fit(X).transform(X)
    assert every[:, :, 3].all()
    with pytest.raises(ValueError, match="bias_spikes should be <= steps \\(11\\), got 12"):
        LatencyPopulationEncoder(n_centers=3, steps=11, bias_spikes=12).fit(X)
    with pytest.raises(ValueError, match="bias_spikes should be >= 0, got -1"):
        LatencyPopulationEncoder(bias_spikes=-1).fit(X)


def test_bias_weight_is_a_per_neuron_bias():
    # Two output neurons with the same input weights: the bias input's weight alone decides the winner.
    X = np.array([[0.3, 0.7]])
    enc = LatencyPopulationEncoder(n_centers=4, steps=16, feature_range=(0.0, 1.0), bias_spikes=16).fit(X)
    rasters = enc.transform(X)
    W = np.full((2, enc.n_outputs_), 0.1)
    W[:, -1] = [0.0, 0.05]
    from neurochip.plasticity.fewshot import OutputParams, decide, simulate_outputs
    out = OutputParams(0.5, 0.2, 1.0, 1.0, 0.3, 4)
    _, counts, drive, _ = simulate_outputs(W, rasters, out)
    # the bias input adds 0.05 per step of the window (delay 1: steps 1 .. 16) to neuron 1's input current
    _, c0, d0, _ = simulate_outputs(W[:, :-1], rasters[..., :-1], out)
    np.testing.assert_allclose(drive[0] - d0[0], [0.0, 0.05 * 16], rtol=1e-12)
    assert decide(counts, drive)[0] == 1
    W[:, -1] = [0.05, 0.0]
    _, counts, drive, _ = simulate_outputs(W, rasters, out)
    assert decide(counts, drive)[0] == 0


def test_batched_evaluation_equals_classifier_with_bias_input():
    inner = InnerLoop(sampler=SensorTaskSampler(), k_shot=2, n_query=4, bias_spikes=2)
    rules = [None, supervised_hebbian()]
    acc, ops = evaluate_rules(rules, [7], inner)
    task = inner.sampler.sample(k_shot=2, n_query=4, random_state=7)
    for n, rule in enumerate(rules):
        clf = PrototypeSpikingClassifier(rule=rule, random_state=7, **inner.classifier_kwargs())
        assert clf.fit(task.X_support, task.y_support).score(task.X_query, task.y_query) == acc[n, 0]
        assert clf.W_.shape[1] == 8 * 6 + 1
        assert clf.synops_ / task.y_query.size == pytest.approx(ops[n, 0], rel=1e-12)


def test_learning_backends_agree_numpy_brian2_lava():
    """Each shot run as a Brian2 network and on Lava (Loihi3F label third factor) learns the numpy twin's weights."""
    import mapping  # noqa: F401  (registers the "lava" runner; tests/test_runners.py checks the entry point)

    rule = LearningRule(coefficients={"u0*x1*y3": 2 ** -4, "u0*x1*y3*w": -2 ** -3, "y0*x1": 2 ** -5,
                                      "x0*y1*w": -2 ** -4, "y0": -2 ** -6},
                        x1_impulse=1.0, x1_tau=6.0, y1_impulse=1.0, y1_tau=4.0, y3_impulse=1.0, y3_tau=1.0,
                        w_min=-1.0, w_max=1.0, name="test_rule")
    X = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.2], [0.8, 0.1]])
    y = np.array([0, 0, 1, 1])
    kw = dict(rule=rule, n_centers=3, feature_range=(0.0, 1.0), random_state=4)
    ref = PrototypeSpikingClassifier(**kw).fit(X, y)
    assert np.abs(ref.W_).max() < 1.0                           # no clipping: Lava does not clip
    start = np.random.default_rng(4).uniform(0, ref.w_init, ref.W_.shape)
    assert np.abs(ref.W_ - start).max() > 0.05                  # learning happened
    for backend in ("brian2", "lava"):
        clf = PrototypeSpikingClassifier(backend=backend, **kw).fit(X, y)
        np.testing.assert_allclose(clf.W_, ref.W_, rtol=1e-9, atol=1e-12, err_msg=backend)
        assert clf.score(X, y) == ref.score(X, y)
    with pytest.raises(ValueError, match=r"backend should be 'numpy' \(the batched twin\) or a runner of "
                                         r"neurochip.runners \(brian2, lava, lava-fixed, numpy\), got 'gpu'"):
        PrototypeSpikingClassifier(backend="gpu", **kw).fit(X, y)
    # Bounds that the rule crosses: Lava does not clip, and says so.
    tight = LearningRule(**{**{k: getattr(rule, k) for k in LearningRule.TRACE_PARAMS},
                            "coefficients": rule.coefficients, "w_min": -1.0, "w_max": 0.2})
    with pytest.warns(RuntimeWarning, match=r"on lava the weights left \[w_min, w_max\] = \[-1.0, 0.2\]"):
        PrototypeSpikingClassifier(backend="lava", **{**kw, "rule": tight}).fit(X[:1], y[:1])


def test_numpy_twin_predicts_what_the_reference_and_brian2_runs_of_the_description_spike():
    """simulate_outputs (no rule) == wta_network run per sample on the numpy reference and on Brian2."""
    from neurochip import brian_backend, reference
    from neurochip.plasticity.wta import OutputParams, sample_steps, simulate_outputs, wta_network

    X, y = separable(2)
    enc = LatencyPopulationEncoder(n_centers=4, steps=12, feature_range=(0.0, 1.0)).fit(X)
    rasters = enc.transform(X)
    W = np.random.default_rng(1).uniform(0, 0.6, (3, enc.n_outputs_))
    out = OutputParams(du=0.5, dv=0.2, vth=0.8, w_inh=0.4, teacher=0.3, extra_steps=4)
    _, counts, _, _ = simulate_outputs(W, rasters, out)
    assert counts.sum() > 10 and np.any(counts.max(axis=1) < counts.sum(axis=1))   # spikes, several neurons
    for s, raster in enumerate(rasters):
        net = wta_network(W, out, raster=raster)
        for run in (reference.simulate, brian_backend.simulate):
            res = run(net, sample_steps(raster, out))
            np.testing.assert_array_equal(np.bincount(res.spikes["out"].indices, minlength=3), counts[s],
                                          err_msg=f"sample {s}, {run.__module__}")


def test_wta_network_description_and_errors():
    from neurochip.plasticity.wta import OutputParams, lateral_weights, wta_network

    out = OutputParams(du=0.5, dv=0.2, vth=1.0, w_inh=0.7, teacher=0.3, extra_steps=2)
    W = np.full((3, 4), 0.1)
    raster = np.zeros((5, 4), dtype=bool)
    raster[1, 2] = True
    net = wta_network(W, out, raster=raster, label=1, rule=supervised_hebbian())
    np.testing.assert_array_equal(net["wta"].weights, [[0, -0.7, -0.7], [-0.7, 0, -0.7], [-0.7, -0.7, 0]])
    np.testing.assert_array_equal(lateral_weights(3, 0.7), net["wta"].weights)
    np.testing.assert_array_equal(net["out"].bias, [0.0, 0.3, 0.0])
    assert net["plastic"].plasticity.third_factor == "label" and net["plastic"].delay == net["wta"].delay == 1
    np.testing.assert_array_equal(net["label"].indices, np.ones(7))
    np.testing.assert_array_equal(net["label"].steps, np.arange(7))
    assert (net["input"].indices.tolist(), net["input"].steps.tolist()) == ([2], [1])
    static = wta_network(W, out, raster=raster)
    assert static["plastic"].plasticity is None and static["out"].bias == 0.0 and "label" not in static.nodes
    with pytest.raises(ValueError, match="wta_network: label is required when learning"):
        wta_network(W, out, rule=supervised_hebbian())
    with pytest.raises(ValueError, match=r"wta_network: label \(1\) is only used when learning"):
        wta_network(W, out, label=1)
