"""Recorded data into FewShotSpikingClassifier: the gas drift files with defaults, and malformed recordings.

Uses ``shared/data/gas_drift`` beside the repository (skipped with the reason when absent). Only batch 1 is
read here: fit on the first half of every gas's rows, adapt and score on the second half (later batches are
the benchmark's check, benchmarks/gas_drift_fewshot.py).
"""
import copy

import numpy as np
import pytest

from neurochip.plasticity import FewShotSpikingClassifier, load_csv
from neurochip.recordings import CSVFormatError, read_csv
from sensors import load_gas_drift
from sensors.calibration import first_half
from sensors.tasks import recorded_shots

from _gas_data import DATA, needs_data


@pytest.fixture(scope="module")
def batch1():
    return load_gas_drift(DATA / "batch1.csv.gz")


@needs_data
def test_defaults_learn_recorded_gases_and_adapt_in_five_shots(batch1):
    early = first_half(batch1.labels)
    X, y = batch1.features, batch1.labels
    clf = FewShotSpikingClassifier(random_state=0).fit(X[early], y[early])   # raw magnitudes, 1e-3 .. 1e5
    assert clf.vth_ > 0 and clf.ff_ > 0 and 6 <= clf.n_fit_outputs_ < 60
    late = ~early
    assert clf.score(X[late], y[late]) > 0.9
    accs = []
    for seed in range(3):
        s, q = recorded_shots(y[late], 5, random_state=seed)
        accs.append(copy.deepcopy(clf).adapt(X[late][s], y[late][s]).score(X[late][q], y[late][q]))
    assert np.mean(accs) > 0.95            # measured 98.1 % (docs/plasticity.md)
    spikes = clf.output_spikes(X[late][:20])
    assert spikes.counts.shape == (20, clf.W_.shape[0]) and not spikes.first_tie.all()


@needs_data
def test_a_recorded_batch_goes_in_as_it_is_read(batch1):
    clf = FewShotSpikingClassifier(random_state=0).fit(batch1)             # features and labels of the batch
    assert set(clf.classes_) == set(batch1.labels)
    assert clf.n_features_in_ == 128
    with pytest.raises(ValueError, match="X has 127 features, but FewShotSpikingClassifier is expecting 128"):
        clf.predict(batch1.features[:, 1:])


def test_a_csv_recording_goes_in_and_malformed_ones_are_named(tmp_path):
    rng = np.random.default_rng(0)
    d = np.array([[1.0, 0.1, 0.5], [0.1, 1.0, 0.4]])
    lines = ["s0,s1,s2,label,concentration"]
    for i in range(20):
        c = 10 ** rng.uniform(0, 2)
        v = c * d[i % 2] * np.exp(rng.normal(0, 0.05, 3))
        lines.append(f"{v[0]},{v[1]},{v[2]},{'gas' + str(i % 2)},{c}")
    good = tmp_path / "rec.csv"
    good.write_text("\n".join(lines) + "\n")
    X, y = load_csv(good)
    assert X.shape == (20, 3)                       # the concentration column is metadata, not a feature
    clf = FewShotSpikingClassifier(random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0
    rec = read_csv(good, metadata_columns=("concentration",))
    assert FewShotSpikingClassifier(random_state=0).fit(rec).score(X, y) == 1.0   # a Recording goes in too
    cases = {
        "empty": ("", r"line 1, column 1: file is empty"),
        "header only": ("s0,s1,label\n", r"line 2, column 1: no data rows after the header"),
        "no label column": ("s0,s1,cls\n1,2,a\n", r"missing column 'label'"),
        "NaN": ("s0,s1,label\n1,nan,a\n", r"line 2, column 2 \('s1'\): expected a finite number, got 'nan'"),
        "inf": ("s0,s1,label\ninf,1,a\n", r"line 2, column 1 \('s0'\): expected a finite number, got 'inf'"),
        "ragged": ("s0,s1,label\n1,2,a\n3,b\n", r"line 3, column 3: expected 3 columns, got 2"),
    }
    for name, (text, match) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        path.write_text(text)
        with pytest.raises(CSVFormatError, match=match):
            load_csv(path)
