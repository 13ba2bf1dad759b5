"""What a process keeps per app, in `app.extensions`: an object made on first use from a number
of seconds in the configuration (match scores, Discover's searches), and bounded tables of
things computed once (`remember`: rendered fragments, signed tokens)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import current_app

T = TypeVar("T")


def per_app(name: str, seconds_setting: str, make: Callable[[float], T]) -> T | None:
    """This app's `name`, made by `make(seconds)` from the setting `seconds_setting`; None when
    that setting is 0 (nothing is kept)."""
    found = current_app.extensions.get(name)
    if found is None:
        seconds = current_app.config[seconds_setting]
        if not seconds:
            return None
        found = current_app.extensions.setdefault(name, make(seconds))
    return found


def table(name: str) -> dict:
    """This app's table `name` (empty at first)."""
    return current_app.extensions.setdefault(name, {})


def put(name: str, key: Hashable, value: T, limit: int) -> T:
    """Keep `value` under `key` in the table `name`, which holds at most `limit` entries: when
    full it is emptied first (what it held is computed again when next asked for)."""
    kept = table(name)
    if len(kept) >= limit:
        kept.clear()
    kept[key] = value
    return value


def remember(name: str, key: Hashable, compute: Callable[[], T], limit: int) -> T:
    """The value kept under `key` in the table `name`, computed and kept (`put`) if absent."""
    found = table(name).get(key)
    return found if found is not None else put(name, key, compute(), limit)
