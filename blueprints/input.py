"""Hostile input stops at the edge with a 4xx that says what is wrong, never a 500:
ids in URLs are bounded, text carrying NUL bytes (which PostgreSQL cannot store) is refused, and
numbers in query strings are parsed within range."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

from services.input import MAX_ID, has_unstorable_text

UNSTORABLE_MESSAGE = "Text cannot contain NUL bytes or broken characters. Remove them and retry."


class BoundedIntConverter(IntegerConverter):
    """`<int:…>` that matches only ids a row can have: a larger number is a 404 (no route),
    as on any missing row, instead of an error from the database."""

    def __init__(self, map, fixed_digits: int = 0, min: int = 0, max: int = MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _request_texts() -> list[Any]:
    texts: list[Any] = list((request.view_args or {}).values())
    texts += [*request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        texts += [*request.form.keys(), *request.form.values()]
    elif request.is_json:
        texts.append(request.get_json(silent=True))
    return texts


def refuse_unstorable_text() -> None:
    """Before every view but the webhooks: their body is looked at only once its signature is
    checked (services/payments/orders.py)."""
    if request.blueprint == "webhooks":
        return
    if any(has_unstorable_text(text) for text in _request_texts()):
        abort(400, description=UNSTORABLE_MESSAGE)


def query_int(name: str, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """The integer query parameter `name`, None when absent; a 400 when it is not a whole
    number from `minimum` to `maximum`."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    text = raw.strip()
    digits = text.removeprefix("-")
    valid = digits.isascii() and digits.isdigit() and len(digits) <= len(str(maximum))
    if not valid or not minimum <= int(text) <= maximum:
        abort(400, description=f"`{name}` must be a whole number from {minimum} to {maximum}.")
    return int(text)


def register(app: Flask) -> None:
    """Before any blueprint: the converter must be in place when their rules are added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_unstorable_text)
