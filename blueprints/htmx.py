"""Small helpers for answering htmx and plain browser requests from the same view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, flash, make_response, redirect, render_template, request

from core import transactions
from core.errors import DomainError, NotFound, ValidationFailed


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def redirect_to(url: str) -> Response:
    """Navigate to `url`: an `HX-Redirect` for htmx, a 303 for a plain form post."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


def render_form(page: str, partial: str, status: int = 200, **context) -> Response:
    """The form partial alone for htmx (swapped in place), else the whole page around it."""
    template = partial if is_htmx() else page
    return make_response(render_template(template, **context), status)


def apply_errors(form, errors: dict[str, str]) -> None:
    """Attach a service's field errors to a WTForms form (unknown fields go to the form)."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        else:
            form.form_errors.append(message)


def flash_outcome(action: Callable[[], object], done: str) -> bool:
    """Run one service call for a form post: the domain error's message as an error flash, else
    `done` as a success flash. True when it succeeded. A NotFound goes on to the error handler
    (the 404 page): there is nothing to flash about on the page it would go back to."""
    try:
        action()
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return False
    flash(done, "success")
    return True


def settled(form, action: Callable[[], Any], done: str | Callable[[Any], str]) -> bool:
    """How a form post ends: run `action` for `form`, already valid. True when the view goes
    back to its page (`done`, or a function of the action's result, flashed as a success; a
    refusal flashed as an error); False when the service put errors on the form's fields, for
    the view to render again (422). A NotFound goes on to the error handler (the 404 page)."""
    try:
        result = action()
    except NotFound:
        raise
    except ValidationFailed as exc:
        transactions.rollback()
        apply_errors(form, exc.errors)
        return False
    except DomainError as exc:
        transactions.rollback()
        flash(exc.message, "error")
        return True
    flash(done if isinstance(done, str) else done(result), "success")
    return True
