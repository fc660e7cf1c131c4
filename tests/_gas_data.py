"""Where the tests find the recorded gas drift batches, and the mark that skips without them.

The recordings live in ``shared/data/gas_drift`` beside the repository (the project's layout;
see that folder's README). A clone elsewhere skips the tests that need them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gas_drift"

needs_data = pytest.mark.skipif(not (DATA / "batch1.csv.gz").is_file(),
                                reason=f"the gas drift recordings are not at {DATA} (the repository's sibling "
                                       f"shared/data/gas_drift; see its README)")
