"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def timed(fn: Callable[[], Any], repeats: int, *, warmup: bool = False) -> tuple[Any, float, list[float]]:
    """Call ``fn`` ``repeats`` times (after one untimed call if ``warmup``).

    Returns the last output, the median wall time in seconds and all the times.
    """
    if warmup:
        fn()
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(statistics.median(times)), times
