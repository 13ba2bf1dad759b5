"""Error pages: a whole page for browsers, a small partial for htmx (shown in the flash area)."""

from __future__ import annotations

import contextlib
import logging
import math
import time

from flask import Flask, g, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from blueprints.htmx import is_htmx
from core import transactions
from core.errors import DomainError
from extensions import limiter, login_manager

log = logging.getLogger("amora.errors")

TITLES = {
    400: "Bad request",
    401: "Please log in",
    402: "Not enough credits",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Check your input",
    429: "Slow down",
    500: "Something went wrong",
    503: "Back in a moment",
}

MESSAGES = {
    400: "The request could not be understood.",
    402: "You do not have enough credits for that. Buy credits on the Wallet page.",
    403: "You are not allowed to do that.",
    404: "There is nothing here. The link may be old, or the page was removed.",
    405: "That action is not available on this page.",
    413: "What you sent is too large.",
    429: "Too many attempts. Wait a little and try again.",
    500: "An unexpected error happened on our side. It has been logged; please try again.",
    503: "We could not reach our database for a moment. Nothing was saved: please try again.",
}

# Reads are safe to run twice: one whose database connection died is retried once.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


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

    current = limiter.current_limit
    if current is None:
        return None
    return max(1, math.ceil(current.reset_at - time.time()))


class PaymentRequired(HTTPException):
    """Werkzeug has no exception for 402, so `abort(402)` would itself fail (a 500)."""

    code = 402
    description = MESSAGES[402]


def register(app: Flask) -> None:
    app.aborter.mapping[402] = PaymentRequired

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
            limit = request.max_content_length or app.config.get("MAX_CONTENT_LENGTH") or 0
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
        """A refusal no view answered itself. A NotFound (no such row, or one this member may
        not see) is the 404 page, or for htmx its partial in the flash area: views let it
        through rather than catch it."""
        return _render(error.status, error.message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception):
        """The database went away mid-request (a killed connection, a restart, a full pool):
        retry a read once on a fresh connection, else answer 503 with nothing half-written."""
        _forget_session()
        if _retryable(error):
            g.amora_db_retried = True
            log.warning(
                "database connection lost during %s %s; retrying", request.method, request.path
            )
            try:
                response = app.preprocess_request()
                return response if response is not None else app.dispatch_request()
            except (OperationalError, InterfaceError, PoolTimeout) as again:
                error = again
                _forget_session()
            except Exception as other:  # a 404, a 429…: answered as on a first try
                return app.handle_user_exception(other)
        log.warning(
            "database unavailable for %s %s: %s", request.method, request.path, type(error).__name__
        )
        return _unavailable()

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        with contextlib.suppress(Exception):  # the session may be mid-commit
            transactions.rollback()
        return _render(500, MESSAGES[500])


def _retryable(error: Exception) -> bool:
    return (
        request.method in SAFE_METHODS
        and getattr(error, "connection_invalidated", False)
        and not g.get("amora_db_retried")
        and not g.get(COMMITTED)  # a read that wrote (an email link) is not run twice
    )


COMMITTED = "amora_committed"


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    if has_request_context():
        setattr(g, COMMITTED, True)


def _forget_session() -> None:
    """Drop the request's session and its dead connection; the user is loaded again."""
    with contextlib.suppress(Exception):
        transactions.rollback()
    with contextlib.suppress(Exception):
        transactions.release()
    g.pop("_login_user", None)


def _unavailable():
    """503 without touching the database: a standalone page (or the htmx partial), rendered
    as for a visitor (the navigation would load the member from the database)."""

    g._login_user = login_manager.anonymous_user()
    context = {"status": 503, "title": TITLES[503], "message": MESSAGES[503]}
    headers = {"Retry-After": "5"}
    if is_htmx():
        headers |= {"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"}
        return render_template("errors/_error.html", **context), 503, headers
    return render_template("errors/unavailable.html", **context), 503, headers
