"""The one reader of recorded feature files (CSV, optionally gzip-compressed).

A recording is a table, one row per sample (or per sample and time step): a
*label* column, *metadata* columns (concentration, sample id, time, ...) that
describe a row but are never features, and the *feature* columns (every other
column, numeric). :func:`read_csv` reads it into a :class:`Recording`; the
readers of each format are thin layers on top of it:

- :func:`load_csv` (also ``neurochip.plasticity.load_csv``): ``(X, y)`` for the
  few-shot classifier.
- ``sensors.load_csv``: a ``sensors.Dataset`` (features or time series, units).
- ``sensors.load_gas_drift``: the UCI gas-sensor drift batches (no header).

Every malformed input is a :class:`CSVFormatError` (a ``ValueError``) whose
message names the file, the line (1-based; the header is line 1) and the column
(1-based, with its name): an empty or header-only file, a missing label or
metadata column, duplicate column names, no feature column, a row with too few
or too many fields, an empty label, a cell that is not a number, NaN or
infinity. Blank lines are skipped (line numbers still count them). Files whose
first two bytes are the gzip magic number (``.csv.gz``) are decompressed.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

#: Column names that are metadata, not features, when present (:func:`load_csv`).
METADATA_COLUMNS = ("concentration", "sample", "time")
#: Of those, the ones whose values are kept as text.
TEXT_COLUMNS = ("sample",)


class CSVFormatError(ValueError):
    """A malformed CSV file; the message names the file, line and column."""


@dataclass(frozen=True)
class Recording:
    """Rows of a recorded table, with features and metadata kept apart.

    Attributes
    ----------
    features : ndarray (n_rows, n_features)
        Finite floats, the columns in ``feature_names``.
    labels : ndarray of str (n_rows,)
        The label column, stripped (never empty).
    metadata : dict of str to ndarray (n_rows,)
        Metadata columns: finite floats, or str for ``text_columns``.
    feature_names : tuple of str
    lines : ndarray of int (n_rows,)
        Line number of each row in the file (for error messages downstream).
    columns : dict of str to int
        1-based column number of every column name.
    source : str
        The file read.
    """

    features: np.ndarray
    labels: np.ndarray
    metadata: dict = field(default_factory=dict)
    feature_names: tuple = ()
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    columns: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return self.features.shape[0]

    def error(self, row: int, column: str, message: str) -> CSVFormatError:
        """A :class:`CSVFormatError` naming the file, the line of ``row`` and ``column``."""
        return CSVFormatError(f"{self.source}, line {self.lines[row]}, column {self.columns[column]} "
                              f"({column!r}): {message}")


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CSVFormatError(f"{path}: cannot read ({err.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise CSVFormatError(f"{path}: not a readable gzip file ({err})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise CSVFormatError(f"{path}, line {line}: not UTF-8 text (byte {raw[err.start]:#04x})") from None


def read_header(path: str | os.PathLike) -> list[str]:
    """Column names of line 1 (the first non-blank line) of a CSV file, stripped."""
    path = Path(path)
    for row in csv.reader(io.StringIO(_read_text(path))):
        if row and any(c.strip() for c in row):
            return [c.strip() for c in row]
    raise CSVFormatError(f"{path}, line 1, column 1: file is empty; expected a header")


def read_csv(path: str | os.PathLike, *, label_column: str = "label", metadata_columns: Sequence[str] = (),
             text_columns: Sequence[str] = (), columns: Sequence[str] | None = None) -> Recording:
    """Read a recorded table: labels, metadata and features apart, every value checked.

    Parameters
    ----------
    path : path
        A CSV file, plain or gzip-compressed.
    label_column : str
        Name of the label column (required).
    metadata_columns : sequence of str
        Columns that describe a row but are not features (required; numeric
        unless also in ``text_columns``).
    text_columns : sequence of str
        Metadata columns kept as text (e.g. sample ids).
    columns : sequence of str, optional
        The names of all columns, for a file without a header row (every line is
        then data). By default line 1 is the header.

    Returns
    -------
    Recording

    Raises
    ------
    CSVFormatError
        On any malformed input (see the module docstring), naming file, line and column.
    """
    path = Path(path)
    rows = list(csv.reader(io.StringIO(_read_text(path))))
    numbered = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    required = [label_column, *[c for c in metadata_columns if c != label_column]]
    text = set(text_columns)
    if columns is None:
        if not numbered:
            raise CSVFormatError(f"{path}, line 1, column 1: file is empty; expected a header with columns "
                                 f"{', '.join(required)} and one column per feature")
        header_line, header = numbered[0]
        header = [h.strip() for h in header]
        data = numbered[1:]
    else:
        header_line, header, data = 0, [str(c) for c in columns], numbered
        if not data:
            raise CSVFormatError(f"{path}, line 1, column 1: file is empty; expected rows of "
                                 f"{len(header)} columns ({', '.join(header[:4])}, ...)")
    where = f"line {header_line}" if header_line else "the column names"
    for col in required:
        if col not in header:
            raise CSVFormatError(f"{path}, {where}, column {len(header) + 1}: missing column {col!r} "
                                 f"(header has {', '.join(header)}; required: {', '.join(required)})")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise CSVFormatError(f"{path}, {where}, column {header.index(dup[0]) + 1}: duplicate column {dup[0]!r}")
    feature_cols = [j for j, h in enumerate(header) if h not in required]
    if not feature_cols:
        raise CSVFormatError(f"{path}, {where}, column {len(header) + 1}: no feature columns "
                             f"(every column besides {', '.join(required)} is a feature)")
    if not data:
        raise CSVFormatError(f"{path}, line {header_line + 1}, column 1: no data rows after the header")

    def number(line, j, cell):
        try:
            v = float(cell)
        except ValueError:
            raise CSVFormatError(f"{path}, line {line}, column {j + 1} ({header[j]!r}): expected a number, "
                                 f"got {cell.strip()!r}") from None
        if not np.isfinite(v):
            raise CSVFormatError(f"{path}, line {line}, column {j + 1} ({header[j]!r}): expected a finite "
                                 f"number, got {cell.strip()!r}")
        return v

    li = header.index(label_column)
    meta_idx = {c: header.index(c) for c in required[1:]}
    labels, values, lines = [], [], []
    meta = {c: [] for c in meta_idx}
    for line, row in data:
        if len(row) != len(header):
            raise CSVFormatError(f"{path}, line {line}, column {min(len(row), len(header)) + 1}: expected "
                                 f"{len(header)} columns, got {len(row)}")
        label = row[li].strip()
        if not label:
            raise CSVFormatError(f"{path}, line {line}, column {li + 1} ({label_column!r}): empty label")
        labels.append(label)
        for c, j in meta_idx.items():
            meta[c].append(row[j].strip() if c in text else number(line, j, row[j]))
        values.append([number(line, j, row[j]) for j in feature_cols])
        lines.append(line)
    return Recording(features=np.array(values, dtype=float), labels=np.array(labels, dtype=str),
                     metadata={c: np.array(v, dtype=str if c in text else float) for c, v in meta.items()},
                     feature_names=tuple(header[j] for j in feature_cols), lines=np.array(lines, dtype=np.int64),
                     columns={h: j + 1 for j, h in enumerate(header)}, source=str(path))


def load_csv(path: str | os.PathLike, *, label_column: str = "label",
             metadata_columns: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix and labels of a recorded CSV file with a header row (plain or ``.csv.gz``).

    Parameters
    ----------
    path : path
    label_column : str
    metadata_columns : sequence of str, optional
        Columns that are not features. ``None``: those of :data:`METADATA_COLUMNS`
        (``concentration``, ``sample``, ``time``) the header has.

    Returns
    -------
    X : ndarray (n_samples, n_features)
        The feature columns only (metadata never becomes a feature).
    y : ndarray (n_samples,)
        Labels: integers when every label is one, else strings.
    """
    if metadata_columns is None:
        header = read_header(path)
        metadata_columns = [c for c in METADATA_COLUMNS if c in header and c != label_column]
    rec = read_csv(path, label_column=label_column, metadata_columns=metadata_columns,
                   text_columns=[c for c in TEXT_COLUMNS if c in metadata_columns])
    y = rec.labels
    try:
        y = y.astype(int)
    except ValueError:
        pass
    return rec.features, y
