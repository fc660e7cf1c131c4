"""neurochip.progress: tqdm bars on long loops, quiet in tests and off a terminal, NEUROCHIP_PROGRESS overrides."""
import time

import numpy as np
import pytest

from neurochip import Network, Population, Projection, SpikeSource, brian_backend, progress


@pytest.fixture
def forced(monkeypatch):
    """Bars forced on and shown at once (no 2 s delay)."""
    monkeypatch.setenv(progress.ENV, "1")
    monkeypatch.setattr(progress, "DELAY_S", 0.0)


def test_quiet_under_pytest_and_overridable(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    assert not progress.enabled()                     # PYTEST_CURRENT_TEST is set; stderr is captured
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.enabled()
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.enabled()
    monkeypatch.setenv(progress.ENV, "yes")
    with pytest.raises(ValueError, match="NEUROCHIP_PROGRESS should be 0 .* or 1 .*, got 'yes'"):
        progress.enabled()


def test_a_disabled_bar_is_silent(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "0")
    with progress.bar(total=5, desc="quiet") as b:
        for _ in range(5):
            b.update()
    assert list(progress.bar(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_bar_draws_on_stderr_when_forced(forced, capsys):
    def slow():
        for k in range(3):
            time.sleep(0.15)   # longer than tqdm's minimum refresh interval (0.1 s)
            yield k

    assert sum(progress.bar(slow(), total=3, desc="grid", unit="rule")) == 3
    err = capsys.readouterr().err
    assert "grid" in err and "0/3" in err and "2/3" in err and "rule" in err


def test_brian2_runs_report_their_steps(forced, capsys):
    net = Network(sources=[SpikeSource("s", 2, indices=[0, 1], steps=[0, 3])],
                  populations=[Population("p", 1, du=0.5, dv=0.1, vth=1.0)],
                  projections=[Projection("sp", "s", "p", np.ones((1, 2)))])
    quiet = brian_backend.simulate(net, 40, codegen_target="numpy")
    capsys.readouterr()
    result = brian_backend.simulate(net, 40, codegen_target="numpy")
    err = capsys.readouterr().err
    assert "Brian2" in err and "40/40" in err and "step" in err
    # the bar changes nothing in the run
    np.testing.assert_array_equal(result.spikes["p"].steps, quiet.spikes["p"].steps)


def test_activity_shows_elapsed_time(forced, capsys):
    with progress.activity("Lava run of 10 steps", every=0.02):
        time.sleep(0.2)
    assert "Lava run of 10 steps: " in capsys.readouterr().err


def test_activity_is_silent_when_off(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "0")
    with progress.activity("x", every=0.01):
        time.sleep(0.05)
    assert capsys.readouterr().err == ""
