"""Who may do what: decorators and request guards shared by the blueprints."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

from flask import Request as FlaskRequest
from flask import abort, current_app, flash, request, url_for
from flask_login import current_user, login_required

from blueprints.htmx import redirect_to

# While suspended a user may still read everything and do these; every other write is refused
# (docs/security.md#account-states).
SUSPENDED_ALLOWED_ENDPOINTS = {"auth.logout", "auth.login", "static", "appeals.account_submit"}


def enforce_read_only_for_suspended():
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if not current_user.is_authenticated or not current_user.is_suspended:
        return None
    if request.endpoint in SUSPENDED_ALLOWED_ENDPOINTS:
        return None
    abort(403, description=read_only_reason(current_user))


def read_only_reason(user) -> str:
    """What a suspended user is told when they try to change something (HTTP or socket)."""
    reason = user.status_reason or "no reason was given"
    return f"Your account is suspended ({reason}), so it is read-only."


def body_limit(max_bytes: int) -> Callable:
    """Let a view take a request body larger than MAX_CONTENT_LENGTH (a form with identity
    documents): `apply_body_limit`, which runs before anything reads the body, raises the
    limit for this view's requests alone, and keeps their uploaded files in memory: they are
    sealed before anything is stored, and never touch a temporary file on disk."""

    def mark(view: Callable) -> Callable:
        view.amora_body_limit = max_bytes
        return view

    return mark


def apply_body_limit() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "amora_body_limit", None)
    if limit:
        request.max_content_length = limit
        request.files_in_memory = True


class Request(FlaskRequest):
    """Flask's request, whose uploaded files a view may keep in memory (`body_limit`)."""

    files_in_memory = False

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ):
        if self.files_in_memory:  # bounded by the view's own body limit
            return io.BytesIO()
        return super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )


def verified_required(view: Callable) -> Callable:
    """Paying, messaging and uploading need a verified email address
    (docs/security.md#email-verification)."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.email_verified:
            if request.method == "GET":
                flash("Verify your email address first: we sent you a link.", "warning")
                return redirect_to(url_for("settings.account"))
            abort(403, description="Verify your email address first: we sent you a link.")
        return view(*args, **kwargs)

    return wrapped


def _console(allowed: Callable[[object], bool]) -> Callable:
    """A decorator for console pages: members `allowed` lets in, and only with two-factor
    authentication on (docs/security.md#two-factor-authentication); one without it is sent to
    set it up before any console page."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allowed(current_user):
                abort(403)
            if not current_user.has_2fa:
                who = "Admins" if current_user.is_admin else "Moderators"
                message = f"{who} must turn on two-factor authentication first."
                if request.method == "GET":
                    flash(message, "warning")
                    return redirect_to(url_for("settings.security"))
                abort(403, description=message)
            return view(*args, **kwargs)

        return wrapped

    return decorate


# Admins only: money (payouts, orders, the ledger, credit adjustments), data, roles, the audit
# log (docs/security.md#roles).
admin_required = _console(lambda user: user.is_admin)
# Moderators and admins: reports, review queues, identity checks, alerts, account status.
staff_required = _console(lambda user: user.is_staff)
