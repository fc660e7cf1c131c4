"""The example of docs/devices.md runs as written."""
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_docs_example_runs():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert namespace["W_chip"].shape == (30, 50)
    assert namespace["result"].spike_counts()["out"] > 0
    assert namespace["m"].error["rms"] > namespace["m"].quantization_error["rms"]
