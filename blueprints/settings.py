"""Settings → Account: email status, password, and the devices logged in to the account."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, session, url_for
from flask_login import current_user, login_required

from blueprints.forms.auth import ChangePasswordForm
from blueprints.htmx import apply_errors, is_htmx, redirect_to, render_form
from services import accounts
from services.errors import DomainError, ValidationFailed

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _sessions_context() -> dict:
    sid = session.get("sid")
    rows = accounts.live_sessions(current_user)
    return {
        "sessions": [(row, accounts.is_current_session(row, sid)) for row in rows],
    }


@bp.get("")
@login_required
def account():
    return render_template(
        "settings/account.html", password_form=ChangePasswordForm(), **_sessions_context()
    )


@bp.post("/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    done = None
    if form.validate_on_submit():
        try:
            revoked = accounts.change_password(
                current_user, form.current_password.data, form.new_password.data, session.get("sid")
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            done = "Password changed." + (
                f" {revoked} other device{'s were' if revoked != 1 else ' was'} logged out."
                if revoked
                else ""
            )
            form = ChangePasswordForm(formdata=None)
    if not is_htmx():
        if done:
            flash(done, "success")
            return redirect_to(url_for("settings.account"))
        return render_template(
            "settings/account.html", password_form=form, **_sessions_context()
        ), 422
    return render_form(
        "settings/account.html",
        "settings/_password_form.html",
        200 if done else 422,
        password_form=form,
        done=done,
    )


@bp.post("/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    count = accounts.revoke_other_sessions(current_user, session.get("sid"))
    message = f"Logged out {count} other device{'s' if count != 1 else ''}."
    if is_htmx():
        return render_template("settings/_sessions.html", notice=message, **_sessions_context())
    flash(message, "success")
    return redirect_to(url_for("settings.account"))


@bp.post("/sessions/<int:session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    try:
        accounts.revoke_session(current_user, session_id)
    except DomainError as exc:
        if is_htmx():
            return render_template(
                "settings/_sessions.html", notice=exc.message, **_sessions_context()
            ), exc.status
        flash(exc.message, "error")
        return redirect_to(url_for("settings.account"))
    if is_htmx():
        return render_template(
            "settings/_sessions.html", notice="That device is logged out.", **_sessions_context()
        )
    flash("That device is logged out.", "success")
    return redirect_to(url_for("settings.account"))
