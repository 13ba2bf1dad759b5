"""What a process keeps for a while per app (match scores, Discover's searches): one object per
app, in `app.extensions`, made on first use from a number of seconds in the configuration."""

from __future__ import annotations

from collections.abc import Callable
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
