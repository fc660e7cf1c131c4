"""The command line: checked configs, listing without running code, closed pipes (issue 12, items 9, 11, 13)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurochip import cli

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _cli(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "neurochip.cli", *args], cwd=kw.pop("cwd", ROOT), env=ENV,
                          capture_output=True, text=True, timeout=timeout, **kw)


# ------------------------------------------------------------------ item 9: configs
@pytest.mark.parametrize("args, message", [
    (["device_robustness", "--set", "levels=abc"], r"--set levels=abc: config.levels should be a list of integers"),
    (["device_robustness", "--set", "levels=[4, 1]"], r"config.levels\[1\] should be >= 2, got 1"),
    (["fewshot_metalearn", "--set", "ks=5"], r"--set ks=5: config.ks should be a list of integers .*got 5"),
    (["ei_demo", "--set", "seed=-1"], r"--set seed=-1: config.seed should be >= 0, got -1"),
    (["ei_demo", "--set", "p_connect=2"], r"config.p_connect should be in \[0, 1\], got 2.0"),
    (["ei_demo", "--set", "backend=lava"], r"config.backend should be 'brian2' or 'reference', got 'lava'"),
    (["ei_demo", "--set", "dt_ms=nan"], r"config.dt_ms should be a number, got 'nan'"),
    (["regulator_faults", "--set", "drift_sweep_per_s=[0.1, \"x\"]"],
     r"config.drift_sweep_per_s\[1\] should be a number, got 'x'"),
    (["fewshot_metalearn", "--set", "twin=maybe"], r"config.twin should be true or false, got 'maybe'"),
])
def test_bad_config_values_are_refused_before_any_work(tmp_path, capsys, args, message):
    import re

    t0 = time.perf_counter()
    assert cli.main(["run", *args, "--set", f"results_root={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert time.perf_counter() - t0 < 30 and not any(tmp_path.iterdir())  # nothing ran, no run folder


def test_config_file_values_are_checked_and_blamed_on_the_file(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"steps": "many"}')
    assert cli.main(["run", "ei_demo", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"config file {cfg}: config.steps should be an integer, got 'many'" in err and "SpikeSource" not in err
    cfg.write_text('{"stuck_fractions": [0.1, 1.5]}')
    assert cli.main(["run", "device_robustness", "--config", str(cfg)]) == 2
    assert "config.stuck_fractions[1] should be in [0, 1], got 1.5" in capsys.readouterr().err


def test_config_conversions_and_every_field_has_help():
    from neurochip.experiment import check_config, find_experiment, load_config

    exp = find_experiment("regulator_faults", ROOT / "experiments")
    cfg = load_config(exp.Config, overrides=["levels=[1, 2, 8]", "test_s=3"])
    assert cfg.levels == (1, 2, 8) and isinstance(cfg.test_s, float)  # JSON list -> tuple, int -> float
    cfg.k = -1.0  # changed after loading: main checks again
    with pytest.raises(ValueError, match=r"config.k should be > 0, got -1.0"):
        exp.main(cfg)
    for name in ("ei_demo", "device_robustness", "fewshot_metalearn", "lava_deploy", "regulator_faults",
                 "sensors_codesign"):
        module = find_experiment(name, ROOT / "experiments")
        check_config(module.Config())  # the defaults pass their own checks
        import dataclasses
        missing = [f.name for f in dataclasses.fields(module.Config) if not f.metadata.get("help")]
        assert not missing, (name, missing)


# ------------------------------------------------------------------ item 11: listing runs no code
EVIL = '''"""Evil experiment: importing it leaves a marker."""
from pathlib import Path
Path({marker!r}).write_text("imported")


class Config:
    pass


def main(cfg):
    return None
'''

GOOD = '''"""A user's experiment."""
from dataclasses import dataclass
from neurochip.experiment import experiment_main, param, start_run


@dataclass
class Config:
    name: str = param("good", "name")
    results_root: str = param("results", "root")
    seed: int = param(0, "seed", min=0)


@experiment_main
def main(cfg):
    return start_run(cfg)
'''


def test_list_reads_experiments_without_executing_them(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    marker = tmp_path / "imported.txt"
    (folder / "evil.py").write_text(EVIL.format(marker=str(marker)))
    (folder / "good.py").write_text(GOOD)
    (folder / "helpers.py").write_text("x = 1\n")           # no Config / main: not an experiment
    (folder / "broken.py").write_text("def (:\n")
    out = _cli("list", "--experiments-dir", str(folder))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["broken", "evil", "good"]
    assert "Evil experiment: importing it leaves a marker." in lines[1] and "(cannot read: SyntaxError" in lines[0]
    assert not marker.exists(), "neurochip list executed an experiment file"
    # running one experiment imports that one only
    out = _cli("run", "good", "--experiments-dir", str(folder), "--set", f"results_root={tmp_path / 'res'}")
    assert out.returncode == 0, out.stderr
    assert not marker.exists()
    assert _cli("run", "nothere", "--experiments-dir", str(folder)).returncode == 2


def test_list_ignores_the_current_folder_and_the_old_environment_variable(tmp_path):
    marker = tmp_path / "imported.txt"
    for where in (tmp_path / "experiments", tmp_path / "envdir"):
        where.mkdir()
        (where / "evil.py").write_text(EVIL.format(marker=str(marker)))
    env = {**ENV, "NEUROCHIP_EXPERIMENTS": str(tmp_path / "envdir")}
    out = subprocess.run([sys.executable, "-m", "neurochip.cli", "list"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "evil" not in out.stdout and "ei_demo" in out.stdout
    assert "$NEUROCHIP_EXPERIMENTS is no longer read; pass --experiments-dir" in out.stderr
    assert not marker.exists()


def test_list_versions_and_help_import_neither_brian2_nor_lava():
    probe = ("import sys\nfrom neurochip import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('brian2', 'lava', 'mapping', 'matplotlib') if m in sys.modules), "
             "file=sys.stderr)")
    for args in (["list"], ["versions"], ["--help"], ["run", "--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, env=ENV, capture_output=True,
                             text=True, timeout=60)
        assert out.stderr.strip().splitlines()[-1] == "[]", (args, out.stderr)


# ------------------------------------------------------------------ item 13: closed pipes
def test_output_to_a_closed_pipe_ends_quietly():
    for args in (["list"], ["versions"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line (as `| head -0`)
        try:
            proc = subprocess.run([sys.executable, "-m", "neurochip.cli", *args], cwd=ROOT, env=ENV, stdout=write,
                                  stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write)
        assert proc.returncode == 141 and proc.stderr == "", (args, proc.returncode, proc.stderr)


def test_list_into_head_in_a_shell():
    out = subprocess.run(f"{sys.executable} -m neurochip.cli list | head -1", shell=True, cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "" and len(out.stdout.splitlines()) == 1
