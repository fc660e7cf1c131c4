"""Atomic file writes and JSON helpers: a crash never leaves a half-written result."""
from __future__ import annotations

import json
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np


#: What reading a truncated, bit-flipped or foreign ``.npz`` (zip) file can raise, from zipfile,
#: zlib and numpy's .npy reader; loaders turn these into one ValueError naming the file.
DAMAGED_FILE_ERRORS = (OSError, ValueError, EOFError, KeyError, IndexError, TypeError, OverflowError,
                       NotImplementedError, struct.error, zipfile.BadZipFile, zlib.error)


def _current_umask() -> int:
    """The process umask (read from /proc on Linux, where setting it to read it would race threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The file gets the mode a plain ``open(path, "w")`` would give it (``0o666``
    minus the umask; an existing file keeps its mode), not ``mkstemp``'s 0600.
    The temporary file is removed on any exception, KeyboardInterrupt and
    SIGTERM (as :class:`neurochip.experiment.Terminated`) included.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically (numpy scalars and arrays allowed)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def read_json(path: str | os.PathLike):
    """Read JSON with an error naming the file, line and column on corrupt input."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: not UTF-8 text (byte {err.start}); "
                         f"the file is damaged or not JSON") from None
    if not text.strip():
        raise ValueError(f"{path} is not valid JSON: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid JSON for neurochip: nested too deeply") from None


def save_npz(path: str | os.PathLike, **arrays) -> Path:
    """``np.savez_compressed`` written atomically."""
    import io as _io

    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())
