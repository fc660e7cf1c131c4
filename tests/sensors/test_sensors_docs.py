"""The examples in docs/sensors.md run (in order, in one namespace)."""
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sensors.md"


def test_docs_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["y"].shape == (8, 2000)
    assert namespace["src"].size == 16
