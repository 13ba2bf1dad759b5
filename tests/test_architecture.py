"""The import graph keeps its shape (docs/architecture.md#layers): blueprints -> services ->
workers (the job queue) -> models -> core, no module importing one that imports it back, and
the top-level modules where they belong. Checked on the real graph of the code, as
`lint-imports` would (the contracts are in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blueprints", "services", "workers", "models", "core")
# The layers' own ground: settings and the unbound Flask extensions, which import none of ours.
GROUND = ("config.py", "extensions.py")
# The entry points on top, which nothing of ours imports back.
ENTRY_POINTS = ("app", "cli", "cli_backup")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _imports(graph: grimp.ImportGraph, module: str):
    return iter(sorted(graph.find_modules_directly_imported_by(module)))


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, _imports(graph, start))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_module_imports_one_that_imports_it_back(graph):
    cycles = _cycles(graph)
    described = [
        " -> ".join(group)
        + "\n    e.g. "
        + "; ".join(
            f"{a} imports {b}"
            for a in group
            for b in sorted(graph.find_modules_directly_imported_by(a))
            if b in group
        )
        for group in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_the_import_linter_contracts_are_kept(capsys):
    """The layers contract and the acyclic-siblings contract of pyproject.toml."""
    exit_code = lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out


def _imported_top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_ground_modules_import_nothing_of_ours():
    ours = set(PACKAGES) | set(ENTRY_POINTS) | {"config", "extensions"}
    for name in GROUND:
        own = _imported_top_names(ROOT / name) & (ours - {name.removesuffix(".py")})
        assert not own, f"{name} sits under every layer and imports {sorted(own)}"


def test_nothing_imports_the_entry_points():
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    files += [ROOT / name for name in GROUND]
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_names(path) & set(ENTRY_POINTS))
        for path in files
        if _imported_top_names(path) & set(ENTRY_POINTS)
    }
    assert not offenders, f"the app factory and the CLI sit on top: {offenders}"
