"""The import graph of `models/` and `optimiser/`, read from the source: no circle between
modules, and the epidemic model (`models`) never imports the optimiser.

Imports under `if TYPE_CHECKING:` are annotations only and never run, so they are not arrows.
An import inside a function is an arrow: it runs when the function does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "optimiser")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[str]:
    """Every module named by an import that runs, skipping `if TYPE_CHECKING:` blocks."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports (a package's `__init__` is the package)."""
    files = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    graph = {}
    for name, path in files.items():
        named = _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        graph[name] = {m for m in named if m in files and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def test_no_module_imports_itself_back_through_others():
    assert circles(import_graph(ROOT, PACKAGES)) == []


def test_the_epidemic_model_never_imports_the_optimiser():
    graph = import_graph(ROOT, PACKAGES)
    upward = {m: sorted(t for t in to if t.startswith("optimiser")) for m, to in graph.items()
              if m.startswith("models")}  # fmt: skip
    assert {m: t for m, t in upward.items() if t} == {}


def test_the_check_sees_a_circle_through_a_function_level_import(tmp_path):
    """Fed a package whose lower module imports a higher one inside a function, the check names
    both; the same import under TYPE_CHECKING is no arrow."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""A package."""\n')
    (pkg / "low.py").write_text("def f():\n    from pkg.high import g\n    return g\n")
    (pkg / "high.py").write_text("from pkg.low import f\n\ndef g():\n    return f\n")
    (pkg / "typed.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.high import g\n"
    )
    graph = import_graph(tmp_path, ("pkg",))
    assert circles(graph) == [["pkg.high", "pkg.low"]]
    assert graph["pkg.typed"] == set()
