"""Sign-up, email verification, login/logout and password reset (docs/security.md)."""

from __future__ import annotations

import contextlib
import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from blueprints.forms.auth import (
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    SecondFactorForm,
    SignUpForm,
)
from blueprints.htmx import apply_errors, redirect_to, render_form
from blueprints.links import safe_next
from core import clock
from core.emails import normalize_email
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import accounts, appeals, growth, sessions, throttle, twofactor

bp = Blueprint("auth", __name__)


def _bind_session(user, raw: str) -> None:
    session.clear()  # no session fixation: nothing from before the login survives
    session["sid"] = raw
    session.permanent = True
    login_user(user)


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10 per hour; 3 per minute", methods=["POST"])
def signup():
    """A sign-up answers the same whether the address is new or already has an account (whose
    owner is mailed instead): no session in either case, the same "check your inbox" page. The
    new member logs in once they have the mail; logging them in at once would tell anyone
    whether an address is registered."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = SignUpForm()
    status = 200
    if form.validate_on_submit():
        try:
            fingerprint = sessions.clean_fingerprint(form.device_fp.data)
            user = accounts.sign_up(
                form.email.data,
                form.password.data,
                form.display_name.data,
                form.date_of_birth.data,
                ip=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
                fingerprint=fingerprint,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except sessions.BadFingerprint as exc:
            form.form_errors.append(exc.message)
        else:
            referral_code = session.pop("referral_code", None)
            if user is not None:
                _apply_referral(user, referral_code)
            session[SIGNED_UP_EMAIL] = normalize_email(form.email.data)
            return redirect_to(url_for("auth.check_inbox"))
    if form.is_submitted():
        status = 422
    return render_form("auth/signup.html", "auth/_signup_form.html", status, form=form)


SIGNED_UP_EMAIL = "signed_up_email"


@bp.get("/signup/check-inbox")
def check_inbox():
    email = session.get(SIGNED_UP_EMAIL)
    if current_user.is_authenticated or not email:
        return redirect(url_for("main.index"))
    return render_template("auth/check_inbox.html", email=email)


def _apply_referral(user, code: str | None) -> None:
    """The visitor came through a creator's referral link (`/join/<code>`)."""

    if code:
        with contextlib.suppress(DomainError):  # a stale code must not spoil the sign-up
            growth.attach_referral(user, code)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("main.index"))
    form = LoginForm()
    error = appeal_url = None
    status = 200
    headers = {}
    if form.validate_on_submit():
        ip = request.remote_addr
        try:
            fingerprint = sessions.clean_fingerprint(form.device_fp.data)
            throttle.check(form.email.data, ip)
            user = accounts.authenticate(form.email.data, form.password.data)
        except throttle.Throttled as exc:
            error, status = exc.message, 429
            headers["Retry-After"] = str(exc.retry_after)
        except sessions.BadFingerprint as exc:
            error, status = exc.message, 400
        except accounts.Banned as exc:  # the right password: the way to appeal is theirs
            throttle.record(form.email.data, exc.user, ip, False)
            error, appeal_url = (
                exc.message,
                url_for("appeals.banned", token=appeals.appeal_token(exc.user)),
            )
        except DomainError as exc:
            throttle.record(form.email.data, accounts.find_by_email(form.email.data), ip, False)
            error = exc.message
        else:
            step = accounts.log_in(user, ip, request.headers.get("User-Agent"), fingerprint)
            if step.blocked:
                error, status = BLOCKED_LOGIN, 403
            elif step.needs_second_factor:
                session.clear()
                session[PENDING_2FA] = {
                    "uid": user.id,
                    "at": clock.now().isoformat(),
                    "next": next_url,
                    "failures": 0,
                    "fp": fingerprint,
                    "email_only": not user.has_2fa,
                }
                return redirect_to(url_for("auth.second_factor"))
            else:
                return _logged_in(user, step.session_token, next_url)
    if form.is_submitted() and status == 200:
        status = 422
    response = render_form(
        "auth/login.html",
        "auth/_login_form.html",
        status,
        form=form,
        error=error,
        next=next_url,
        appeal_url=appeal_url,
    )
    response.headers.update(headers)
    return response


BLOCKED_LOGIN = (
    "This sign-in looks unsafe and was blocked. Reset your password, or contact support if "
    "you think this is a mistake."
)


