"""The one clock the domain reads. Times are naive UTC everywhere (SQLite keeps no zone).

Tests freeze or move it with `frozen(...)`/`advance(...)` instead of sleeping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

_frozen_at: dt.datetime | None = None  # what now() returns while any freeze is active
# The active freezes, innermost last, each a one-item list so that `advance` moves its own.
# Several threads may freeze at once (a test racing jobs): each freeze takes itself out, so the
# clock runs again once the last one ends, whatever order they end in.
_freezes: list[list[dt.datetime]] = []
_lock = threading.Lock()


def now() -> dt.datetime:
    """The current UTC time, without tzinfo, to the microsecond."""
    if _frozen_at is not None:
        return _frozen_at
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def today() -> dt.date:
    return now().date()


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    """Freeze `now()` at `at` (naive UTC) for the duration of the block."""
    global _frozen_at
    cell = [at]
    with _lock:
        _freezes.append(cell)
        _frozen_at = at
    try:
        yield
    finally:
        with _lock:
            del _freezes[next(i for i, c in enumerate(_freezes) if c is cell)]
            _frozen_at = _freezes[-1][0] if _freezes else None


def advance(delta: dt.timedelta) -> None:
    """Move a frozen clock forward; only meaningful inside `frozen()`."""
    global _frozen_at
    with _lock:
        if not _freezes:
            raise RuntimeError("advance() needs a frozen clock")
        _freezes[-1][0] += delta
        _frozen_at = _freezes[-1][0]


def last_seen(moment: dt.datetime | None) -> str:
    """ "Online now", "Active 5 minutes ago", … for a last-activity time."""
    if moment is None:
        return "Not active recently"
    seconds = (now() - moment).total_seconds()
    if seconds < 5 * 60:
        return "Online now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            if unit == "day" and count > 30:
                return "Active more than a month ago"
            return f"Active {count} {unit}{'s' if count != 1 else ''} ago"
    return "Online now"
