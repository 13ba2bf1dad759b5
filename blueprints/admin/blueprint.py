"""The `admin` blueprint, in a module of its own: the page families of the console add their
routes to it, and `blueprints/admin/__init__.py` registers it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
