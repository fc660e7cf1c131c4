"""neurochip.recordings: the one reader of recorded feature files (labels, metadata, features apart)."""
import gzip

import numpy as np
import pytest

from neurochip.recordings import CSVFormatError, load_csv, read_csv, read_header
from neurochip.plasticity import load_csv as plasticity_load_csv

TABLE = "label,concentration,s0,s1\nA,0.5,1.0,2.0\n\nB,1.5,-3.0,4e-3\n"


def test_metadata_is_kept_apart_and_never_a_feature(tmp_path):
    p = tmp_path / "rec.csv"
    p.write_text(TABLE)
    rec = read_csv(p, metadata_columns=["concentration"])
    np.testing.assert_array_equal(rec.features, [[1.0, 2.0], [-3.0, 4e-3]])
    assert rec.labels.tolist() == ["A", "B"] and rec.feature_names == ("s0", "s1")
    np.testing.assert_array_equal(rec.metadata["concentration"], [0.5, 1.5])
    assert rec.lines.tolist() == [2, 4] and rec.columns["s1"] == 4 and len(rec) == 2
    # the classifier's reader: concentration is metadata by default (it used to become a feature)
    X, y = load_csv(p)
    np.testing.assert_array_equal(X, rec.features)
    assert y.tolist() == ["A", "B"]
    assert plasticity_load_csv is load_csv
    X, _ = load_csv(p, metadata_columns=[])
    assert X.shape == (2, 3)                                  # asked for: concentration as a feature
    p.write_text("label,concentration\nA,1\n")
    with pytest.raises(CSVFormatError, match="line 1, column 3: no feature columns"):
        load_csv(p)
    p.write_text(TABLE)
    p.write_text("label,sample,time,ch\n1,a,0.0,0.5\n2,a,0.1,0.25\n")
    X, y = load_csv(p)
    np.testing.assert_array_equal(X, [[0.5], [0.25]])
    assert y.tolist() == [1, 2] and y.dtype.kind == "i"
    rec = read_csv(p, metadata_columns=["sample", "time"], text_columns=["sample"])
    assert rec.metadata["sample"].tolist() == ["a", "a"] and rec.metadata["time"].tolist() == [0.0, 0.1]


def test_gzip_and_headerless_files(tmp_path):
    plain, packed = tmp_path / "rec.csv", tmp_path / "rec.csv.gz"
    plain.write_text(TABLE)
    packed.write_bytes(gzip.compress(TABLE.encode()))
    a, b = read_csv(plain, metadata_columns=["concentration"]), read_csv(packed, metadata_columns=["concentration"])
    np.testing.assert_array_equal(a.features, b.features)
    assert a.labels.tolist() == b.labels.tolist() and read_header(packed) == ["label", "concentration", "s0", "s1"]
    bare = tmp_path / "bare.csv.gz"
    bare.write_bytes(gzip.compress(b"A,0.5,1,2\nB,1.5,3,4\n"))
    rec = read_csv(bare, label_column="gas", metadata_columns=["ppm"], columns=["gas", "ppm", "f0", "f1"])
    np.testing.assert_array_equal(rec.features, [[1, 2], [3, 4]])
    assert rec.lines.tolist() == [1, 2]
    with pytest.raises(CSVFormatError, match=r"bare.csv.gz, line 1, column 5: expected 5 columns, got 4"):
        read_csv(bare, label_column="gas", columns=["gas", "ppm", "f0", "f1", "f2"])


@pytest.mark.parametrize("text, match", [
    ("", r"rec.csv, line 1, column 1: file is empty"),
    ("\n\n", r"rec.csv, line 1, column 1: file is empty"),
    ("label,s0\n", r"rec.csv, line 2, column 1: no data rows after the header"),
    ("cls,s0\nA,1\n", r"rec.csv, line 1, column 3: missing column 'label' \(header has cls, s0"),
    ("label\nA\n", r"line 1, column 2: no feature columns \(every column besides label is a feature\)"),
    ("label,s0,s0\nA,1,2\n", r"line 1, column 2: duplicate column 's0'"),
    ("label,s0,s1\nA,1,2\nB,1\n", r"line 3, column 3: expected 3 columns, got 2"),
    ("label,s0,s1\nA,1,2,3\n", r"line 2, column 4: expected 3 columns, got 4"),
    ("label,s0,s1\nA,1,nan\n", r"line 2, column 3 \('s1'\): expected a finite number, got 'nan'"),
    ("label,s0,s1\nA,inf,1\n", r"line 2, column 2 \('s0'\): expected a finite number, got 'inf'"),
    ("label,s0,s1\nA,1,-Infinity\n", r"line 2, column 3 \('s1'\): expected a finite number"),
    ("label,s0,s1\nA,1,\n", r"line 2, column 3 \('s1'\): expected a number, got ''"),
    ("label,s0\n  ,1\n", r"line 2, column 1 \('label'\): empty label"),
])
def test_bad_files_name_file_line_and_column(tmp_path, text, match):
    p = tmp_path / "rec.csv"
    p.write_text(text)
    with pytest.raises(CSVFormatError, match=match):
        read_csv(p)
    with pytest.raises(ValueError, match=match):             # the classifier's reader says the same
        load_csv(p)


def test_metadata_values_are_checked_and_unreadable_files(tmp_path):
    p = tmp_path / "rec.csv"
    p.write_text("label,concentration,s0\nA,NaN,1\n")
    with pytest.raises(CSVFormatError, match=r"line 2, column 2 \('concentration'\): expected a finite number"):
        read_csv(p, metadata_columns=["concentration"])
    with pytest.raises(CSVFormatError, match=r"line 1, column 4: missing column 'time'"):
        read_csv(p, metadata_columns=["concentration", "time"])
    with pytest.raises(CSVFormatError, match="nope.csv: cannot read"):
        read_csv(tmp_path / "nope.csv")
    bad = tmp_path / "broken.csv.gz"
    bad.write_bytes(gzip.compress(TABLE.encode())[:20])
    with pytest.raises(CSVFormatError, match="broken.csv.gz: not a readable gzip file"):
        read_csv(bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("label,s0\nA,1\nB\xe9,2\n".encode("latin-1"))
    with pytest.raises(CSVFormatError, match=r"latin.csv, line 3: not UTF-8 text"):
        read_csv(latin)
