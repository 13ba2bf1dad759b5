"""Small helpers for answering htmx and plain browser requests from the same view."""

from __future__ import annotations

from flask import Response, make_response, redirect, render_template, request


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
