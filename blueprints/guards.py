"""Who may do what: decorators and request guards shared by the blueprints."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, flash, request, url_for
from flask_login import current_user, login_required

from blueprints.htmx import redirect_to

# While suspended a user may still read everything and do these; every other write is refused
# (docs/security.md#account-states).
SUSPENDED_ALLOWED_ENDPOINTS = {"auth.logout", "auth.login", "static"}


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


def admin_required(view: Callable) -> Callable:
    """Admins only, and only with two-factor authentication on
    (docs/security.md#two-factor-authentication): an admin without it is sent to set it up before
    any admin page."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        if not current_user.has_2fa:
            if request.method == "GET":
                flash("Admins must turn on two-factor authentication first.", "warning")
                return redirect_to(url_for("settings.security"))
            abort(403, description="Admins must turn on two-factor authentication first.")
        return view(*args, **kwargs)

    return wrapped
