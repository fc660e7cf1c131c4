"""Input checks shared by the public API.

Every error names the object, the field, what was expected and what was got.
Arrays are described by shape and dtype, never printed whole.
"""
from __future__ import annotations

import numbers

import numpy as np
from brian2 import DimensionMismatchError, Quantity
from brian2.units.fundamentalunits import fail_for_dimension_mismatch


def describe(value) -> str:
    """Short description of a value for an error message (no whole arrays)."""
    if isinstance(value, Quantity):
        if value.ndim == 0:
            return str(value)
        return f"a Quantity array of shape {value.shape} ({value.dimensions})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"a {type(value).__name__} of length {len(value)}"
    return repr(value)


def where(owner: str, field: str) -> str:
    return f"{owner}: {field}" if owner else field


def check_name(owner: str, name) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where(owner, 'name')} should be a non-empty string, got {describe(name)}")
    if not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(
            f"{where(owner, 'name')} should start with a letter and contain only letters, digits, "
            f"'_' and '-', got {name!r}"
        )
    return name


def check_int(owner: str, field: str, value, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{where(owner, field)} should be an integer, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{where(owner, field)} should be >= {minimum}, got {value}")
    return value


def check_float(owner: str, field: str, value, *, low=None, high=None,
                low_open=False, high_open=False) -> float:
    if isinstance(value, Quantity) and not value.is_dimensionless:
        raise DimensionMismatchError(
            f"{where(owner, field)} should be dimensionless, got {describe(value)}"
        )
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)) and not (
        isinstance(value, np.ndarray) and value.ndim == 0
    ):
        raise ValueError(f"{where(owner, field)} should be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{where(owner, field)} should be finite, got {value}")
    _check_range(owner, field, value, low, high, low_open, high_open)
    return value


def _check_range(owner, field, value, low, high, low_open, high_open):
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{where(owner, field)} should be {op} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{where(owner, field)} should be {op} {high}, got {value}")


def check_scalar_or_array(owner: str, field: str, value, size: int):
    """A finite float, or a finite 1-D float array of length ``size``."""
    try:
        arr = np.asarray(value, dtype=float) if not isinstance(value, str) else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "fiu":
        raise ValueError(f"{where(owner, field)} should be a number or an array of numbers, got {describe(value)}")
    if arr.ndim == 0:
        return check_float(owner, field, float(arr))
    if arr.shape != (size,):
        raise ValueError(
            f"{where(owner, field)} should be a scalar or have shape ({size},), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where(owner, field)} should be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite values")
    return arr


def check_quantity(owner: str, field: str, value, unit, *, positive: bool = False) -> Quantity:
    """Check that ``value`` is a scalar Brian2 quantity with the dimensions of ``unit``."""
    if not isinstance(value, Quantity) and not isinstance(value, numbers.Real):
        raise DimensionMismatchError(
            f"{where(owner, field)} should have units {unit!r}, got {describe(value)}"
        )
    try:
        fail_for_dimension_mismatch(value, unit)
    except DimensionMismatchError:
        got = describe(value) if isinstance(value, Quantity) else f"{value!r} (no units)"
        raise DimensionMismatchError(
            f"{where(owner, field)} should have units {unit!r}, got {got}"
        ) from None
    q = Quantity(value)
    if q.ndim != 0:
        raise ValueError(f"{where(owner, field)} should be a scalar, got {describe(q)}")
    if not np.isfinite(float(q)):
        raise ValueError(f"{where(owner, field)} should be finite, got {q}")
    if positive and float(q) <= 0:
        raise ValueError(f"{where(owner, field)} should be > 0, got {q}")
    return q
