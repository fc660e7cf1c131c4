"""Shared test set-up: headless plots, Brian2's compiled-code cache shared by all tests.

Brian2 caches compiled Cython code under ~/.cython/brian_extensions keyed by the
generated code; the backend gives Brian2 objects canonical names, so tests of
networks with the same structure reuse compiled code instead of rebuilding it.
"""
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
