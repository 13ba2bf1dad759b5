"""Appeals, the member's side (docs/security.md#appeals): a banned member through the link the
login form gave them, a suspended one from Settings, a rejected check from Settings →
Verification."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, url_for
from flask_login import current_user, login_required

from blueprints.forms.settings import AppealForm
from blueprints.htmx import apply_errors, redirect_to
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import appeals

bp = Blueprint("appeals", __name__)


def _page(member, decision, form: AppealForm, action: str, status: int = 200):
    return render_template(
        "appeals/appeal.html",
        member=member,
        decision=decision,
        earlier=appeals.existing(member, decision),
        form=form,
        action=action,
    ), status


def _submit(member, decision, action: str, done_url: str):
    form = AppealForm()
    if not form.validate_on_submit():
        return _page(member, decision, form, action, 422)
    try:
        appeals.submit(member, decision, form.message.data)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _page(member, decision, form, action, 422)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(action)
    flash("Appeal sent. A moderator looks at it; we mail you the outcome.", "success")
    return redirect_to(done_url)


@bp.get("/appeal/<token>")
def banned(token: str):
    member = appeals.banned_member(token)
    action = url_for("appeals.banned", token=token)
    return _page(member, appeals.account_decision(member), AppealForm(formdata=None), action)


@bp.post("/appeal/<token>")
@limiter.limit("10 per hour")
def banned_submit(token: str):
    member = appeals.banned_member(token)
    action = url_for("appeals.banned", token=token)
    return _submit(member, appeals.account_decision(member), action, action)


@bp.get("/settings/appeal")
@login_required
def account():
    decision = appeals.account_decision(current_user)
    action = url_for("appeals.account")
    return _page(current_user, decision, AppealForm(formdata=None), action)


@bp.post("/settings/appeal")
@login_required
@limiter.limit("10 per hour")
def account_submit():
    decision = appeals.account_decision(current_user)
    action = url_for("appeals.account")
    return _submit(current_user, decision, action, url_for("settings.account"))


@bp.get("/settings/verification/checks/<int:request_id>/appeal")
@login_required
def verification(request_id: int):
    decision = appeals.verification_decision(current_user, request_id)
    action = url_for("appeals.verification", request_id=request_id)
    return _page(current_user, decision, AppealForm(formdata=None), action)


@bp.post("/settings/verification/checks/<int:request_id>/appeal")
@login_required
@limiter.limit("10 per hour")
def verification_submit(request_id: int):
    decision = appeals.verification_decision(current_user, request_id)
    action = url_for("appeals.verification", request_id=request_id)
    return _submit(current_user, decision, action, url_for("settings.verification"))
