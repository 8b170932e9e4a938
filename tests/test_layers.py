"""The package's floor plan holds: layer contracts, no import cycles, no hidden imports.

The layers are declared in ``pyproject.toml`` (``[tool.importlinter]``): a pipeline step
imports only the steps below it. Import cycles are looked for among modules, counting
imports inside functions too (those are how a cycle hides from an import-time crash).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from outcomes import config

LIB = config.PACKAGE_DIR
REPO = Path(__file__).resolve().parents[1]


def test_layer_contracts_hold() -> None:
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True) == 0


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def test_no_import_cycles_among_modules() -> None:
    graph = grimp.build_graph("outcomes", cache_dir=None)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


def _local_imports(path: Path) -> list[str]:
    """Imports of the kit inside functions, except those a ``# Imported here:`` comment justifies."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                above = lines[max(node.lineno - 6, 0) : node.lineno - 1]
                if any(line.strip().startswith("# Imported here:") for line in above):
                    continue
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("outcomes"):
                    found.append(f"{path.relative_to(LIB)}:{node.lineno} {node.module}")
                elif isinstance(node, ast.Import) and any(a.name.startswith("outcomes") for a in node.names):
                    found.append(f"{path.relative_to(LIB)}:{node.lineno}")
    return found


def test_no_function_local_imports_of_the_kit_outside_the_command_line() -> None:
    # A lazy import for start-up time is allowed when a "# Imported here:" comment says why.
    local = [hit for path in sorted(LIB.rglob("*.py")) if path.name != "cli.py" for hit in _local_imports(path)]
    assert local == []
