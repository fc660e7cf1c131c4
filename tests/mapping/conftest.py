"""Shared helpers of the mapping tests: seeded random networks and leak checks."""
import multiprocessing as mp
import os

import numpy as np
import pytest
import scipy.sparse as sp

from neurochip.network import register
from neurochip.testing import make_random_network

STEPS = 120


@pytest.fixture
def random_network():
    return make_random_network


@pytest.fixture
def constant_rule():
    return StandInRule


@pytest.fixture
def noisy_device():
    return StandInDevice


def shm_exists(name: str) -> bool:
    return os.path.exists(os.path.join("/dev/shm", name))


def lava_children() -> list:
    """Live multiprocessing children of this process (Lava actors, shared-memory manager)."""
    return [p for p in mp.active_children() if p.is_alive()]


@register
class StandInRule:
    """A tiny stand-in plasticity object (the plasticity package brings the real ones)."""

    def __init__(self, dw: str, t_epoch: int = 1, **traces):
        self.dw, self.t_epoch, self.traces = dw, t_epoch, dict(traces)

    def lava_rule_kwargs(self) -> dict:
        return {"dw": self.dw, "t_epoch": self.t_epoch, **self.traces}

    def to_dict(self) -> dict:
        return {"type": "StandInRule", "dw": self.dw, "t_epoch": self.t_epoch, "traces": self.traces}

    @classmethod
    def from_dict(cls, d):
        return cls(d["dw"], d["t_epoch"], **d["traces"])


@register
class StandInDevice:
    """A stand-in memristive device: multiplicative lognormal spread of the weights."""

    def __init__(self, sigma: float = 0.1):
        self.sigma = sigma

    def snapshot_weights(self, weights, *, random_state=None):
        rng = np.random.default_rng(random_state)
        if sp.issparse(weights):
            out = sp.csr_matrix(weights, dtype=float, copy=True)
            out.data = out.data * rng.lognormal(0.0, self.sigma, size=out.data.size)
            return out
        return np.asarray(weights) * rng.lognormal(0.0, self.sigma, size=np.shape(weights))

    def to_dict(self):
        return {"type": "StandInDevice", "sigma": self.sigma}

    @classmethod
    def from_dict(cls, d):
        return cls(d["sigma"])


@pytest.fixture
def assert_no_leaks():
    """Check that the last Lava run left no shared-memory segment and no child process."""
    def check():
        from mapping import lava_backend

        assert lava_backend.LAST_RUN_SEGMENTS, "the run should have used shared memory"
        leaked = [name for name in lava_backend.LAST_RUN_SEGMENTS if shm_exists(name)]
        assert leaked == [], f"{len(leaked)} shared-memory segments left"
        assert lava_children() == [], lava_children()
    return check


#: Start of the scripts run in a real subprocess: a small network, and ``SleepingLif``,
#: a LIF model whose child sleeps at Lava time step 3 (swap it in to keep a run going).
SCRIPT_PRELUDE = r'''
import sys, time
import numpy as np
import mapping
from mapping import lava_backend
from mapping.lava import models
from neurochip import Network, Population, Projection, SpikeSource

class SleepingLif(models.RecordingLifFloat):
    def run_spk(self):
        super().run_spk()
        if self.time_step == 3:
            time.sleep(600)

def small_network():
    return Network(sources=[SpikeSource("s", 3, indices=[0, 1, 2], steps=[0, 1, 2])],
                   populations=[Population("a", 4, du=0.5, dv=0.5, vth=0.5),
                                Population("b", 2, du=0.5, dv=0.5, vth=0.5)],
                   projections=[Projection("sa", "s", "a", np.ones((4, 3))),
                                Projection("ab", "a", "b", np.ones((2, 4)))])
'''


@pytest.fixture
def lava_script(tmp_path, spawn):
    """``lava_script(code, prelude=True, **env)``: start ``SCRIPT_PRELUDE + code`` as a real Python process.

    Returns the ``Popen``. The script runs from the repository root with this checkout
    first on ``sys.path``, with ``env`` added to the environment, through the suite's
    ``spawn`` fixture: in its own session (signals to its group reach nobody else), dying
    with the test process, and whatever is left of its process group is killed at
    teardown (also when the script itself is gone).
    """
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    count = [0]

    def start(code: str, *, prelude: bool = True, **env):
        script = tmp_path / f"script{count[0]}.py"
        count[0] += 1
        script.write_text((SCRIPT_PRELUDE if prelude else "") + code)
        full_env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
        return spawn([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True, env=full_env, cwd=root)

    return start
