"""Edge-case store: samples the regulator flagged, kept for the feedback into the twin.

File format (``.npz``, written atomically by :func:`neurochip.io.save_npz`, read with
``allow_pickle=False``, so a received file cannot run code):

=================  ===============  ==============================================================
array              dtype, shape     meaning
=================  ===============  ==============================================================
``format``         str, ()          ``"neurochip.edge_cases"``
``version``        int, ()          ``1``
``features``       float, (n, f)    the sample's features as recorded (finite)
``labels``         str, (n,)        true label, ``""`` when unknown (an unlabeled flagged sample)
``predicted``      str, (n,)        the classifier's decision when it was flagged
``concentration``  float, (n,)      ppmv (NaN when unknown)
``reason``         int, (n,)        :data:`REASONS` index: why it was stored
``stream_index``   int, (n,)        position in its stream
=================  ===============  ==============================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurochip.io import DAMAGED_FILE_ERRORS, save_npz

FORMAT, VERSION = "neurochip.edge_cases", 1
#: Why a sample is stored: flagged while the drift detector was in alarm, a labeled shot
#: misclassified before adaptation (stale class evidence), misclassified after adaptation, or a
#: labeled shot of the drifted period the classifier got right (kept as labeled evidence of it).
REASONS = ("in_alarm", "misclassified_before_adapt", "misclassified_after_adapt", "shot")
_FIELDS = ("features", "labels", "predicted", "concentration", "reason", "stream_index")


@dataclass
class EdgeCaseStore:
    """Edge cases in memory (:meth:`add`), saved and loaded in the documented ``.npz`` format."""

    features: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    concentration: np.ndarray
    reason: np.ndarray
    stream_index: np.ndarray

    def __post_init__(self):
        self.features = np.asarray(self.features, dtype=float)
        n = self.features.shape[0] if self.features.ndim == 2 else -1
        if self.features.ndim != 2:
            raise ValueError(f"EdgeCaseStore: features should be 2-D (n_samples, n_features), got shape "
                             f"{self.features.shape}")
        if not np.all(np.isfinite(self.features)):
            raise ValueError(f"EdgeCaseStore: features should be finite, got "
                             f"{int(np.sum(~np.isfinite(self.features)))} NaN or infinite values")
        self.labels = np.asarray(self.labels).astype(str)
        self.predicted = np.asarray(self.predicted).astype(str)
        self.concentration = np.asarray(self.concentration, dtype=float)
        self.reason = np.asarray(self.reason)
        self.stream_index = np.asarray(self.stream_index)
        for f in _FIELDS[1:]:
            if getattr(self, f).shape != (n,):
                raise ValueError(f"EdgeCaseStore: {f} should have shape ({n},), got shape {getattr(self, f).shape}")
        for f in ("reason", "stream_index"):
            v = getattr(self, f)
            if n and v.dtype.kind not in "iu":
                raise ValueError(f"EdgeCaseStore: {f} should be integers, got dtype {v.dtype}")
            setattr(self, f, v.astype(np.int64))
        if n and (self.reason.min() < 0 or self.reason.max() >= len(REASONS)):
            raise ValueError(f"EdgeCaseStore: reason should be in [0, {len(REASONS)}) ({', '.join(REASONS)}), got "
                             f"range [{self.reason.min()}, {self.reason.max()}]")

    @classmethod
    def empty(cls, n_features: int) -> "EdgeCaseStore":
        return cls(np.zeros((0, n_features)), np.zeros(0, str), np.zeros(0, str), np.zeros(0), np.zeros(0, int),
                   np.zeros(0, int))

    def __len__(self) -> int:
        return self.features.shape[0]

    def add(self, features, *, reason: str, predicted, labels=None, concentration=None,
            stream_index=None) -> "EdgeCaseStore":
        """Append samples (all with one ``reason`` of :data:`REASONS`); returns ``self``."""
        if reason not in REASONS:
            raise ValueError(f"EdgeCaseStore.add: reason should be one of {', '.join(REASONS)}, got {reason!r}")
        features = np.asarray(features, dtype=float)
        n = features.shape[0]
        other = EdgeCaseStore(features, np.full(n, "") if labels is None else labels, predicted,
                              np.full(n, np.nan) if concentration is None else concentration,
                              np.full(n, REASONS.index(reason)),
                              np.full(n, -1) if stream_index is None else stream_index)
        if other.features.shape[1] != self.features.shape[1]:
            raise ValueError(f"EdgeCaseStore.add: features should have {self.features.shape[1]} columns, got "
                             f"{other.features.shape[1]}")
        for f in _FIELDS:
            setattr(self, f, np.concatenate([getattr(self, f), getattr(other, f)]))
        return self

    def labeled(self) -> np.ndarray:
        """Mask of the samples with a known label."""
        return self.labels != ""

    def save(self, path) -> Path:
        return save_npz(path, format=np.array(FORMAT), version=np.array(VERSION),
                        **{f: getattr(self, f) for f in _FIELDS})

    @classmethod
    def load(cls, path) -> "EdgeCaseStore":
        """Read a store; anything else (another format, a damaged file, wrong shapes or dtypes) is a ValueError."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except DAMAGED_FILE_ERRORS as err:
            raise ValueError(f"EdgeCaseStore.load: {path}: not a readable .npz file ({type(err).__name__}: "
                             f"{err})") from None
        if str(d.get("format", "")) != FORMAT:
            raise ValueError(f"EdgeCaseStore.load: {path}: not a {FORMAT!r} file (format "
                             f"{str(d.get('format', 'missing'))!r})")
        if int(d.get("version", -1)) != VERSION:
            raise ValueError(f"EdgeCaseStore.load: {path}: version should be {VERSION}, got {d.get('version')}")
        missing = [f for f in _FIELDS if f not in d]
        if missing:
            raise ValueError(f"EdgeCaseStore.load: {path}: missing arrays {', '.join(missing)}")
        try:
            return cls(**{f: d[f] for f in _FIELDS})
        except ValueError as err:
            raise ValueError(f"EdgeCaseStore.load: {path}: {err}") from None
