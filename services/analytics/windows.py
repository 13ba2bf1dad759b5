"""The time windows of the analytics page: the last 24 hours in hourly buckets, or 7 or 30 days
in daily ones, and the SQL that names a row's bucket — SQLite (`strftime`) and PostgreSQL
(`to_char`) format it the same way, the way `Window.index()` does in Python."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func

from extensions import db

# range key → (label, hourly?, number of buckets)
RANGES = {
    "24h": ("Last 24 hours", True, 24),
    "7d": ("Last 7 days", False, 7),
    "30d": ("Last 30 days", False, 30),
}


class UnknownRange(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    """Buckets (hours or days) starting at `starts`, the last one holding `now`; rows count
    from `start` to `now` inclusive."""

    key: str
    label: str
    hourly: bool
    starts: tuple[dt.datetime, ...]
    now: dt.datetime

    @property
    def start(self) -> dt.datetime:
        return self.starts[0]

    def index(self) -> dict[str, int]:
        """Bucket label (as the database formats it) → bucket position."""
        fmt = "%Y-%m-%d %H" if self.hourly else "%Y-%m-%d"
        return {start.strftime(fmt): i for i, start in enumerate(self.starts)}

    def short_label(self, start: dt.datetime) -> str:
        return f"{start:%H}:00" if self.hourly else f"{start:%b} {start.day}"

    def long_label(self, start: dt.datetime) -> str:
        day = f"{start:%a} {start.day} {start:%b}"
        return f"{day} {start:%H}:00" if self.hourly else day


def window(now: dt.datetime, range_key: str) -> Window:
    if range_key not in RANGES:
        raise UnknownRange(f"Unknown range {range_key!r}: use one of {', '.join(RANGES)}.")
    label, hourly, count = RANGES[range_key]
    if hourly:
        last = now.replace(minute=0, second=0, microsecond=0)
        step = dt.timedelta(hours=1)
    else:
        last = dt.datetime.combine(now.date(), dt.time())
        step = dt.timedelta(days=1)
    starts = tuple(last - step * (count - 1 - i) for i in range(count))
    return Window(key=range_key, label=label, hourly=hourly, starts=starts, now=now)


def bucket_label(column, hourly: bool):
    """A SQL expression naming the bucket of a timestamp, formatted like `Window.index()`."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24" if hourly else "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d", column)


def in_window(column, w: Window):
    return and_(column >= w.start, column <= w.now)
