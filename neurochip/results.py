"""One result type for every backend (Brian2, numpy reference, Lava).

Spikes are stored as events (index, step), never as dense rasters: compact to
store and, on Lava, compact to read back.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from brian2 import Hz, Quantity, second

from neurochip.io import DAMAGED_FILE_ERRORS, save_npz


class Spikes(NamedTuple):
    """Spike events of one node, sorted by (step, index)."""

    indices: np.ndarray
    steps: np.ndarray

    def times(self, dt: Quantity) -> Quantity:
        """Spike times ``step * dt`` (start of the step)."""
        return self.steps * dt

    @classmethod
    def from_raster(cls, raster: np.ndarray) -> "Spikes":
        """From a boolean array of shape (steps, n)."""
        steps, indices = np.nonzero(raster)
        return cls(indices.astype(np.int64), steps.astype(np.int64))

    @classmethod
    def sorted(cls, indices, steps) -> "Spikes":
        indices = np.asarray(indices, dtype=np.int64)
        steps = np.asarray(steps, dtype=np.int64)
        order = np.lexsort((indices, steps))
        return cls(indices[order], steps[order])


@dataclass
class SimulationResult:
    """Spike trains and state traces from one run.

    Attributes
    ----------
    steps : int
        Number of steps run (step numbers are ``0 .. steps-1``).
    dt : Quantity
        Duration of a step.
    sizes : dict of str to int
        Size of every recorded node (populations and sources).
    populations : list of str
        Names of the LIF populations, in network order (the other keys of
        ``spikes`` are spike sources).
    spikes : dict of str to Spikes
        Spike events of every population and source.
    traces : dict of str to dict of str to ndarray
        ``traces[pop][var]`` has shape (steps, len(trace_indices[pop])): the value
        of ``var`` at the end of each step (after the reset).
    trace_indices : dict of str to ndarray
        Which neurons of ``pop`` were traced.
    backend : str
        Which backend produced the result.
    wall_time : float
        Seconds spent building and running.
    """

    steps: int
    dt: Quantity
    sizes: dict
    populations: list
    spikes: dict
    traces: dict = field(default_factory=dict)
    trace_indices: dict = field(default_factory=dict)
    backend: str = ""
    wall_time: float = float("nan")
    info: dict = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        return [n for n in self.sizes if n not in self.populations]

    def spike_counts(self) -> dict[str, int]:
        return {name: int(s.steps.size) for name, s in self.spikes.items()}

    def rates(self) -> dict[str, Quantity]:
        """Mean firing rate per neuron of every node."""
        duration = self.steps * self.dt
        return {name: (s.steps.size / self.sizes[name] / duration) if self.steps else 0 * Hz
                for name, s in self.spikes.items()}

    def raster(self, name: str) -> np.ndarray:
        """Boolean array (steps, size) of node ``name``'s spikes."""
        out = np.zeros((self.steps, self.sizes[name]), dtype=bool)
        s = self.spikes[name]
        out[s.steps, s.indices] = True
        return out

    def population_rate(self, name: str, bin_steps: int = 10) -> tuple[np.ndarray, Quantity]:
        """Population rate per neuron in bins of ``bin_steps``: (bin start steps, rates)."""
        if bin_steps < 1:
            raise ValueError(f"bin_steps should be >= 1, got {bin_steps}")
        edges = np.arange(0, self.steps + bin_steps, bin_steps)
        counts, _ = np.histogram(self.spikes[name].steps, bins=edges)
        widths = np.diff(np.minimum(edges, self.steps))
        rate = counts / (self.sizes[name] * np.maximum(widths, 1) * float(self.dt / second))
        return edges[:-1], rate * Hz

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Save to one ``.npz`` file (atomically)."""
        arrays = {}
        for name, s in self.spikes.items():
            arrays[f"spikes/{name}/indices"] = s.indices
            arrays[f"spikes/{name}/steps"] = s.steps
        for pop, tr in self.traces.items():
            arrays[f"trace_indices/{pop}"] = self.trace_indices[pop]
            for var, values in tr.items():
                arrays[f"traces/{pop}/{var}"] = values
        meta = {"steps": self.steps, "dt": float(self.dt / second), "sizes": self.sizes,
                "populations": self.populations, "backend": self.backend,
                "wall_time": self.wall_time, "info": self.info}
        arrays["meta"] = np.array(json.dumps(meta))
        return save_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SimulationResult":
        """Read a file written by :meth:`save` (arrays only, never a pickle).

        Raises
        ------
        ValueError
            Naming the file: unreadable, not a result file, truncated or damaged
            (zip / compression / checksum errors), or contents of the wrong types
            or shapes.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError:
            raise ValueError(f"{path}: no such result file") from None
        except DAMAGED_FILE_ERRORS as err:
            raise ValueError(f"{path} is not a neurochip result file or is truncated or damaged "
                             f"({type(err).__name__}: {err})") from None
        return cls._from_saved(path, meta, arrays)

    @classmethod
    def _from_saved(cls, path: Path, meta, arrays: dict) -> "SimulationResult":
        def bad(what: str):
            return ValueError(f"{path} is not a valid neurochip result file: {what}")

        if not isinstance(meta, dict):
            raise bad(f"meta should be a JSON object, got {type(meta).__name__}")
        missing = [k for k in ("steps", "dt", "sizes", "populations", "backend", "wall_time") if k not in meta]
        if missing:
            raise bad(f"meta lacks {', '.join(missing)}")
        steps, sizes, pops = meta["steps"], meta["sizes"], meta["populations"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise bad(f"steps should be an integer >= 0, got {steps!r}")
        if isinstance(meta["dt"], bool) or not isinstance(meta["dt"], (int, float)) or not meta["dt"] > 0:
            raise bad(f"dt should be a positive number of seconds, got {meta['dt']!r}")
        if not isinstance(sizes, dict) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                                  for n in sizes.values()):
            raise bad("sizes should map names to positive integers")
        if not isinstance(pops, list) or not all(isinstance(p, str) and p in sizes for p in pops):
            raise bad("populations should be a list of names in sizes")
        if not isinstance(meta.get("info", {}), dict) or not isinstance(meta["backend"], str):
            raise bad("info should be a JSON object and backend a string")
        spikes, traces, trace_indices = {}, {}, {}
        for name, size in sizes.items():
            try:
                idx, st = arrays[f"spikes/{name}/indices"], arrays[f"spikes/{name}/steps"]
            except KeyError:
                raise bad(f"no spikes of {name!r}") from None
            if idx.ndim != 1 or idx.shape != st.shape or idx.dtype.kind not in "iu" or st.dtype.kind not in "iu":
                raise bad(f"spikes of {name!r} should be two 1-D integer arrays of one length, got "
                          f"{idx.dtype} {idx.shape} and {st.dtype} {st.shape}")
            if idx.size and (idx.min() < 0 or idx.max() >= size or st.min() < 0 or st.max() >= max(steps, 1)):
                raise bad(f"spikes of {name!r} lie outside {size} neurons x {steps} steps")
            spikes[name] = Spikes(idx.astype(np.int64), st.astype(np.int64))
        for key, values in arrays.items():
            parts = key.split("/")
            if parts[0] == "traces" and len(parts) == 3:
                traces.setdefault(parts[1], {})[parts[2]] = values
            elif parts[0] == "trace_indices" and len(parts) == 2:
                trace_indices[parts[1]] = values
        for pop, tr in traces.items():
            n = trace_indices.get(pop)
            if pop not in sizes or n is None or n.ndim != 1:
                raise bad(f"traces of {pop!r} without its trace_indices")
            for var, values in tr.items():
                if values.dtype.kind != "f" or values.shape != (steps, n.size):
                    raise bad(f"traces/{pop}/{var} should be floats of shape ({steps}, {n.size}), "
                              f"got {values.dtype} {values.shape}")
        return cls(steps=steps, dt=meta["dt"] * second, sizes=sizes, populations=pops, spikes=spikes,
                   traces=traces, trace_indices=trace_indices, backend=meta["backend"],
                   wall_time=meta["wall_time"], info=meta.get("info", {}))


