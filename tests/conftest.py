"""Shared test set-up: headless plots, Brian2's numpy target.

The networks of the tests are small and short: Brian2's numpy target runs them
without compiling, where Cython would first spend minutes of a cold run
compiling hundreds of modules (benchmarks/bench_codegen.py measures where
compiling pays). So the suite runs Brian2 with ``NEUROCHIP_BRIAN_TARGET=numpy``
unless the environment sets it (``NEUROCHIP_BRIAN_TARGET=cython make test`` runs
every test compiled); tests/test_reliability_codegen.py checks on purpose that
the Cython target gives the same spikes, states and weights as numpy, and
tests/sensors/test_sensors_encoders.py does so for the encoders. Subprocesses
started by tests inherit the setting.
"""
import os

os.environ.setdefault("NEUROCHIP_BRIAN_TARGET", "numpy")

import brian2  # noqa: E402

if os.environ["NEUROCHIP_BRIAN_TARGET"] in ("numpy", "cython"):
    # also for the tests that build and run Brian2 objects themselves
    brian2.prefs.codegen.target = os.environ["NEUROCHIP_BRIAN_TARGET"]

import matplotlib

matplotlib.use("Agg")

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture
def load_benchmark():
    """``load_benchmark("NAME")``: the script ``benchmarks/NAME.py`` loaded as a module (its functions tested)."""
    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
