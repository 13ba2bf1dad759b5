"""The landing page, the logged-in home and the terms."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from blueprints.forms.takedown import TakedownForm
from blueprints.htmx import apply_errors
from core.errors import ValidationFailed
from extensions import limiter
from services import takedowns

bp = Blueprint("main", __name__)


@bp.route("/takedown", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def takedown():
    """The public copyright (DMCA) notice form."""
    form = TakedownForm()
    done = None
    if form.validate_on_submit():
        try:
            done = takedowns.file_takedown(
                current_user if current_user.is_authenticated else None,
                claimant_name=form.claimant_name.data,
                claimant_email=form.claimant_email.data,
                content_url=form.content_url.data,
                original_work=form.original_work.data,
                good_faith=form.good_faith.data,
                signature=form.signature.data,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
    status = 422 if form.is_submitted() and done is None else 200
    return render_template("main/takedown.html", form=form, done=done), status


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return render_template("main/home.html")
    return render_template("main/landing.html")


@bp.get("/terms")
def terms():
    return render_template("main/terms.html")
