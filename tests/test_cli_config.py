"""``neurochip show-config NAME`` and ``neurochip run NAME --help``: every config key with type, default,
meaning and allowed values, read from the source without importing the experiment (or Brian2)."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurochip import cli
from neurochip.experiment import (ConfigField, config_fields, describe_config, find_experiment, format_config,
                                  list_experiments)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
NAMES = [e.name for e in list_experiments()]


@pytest.mark.parametrize("name", NAMES)
def test_static_reading_equals_the_imported_config(name):
    exp, fields, tiny = describe_config(name)
    module = find_experiment(name)
    imported = config_fields(module.Config)
    assert [f.name for f in fields] == [f.name for f in imported]
    for static, real in zip(fields, imported):
        assert static == real, (static, real)
        assert static.help, f"{name}: config key {static.name} has no help"
    assert tiny == dict(getattr(module, "TINY", {}))


def test_show_config_lists_types_defaults_help_and_limits(capsys):
    assert cli.main(["show-config", "lava_deploy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lava_deploy: Deploy the demo network")
    lines = out.splitlines()
    row = next(k for k, line in enumerate(lines) if line.split()[:1] == ["chip"])
    assert lines[row].split() == ["chip", "str", "'loihi2'"]
    assert "chip of the placement [one of 'loihi1', 'loihi2']" in lines[row + 1]
    seed = next(k for k, line in enumerate(lines) if line.split()[:1] == ["seed"])   # a field of EINetworkConfig
    assert lines[seed].split() == ["seed", "int", "0"] and "[>= 0]" in lines[seed + 1]
    assert "--tiny sets: steps=150" in out
    assert "``" not in out and ":func:" not in out       # plain text, no RST markup


def test_run_name_help_shows_the_options_and_the_config(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "ei_demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: neurochip run" in out and "--tiny" in out
    assert "Config keys of `neurochip run ei_demo`" in out and "n_traced" in out
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "lists NAME's config keys" in capsys.readouterr().out


def test_unknown_experiment_is_an_error(capsys):
    assert cli.main(["show-config", "nope"]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "nope", "--help"])
    assert exit_.value.code == 2


def test_a_config_that_cannot_be_read_statically_is_imported(tmp_path, capsys):
    (tmp_path / "dyn.py").write_text(
        '"""A dynamic config."""\nfrom dataclasses import dataclass, field\n\n'
        'from neurochip.experiment import param\n\nN = 3\n\n\n@dataclass\nclass Config:\n'
        '    n: int = param(N * 2, "computed default", min=1)\n\n\ndef main(cfg):\n    return None\n')
    exp, fields, tiny = describe_config("dyn", tmp_path)
    assert fields == [ConfigField("n", "int", 6, "computed default", ">= 1")] and tiny == {}
    text = format_config(exp, fields, tiny)
    assert ["n", "int", "6"] in [line.split() for line in text.splitlines()] and "computed default [>= 1]" in text


def test_show_config_imports_neither_brian2_nor_lava():
    probe = ("import sys\nfrom neurochip import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('brian2', 'lava', 'mapping', 'matplotlib') if m in sys.modules), "
             "file=sys.stderr)")
    for args in (["show-config", "fewshot_metalearn"], ["run", "lava_deploy", "--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, env=ENV, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stderr.strip().splitlines()[-1] == "[]", (args, out.stderr)
        assert "default" in out.stdout
