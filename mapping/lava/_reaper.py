"""The reaper: cleans up after a parent that was killed in the middle of a Lava run.

Run as a script (``python -I -S _reaper.py PARENT_PID``, standard library only, so it
starts in milliseconds and imports nothing of the user's), started once per parent
process by :mod:`mapping.lava.children`. The parent registers what a run owns, one
tab-separated line each on the reaper's standard input::

    +pid PID STARTTIME     -pid PID
    +shm NAME              -shm NAME
    +dir PATH              -dir PATH

When the parent is gone (its pidfd becomes readable, or ``getppid`` changes, or the
pipe reaches end of file), the reaper kills the registered children that are still
the same processes (same start time in ``/proc/PID/stat``), unlinks the registered
shared-memory segments, removes the registered folders, and exits. A parent that
exits normally has unregistered everything, so nothing is touched.
"""
import os
import select
import shutil
import signal
import sys
import time


def proc_stat(pid: int):
    """``(parent pid, start time in clock ticks since boot, state)`` from ``/proc/PID/stat``; ``None`` if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()  # the command name in parentheses may hold spaces
    return int(fields[1]), int(fields[19]), fields[0].decode()


def start_time(pid: int):
    """Start time of ``pid`` (field 22 of ``/proc/PID/stat``), ``None`` if there is no such process."""
    stat = proc_stat(pid)
    return None if stat is None else stat[1]


def unlink_segment(name: str) -> None:
    try:
        import _posixshmem

        _posixshmem.shm_unlink(name)
    except (ImportError, OSError):
        try:
            os.unlink(os.path.join("/dev/shm", name.lstrip("/")))
        except OSError:
            pass


def clean(pids: dict, segments: set, folders: set) -> None:
    """Kill the registered children (if still the same processes), unlink segments, remove folders."""
    mine = [pid for pid, start in pids.items() if start is not None and start_time(pid) == start]
    for pid in mine:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    end = time.monotonic() + 5.0
    while time.monotonic() < end and any(start_time(pid) == pids[pid] for pid in mine):
        time.sleep(0.02)  # dead children write nothing more into the folders
    for name in segments:
        unlink_segment(name)
    for path in folders:
        shutil.rmtree(path, ignore_errors=True)


def apply(line: str, pids: dict, segments: set, folders: set) -> None:
    op, _, arg = line.partition("\t")
    if op == "+pid":
        pid, start = arg.split("\t")
        pids[int(pid)] = int(start)
    elif op == "-pid":
        pids.pop(int(arg), None)
    elif op == "+shm":
        segments.add(arg)
    elif op == "-shm":
        segments.discard(arg)
    elif op == "+dir":
        folders.add(arg)
    elif op == "-dir":
        folders.discard(arg)


def main(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; the reaper ends after it
    pids, segments, folders = {}, set(), set()
    try:
        watch = [os.pidfd_open(parent)]
    except (AttributeError, OSError):
        watch = []
    buffer = b""
    while os.getppid() == parent:
        ready, _, _ = select.select([0, *watch], [], [], None if watch else 0.5)
        if any(fd in ready for fd in watch):
            break
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                break
            buffer = read_lines(buffer + data, pids, segments, folders)
    # What the parent wrote just before it died may still be in the pipe (a reaper slow to start
    # on a loaded machine saw the parent's death before its registrations): read it all, without
    # waiting, since Lava's forked children may hold the pipe's write end open.
    os.set_blocking(0, False)
    while True:
        try:
            data = os.read(0, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        buffer = read_lines(buffer + data, pids, segments, folders)
    clean(pids, segments, folders)


def read_lines(buffer: bytes, pids: dict, segments: set, folders: set) -> bytes:
    """Apply the complete lines in ``buffer``; return the incomplete rest."""
    *lines, rest = buffer.split(b"\n")
    for line in lines:
        apply(line.decode(), pids, segments, folders)
    return rest


if __name__ == "__main__":
    main(int(sys.argv[1]))