def _logged_in(user, raw: str, next_url: str | None):
    _bind_session(user, raw)
    if user.is_suspended:
        flash(
            "Your account is suspended, so it is read-only: "
            f"{user.status_reason or 'no reason was given'}.",
            "warning",
        )
    return redirect_to(next_url or url_for("main.index"))


PENDING_2FA = "pending_2fa"
PENDING_2FA_MINUTES = 10
MAX_2FA_FAILURES = 5


def _pending_user():
    """The user who passed the password step in this browser, if recent enough."""
    pending = session.get(PENDING_2FA)
    if not pending:
        return None, None
    started = dt.datetime.fromisoformat(pending["at"])
    if clock.now() - started > dt.timedelta(minutes=PENDING_2FA_MINUTES):
        session.pop(PENDING_2FA, None)
        return None, None
    user = twofactor.pending_login(pending["uid"], bool(pending.get("email_only")))
    if user is None:
        session.pop(PENDING_2FA, None)
        return None, None
    return user, pending


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def second_factor():
    user, pending = _pending_user()
    if user is None:
        flash("Log in again: the sign-in took too long or was interrupted.", "info")
        return redirect_to(url_for("auth.login"))
    form = SecondFactorForm()
    status = 200
    if form.validate_on_submit():
        try:
            # Wrong codes count on the server, per account and IP, like wrong passwords:
            # replaying an old copy of the session cookie does not reset anything.
            throttle.check(user.email, request.remote_addr)
        except throttle.Throttled as exc:
            session.pop(PENDING_2FA, None)
            flash(exc.message, "error")
            return redirect_to(url_for("auth.login"))
        try:
            twofactor.verify_login_code(user, form.code.data)
        except ValidationFailed as exc:
            pending["failures"] += 1
            session[PENDING_2FA] = pending
            throttle.record(user.email, user, request.remote_addr, False, stage="second_factor")
            if pending["failures"] >= MAX_2FA_FAILURES:
                session.pop(PENDING_2FA, None)
                flash("Too many wrong codes. Log in again.", "error")
                return redirect_to(url_for("auth.login"))
            apply_errors(form, exc.errors)
        else:
            session.pop(PENDING_2FA, None)
            raw = accounts.complete_login(
                user, request.remote_addr, request.headers.get("User-Agent"), pending.get("fp")
            )
            return _logged_in(user, raw, pending.get("next"))
    if form.is_submitted():
        status = 422
    return render_form(
        "auth/second_factor.html",
        "auth/_second_factor_form.html",
        status,
        form=form,
        email_only=pending.get("email_only"),
    )


@bp.post("/login/verify/email")
@limiter.limit("3 per 10 minutes")
def second_factor_email():
    user, _ = _pending_user()
    if user is None:
        return redirect_to(url_for("auth.login"))
    twofactor.send_login_code(user)
    flash(f"We emailed a 6-digit code to {user.email}. It works for 10 minutes.", "success")
    return redirect_to(url_for("auth.second_factor"))


@bp.post("/logout")
def logout():
    sessions.end_session(
        session.get("sid"), current_user.id if current_user.is_authenticated else None
    )
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect_to(url_for("main.index"))


@bp.get("/verify/<token>")
def verify_email(token: str):
    try:
        user = accounts.verify_email(token)
    except DomainError as exc:
        return render_template("auth/link_problem.html", message=exc.message), 400
    flash(f"Thanks, {user.email} is confirmed.", "success")
    return redirect(url_for("main.index" if current_user.is_authenticated else "auth.login"))


@bp.post("/verify/resend")
@login_required
@limiter.limit("3 per hour")
def resend_verification():
    try:
        accounts.resend_verification(current_user)
    except DomainError as exc:
        flash(exc.message, "info")
    else:
        flash(f"We sent a new link to {current_user.email}.", "success")
    return redirect_to(url_for("settings.account"))


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("5 per hour; 2 per minute", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    sent = False
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        sent = True
    status = 422 if form.is_submitted() and not sent else 200
    return render_form("auth/forgot.html", "auth/_forgot_form.html", status, form=form, sent=sent)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def reset_password(token: str):
    try:
        accounts.check_reset_token(token)
    except DomainError as exc:
        return render_template("auth/link_problem.html", message=exc.message), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except DomainError as exc:
            return render_template("auth/link_problem.html", message=exc.message), 400
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(
                "Your password is changed and every device was logged out. Log in again.", "success"
            )
            return redirect_to(url_for("auth.login"))
    status = 422 if form.is_submitted() else 200
    return render_form("auth/reset.html", "auth/_reset_form.html", status, form=form, token=token)
