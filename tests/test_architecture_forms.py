"""Input at the edge (docs/architecture.md#input-at-the-edge): a view reads what a person typed
only through a Flask-WTF form, and a service takes typed arguments, never a request's form."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = sorted((ROOT / "blueprints").rglob("*.py"))
SERVICES = sorted((ROOT / "services").rglob("*.py"))
# The hook that refuses unstorable text looks at every value, before any form is built.
RAW_INPUT_ALLOWED = {"blueprints/input.py"}


def raw_form_reads(source: str) -> list[str]:
    """Each line of `source` that reads `request.form`."""
    return [
        f"{node.lineno}: request.form"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr == "form"
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
    ]


def form_parameters(source: str) -> list[str]:
    """Each function in `source` with a parameter named `form`, `args` or `data` typed as a
    dict or mapping (a request's input passed through whole)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for arg in [*node.args.args, *node.args.kwonlyargs]:
            annotation = ast.unparse(arg.annotation) if arg.annotation else ""
            raw = arg.arg in ("form", "args") or any(
                word in annotation for word in ("MultiDict", "ImmutableMultiDict")
            )
            if raw and arg.arg != "self":
                found.append(f"{node.lineno}: {node.name}({arg.arg}: {annotation or '?'})")
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", BLUEPRINTS, ids=_name)
def test_a_view_reads_input_through_a_form(path):
    if _name(path) in RAW_INPUT_ALLOWED:
        return
    assert raw_form_reads(path.read_text()) == []


@pytest.mark.parametrize("path", SERVICES, ids=_name)
def test_a_service_takes_typed_arguments(path):
    assert form_parameters(path.read_text()) == []


def test_the_checks_see_what_they_look_for():
    view = "def save():\n    name = request.form.get('name')\n    return request.args['next']\n"
    assert raw_form_reads(view) == ["2: request.form"]
    assert raw_form_reads("def save(form):\n    return form.name.data\n") == []
    service = (
        "def create(creator: User, form: dict) -> None: ...\n"
        "def search(me, args) -> None: ...\n"
        "def parse(x: ImmutableMultiDict) -> None: ...\n"
        "def typed(creator: User, *, days: int) -> None: ...\n"
    )
    assert form_parameters(service) == [
        "1: create(form: dict)",
        "2: search(args: ?)",
        "3: parse(x: ImmutableMultiDict)",
    ]
