"""Settings → Account: email status, password, and the devices logged in to the account."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from blueprints.forms.auth import ChangePasswordForm, DisableTwoFactorForm, EnableTwoFactorForm
from blueprints.forms.creator import CreatorSettingsForm
from blueprints.forms.fields import sealed_upload
from blueprints.forms.settings import (
    DeleteAccountForm,
    DevIdentityForm,
    IdentityCheckForm,
    RecoveryCodesForm,
    ThemeForm,
)
from blueprints.guards import body_limit, verified_required
from blueprints.htmx import apply_errors, is_htmx, redirect_to, render_form
from core.errors import DomainError, NotFound, ValidationFailed
from extensions import limiter
from services import (
    accounts,
    creators,
    data_export,
    erasure,
    geoip,
    growth,
    identity,
    sessions,
    twofactor,
)

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _sessions_context() -> dict:
    sid = session.get("sid")
    rows = sessions.live_sessions(current_user)
    return {
        "sessions": [
            (row, sessions.is_current_session(row, sid), geoip.place_of_ip(row.ip)) for row in rows
        ],
    }


def _account_page(status: int = 200, **forms):
    return render_template(
        "settings/account.html",
        password_form=forms.get("password_form") or ChangePasswordForm(),
        theme_form=forms.get("theme_form") or ThemeForm(formdata=None, theme=current_user.theme),
    ), status


@bp.get("")
@login_required
def account():
    return _account_page()


@bp.post("/appearance")
@login_required
@limiter.limit("60 per hour")
def appearance():
    """Light, dark or as the device is set; static/theme.js has already applied it."""
    form = ThemeForm()
    if form.validate_on_submit():
        try:
            accounts.set_theme(current_user, form.theme.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            if is_htmx():
                return "", 204
            flash("Appearance saved.", "success")
            return redirect_to(url_for("settings.account"))
    return _account_page(422, theme_form=form)


def _creator_page(form: CreatorSettingsForm, status: int = 200):
    return render_template(
        "settings/creator.html", settings=creators.settings_of(current_user.id), form=form
    ), status


@bp.get("/creator")
@login_required
def creator():
    data = CreatorSettingsForm.data_of(
        creators.settings_of(current_user.id),
        session.get("referral_code"),
        current_user.adult_content,
    )
    return _creator_page(CreatorSettingsForm(data=data))


@bp.post("/creator")
@login_required
@limiter.limit("30 per hour")
def save_creator():
    was_creator = current_user.is_creator
    form = CreatorSettingsForm()
    if not form.validate_on_submit():
        return _creator_page(form, 422)
    try:
        creators.update_settings(
            current_user,
            headline=form.headline.data,
            subscription_price=form.subscription_price.data,
            message_price=form.message_price.data,
            call_price=form.call_price.data,
            blocked_countries=form.blocked_countries.data,
            watermark=form.watermark_choice,
            adult_content=form.adult_choice,
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _creator_page(form, 422)
    code = form.referral_code.data.strip()
    if code:
        try:
            growth.attach_referral(current_user, code)
        except DomainError as exc:
            flash(f"Referral code: {exc.message}", "error")
    if was_creator:
        flash("Creator settings saved.", "success")
        return redirect_to(url_for("settings.creator"))
    flash("Creator mode is on. Add photos to your vault, then post.", "success")
    return redirect_to(url_for("creator.dashboard"))


@bp.post("/creator/disable")
@login_required
def disable_creator():
    ended = creators.disable(current_user)
    flash(
        "Creator mode is off."
        + (f" {ended} subscriptions end with their paid period." if ended else ""),
        "success",
    )
    return redirect_to(url_for("settings.creator"))


def _security_page(
    status: int = 200,
    *,
    disable_form: DisableTwoFactorForm | None = None,
    regen_form: RecoveryCodesForm | None = None,
):
    """The security page; the form that was sent (if any) comes back with its errors, the other
    fresh (`formdata=None`: both have a `code`)."""
    return render_template(
        "settings/security.html",
        disable_form=disable_form or DisableTwoFactorForm(formdata=None),
        regen_form=regen_form or RecoveryCodesForm(formdata=None),
        recovery_left=twofactor.recovery_codes_left(current_user) if current_user.has_2fa else 0,
        **_sessions_context(),
    ), status


@bp.get("/security")
@login_required
def security():
    return _security_page()


SETUP_KEY = "totp_setup"


@bp.route("/security/2fa/setup", methods=["GET", "POST"])
@login_required
def twofactor_setup():
    """Show a new secret as a QR code; it is saved only once a code from the app confirms it."""
    if current_user.has_2fa:
        flash("Two-factor authentication is already on.", "info")
        return redirect_to(url_for("settings.security"))
    if request.method == "POST" or SETUP_KEY not in session:
        session[SETUP_KEY] = twofactor.new_secret()
    secret = session[SETUP_KEY]
    uri = twofactor.provisioning_uri(current_user, secret)
    return render_template(
        "settings/twofactor_setup.html",
        form=EnableTwoFactorForm(),
        secret=secret,
        qr=twofactor.qr_data_uri(uri),
    )


@bp.post("/security/2fa/enable")
@login_required
@limiter.limit("10 per 10 minutes")
def twofactor_enable():
    form = EnableTwoFactorForm()
    secret = session.get(SETUP_KEY)
    if secret is None:
        return redirect_to(url_for("settings.twofactor_setup"))
    if form.validate_on_submit():
        try:
            codes = twofactor.enable(current_user, secret, form.code.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            session.pop(SETUP_KEY, None)
            return render_template("settings/recovery_codes.html", codes=codes, first=True)
    uri = twofactor.provisioning_uri(current_user, secret)
    return render_template(
        "settings/twofactor_setup.html",
        form=form,
        secret=secret,
        qr=twofactor.qr_data_uri(uri),
    ), 422


@bp.post("/security/2fa/disable")
@login_required
@limiter.limit("10 per 10 minutes")
def twofactor_disable():
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            twofactor.disable(current_user, form.password.data, form.code.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            flash("Two-factor authentication is off.", "success")
            return redirect_to(url_for("settings.security"))
    return _security_page(422, disable_form=form)


@bp.post("/security/recovery-codes")
@login_required
@limiter.limit("10 per 10 minutes")
def regenerate_recovery_codes():
    form = RecoveryCodesForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.regenerate_recovery_codes(current_user, form.code.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        else:
            return render_template("settings/recovery_codes.html", codes=codes, first=False)
    return _security_page(422, regen_form=form)


@bp.post("/password")
@login_required
@limiter.limit("10 per hour")
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
        return _account_page(422, password_form=form)
    return render_form(
        "settings/account.html",
        "settings/_password_form.html",
        200 if done else 422,
        password_form=form,
        theme_form=ThemeForm(formdata=None, theme=current_user.theme),
        done=done,
    )


@bp.post("/sessions/revoke-others")
@login_required
def revoke_other_sessions():
    count = sessions.revoke_other_sessions(current_user, session.get("sid"))
    message = f"Logged out {count} other device{'s' if count != 1 else ''}."
    if is_htmx():
        return render_template("settings/_sessions.html", notice=message, **_sessions_context())
    flash(message, "success")
    return redirect_to(url_for("settings.security"))


@bp.post("/sessions/<int:session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    try:
        sessions.revoke_session(current_user, session_id)
    except DomainError as exc:
        if is_htmx():
            return render_template(
                "settings/_sessions.html", notice=exc.message, **_sessions_context()
            ), exc.status
        flash(exc.message, "error")
        return redirect_to(url_for("settings.security"))
    if is_htmx():
        return render_template(
            "settings/_sessions.html", notice="That device is logged out.", **_sessions_context()
        )
    flash("That device is logged out.", "success")
    return redirect_to(url_for("settings.security"))


# --- your data: export and deletion (docs/security.md#your-data) -----------------------------


def _export_box(export, status: int = 200, error: str | None = None):
    return render_template("settings/_export.html", export=export, error=error), status


@bp.get("/export")
@login_required
def export():
    """The "export my data" box with the latest export (the account page loads it)."""
    if not is_htmx():
        return redirect(url_for("settings.account") + "#your-data")
    return _export_box(data_export.latest_export(current_user))


@bp.post("/export")
@login_required
@limiter.limit("10 per hour")
def start_export():
    try:
        export = data_export.request_export(current_user)
    except DomainError as exc:
        if is_htmx():
            return _export_box(data_export.latest_export(current_user), exc.status, exc.message)
        flash(exc.message, "error")
        return redirect_to(url_for("settings.account") + "#your-data")
    if is_htmx():
        return _export_box(export)
    flash("Your data export is being prepared; it appears below when ready.", "success")
    return redirect_to(url_for("settings.account") + "#your-data")


@bp.get("/export/<int:export_id>")
@login_required
def export_status(export_id: int):
    """One of my exports, polled every second while it is being built."""
    export = data_export.get_export(current_user, export_id)
    if not is_htmx():
        return redirect(url_for("settings.account") + "#your-data")
    return _export_box(export)


@bp.get("/export/<int:export_id>/download")
@login_required
@limiter.limit("30 per hour")
def export_download(export_id: int):
    """A fresh short-lived signed link to my export's file (local storage or S3)."""
    try:
        url = data_export.export_url(current_user, export_id)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        abort(410, description=exc.message)
    return redirect(url, code=303)


