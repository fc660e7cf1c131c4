"""sensors.load_gas_drift on the recorded files (``shared/data/gas_drift`` beside the repository)."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from sensors import GAS_DRIFT_GASES, CSVFormatError, load_gas_drift
from sensors.gas_drift import FEATURE_NAMES

from _gas_data import DATA, needs_data


def independent_parse(path: Path):
    """gzip + str.split: the file as the README describes it (gas, concentration, 128 features)."""
    rows = [line.split(",") for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line]
    return (np.array([r[0] for r in rows]), np.array([float(r[1]) for r in rows]),
            np.array([[float(v) for v in r[2:]] for r in rows]))


@needs_data
@pytest.mark.parametrize("batch, n", [(1, 445), (2, 1244)])
def test_recorded_batches(batch, n):
    data = load_gas_drift(DATA / f"batch{batch}.csv.gz")
    gas, conc, feats = independent_parse(DATA / f"batch{batch}.csv.gz")
    assert len(data) == n and data.batch == batch and data.features.shape == (n, 128)
    np.testing.assert_array_equal(data.features, feats)
    np.testing.assert_array_equal(data.concentration, conc)     # metadata, not among the 128 features
    np.testing.assert_array_equal(data.labels, gas)
    assert set(data.labels) == set(GAS_DRIFT_GASES) and len(data.feature_names) == 128
    assert data.feature_names[:2] == ("s01_dR", "s01_dR_norm") and data.feature_names[-1] == "s16_ema_decay_0.1"
    # README: the slowest average of the decaying transient is <= 0, of the rising transient > 0
    assert np.all(data.features[:, 5::8] <= 0) and np.all(data.features[:, 2::8] > 0)


@needs_data
def test_batch_numbers_folder_and_environment(monkeypatch, tmp_path):
    one = load_gas_drift(1, folder=DATA)
    np.testing.assert_array_equal(one.features, load_gas_drift(DATA / "batch1.csv.gz").features)
    assert np.bincount(np.searchsorted(sorted(GAS_DRIFT_GASES), one.labels)).tolist() == [30, 70, 83, 90, 98, 74]
    monkeypatch.setenv("NEUROCHIP_GAS_DRIFT", str(DATA))
    assert load_gas_drift(2).batch == 2
    with pytest.raises(ValueError, match=r"no batch7.csv.gz in .*empty"):
        load_gas_drift(7, folder=tmp_path / "empty")


@needs_data
def test_recorded_batch_goes_into_the_classifier():
    from neurochip.plasticity import FewShotSpikingClassifier, supervised_hebbian

    data = load_gas_drift(1, folder=DATA)
    shots = np.concatenate([np.nonzero(data.labels == g)[0][:2] for g in GAS_DRIFT_GASES])
    X = np.log1p(np.abs(data.features[shots]))
    clf = FewShotSpikingClassifier(rule=supervised_hebbian(), random_state=0).fit(X, data.labels[shots])
    assert set(clf.classes_) == set(GAS_DRIFT_GASES) and set(clf.predict(X)) <= set(GAS_DRIFT_GASES)


def write_gz(path: Path, lines):
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_malformed_batches_name_line_and_column(tmp_path):
    row = ",".join(["1.0"] * 128)
    ok = write_gz(tmp_path / "batch3.csv.gz", [f"Ethanol,10.0,{row}", f"Toluene,50,{row}"])
    data = load_gas_drift(ok)
    assert data.batch == 3 and data.labels.tolist() == ["Ethanol", "Toluene"] and data.concentration.tolist() == [10, 50]
    assert load_gas_drift(write_gz(tmp_path / "mine.csv.gz", [f"Acetone,1,{row}"])).batch is None
    cases = {
        "unknown gas": ([f"Ethanol,10,{row}", f"Methane,10,{row}"], r"line 2, column 1 \('gas'\): unknown gas 'Methane'"),
        "short row": ([f"Ethanol,10,{row[:-4]}"], r"line 1, column 130: expected 130 columns, got 129"),
        "nan": ([f"Ethanol,10,nan,{row[4:]}"], r"line 1, column 3 \('s01_dR'\): expected a finite number"),
        "negative": ([f"Ethanol,-5,{row}"], r"line 1, column 2 \('concentration'\): expected a concentration >= 0"),
        "empty": ([""], r"line 1, column 1: file is empty"),
    }
    for name, (lines, match) in cases.items():
        with pytest.raises(CSVFormatError, match=match):
            load_gas_drift(write_gz(tmp_path / f"batch9_{name.replace(' ', '_')}.csv.gz", lines))
    with pytest.raises(ValueError, match="source should be a file path or a batch number >= 1, got 0"):
        load_gas_drift(0)
    with pytest.raises(ValueError, match="got True"):
        load_gas_drift(True)
    assert FEATURE_NAMES[8] == "s02_dR"
