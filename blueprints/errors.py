"""Error pages: a whole page for browsers, a small partial for htmx (shown in the flash area)."""

from __future__ import annotations

import contextlib
import logging
import math
import time

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from blueprints.htmx import is_htmx
from services.errors import DomainError

log = logging.getLogger("amora.errors")

TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Check your input",
    429: "Slow down",
    500: "Something went wrong",
}

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here. The link may be old, or the page was removed.",
    405: "That action is not available on this page.",
    413: "What you sent is too large.",
    429: "Too many attempts. Wait a little and try again.",
    500: "An unexpected error happened on our side. It has been logged; please try again.",
}


def _render(status: int, message: str, retry_after: str | None = None):
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message,
        "retry_after": retry_after,
    }
    if is_htmx():
        response = (render_template("errors/_error.html", **context), status)
        headers = {"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"}
        return (*response, headers)
    return render_template("errors/error.html", **context), status


def _message(error: HTTPException) -> str:
    default = MESSAGES.get(error.code or 500, "")
    description = error.description or ""
    # Werkzeug's stock descriptions are written for developers; ours or a view's are for users.
    if not description or description == type(error).description:
        return default
    return description


def _retry_after_seconds() -> int | None:
    """Seconds until the limit that was hit resets (Flask-Limiter knows which one it was)."""
    from extensions import limiter

    current = limiter.current_limit
    if current is None:
        return None
    return max(1, math.ceil(current.reset_at - time.time()))


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _render(
            400,
            "This form has expired or was sent from another site (missing security token). "
            "Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            return _render(413, f"What you sent is too large (the limit is {limit // 1024} KiB).")
        if status == 429:
            retry = _retry_after_seconds()
            message = "Too many attempts. " + (
                f"Try again in {retry} seconds." if retry else "Wait a little and try again."
            )
            body, code, *headers = _render(429, message, str(retry) if retry else None)
            merged = dict(headers[0]) if headers else {}
            if retry:
                merged["Retry-After"] = str(retry)
            return body, code, merged
        return _render(status, _message(error))

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        return _render(error.status, error.message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        from extensions import db

        with contextlib.suppress(Exception):  # the session may be mid-commit
            db.session.rollback()
        return _render(500, MESSAGES[500])
