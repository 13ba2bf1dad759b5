"""Admin routes for appeals (docs/security.md#appeals): the open appeals, each with its
decision form; uphold or overturn with a note the member gets by mail (on the `admin`
blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user

from blueprints.admin.actions import flash_unshown, settled
from blueprints.admin.blueprint import bp
from blueprints.forms.admin import DecideAppealForm, for_row
from blueprints.guards import staff_required
from blueprints.htmx import redirect_to
from extensions import limiter
from services import appeals


def _appeals_page(code: int = 200, posted: dict[int, DecideAppealForm] | None = None):
    posted = posted or {}
    rows = appeals.queue(current_user)
    forms = {
        appeal.id: posted.get(appeal.id) or for_row(DecideAppealForm(formdata=None), appeal.id)
        for appeal, _ in rows
    }
    flash_unshown(posted, forms)
    return render_template(
        "admin/appeals.html", rows=rows, forms=forms, decided=appeals.recent(current_user)
    ), code


@bp.get("/appeals")
@staff_required
def appeals_page():
    return _appeals_page()


@bp.post("/appeals/<int:appeal_id>")
@staff_required
@limiter.limit("600 per hour")
def decide_appeal(appeal_id: int):
    form = DecideAppealForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: appeals.decide(
            current_user,
            appeal_id,
            overturn=form.decision.data == "overturn",
            note=form.note.data,
        ),
        lambda done: f"Appeal {done.id}: {done.status}. The member is mailed.",
    ):
        return redirect_to(url_for("admin.appeals_page"))
    return _appeals_page(422, {appeal_id: for_row(form, appeal_id)})
