"""Progress bars of long loops: one choice for the whole project, quiet where nobody watches.

neurochip uses **tqdm** (one small pure-Python package without dependencies):
its bars go to stderr as plain text (also in notebooks and over ssh), a
disabled bar costs one attribute check per update, and its ``delay`` shows a
bar only when a loop has run for :data:`DELAY_S` seconds, so short runs print
nothing. (rich draws nicer bars but brings pygments and markdown-it, and takes
over the console, which fights with Dask's and Lava's own output.)

Bars are shown when stderr is a terminal, outside pytest and outside worker
processes (a pool or a Dask worker would draw one bar per worker on the same
terminal). ``NEUROCHIP_PROGRESS=1`` forces them on, ``NEUROCHIP_PROGRESS=0``
off. Where they are:

- every Brian2 run (:func:`brian_report`, passed to ``Network.run`` by
  :func:`neurochip._brian.run_network`): steps simulated;
- every Lava run (:func:`activity` around :func:`mapping.lava.runs.run_process`):
  elapsed time (Lava reports no step count while it runs);
- meta-learning generations, the hand-tuned STDP grids, sweeps, calibration and
  the experiments' loops (:func:`bar`).

>>> from neurochip.progress import bar
>>> total = 0
>>> for x in bar(range(3), desc="demo"):     # silent here: stderr is not a terminal
...     total += x
>>> total
3
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from typing import Iterable

#: Environment variable: "1" forces bars on, "0" off; unset or empty: automatic.
ENV = "NEUROCHIP_PROGRESS"
#: A bar appears only after its loop has run this long (s).
DELAY_S = 2.0


def enabled() -> bool:
    """Whether bars are drawn: :data:`ENV` if set, else stderr is a terminal, not under pytest, not a worker."""
    value = os.environ.get(ENV, "").strip()
    if value:
        if value not in ("0", "1"):
            raise ValueError(f"environment variable {ENV} should be 0 (no progress bars) or 1 (always), "
                             f"got {value!r}; unset it for the automatic choice")
        return value == "1"
    if "PYTEST_CURRENT_TEST" in os.environ or multiprocessing.parent_process() is not None:
        return False
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):   # a closed or replaced stream
        return False


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None,
        unit: str = "it", initial: int = 0, leave: bool = False):
    """A tqdm bar over ``iterable`` (or one to ``update`` by hand), drawn only when :func:`enabled`.

    Use it as the iterable of a loop, or as a context manager (``with bar(total=n) as b: b.update()``);
    a disabled bar passes the iterable through and ignores ``update``.
    """
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                disable=not enabled(), delay=DELAY_S, dynamic_ncols=True, file=sys.stderr)


@contextlib.contextmanager
def brian_report(desc: str, steps: int):
    """``(report, report_period)`` for ``brian2.Network.run``: a bar of ``steps`` simulated steps.

    Yields ``(None, None)`` when bars are off (Brian2 then reports nothing); the
    bar is closed when the block ends, also when the run raised.
    """
    if not enabled() or steps <= 0:
        yield None, None
        return
    from brian2 import second

    b = bar(total=int(steps), desc=desc, unit="step")
    done = [0]

    def report(elapsed, completed, start, duration):
        n = int(round(float(completed) * steps))
        if n > done[0]:
            b.update(n - done[0])
            done[0] = n

    try:
        yield report, 1 * second
    finally:
        b.close()


@contextlib.contextmanager
def activity(desc: str, *, every: float = 0.5):
    """Elapsed time of a blocking call that reports no progress (a Lava run), after :data:`DELAY_S` s."""
    if not enabled():
        yield
        return
    from tqdm import tqdm

    b = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed} elapsed", leave=False, delay=DELAY_S,
             file=sys.stderr)
    stop = threading.Event()
    start = time.monotonic()

    def tick():
        while not stop.wait(every):
            if time.monotonic() - start >= DELAY_S:
                b.refresh()

    thread = threading.Thread(target=tick, name="neurochip-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2 * every + 1)
        b.close()
