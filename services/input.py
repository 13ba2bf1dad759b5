"""Input the database cannot hold, recognised before it reaches a query.

Every primary key is a PostgreSQL `integer` (SQLite's is wider): a number past MAX_ID cannot name
a row, and in a query PostgreSQL refuses it while SQLite's driver overflows. Neither database
stores a NUL character in text, and PostgreSQL refuses the lone surrogates JSON can carry.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID = 2**31 - 1
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def parse_id(value: object) -> int | None:
    """The id in `value` (an int, or ASCII digits), or None when it cannot name a row."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        # isdigit() alone is true for "²" and other digits int() refuses
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
            return None
        value = int(text)
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def has_unstorable_text(value: Any) -> bool:
    """Whether `value` (a string, or JSON-like lists and dicts of them) holds unstorable text."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable_text(item) for item in value)
    return False
