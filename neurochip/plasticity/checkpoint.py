"""Data-only checkpoints of the meta-learner: JSON and arrays in one ``.npz``, never a pickle.

A checkpoint file is a zip (``numpy.savez_compressed``) holding

- ``meta``: a JSON string with the format tag, the settings fingerprint, the
  generation reached, the per-generation history, the best fitness so far and
  the ``cma`` version that wrote it;
- ``asked`` (generations, popsize, dim) and ``fitness`` (generations, popsize):
  every candidate CMA-ES proposed and the fitness it was told;
- ``gen_best_thetas`` (generations, dim) and ``best_theta`` (dim,) or (0,).

It is read with ``numpy.load(allow_pickle=False)``: no file content is ever
executed, and a pickle (the old ``checkpoint.pkl`` format) is refused before
anything is unpickled. The CMA-ES state is not stored as cma's objects:
:func:`replay` re-creates it exactly by starting the optimizer afresh (same
seed, same sampler) and replaying every ``ask`` / ``tell`` with the stored
candidates and fitness, checking that cma proposes bit-identical candidates at
every generation (a different cma version that samples otherwise is an error,
not a silently different resume).
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from neurochip.io import DAMAGED_FILE_ERRORS, json_default, atomic_write_bytes

FORMAT = "neurochip.metalearn.checkpoint"
VERSION = 2
ARRAYS = ("asked", "fitness", "gen_best_thetas", "best_theta")
#: First bytes of a pickle (protocol 2+ starts with 0x80; protocol 0/1 dumps of a dict start with "(d" or "}").
_PICKLE_STARTS = (b"\x80", b"(d", b"}q", b"}", b"(dp")


def normalized(obj):
    """``obj`` as it reads back from JSON (tuples become lists, numpy values plain numbers)."""
    return json.loads(json.dumps(obj, default=json_default))


def save(path: str | os.PathLike, state: dict, *, cma_version: str) -> Path:
    """Write the meta-learner ``state`` (see :class:`~neurochip.plasticity.MetaLearner`) atomically."""
    g = state["generation"]
    asked = np.asarray(state["asked"], dtype=float)
    dim = asked.shape[-1] if asked.ndim == 3 else 0
    meta = {"format": FORMAT, "version": VERSION, "fingerprint": normalized(state["fingerprint"]),
            "generation": g, "history": normalized(state["history"]),
            "best_fitness": float(state["best_fitness"]), "cma_version": cma_version}
    arrays = {"asked": asked, "fitness": np.asarray(state["fitness"], dtype=float),
              "gen_best_thetas": np.asarray(state.get("gen_best_thetas") or np.zeros((0, dim)), dtype=float),
              "best_theta": (np.zeros(0) if state["best_theta"] is None
                             else np.asarray(state["best_theta"], dtype=float))}
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta, allow_nan=True)), **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load(path: str | os.PathLike, *, owner: str = "MetaLearner") -> tuple[dict, dict]:
    """``(meta, arrays)`` of a checkpoint file; ValueError naming the file for anything else."""
    path = Path(path)
    label = f"{owner}: {path}"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise ValueError(f"{label}: cannot read the checkpoint ({err.strerror})") from None
    if not head.startswith(b"PK"):
        if head.startswith(_PICKLE_STARTS):
            raise ValueError(
                f"{label} is not a meta-learning checkpoint: it is a Python pickle (the old checkpoint.pkl "
                f"format), which neurochip no longer loads because unpickling a file can run any code; "
                f"it was not opened. Start the run afresh (the new checkpoint is a data-only .npz)")
        raise ValueError(f"{label} is not a meta-learning checkpoint (expected a .npz zip written by "
                         f"neurochip, got {'an empty file' if not head else f'a file starting with {head!r}'})")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("meta", *ARRAYS) if k not in data.files]
            if missing:
                raise ValueError(f"missing entries {', '.join(missing)}")
            meta = json.loads(str(data["meta"]))
            arrays = {k: np.asarray(data[k]) for k in ARRAYS}
    except DAMAGED_FILE_ERRORS as err:
        raise ValueError(f"{label} is not a meta-learning checkpoint or is damaged "
                         f"({type(err).__name__}: {err})") from None
    _check(label, meta, arrays)
    return meta, arrays


def _check(label: str, meta, arrays: dict) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{label} is not a meta-learning checkpoint (no format tag {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise ValueError(f"{label}: checkpoint version {meta.get('version')!r} is not supported "
                         f"(this neurochip reads version {VERSION})")
    g = meta.get("generation")
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise ValueError(f"{label}: 'generation' should be an integer >= 0, got {g!r}")
    history = meta.get("history")
    if not isinstance(history, list) or len(history) != g or not all(isinstance(h, dict) for h in history):
        raise ValueError(f"{label}: 'history' should be a list of {g} records, got {type(history).__name__}")
    if not isinstance(meta.get("best_fitness"), (int, float)) or not isinstance(meta.get("fingerprint"), dict):
        raise ValueError(f"{label}: 'best_fitness' should be a number and 'fingerprint' an object")
    asked, fitness = arrays["asked"], arrays["fitness"]
    for name, arr in arrays.items():
        if arr.dtype.kind != "f":
            raise ValueError(f"{label}: {name} should hold floats, got dtype {arr.dtype}")
    if g and (asked.ndim != 3 or asked.shape[0] != g or fitness.shape != asked.shape[:2]
              or arrays["gen_best_thetas"].shape != (g, asked.shape[2])
              or arrays["best_theta"].shape not in ((asked.shape[2],), (0,))):
        raise ValueError(f"{label}: inconsistent array shapes (asked {asked.shape}, fitness {fitness.shape}, "
                         f"gen_best_thetas {arrays['gen_best_thetas'].shape}, best_theta "
                         f"{arrays['best_theta'].shape}) for {g} generations")


def replay(es, asked: np.ndarray, fitness: np.ndarray, *, label: str, cma_version: str, written_by: str):
    """Bring a fresh ``cma.CMAEvolutionStrategy`` to the state after ``len(asked)`` generations.

    The fitness is told negated, as :meth:`MetaLearner.fit` does (cma minimizes).
    """
    for g in range(len(asked)):
        X = np.array(es.ask())
        if X.shape != asked[g].shape or not np.array_equal(X, asked[g]):
            raise ValueError(
                f"{label}: cannot resume exactly: CMA-ES (cma {cma_version}) proposes other candidates at "
                f"generation {g} than the run that wrote the checkpoint (cma {written_by}); "
                f"resume with that cma version or start afresh")
        es.tell(list(asked[g]), list(-fitness[g]))
    return es
