"""Blueprints are HTTP only (docs/architecture.md#layers): a view parses, asks a service, renders.
No module under blueprints/ touches the database session, builds a query or imports a model; a
query a view needs is a service function. A state enum (`PostStatus`, …) is a value, not a table:
a view may compare against one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = sorted((ROOT / "blueprints").rglob("*.py"))


def _is_models(module: str | None) -> bool:
    return module is not None and (module == "models" or module.startswith("models."))


def database_uses(source: str) -> list[str]:
    """What in `source` reaches the database past the services, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if _is_models(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [alias.name for alias in node.names]
            if _is_models(node.module) and not all(n.endswith("Status") for n in names):
                found.append(f"{line}: from {node.module} import …")
            elif node.module == "extensions" and "db" in names:
                found.append(f"{line}: from extensions import db")
            elif (node.module or "").startswith("sqlalchemy") and "select" in names:
                found.append(f"{line}: from {node.module} import select")
        elif isinstance(node, ast.Attribute) and node.attr == "session":
            if isinstance(node.value, ast.Name) and node.value.id == "db":
                found.append(f"{line}: db.session")
        elif isinstance(node, ast.Call):
            callee = node.func
            name = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
            if name == "select":
                found.append(f"{line}: select(…)")
    return found


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_blueprint_leaves_the_database_to_the_services(path):
    assert database_uses(path.read_text()) == []


def test_every_blueprint_module_is_checked():
    names = {str(p.relative_to(ROOT)) for p in BLUEPRINTS}
    assert {"blueprints/messages.py", "blueprints/admin/users.py"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "from models import User",
        "import models.user",
        "from models.dating import Profile",
        "from extensions import db, limiter",
        "from sqlalchemy import func, select",
        "def view(x):\n    return db.session.get(User, x)\n",
        "def view(x):\n    return sa.select(x)\n",
        "def view():\n    if True:\n        from models import Message\n",
    ],
)
def test_the_check_finds_each_way_to_reach_the_database(source):
    assert database_uses(source)


def test_the_check_lets_services_and_errors_through():
    source = (
        "from extensions import limiter\n"
        "from models import MediaStatus, PostStatus\n"
        "from services import messaging\n"
        "from sqlalchemy.exc import OperationalError\n"
        "def view(other_id):\n    return messaging.correspondent(None, other_id)\n"
    )
    assert database_uses(source) == []
