"""The import graph keeps its shape (docs/architecture.md#layers): blueprints -> services ->
workers (the job queue) -> models -> core, no module importing one that imports it back, and
the top-level modules where they belong. Checked on the real graph of the code, as
`lint-imports` would (the contracts are in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blueprints", "services", "workers", "models", "core")
# The layers' own ground: settings and the unbound Flask extensions, which import none of ours.
GROUND = ("config.py", "extensions.py")
# The entry points on top, which nothing of ours imports back.
ENTRY_POINTS = ("app", "cli", "cli_backup")


def test_the_import_linter_contracts_are_kept(capsys):
    """The contracts of pyproject.toml: the layers (an import that points up fails), and no
    cycle between the modules of any package, at any depth."""
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
