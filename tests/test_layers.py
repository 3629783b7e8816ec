"""Who may import whom (docs/architecture.md): every import of every package, read with ``ast``
(function-level imports included), must point down the layer order, and no two modules may
import each other, directly or around a loop.

    golden  <-  host  <-  verif  <-  tb, spatten  <-  bench

``scripts`` (code generators) may import golden only; ``tests`` may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each package may import (besides itself); nothing else of ours.
BELOW: dict[str, frozenset[str]] = {
    "golden": frozenset(),
    "host": frozenset({"golden"}),
    "verif": frozenset({"golden", "host"}),
    "tb": frozenset({"golden", "host", "verif"}),
    "spatten": frozenset({"golden", "host", "verif"}),
    "bench": frozenset({"golden", "host", "verif", "spatten"}),
    "scripts": frozenset({"golden"}),
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Module name -> file of every .py file under the given top-level folders."""
    return {module_name(f, root): f for pkg in packages for f in sorted((root / pkg).rglob("*.py"))}


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` imports anywhere in its body (``from a import b`` gives both
    ``a`` and ``a.b``: b may be a module); relative imports resolved against ``module``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level or None]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` it imports (a name resolves to its longest known
    prefix: ``golden.accel.Reg`` -> ``golden.accel``)."""

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in modules:
                return ".".join(parts[:i])
        return None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        targets = {resolve(n) for n in imported_names(path, mod)}
        graph[mod] = {t for t in targets if t is not None and t != mod}
    return graph


def forbidden_edges(graph: Mapping[str, set[str]], below: Mapping[str, frozenset[str]]
                    ) -> list[str]:
    """``a -> b`` for every import of a package that ``below`` does not allow."""
    bad = []
    for mod, targets in sorted(graph.items()):
        pkg = mod.split(".")[0]
        for t in sorted(targets):
            tpkg = t.split(".")[0]
            if tpkg != pkg and tpkg not in below[pkg]:
                bad.append(f"{mod} -> {t}")
    return bad


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(package_modules(ROOT, BELOW))


def test_every_layer_is_read(graph: dict[str, set[str]]) -> None:
    """The walk sees every package and the modules the rules are about."""
    assert {m.split(".")[0] for m in graph} == set(BELOW)
    for mod in ("host.driver", "verif.axil", "verif.trace_run", "spatten.cli", "spatten.run",
                "bench.trace_sim", "tb.run.sim_main", "tb.run.trace_tb"):
        assert mod in graph, mod
    assert "host.driver" in graph["verif.axil"]  # the host library sits below verif
    assert "verif.trace_run" in graph["spatten.run"]  # the trace runner is library code


def test_imports_point_down(graph: dict[str, set[str]]) -> None:
    assert forbidden_edges(graph, BELOW) == []


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_no_cocotb_test_module_in_a_library(graph: dict[str, set[str]]) -> None:
    """cocotb test modules (``@cocotb.test``) live under tb/, not in the packages others import."""
    for mod, path in package_modules(ROOT, ("golden", "host", "verif", "spatten", "bench")).items():
        assert "@cocotb.test" not in path.read_text(encoding="utf-8"), mod


def test_the_checks_catch_a_bad_tree(tmp_path: Path) -> None:
    """The checker itself: an upward import, a lazy upward import and a loop are all found."""
    files = (
        ("golden/__init__.py", ""),
        ("golden/a.py", "from golden import b\n"),
        ("golden/b.py", "def f() -> None:\n    import golden.a\n"),
        ("verif/__init__.py", ""),
        ("verif/x.py", "from spatten.cli import main\n"),
        ("spatten/__init__.py", ""),
        ("spatten/cli.py", "from verif import x\n\ndef g() -> None:\n    from bench import y\n"),
        ("bench/__init__.py", ""),
        ("bench/y.py", "from . import z\n"),
        ("bench/z.py", ""),
    )
    for name, text in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    g = import_graph(package_modules(tmp_path, ("golden", "verif", "spatten", "bench")))
    assert g["bench.y"] == {"bench", "bench.z"}  # the package and its module
    assert forbidden_edges(g, BELOW) == ["spatten.cli -> bench", "spatten.cli -> bench.y",
                                         "verif.x -> spatten.cli"]
    assert cycles(g) == [["golden.a", "golden.b"], ["spatten.cli", "verif.x"]]