def _delete_page(form: DeleteAccountForm, status: int = 200):
    return render_template(
        "settings/delete.html", impact=erasure.deletion_impact(current_user), form=form
    ), status


@bp.get("/delete")
@login_required
def delete_page():
    """The confirmation page: what deletion does, then password (and code with 2FA)."""
    if current_user.delete_after is not None:
        return redirect(url_for("settings.account"))
    return _delete_page(DeleteAccountForm())


@bp.post("/delete")
@login_required
@limiter.limit("10 per hour")
def delete_account():
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _delete_page(form, 422)
    try:
        deadline = erasure.request_deletion(current_user, form.password.data, form.code.data)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _delete_page(form, 422)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("settings.account"))
    flash(
        f"Deletion scheduled for {deadline:%d %b %Y}. We emailed you the date; until then you"
        " can undo it below.",
        "warning",
    )
    return redirect_to(url_for("settings.account"))


@bp.post("/delete/cancel")
@login_required
def cancel_deletion():
    try:
        erasure.cancel_deletion(current_user)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("Your account will not be deleted. Nothing was lost.", "success")
    return redirect_to(url_for("settings.account"))


# --- identity checks (docs/identity.md) --------------------------------------------------------


def _kind(name: str):
    kind = identity.CHECKS.get(name)
    if kind is None:
        abort(404)
    return kind


