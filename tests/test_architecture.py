"""The layers of docs/architecture.md hold: lint-imports checks the contracts, this the cycles.

import-linter's acyclic_siblings contract looks at siblings inside each package; this test
looks at every module of the project at once (grimp, import-linter's own graph library), so
a circle through two packages (a.x -> b.y -> a.z) fails here even when each package alone
is acyclic. Function-level imports count: grimp reads them like any other.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def _root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle_among_the_project_s_modules():
    graph = grimp.build_graph(*_root_packages(), cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle_through_two_packages(tmp_path, monkeypatch):
    # Guard the guard: a circle a.one -> b.two -> a.one, written only with function-level imports.
    for package, module, target in (("pa", "one", "pb.two"), ("pb", "two", "pa.one")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / f"{module}.py").write_text(f"def f():\n    import {target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("pa", "pb", cache_dir=None)
    assert _cycles(graph) == [["pa.one", "pb.two"]]


def test_every_top_level_package_is_under_a_contract():
    # A new app must be placed in a layer (docs/architecture.md), not left outside the rules.
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "bench", "scripts", "e2e", "deploy", "docs"}
    }
    assert packages == set(_root_packages())
