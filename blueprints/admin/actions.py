"""How an admin form post ends on a list page with a form per row. A single form's post ends
through `blueprints.htmx.settled`, re-exported here for the console's views."""

from __future__ import annotations

from flask import flash

from blueprints.forms.fields import first_error
from blueprints.htmx import settled

__all__ = ["flash_unshown", "settled"]


def flash_unshown(posted: dict[int, object], forms: dict[int, object]) -> None:
    """A list page with a form per row: a form in `posted` (just sent, by row id) whose row the
    page no longer shows with a form (handled meanwhile, or no such row) has its message
    flashed instead."""
    for row_id, form in posted.items():
        if row_id not in forms:
            flash(first_error(form), "error")
