"""Reader of the recorded UCI "Gas Sensor Array Drift" batches (Vergara et al. 2012).

An array of 16 metal-oxide sensors (4 types x 4 devices) exposed to 6 gases at
various concentrations, recorded in 10 batches over 36 months; sensor drift moves
every class between batches. The project's copy (``shared/data/gas_drift/``
beside the repository, README there) holds ``batch<N>.csv.gz``: gzip CSV without
a header, each line ``gas name, concentration (ppmv), 128 features`` (8 per
sensor, sensor after sensor: steady-state resistance change ``dR``, its normalized
form ``dR / R0``, three exponential moving averages of the rising transient,
alpha 0.001, 0.01, 0.1, and three of the decaying transient, same alphas,
negative values). Magnitudes span about 1e-3 to 1e5: scale before use.

Source: A. Vergara, S. Vembu, T. Ayhan, M. A. Ryan, M. L. Homer, R. Huerta,
"Chemical gas sensor drift compensation using classifier ensembles", Sensors and
Actuators B 166-167 (2012) 320-329; UCI Machine Learning Repository (CC BY 4.0).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurochip.recordings import read_csv

#: The six gases of the data set (label values).
GAS_DRIFT_GASES = ("Ammonia", "Acetaldehyde", "Acetone", "Ethylene", "Ethanol", "Toluene")
#: Sensors of the array and features per sensor.
N_SENSORS, FEATURES_PER_SENSOR = 16, 8
#: Names of the 8 features of one sensor, in file order.
SENSOR_FEATURES = ("dR", "dR_norm", "ema_rise_0.001", "ema_rise_0.01", "ema_rise_0.1",
                   "ema_decay_0.001", "ema_decay_0.01", "ema_decay_0.1")
#: The 128 feature names, ``s01_dR`` ... ``s16_ema_decay_0.1``.
FEATURE_NAMES = tuple(f"s{s + 1:02d}_{f}" for s in range(N_SENSORS) for f in SENSOR_FEATURES)
#: Environment variable naming the folder of ``batch<N>.csv.gz`` (looked up first).
DATA_ENV = "NEUROCHIP_GAS_DRIFT"


@dataclass(frozen=True)
class GasDriftBatch:
    """One recorded batch: features, gas labels, concentration (metadata) and the batch number.

    Goes straight into ``FewShotSpikingClassifier.fit`` / ``adapt`` (it has
    ``features`` and ``labels``).

    Attributes
    ----------
    features : ndarray (n_samples, 128)
        In file order (:data:`FEATURE_NAMES`); the concentration is not among them.
    labels : ndarray of str (n_samples,)
        Gas names (:data:`GAS_DRIFT_GASES`).
    concentration : ndarray (n_samples,)
        Gas concentration in ppmv (metadata, never a feature).
    batch : int or None
        Batch number (from the file name ``batch<N>...``; ``None`` if it has none).
    source : str
        The file read.
    """

    features: np.ndarray
    labels: np.ndarray
    concentration: np.ndarray
    batch: int | None
    source: str

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def feature_names(self) -> tuple:
        return FEATURE_NAMES


def default_folders() -> list[Path]:
    """Where :func:`load_gas_drift` looks for ``batch<N>.csv.gz``: ``$NEUROCHIP_GAS_DRIFT``, then
    ``shared/data/gas_drift`` beside the source tree (the project's layout)."""
    folders = [Path(os.environ[DATA_ENV])] if os.environ.get(DATA_ENV) else []
    return folders + [Path(__file__).resolve().parents[2] / "shared" / "data" / "gas_drift"]


def _resolve(source, folder) -> Path:
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    if isinstance(source, bool) or not isinstance(source, (int, np.integer)) or source < 1:
        raise ValueError(f"load_gas_drift: source should be a file path or a batch number >= 1, got {source!r}")
    folders = [Path(folder)] if folder is not None else default_folders()
    for f in folders:
        for name in (f"batch{int(source)}.csv.gz", f"batch{int(source)}.csv"):
            if (f / name).is_file():
                return f / name
    raise ValueError(f"load_gas_drift: no batch{int(source)}.csv.gz in {', '.join(map(str, folders))}; "
                     f"pass folder= or set ${DATA_ENV} to the folder of the gas drift files")


def load_gas_drift(source, *, folder: str | os.PathLike | None = None) -> GasDriftBatch:
    """Read one batch of the gas drift recordings.

    Parameters
    ----------
    source : path or int
        A ``batch<N>.csv.gz`` (or ``.csv``) file, or a batch number looked up in
        ``folder`` (default: :func:`default_folders`).
    folder : path, optional
        Folder of the batch files, for a batch number.

    Returns
    -------
    GasDriftBatch

    Raises
    ------
    ValueError
        (``sensors.CSVFormatError`` for a malformed file, naming file, line and
        column): not 130 columns, a value that is not a finite number, a negative
        concentration, a gas not in :data:`GAS_DRIFT_GASES`, an empty file.
    """
    path = _resolve(source, folder)
    rec = read_csv(path, label_column="gas", metadata_columns=("concentration",),
                   columns=("gas", "concentration", *FEATURE_NAMES))
    unknown = ~np.isin(rec.labels, GAS_DRIFT_GASES)
    if unknown.any():
        k = int(np.argmax(unknown))
        raise rec.error(k, "gas", f"unknown gas {rec.labels[k]!r} (expected one of {', '.join(GAS_DRIFT_GASES)})")
    conc = rec.metadata["concentration"]
    if np.any(conc < 0):
        k = int(np.argmax(conc < 0))
        raise rec.error(k, "concentration", f"expected a concentration >= 0 ppmv, got {conc[k]}")
    match = re.match(r"batch(\d+)", path.name)
    return GasDriftBatch(features=rec.features, labels=rec.labels, concentration=conc,
                         batch=int(match.group(1)) if match else None, source=rec.source)
