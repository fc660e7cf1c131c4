"""Runs that never hang: child failures, time bounds, Ctrl-C, and no leaked shared memory.

(Descriptors, memory, SIGTERM / SIGKILL of the parent and start methods: test_lava_hygiene.py.)

Faults are injected by swapping the LIF ProcessModel the backend selects
(``mapping.lava.models.RecordingLifFloat``) for a subclass that raises or
sleeps at Lava time step 3; Lava forks its children, so they run the swapped class.
"""
import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest
from brian2 import second

import mapping
from mapping.lava import models
from mapping.lava_backend import LavaRunError, LavaTimeoutError
from neurochip import Network, Population, Projection, SpikeSource


class RaisingLif(models.RecordingLifFloat):
    def run_spk(self):
        super().run_spk()
        if self.time_step == 3:
            raise ValueError("injected failure at step 3")


class SleepingLif(models.RecordingLifFloat):
    def run_spk(self):
        super().run_spk()
        if self.time_step == 3:
            time.sleep(600)


class DyingLif(models.RecordingLifFloat):
    def run_spk(self):
        super().run_spk()
        if self.time_step == 3:
            os._exit(3)  # a crash that reports nothing (like a segfault or the OOM killer)


class BrokenInitLif(models.RecordingLifFloat):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        raise RuntimeError("injected failure while building the model")


def small_network():
    return Network(sources=[SpikeSource("s", 3, indices=[0, 1, 2], steps=[0, 1, 2])],
                   populations=[Population("a", 4, du=0.5, dv=0.5, vth=0.5)],
                   projections=[Projection("sa", "s", "a", np.ones((4, 3)))])


def target(seconds):
    return mapping.TARGETS["loihi2-sim-float"].with_options(timeout=seconds * second)


def test_a_child_exception_becomes_a_clear_error_with_the_cause(monkeypatch, assert_no_leaks):
    monkeypatch.setattr(models, "RecordingLifFloat", RaisingLif)
    dep = mapping.compile(small_network(), target(30))
    start = time.monotonic()
    with pytest.raises(LavaRunError, match=r"a Lava process failed during the run of 10 steps: "
                                           r"ValueError: injected failure at step 3") as info:
        mapping.run(dep, 10)
    assert time.monotonic() - start < 30
    assert isinstance(info.value.__cause__, ValueError)
    assert "injected failure at step 3" in info.value.child_traceback
    assert "run_spk" in info.value.child_traceback
    assert_no_leaks()


def test_a_failure_while_building_a_child_is_reported(monkeypatch, assert_no_leaks):
    monkeypatch.setattr(models, "RecordingLifFloat", BrokenInitLif)
    dep = mapping.compile(small_network(), target(30))
    with pytest.raises(LavaRunError, match="failed during initialization: RuntimeError: injected failure "
                                           "while building the model") as info:
        mapping.run(dep, 10)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert_no_leaks()


def test_a_child_that_dies_silently_is_detected(monkeypatch, assert_no_leaks):
    monkeypatch.setattr(models, "RecordingLifFloat", DyingLif)
    dep = mapping.compile(small_network(), target(30))
    start = time.monotonic()
    with pytest.raises(LavaRunError, match=r"a Lava child process died during the run of 10 steps "
                                           r"\(exit codes 3\) without reporting an exception"):
        mapping.run(dep, 10)
    assert time.monotonic() - start < 15
    assert_no_leaks()


def test_a_hanging_child_hits_the_time_bound(monkeypatch, assert_no_leaks):
    monkeypatch.setattr(models, "RecordingLifFloat", SleepingLif)
    dep = mapping.compile(small_network(), target(4))
    start = time.monotonic()
    with pytest.raises(LavaTimeoutError, match=r"did not finish within the time bound of 4 s"):
        mapping.run(dep, 10)
    elapsed = time.monotonic() - start
    assert 3.5 < elapsed < 15, elapsed  # the bound plus teardown (terminate, join, unlink)
    assert_no_leaks()


def test_ctrl_c_during_a_run_stops_it_and_cleans_up(monkeypatch, assert_no_leaks):
    # Python's own SIGINT handler, as in a terminal: brian2's handler chains to whatever handler was
    # installed when brian2 was imported, which is SIG_IGN in pytest-xdist workers (not callable).
    monkeypatch.setattr(models, "RecordingLifFloat", SleepingLif)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    dep = mapping.compile(small_network(), target(60))
    timer = threading.Timer(1.5, _thread.interrupt_main)  # what Ctrl-C does to the main thread
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            mapping.run(dep, 10)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 20
    assert_no_leaks()


@pytest.mark.parametrize("model,seconds", [(RaisingLif, 30), (BrokenInitLif, 30), (DyingLif, 30), (SleepingLif, 2)])
def test_failed_runs_leave_no_descriptor_open(monkeypatch, model, seconds, assert_no_leaks):
    # On main each of these failures kept descriptors open (pipes, sockets, exception queues).
    dep = mapping.compile(small_network(), target(seconds))
    mapping.run(dep, 5)  # lasting descriptors (resource tracker, reaper) are open from here on
    monkeypatch.setattr(models, "RecordingLifFloat", model)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(2):
        with pytest.raises(LavaRunError):
            mapping.run(dep, 10)
        assert_no_leaks()
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_deployment_runs_again_after_a_failure(monkeypatch, assert_no_leaks):
    dep = mapping.compile(small_network(), target(30))
    monkeypatch.setattr(models, "RecordingLifFloat", RaisingLif)
    with pytest.raises(LavaRunError):
        mapping.run(dep, 10)
    monkeypatch.undo()
    result = mapping.run(dep, 10)
    assert result.spike_counts()["a"] > 0
    assert_no_leaks()


CTRL_C_SCRIPT = r"""
models.RecordingLifFloat = SleepingLif
dep = mapping.compile(small_network(), "loihi2-sim-float")
print("running", flush=True)
try:
    mapping.run(dep, 10)
except KeyboardInterrupt:
    print("SEGMENTS " + " ".join(lava_backend.LAST_RUN_SEGMENTS), flush=True)
    raise
"""


@pytest.mark.slow
def test_real_ctrl_c_to_the_process_group(lava_script, load_benchmark):
    # SIGINT to the whole foreground group, as a terminal's Ctrl-C: the Lava
    # children are interrupted too. The parent must still clean everything up.
    import subprocess

    bench = load_benchmark("bench_lava_leaks")
    proc = lava_script(CTRL_C_SCRIPT)
    assert proc.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 90  # on a loaded machine the children take a while to start
    while len(bench.descendants(proc.pid)) < 7 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # the children are now sleeping inside step 3
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    # KeyboardInterrupt reached the script (it prints the run's segments, re-raises,
    # and Python exits by SIGINT: return code -2).
    assert proc.returncode == -signal.SIGINT, (proc.returncode, err[-2000:])
    segments = [line for line in out.splitlines() if line.startswith("SEGMENTS")]
    assert segments, out
    names = segments[0].split()[1:]
    assert names and not any(os.path.exists(os.path.join("/dev/shm", n)) for n in names)
    # no process of the group is left
    deadline = time.monotonic() + 5
    while True:
        alive = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    cmdlines = [open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in alive
                if os.path.exists(f"/proc/{pid}/cmdline")]
    assert alive == [], cmdlines