@bp.get("/verification")
@login_required
def verification():
    checks = [
        (
            name,
            kind,
            identity.latest_shown(current_user.id, kind),
            identity.is_verified(current_user, kind),
            identity.refusal(current_user, kind),
        )
        for name, kind in identity.CHECKS.items()
    ]
    services = {name: identity.provider_for(kind) for name, kind in identity.CHECKS.items()}
    return render_template(
        "settings/verification.html", checks=checks, kinds=identity.KIND_NAMES, services=services
    )


def _check_page(kind, form: IdentityCheckForm, status: int = 200):
    """The capture page, with a fresh gesture (a selfie is always taken again)."""
    capture = identity.start(current_user, kind)
    form.capture.data = capture.token
    return render_template(
        "settings/verification_check.html",
        kind=kind,
        name=identity.KIND_NAMES[kind],
        form=form,
        gesture=capture.gesture,
        latest=identity.latest(current_user.id, kind),
        max_mb=identity.MAX_FILE_BYTES // 2**20,
    ), status


@bp.get("/verification/<name>")
@verified_required
def verification_check(name: str):
    kind = _kind(name)
    refused = identity.refusal(current_user, kind)
    service = identity.provider_for(kind)
    if refused or service:
        flash(refused or f"This check goes through {service.label}: start it below.", "info")
        return redirect_to(url_for("settings.verification"))
    return _check_page(kind, IdentityCheckForm(formdata=None))


@bp.post("/verification/<name>/service")
@verified_required
@limiter.limit("20 per hour")
def start_identity_service(name: str):
    """Send the member to the identity service that takes this check."""
    kind = _kind(name)
    try:
        url = identity.start_with_provider(current_user, kind)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("settings.verification"))
    return redirect(url, 303)


@bp.get("/verification/dev/<ref>")
@login_required
def dev_identity(ref: str):
    """The test identity service's page (IDENTITY_PROVIDER=dev, never in production)."""
    check = identity.dev_session(current_user, ref)
    return render_template(
        "settings/dev_identity.html", check=check, form=DevIdentityForm(), kinds=identity.KIND_NAMES
    )


@bp.post("/verification/dev/<ref>")
@login_required
@limiter.limit("20 per minute")
def dev_identity_submit(ref: str):
    form = DevIdentityForm()
    if not form.validate_on_submit():
        check = identity.dev_session(current_user, ref)
        return render_template(
            "settings/dev_identity.html", check=check, form=form, kinds=identity.KIND_NAMES
        ), 422
    try:
        identity.dev_outcome(current_user, ref, form.outcome.data == "approve")
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash("The identity service has sent its answer: it shows here in a moment.", "success")
    return redirect_to(url_for("settings.verification"))


@bp.post("/verification/<name>")
@body_limit(identity.MAX_REQUEST_BYTES)
@verified_required
@limiter.limit("20 per hour")
def submit_verification(name: str):
    kind = _kind(name)
    form = IdentityCheckForm()
    if not form.validate_on_submit():
        return _check_page(kind, form, 422)
    try:
        identity.submit(
            current_user,
            kind,
            capture=form.capture.data,
            selfie=sealed_upload(form.selfie),
            document_type=form.document_type.data or None,
            front=sealed_upload(form.front),
            back=sealed_upload(form.back),
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _check_page(kind, form, 422)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("settings.verification"))
    flash("Sent. A reviewer looks at it soon; you get a notification with the answer.", "success")
    return redirect_to(url_for("settings.verification"))
