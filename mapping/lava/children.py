"""Lava's child processes never outlive the run that made them.

Three layers, each for a way the parent can end:

* **SIGTERM** (:func:`sigterm_as_exit`): during a run, SIGTERM raises
  ``SystemExit(143)`` in the main thread, like Ctrl-C raises ``KeyboardInterrupt``:
  the run is stopped and released on the way out and the process exits with
  status 143 (128 + SIGTERM). A handler the user installed is left alone.
* **Parent-death signal** (:func:`forking_children`): children forked while it is
  active ask Linux (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to be killed when the
  parent dies, even by SIGKILL; a child whose parent is already gone exits at once.
* **Reaper** (:func:`reaper`): one small watchdog process per parent
  (:mod:`mapping.lava._reaper`, standard library only) to which every run registers
  its children, shared-memory segments and record folder, and unregisters them once
  released. If the parent disappears (SIGKILL, a crash), the reaper kills what is left,
  unlinks the segments and removes the folder.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterable, Iterator

from mapping.lava._reaper import start_time

PR_SET_PDEATHSIG = 1
REAPER_SCRIPT = Path(__file__).with_name("_reaper.py")

# The thread that is forking Lava's children right now (None: no Lava fork in progress).
_forking = {"thread": None, "parent": None}
_hook_lock = threading.Lock()
_hook_installed = False
_libc = None


def _after_fork_in_child() -> None:
    if _forking["thread"] != threading.get_ident():
        return  # a fork of someone else's, or of another thread
    parent = _forking["parent"]
    _forking["thread"] = _forking["parent"] = None
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _install_hook() -> None:
    global _hook_installed, _libc
    with _hook_lock:
        if _hook_installed:
            return
        if sys.platform.startswith("linux"):
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hook_installed = True


@contextlib.contextmanager
def forking_children() -> Iterator[None]:
    """Children this thread forks inside the block die with this process (Linux parent-death signal)."""
    _install_hook()
    _forking["thread"], _forking["parent"] = threading.get_ident(), os.getpid()
    try:
        yield
    finally:
        _forking["thread"] = _forking["parent"] = None


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """In the main thread, make SIGTERM raise ``SystemExit(143)`` inside the block (once; later ones wait).

    Only where SIGTERM has its default action: a handler the user installed (or
    ``SIG_IGN``) is kept. The second and later SIGTERMs are ignored until the
    block ends, so they cannot interrupt the release of the run.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Reaper:
    """Parent side of the reaper process: register what a run owns, unregister it once released."""

    def __init__(self):
        self._after_fork()

    def _after_fork(self) -> None:
        """A fresh state (also in every forked child: the parent's reaper and registrations are not its own)."""
        self._inherited = getattr(self, "_proc", None)  # kept, not collected: its __del__ would wait for it
        self._proc = None
        self._lock = threading.Lock()
        self._pids: dict = {}
        self._segments: set = set()
        self._folders: set = set()

    def _lines(self) -> list:
        return ([f"+pid\t{pid}\t{start}" for pid, start in self._pids.items()]
                + [f"+shm\t{name}" for name in self._segments] + [f"+dir\t{path}" for path in self._folders])

    def _start(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # the old reaper is gone
        self._proc = subprocess.Popen([sys.executable, "-I", "-S", str(REAPER_SCRIPT), str(os.getpid())],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, close_fds=True,
                                      start_new_session=True)

    def _send(self, lines: list) -> None:
        """Send ``lines``; (re)start the reaper first if needed, and then replay everything registered."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
            lines = self._lines()
        try:
            self._proc.stdin.write("".join(line + "\n" for line in lines).encode())
            self._proc.stdin.flush()
        except OSError:  # the reaper died between the check and the write
            self._start()
            self._proc.stdin.write("".join(line + "\n" for line in self._lines()).encode())
            self._proc.stdin.flush()

    @staticmethod
    def _check(kind: str, names) -> list:
        names = [str(n) for n in names]
        bad = [n for n in names if "\n" in n or "\t" in n]
        if bad:
            raise ValueError(f"Reaper: {kind} names should not contain tabs or newlines, got {bad[0]!r}")
        return names

    def register(self, *, pids: Iterable[int] = (), segments: Iterable[str] = (),
                 folders: Iterable[str] = ()) -> None:
        """Clean these up if this process dies before :meth:`unregister` (pids only while still the same process)."""
        segments, folders = self._check("segment", segments), self._check("folder", folders)
        with self._lock:
            started = {pid: start for pid in pids if (start := start_time(pid)) is not None}
            self._pids.update(started)
            self._segments.update(segments)
            self._folders.update(folders)
            self._send([f"+pid\t{pid}\t{start}" for pid, start in started.items()]
                       + [f"+shm\t{name}" for name in segments] + [f"+dir\t{path}" for path in folders])

    def unregister(self, *, pids: Iterable[int] = (), segments: Iterable[str] = (),
                   folders: Iterable[str] = ()) -> None:
        """These are released: leave them alone."""
        pids, segments, folders = list(pids), self._check("segment", segments), self._check("folder", folders)
        with self._lock:
            for pid in pids:
                self._pids.pop(pid, None)
            self._segments.difference_update(segments)
            self._folders.difference_update(folders)
            self._send([f"-pid\t{pid}" for pid in pids] + [f"-shm\t{name}" for name in segments]
                       + [f"-dir\t{path}" for path in folders])

    @property
    def pid(self):
        """Process id of the reaper (``None`` before the first registration)."""
        return None if self._proc is None else self._proc.pid


_REAPER = Reaper()
os.register_at_fork(after_in_child=_REAPER._after_fork)


def reaper() -> Reaper:
    """The reaper of this process (started on first use)."""
    return _REAPER


@contextlib.contextmanager
def record_folder(path: Path) -> Iterator[Path]:
    """Create ``path`` for the run's record files, registered with the reaper; removed when the block ends."""
    os.makedirs(path, exist_ok=True)
    _REAPER.register(folders=[str(path)])
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        _REAPER.unregister(folders=[str(path)])
