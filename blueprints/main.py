"""The landing page, the logged-in home and the terms."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return render_template("main/home.html")
    return render_template("main/landing.html")


@bp.get("/terms")
def terms():
    return render_template("main/terms.html")
