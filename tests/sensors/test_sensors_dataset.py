"""Domain-randomized datasets and the CSV loader."""
import time

import numpy as np
import pytest
from brian2 import DimensionMismatchError, kelvin, mmolar, ms, pascal, second

from sensors import (CSVFormatError, Constant, Dataset, LogNormal, RandomizationSpec, Uniform, load_csv,
                     make_dataset, steady_state_features)


@pytest.fixture(scope="module")
def spec():
    return RandomizationSpec(n_sensors=8, duration=1 * second, onset=0.1 * second, exposure=0.7 * second)


def test_same_seed_same_dataset_different_seeds_differ(spec):
    a = make_dataset(spec, 30, random_state=7)
    b = make_dataset(spec, 30, random_state=7)
    c = make_dataset(spec, 30, random_state=8)
    assert np.array_equal(a.signals, b.signals) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.concentrations, b.concentrations)
    assert not np.array_equal(a.signals, c.signals)
    assert not np.array_equal(a.concentrations, c.concentrations)
    s1 = make_dataset(spec, 30, random_state=7, shifted=True)
    assert np.array_equal(s1.signals, make_dataset(spec, 30, random_state=7, shifted=True).signals)


def test_dataset_shapes_labels_and_features(spec):
    ds = make_dataset(spec, 31, random_state=0)
    assert ds.signals.shape == (31, 8, 1000) and ds.features.shape == (31, 8) and len(ds) == 31
    assert ds.class_names == ("A", "B", "C")
    assert np.bincount(ds.labels).tolist() == [11, 10, 10]      # balanced classes
    w = ds.meta["windows"]
    assert w == {"onset": 100, "offset": 800, "window": 200}
    expected = ds.signals[:, :, 600:800].mean(-1) - ds.signals[:, :, :100].mean(-1)
    assert np.allclose(ds.features, expected)
    assert ds.dt == 1 * ms


def test_training_and_shifted_ranges(spec):
    train = make_dataset(spec, 40, random_state=1)
    shifted = make_dataset(spec, 40, random_state=1, shifted=True)
    t_train, t_shift = train.meta["params"]["temperature"], shifted.meta["params"]["temperature"]
    assert t_train.min() >= 293.15 and t_train.max() <= 303.15
    assert t_shift.min() >= 308.15 and t_shift.max() <= 318.15
    c = np.asarray(train.concentrations / mmolar)
    assert c.min() >= 0.05 and c.max() <= 0.5
    assert shifted.meta["params"]["viscosity"].min() >= 1.2e-3
    assert (train.meta["faults"]["kind"] == 0).all()      # no faults in training defaults


def test_noise_free_features_identify_class_and_grow_with_concentration():
    spec = RandomizationSpec(n_sensors=6, duration=1 * second, onset=0.1 * second, exposure=0.8 * second,
                             train={"gain": Constant(1.0), "temperature": Constant(298.15 * kelvin),
                                    "viscosity": Constant(0.89e-3 * pascal * second)})
    ds = make_dataset(spec, 60, random_state=2, noise=False)
    for k in range(3):
        f = ds.features[ds.labels == k]
        c = np.asarray(ds.concentrations[ds.labels == k] / mmolar)
        order = np.argsort(c)
        # at fixed temperature and viscosity, |response| of every sensor grows with concentration (Langmuir is monotone)
        assert np.all(np.diff(np.abs(f[order]), axis=0) >= -1e-12)
    # nearest class-mean pattern (normalized) classifies noise-free samples
    pat = ds.features / np.linalg.norm(ds.features, axis=1, keepdims=True)
    means = np.stack([pat[ds.labels == k].mean(0) for k in range(3)])
    assert np.mean(np.argmax(pat @ means.T, axis=1) == ds.labels) > 0.9


def test_faults_sampled_by_rate_and_recorded():
    spec = RandomizationSpec(n_sensors=4, duration=0.5 * second, onset=0.1 * second, exposure=0.3 * second,
                             train={"dead_rate": Constant(1.0)})
    ds = make_dataset(spec, 5, random_state=0)
    f = ds.meta["faults"]
    assert (f["kind"] == 2).all()
    for s in range(5):
        for n in range(4):
            assert np.all(ds.signals[s, n, f["onset"][s, n]:] == -1.0)
            assert ds.signals[s, n, f["onset"][s, n] - 1] != -1.0


