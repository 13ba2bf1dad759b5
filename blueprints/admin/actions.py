"""How an admin form post ends (on every page family of the console): a valid form runs its
service call; done, or refused by a rule that is not about a field, it is flashed and the view
goes back to its page; a service's field errors (`ValidationFailed`) join the form's own, and
the view renders the page again with them (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash

from blueprints.forms.fields import first_error
from blueprints.htmx import apply_errors
from core import transactions
from core.errors import DomainError, NotFound, ValidationFailed


def settled(form, action: Callable[[], Any], done: str | Callable[[Any], str]) -> bool:
    """Run `action` for `form`, already valid. True when the view goes back to its page (`done`,
    or a function of the action's result, flashed as a success; a refusal flashed as an error);
    False when the service put errors on the form's fields. A NotFound goes on to the error
    handler (the 404 page)."""
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


def flash_unshown(posted: dict[int, object], forms: dict[int, object]) -> None:
    """A list page with a form per row: a form in `posted` (just sent, by row id) whose row the
    page no longer shows with a form (handled meanwhile, or no such row) has its message
    flashed instead."""
    for row_id, form in posted.items():
        if row_id not in forms:
            flash(first_error(form), "error")