def compare_spikes(a: SimulationResult, b: SimulationResult, name: str, tolerance_steps: int = 0) -> dict:
    """Agreement of two results' spike trains for node ``name``.

    Returns counts of spikes in each, spikes of ``a`` matched exactly, and matched
    within ``tolerance_steps`` (greedy one-to-one matching per neuron), and the
    fraction of ``a``'s spikes matched within tolerance.
    """
    sa, sb = a.spikes[name], b.spikes[name]
    exact = len(set(zip(sa.indices.tolist(), sa.steps.tolist()))
                & set(zip(sb.indices.tolist(), sb.steps.tolist())))
    matched = 0
    for i in np.union1d(sa.indices, sb.indices):
        ta = np.sort(sa.steps[sa.indices == i])
        tb = np.sort(sb.steps[sb.indices == i])
        used = np.zeros(tb.size, dtype=bool)
        for t in ta:
            cand = np.nonzero(~used & (np.abs(tb - t) <= tolerance_steps))[0]
            if cand.size:
                used[cand[np.argmin(np.abs(tb[cand] - t))]] = True
                matched += 1
    n = max(sa.steps.size, sb.steps.size)
    return {"n_a": int(sa.steps.size), "n_b": int(sb.steps.size), "exact": exact,
            "within_tolerance": matched,
            "agreement": matched / n if n else 1.0}
