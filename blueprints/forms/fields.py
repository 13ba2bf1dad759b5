"""Fields and helpers every area's forms share: a whole number typed the way a person types it,
a row id a row can have, a list's position in a query string, and the first message of a form
whose fields a page does not show. Parse errors carry the message given at the field's
definition, never WTForms' own "Not a valid integer value."."""

from __future__ import annotations

import re

from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional, StopValidation, ValidationError

from blueprints.forms.base import Form
from services import identity
from services.input import MAX_ID

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 1000  # past this, no amount; and int() of a long string is slow


class WholeNumberField(IntegerField):
    """An exact whole number typed as ASCII digits with an optional sign: not `1.5`, `1e3`,
    `NaN`, nor the `1_000` or `١٢` Python's `int()` would also take. `message` is the field's
    own word for anything else; the range is for a validator (NumberRange, RowId) or the
    service. Empty input leaves `data` None, for InputRequired or Optional to judge."""

    def __init__(self, label=None, validators=None, *, message: str, **kwargs):
        super().__init__(label, validators, invalid_value_message=message, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = str(valuelist[0]).strip()
        self.data = None
        if not text:
            return
        if len(text) > _MAX_DIGITS or _WHOLE_NUMBER.fullmatch(text) is None:
            raise ValueError(self.invalid_value_message)
        self.data = int(text)

    def pre_validate(self, form):
        if self.process_errors:  # one message: the range validators have no number to judge
            raise StopValidation()


class RowId:
    """A number a row's id can be, from 1 to MAX_ID (past it no row can have it)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form, field) -> None:
        if field.data is not None and not 1 <= field.data <= MAX_ID:
            raise ValidationError(self.message)


def optional_id(message: str) -> list:
    """The validators of an optional row id: empty is None, else a RowId or `message`."""
    return [Optional(), RowId(message)]


def cursor_field(name: str) -> WholeNumberField:
    """A page's position in a list (`?before=<id>`): links make it, people do not type it."""
    message = f"`{name}` must be a whole number from 1 to {MAX_ID}."
    return WholeNumberField(
        validators=[Optional(), NumberRange(min=1, max=MAX_ID, message=message)],
        message=message,
    )


def first_error(form: Form) -> str:
    """The form's first message, for a form whose fields the page does not show."""
    for errors in form.errors.values():
        for error in errors:
            return error if isinstance(error, str) else " ".join(error)
    return "The request could not be understood."


def sealed_upload(field) -> identity.Upload | None:
    """A file field's upload as identity documents are taken (`services.identity`), read up to
    one byte past the limit so that the service can say it is too large; None when nothing was
    sent."""
    storage = field.data
    if storage is None or not hasattr(storage, "read"):
        return None
    return identity.Upload(storage.read(identity.MAX_FILE_BYTES + 1), storage.filename or "")