def test_drift_faults_sampled_with_slope_and_rates_checked():
    spec = RandomizationSpec(n_sensors=3, duration=0.5 * second, onset=0.1 * second, exposure=0.3 * second,
                             train={"drift_fault_rate": Constant(1.0), "fault_slope": Constant(0.5 / second)})
    clean = make_dataset(spec, 4, random_state=0, faults=False)
    ds = make_dataset(spec, 4, random_state=0)
    f = ds.meta["faults"]
    assert (f["kind"] == 4).all()
    # same seed: the fault draws come after the signal draws, so the difference is the ramp alone
    for s in range(4):
        for n in range(3):
            on = f["onset"][s, n]
            diff = ds.signals[s, n] - clean.signals[s, n]
            assert np.all(diff[:on] == 0)
            assert np.allclose(diff[on:], 0.5 * 1e-3 * np.arange(500 - on))
    with pytest.raises(ValueError, match="fault rates of a sample should sum to <= 1"):
        make_dataset(RandomizationSpec(train={"dead_rate": Constant(0.7), "stuck_rate": Constant(0.7)}), 2)


def test_generation_is_fast_enough_for_task_sampling():
    spec = RandomizationSpec(n_sensors=8, duration=1 * second, onset=0.1 * second, exposure=0.7 * second)
    make_dataset(spec, 10, random_state=0)
    start = time.perf_counter()
    make_dataset(spec, 100, random_state=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed       # measured ~0.15 s; loose bound on a shared 2-core machine


def test_task_sampling_changes_array_and_classes(spec):
    task = spec.with_changes(classes=("A", "C"), array_seed=5)
    assert task.classes == ("A", "C") and not np.array_equal(task.array.sensitivity, spec.array.sensitivity)
    ds = make_dataset(task, 10, random_state=0)
    assert set(ds.labels.tolist()) == {0, 1} and ds.class_names == ("A", "C")


def test_sample_task_is_seeded_and_varies():
    from sensors import sample_task
    spec = RandomizationSpec(analytes=("A", "B", "C", "D", "E"), n_sensors=4, duration=0.3 * second,
                             onset=0.05 * second, exposure=0.2 * second, feature_window=0.05 * second)
    t1 = sample_task(spec, n_classes=2, random_state=0)
    t2 = sample_task(spec, n_classes=2, random_state=0)
    assert t1.classes == t2.classes and np.array_equal(t1.array.sensitivity, t2.array.sensitivity)
    assert len(t1.classes) == 2 and set(t1.classes) <= set(spec.analytes) and t1.analytes == spec.analytes
    tasks = [sample_task(spec, n_classes=2, random_state=s) for s in range(6)]
    assert len({t.classes for t in tasks}) > 1
    assert len({t.array_seed for t in tasks}) == 6
    same = sample_task(spec, n_classes=3, new_array=False, random_state=1)
    assert np.array_equal(same.array.sensitivity, spec.array.sensitivity)
    ds = make_dataset(t1, 6, random_state=0)
    assert ds.class_names == t1.classes
    with pytest.raises(ValueError, match="n_classes should be <= the number of analytes"):
        sample_task(spec, n_classes=9)


def test_split_and_subset(spec):
    ds = make_dataset(spec, 40, random_state=3)
    train, test = ds.split(0.25, random_state=0)
    assert len(train) + len(test) == 40 and len(test) == 10
    assert np.bincount(test.labels).min() >= 3
    sub = ds.subset([0, 5])
    assert np.array_equal(sub.signals[1], ds.signals[5])
    assert sub.meta["params"]["temperature"][1] == ds.meta["params"]["temperature"][5]


def test_spec_errors():
    with pytest.raises(ValueError, match=r"train\['humidity'\] is not a randomized parameter"):
        RandomizationSpec(train={"humidity": Constant(0.5)})
    with pytest.raises(DimensionMismatchError, match="should have units"):
        RandomizationSpec(train={"temperature": Uniform(290, 300)})
    with pytest.raises(ValueError, match="low should be <= high"):
        RandomizationSpec(train={"temperature": Uniform(300 * kelvin, 290 * kelvin)})
    with pytest.raises(ValueError, match="should be a Distribution"):
        RandomizationSpec(shifted={"temperature": 300 * kelvin})
    with pytest.raises(ValueError, match="classes should be a non-empty subset"):
        RandomizationSpec(classes=("Z",))
    with pytest.raises(ValueError, match="onset \\+ exposure should be <= duration"):
        RandomizationSpec(duration=1 * second, onset=0.5 * second, exposure=0.8 * second)
    with pytest.raises(ValueError, match="n_samples should be >= 1"):
        make_dataset(RandomizationSpec(), 0)
    with pytest.raises(ValueError, match="sigma should be >= 0"):
        RandomizationSpec(train={"gain": LogNormal(1.0, -1.0)})


# ------------------------------------------------------------------------- CSV
def test_csv_round_trip_features_and_timeseries(spec, tmp_path):
    ds = make_dataset(spec, 6, random_state=4)
    ds.to_csv(tmp_path / "f.csv")
    f = load_csv(tmp_path / "f.csv")
    assert f.signals is None and np.array_equal(f.features, ds.features)
    assert np.array_equal(f.labels, ds.labels) and f.class_names == ds.class_names
    assert np.allclose(np.asarray(f.concentrations / mmolar), np.asarray(ds.concentrations / mmolar), rtol=1e-15)
    small = ds.subset([0, 1])
    small.to_csv(tmp_path / "t.csv", kind="timeseries")
    t = load_csv(tmp_path / "t.csv", class_names=ds.class_names)
    assert np.array_equal(t.signals, small.signals) and t.dt == 1 * ms
    assert np.array_equal(t.labels, small.labels)
    n = small.n_steps
    assert np.allclose(t.features, steady_state_features(small.signals, onset=n // 10, offset=n, window=n // 10))


def test_csv_integer_labels_and_units(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("label,concentration,a,b\n0,1.5,0.1,0.2\n2,3,0.3,0.4\n")
    ds = load_csv(p, concentration_unit=1 * mmolar / 1000)
    with pytest.raises(CSVFormatError, match=r"line 3, column 1 \('label'\): unknown class '2'"):
        load_csv(p, class_names=("0", "1"))
    assert ds.labels.tolist() == [0, 2] and ds.class_names == ("0", "1", "2")
    assert np.allclose(np.asarray(ds.concentrations / mmolar), [1.5e-3, 3e-3])
    assert ds.meta["sensor_columns"] == ["a", "b"]


@pytest.mark.parametrize("text, match", [
    ("", r"line 1, column 1: file is empty"),
    ("label,s0,s1\nA,0.1,0.2\n", r"line 1, column 4: missing column 'concentration'"),
    ("label,concentration,s0,s1\nA,0.1,0.2,0.3\nB,0.1,abc,0.3\n", r"line 3, column 3 \('s0'\): expected a number, got 'abc'"),
    ("label,concentration,s0\nA,x,0.2\n", r"line 2, column 2 \('concentration'\): expected a number"),
    ("label,concentration,s0,s1\nA,0.1,0.2\n", r"line 2, column 4: expected 4 columns, got 3"),
    ("label,concentration,s0\n", r"line 2, column 1: no data rows"),
    ("label,concentration\nA,0.1\n", r"line 1, column 3: no feature columns"),
    ("label,concentration,s0\nA,-1,0.2\n", r"line 2, column 2 \('concentration'\): expected a concentration >= 0"),
    ("label,concentration,s0\nA,0.1,nan\n", r"line 2, column 3 \('s0'\): expected a finite number"),
    ("label,concentration,s0,s0\nA,0.1,0.2,0.3\n", r"line 1, column 3: duplicate column 's0'"),
    ("sample,label,concentration,s0\n0,A,0.1,0.2\n", r"line 1, column 5: missing column 'time'"),
    ("sample,time,label,concentration,s0\n0,0,A,0.1,1\n0,0.001,A,0.1,1\n0,0.003,A,0.1,1\n",
     r"line 4, column 2 \('time'\): times of sample '0' should increase in equal steps"),
    ("sample,time,label,concentration,s0\n0,0,A,0.1,1\n0,0.001,A,0.1,1\n1,0,A,0.1,1\n1,0.001,A,0.1,1\n1,0.002,A,0.1,1\n",
     r"line 6, column 1 \('sample'\): sample '1' has 3 steps, the first sample has 2"),
    ("sample,time,label,concentration,s0\n0,0,A,0.1,1\n0,0.001,B,0.1,1\n",
     r"line 3, column 3: label/concentration of sample '0' changes"),
])
def test_malformed_csv_names_line_and_column(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(CSVFormatError, match=match):
        load_csv(p)


def test_csv_missing_file_and_dataset_validation(tmp_path):
    with pytest.raises(CSVFormatError, match="cannot read"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="labels should be integers of shape"):
        Dataset(signals=None, features=np.zeros((2, 3)), labels=[0.5, 1], concentrations=[1, 2] * mmolar)
    with pytest.raises(ValueError, match="concentrations should be a Quantity"):
        Dataset(signals=None, features=np.zeros((2, 3)), labels=[0, 1], concentrations=[1, 2])
    with pytest.raises(ValueError, match="dt is required with signals"):
        Dataset(signals=np.zeros((2, 3, 4)), features=np.zeros((2, 3)), labels=[0, 1],
                concentrations=[1, 2] * mmolar)
