"""The landing page, the logged-in home and the terms."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from core.errors import ValidationFailed
from extensions import limiter
from services import compliance

bp = Blueprint("main", __name__)


@bp.route("/takedown", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def takedown():
    """The public copyright (DMCA) notice form."""

    errors: dict = {}
    done = None
    if request.method == "POST":
        try:
            done = compliance.file_takedown(
                request.form, current_user if current_user.is_authenticated else None
            )
        except ValidationFailed as exc:
            errors = exc.errors
    return render_template("main/takedown.html", errors=errors, form=request.form, done=done), (
        422 if errors else 200
    )


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return render_template("main/home.html")
    return render_template("main/landing.html")


@bp.get("/terms")
def terms():
    return render_template("main/terms.html")
