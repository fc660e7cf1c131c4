"""The demo experiment with its tiny config, and the neurochip command."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from neurochip import Network, SimulationResult, cli
from neurochip.experiment import find_experiment, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo():
    return find_experiment("ei_demo", ROOT / "experiments")


def test_demo_writes_consistent_files(demo, tmp_path):
    cfg = load_config(demo.Config, base={**demo.TINY, "results_root": str(tmp_path)})
    run_dir = demo.main(cfg)
    assert run_dir.parent == tmp_path / "ei_demo"
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert config["steps"] == demo.TINY["steps"] and config["seed"] == 0
    for png in ("raster.png", "rates.png", "traces.png"):
        data = (run_dir / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, png
    result = SimulationResult.load(run_dir / "spikes.npz")
    assert metrics["spike_counts"] == result.spike_counts()
    assert all(metrics["spike_counts"][p] > 0 for p in ("exc", "inh", "input"))
    for name, rate in metrics["rates_hz"].items():
        expected = result.spike_counts()[name] / result.sizes[name] / (result.steps * 1e-3)
        assert rate == pytest.approx(expected)
    assert metrics["wall_time_s"] > 0
    # the saved network reproduces the saved spikes with the numpy reference
    from neurochip import reference
    again = reference.simulate(Network.load(run_dir / "network.json"), result.steps)
    for name in result.spikes:
        np.testing.assert_array_equal(again.spikes[name].steps, result.spikes[name].steps)
        np.testing.assert_array_equal(again.spikes[name].indices, result.spikes[name].indices)


def test_demo_is_reproducible_and_seeded(demo, tmp_path):
    runs = []
    for seed in (0, 0, 1):
        cfg = load_config(demo.Config, base={**demo.TINY, "results_root": str(tmp_path), "seed": seed,
                                             "backend": "reference"})
        runs.append(SimulationResult.load(demo.main(cfg) / "spikes.npz"))
    same = all(np.array_equal(runs[0].spikes[n].steps, runs[1].spikes[n].steps) for n in runs[0].spikes)
    different = any(runs[0].spikes[n].steps.size != runs[2].spikes[n].steps.size
                    or not np.array_equal(runs[0].spikes[n].steps, runs[2].spikes[n].steps)
                    for n in runs[0].spikes)
    assert same and different


def test_cli_run_raster_versions_list(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["run", "ei_demo", "--tiny", "--set", f"results_root={tmp_path}", "--set", "steps=50"]) == 0
    out = capsys.readouterr().out
    run_dir = Path(out.strip().splitlines()[-1].split("results: ")[1])
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 50
    assert cli.main(["raster", str(run_dir), "-o", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").read_bytes().startswith(PNG_MAGIC)
    assert cli.main(["versions"]) == 0
    out = capsys.readouterr().out
    for name in ("python", "brian2", "lava-nc", "numpy"):
        assert name in out
    assert cli.main(["list"]) == 0
    assert "ei_demo" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["run", "no_such_experiment"]) == 2
    assert "no experiment named 'no_such_experiment'" in capsys.readouterr().err
    assert cli.main(["run", "ei_demo", "--set", "nsteps=3"]) == 2
    assert "unknown config key 'nsteps'" in capsys.readouterr().err
    assert cli.main(["run", "ei_demo", "--set", "steps=many"]) == 2
    assert "--set steps" in capsys.readouterr().err
    (tmp_path / "cfg.json").write_text("{oops")
    assert cli.main(["run", "ei_demo", "--config", str(tmp_path / "cfg.json")]) == 2
    assert "cfg.json is not valid JSON" in capsys.readouterr().err
    assert cli.main(["raster", str(tmp_path)]) == 2
    assert "no result file" in capsys.readouterr().err


def test_experiment_script_command_line(demo):
    cfg = parse_config(demo.Config, ["--tiny", "--set", "seed=7"])
    assert cfg.seed == 7 and cfg.steps == demo.TINY["steps"]
    with pytest.raises(SystemExit):
        parse_config(demo.Config, ["--set", "bogus=1"])


def test_readme_example_runs(tmp_path, monkeypatch):
    import re

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["result"].spike_counts()["exc"] > 0
    assert (tmp_path / "raster.png").stat().st_size > 5_000
    import matplotlib.pyplot as plt
    plt.close("all")
