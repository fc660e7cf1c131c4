"""The layers point down and no module imports one that imports it back (DESIGN.md "Layers").

Every module of ``neurochip/``, ``sensors/`` and ``mapping/`` is parsed (not
imported); every ``import`` / ``from ... import`` anywhere in it counts, also
inside functions (lazy imports), plus ``importlib.import_module("...")`` with a
literal name. An import names the most specific module that exists
(``from neurochip.plasticity import rules`` -> ``neurochip.plasticity.rules``;
``from neurochip.network import Network`` -> ``neurochip.network``); the
parents that Python imports on the way are not edges (every submodule has them,
so they say nothing about layering).

Layers: ``neurochip`` (bottom) < ``sensors``, ``mapping`` (siblings: neither
imports the other). An import from a lower layer to a higher one, or between
siblings, is an upward import; a strongly connected set of two or more modules
(or a module importing itself) is a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neurochip", "sensors", "mapping")
#: Layer rank of each package; imports must go to a strictly lower rank (or stay in the package).
RANK = {"neurochip": 0, "sensors": 1, "mapping": 1}

#: Upward imports still to be removed. Each entry must still exist (the test fails when it is gone:
#: delete the entry). Empty since arch-sensors moved the task samplers to sensors/.
KNOWN_UPWARD: set = set()


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of the three packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (None: not ours)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        candidate = ".".join(parts[:k])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict) -> set[tuple[str, int]]:
    """``(imported module, line)`` of every import of ours in ``path`` (all scopes)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names = [f"{prefix}.{a.name}" for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            target = _resolve(name, modules)
            if target is not None:
                found.add((target, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}."""
    modules = module_files()
    graph = {}
    for module, path in modules.items():
        edges = {}
        for target, line in sorted(imports_of(module, path, modules), key=lambda e: e[1]):
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def upward_imports(graph) -> set[tuple[str, str, int]]:
    out = set()
    for module, edges in graph.items():
        src = module.split(".")[0]
        for target, line in edges.items():
            dst = target.split(".")[0]
            if dst != src and RANK[dst] >= RANK[src]:
                out.add((module, target, line))
    return out


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, {}):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_imports_it_should():
    """The parser is not vacuous: known edges of each kind are found (lazy, relative-free, from-import)."""
    graph = import_graph()
    assert len(graph) > 30
    assert "neurochip.network" in graph["neurochip.brian_backend"]            # top-level from-import
    assert "neurochip.brian_backend" in graph["neurochip"]                   # lazy, inside simulate()
    assert "neurochip.plasticity.rules" in graph["neurochip.plasticity"]      # package re-export
    assert "mapping" in graph["mapping.runner"]                               # a module imports its package


def test_no_upward_imports():
    graph = import_graph()
    found = upward_imports(graph)
    unexpected = sorted(e for e in found if e[:2] not in KNOWN_UPWARD)
    assert not unexpected, "upward imports (module -> imported, line): " + "; ".join(
        f"{m} -> {t} (line {line})" for m, t, line in unexpected)
    stale = KNOWN_UPWARD - {e[:2] for e in found}
    assert not stale, f"KNOWN_UPWARD lists imports that are gone, delete them from tests/test_layers.py: {stale}"


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_checker_catches_an_upward_import_and_a_cycle():
    graph = {"neurochip.a": {"neurochip.b": 1, "mapping.x": 2}, "neurochip.b": {"neurochip.a": 3},
             "mapping.x": {"neurochip.a": 1}, "sensors.y": {"mapping.x": 4}}
    assert upward_imports(graph) == {("neurochip.a", "mapping.x", 2), ("sensors.y", "mapping.x", 4)}
    assert cycles(graph) == [["mapping.x", "neurochip.a", "neurochip.b"]]
    assert cycles({"neurochip.a": {"neurochip.a": 1}}) == [["neurochip.a"]]


@pytest.mark.parametrize("source,expected", [
    ("def f():\n    from mapping import compile\n", {("mapping", 2)}),
    ("import sensors.twin as t\n", {("sensors.twin", 1)}),
    ("from . import rules\n", {("neurochip.plasticity.rules", 1)}),
    ("from .. import lif\n", {("neurochip.lif", 1)}),
    ("from ..network import Network\n", {("neurochip.network", 1)}),
    ("import importlib\nm = importlib.import_module('mapping.runner')\n", {("mapping.runner", 2)}),
    ("import numpy, brian2\n", set()),
])
def test_imports_of_resolves_lazy_relative_and_dynamic_imports(tmp_path, source, expected):
    path = tmp_path / "mod.py"
    path.write_text(source)
    modules = module_files()
    assert imports_of("neurochip.plasticity.mod", path, modules) == expected
