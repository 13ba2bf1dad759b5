"""Number fields that speak our voice: a whole number typed the way a person types it, and a row
id that a row can have. Their parse errors carry the message given at the field's definition,
never WTForms' own "Not a valid integer value."."""

from __future__ import annotations

from wtforms import IntegerField
from wtforms.validators import Optional, ValidationError

from services.input import MAX_ID


class WholeNumberField(IntegerField):
    """A whole number in ASCII digits, optionally negative ("-3"). Not "1_000", "+5" or "٣",
    which `int()` would take, nor "1.5" or "1e3", which a number input lets through. Empty input
    is None, left to the field's `Optional`/`InputRequired`. The size is not bounded here: a
    range is the rule of the service that takes the number (a Python int holds any size)."""

    def __init__(self, label=None, validators=None, *, message: str, **kwargs):
        super().__init__(label, validators, invalid_value_message=message, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = str(valuelist[0]).strip()
        if text == "":
            self.data = None
            return
        digits = text.removeprefix("-")
        try:
            if not (digits.isascii() and digits.isdigit()):
                raise ValueError(text)
            self.data = int(text)
        except ValueError as exc:  # not digits, or past the digits int() will read
            self.data = None
            raise ValueError(self.invalid_value_message) from exc


class RowId:
    """A number a row's id can be, from 1 to MAX_ID (past it no row can have it). A value that
    did not parse already carries the field's own message, and gets no second one."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form, field) -> None:
        if field.data is not None and not 1 <= field.data <= MAX_ID:
            raise ValidationError(self.message)


def optional_id(message: str) -> list:
    """The validators of an optional row id: empty is None, else a RowId or `message`."""
    return [Optional(), RowId(message)]
