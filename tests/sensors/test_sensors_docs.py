"""The examples in docs/sensors.md run (in order, in one namespace)."""
import re
from pathlib import Path

from _gas_data import DATA, needs_data

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sensors.md"


def test_docs_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace = {}
    for code in blocks:
        if "load_gas_drift(" in code:
            continue                                   # the recorded data: test_docs_gas_drift_example
        exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["y"].shape == (8, 2000)
    assert namespace["src"].size == 16
    assert namespace["acc"].shape == (2, 3)            # the task-sampler example


@needs_data
def test_docs_gas_drift_example(monkeypatch):
    monkeypatch.setenv("NEUROCHIP_GAS_DRIFT", str(DATA))
    code, = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "load_gas_drift(" in b]
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["b1"].features.shape == (445, 128) and len(namespace["clf"].classes_) == 6
