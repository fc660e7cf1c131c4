"""Result files and run folders: file modes, completion status written last, temp files, provenance
(issue 12, items 10, 14). Real signals to real subprocesses."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurochip.io import write_json

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
       "NEUROCHIP_BRIAN_TARGET": "numpy"}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    os.chmod(path, 0o640)  # an existing file keeps its mode
    write_json(path, {"a": 2})
    assert path.stat().st_mode & 0o777 == 0o640


def _start_demo(spawn, tmp_path, steps=2_000_000):
    cmd = [sys.executable, "-m", "neurochip.cli", "run", "ei_demo", "--tiny", "--set", f"steps={steps}",
           "--set", f"results_root={tmp_path}"]
    proc = spawn(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if not line or "ei_demo: simulating" in line:
            break
    time.sleep(1.0)
    return proc, "".join(seen)


def _run_folder(tmp_path) -> Path:
    runs = list((tmp_path / "ei_demo").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_sigterm_marks_the_run_interrupted_and_leaves_no_temp_files(spawn, tmp_path):
    proc, head = _start_demo(spawn, tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, head + out
    assert "terminated (SIGTERM)" in out and "Traceback" not in out, head + out
    run = _run_folder(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["error"].startswith("Terminated")
    assert not [p for p in run.iterdir() if p.name.startswith(".")], list(run.iterdir())


def test_a_killed_run_never_looks_complete(spawn, tmp_path):
    proc, head = _start_demo(spawn, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    metrics = json.loads((_run_folder(tmp_path) / "metrics.json").read_text())
    assert metrics["status"] == "running"
    assert metrics["provenance"]["seed"] == 0


WRITER = r"""
import os, signal, sys
from neurochip.experiment import terminate_as_interrupt
from neurochip.io import atomic_write_bytes
data = os.urandom(64 * 2 ** 20)
print("writing", flush=True)
with terminate_as_interrupt():
    while True:
        atomic_write_bytes(sys.argv[1], data)
"""


def test_sigterm_during_a_large_atomic_write_removes_the_temp_file(spawn, tmp_path):
    for _ in range(3):
        proc = spawn([sys.executable, "-c", WRITER, str(tmp_path / "big.bin")], cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.7)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and "Terminated" in err
        assert [p.name for p in tmp_path.iterdir() if p.name != "big.bin"] == []


def test_status_is_written_last_with_provenance(tmp_path):
    from neurochip.experiment import find_experiment, load_config

    demo = find_experiment("ei_demo", ROOT / "experiments")
    run = demo.main(load_config(demo.Config, base={**demo.TINY, "results_root": str(tmp_path), "seed": 3,
                                                   "backend": "reference"}))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "complete"
    last = (run / "metrics.json").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= last for p in run.iterdir())
    prov = metrics["provenance"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert prov["git_commit"] == head.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        assert prov["git_dirty"] is bool(dirty)
    from importlib import metadata
    for dist in ("numpy", "scipy", "cma", "brian2", "lava-nc"):
        assert prov["versions"][dist] == metadata.version(dist)
    assert prov["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert prov["seed"] == 3 and prov["started_utc"] <= prov["finished_utc"]


def test_a_failing_experiment_is_marked_failed(tmp_path):
    from dataclasses import dataclass

    from neurochip.experiment import experiment_main, param, start_run

    @dataclass
    class Config:
        name: str = param("boom", "name")
        results_root: str = param(str(tmp_path), "root")

    @experiment_main
    def main(cfg):
        start_run(cfg)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        main(Config())
    metrics = json.loads(next((tmp_path / "boom").iterdir()).joinpath("metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["error"] == "RuntimeError: disk on fire"
