"""Your data: the export (docs/security.md#data-export).

"Export my data" is a JSON file built by the worker (`build_export`), with its progress on a
`DataExport` row that the settings page polls. What goes in it is declared area by area in
`services.personal_data.REGISTRY`. The file lives in media storage under a private key; the owner
downloads it through a short-lived signed URL for 7 days.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable

from sqlalchemy import select, update

from core import clock
from core.errors import DomainError, NotAllowed, NotFound
from extensions import db
from models import DataExport, User
from services import audit, media
from services.personal_data import REGISTRY
from services.personal_data.base import plain
from workers.queue import enqueue

log = logging.getLogger("amora.accounts")

EXPORT_FORMAT = "amora-export/1"
EXPORTS_PER_DAY = 3
EXPORT_KEEP = dt.timedelta(days=7)
EXPORT_STALE = dt.timedelta(hours=1)  # a queued/running export this old lost its job
EXPORT_URL_SECONDS = 300
EXPORT_FAILED = "Your export could not be prepared. Try again in a few minutes."


class TooManyExports(DomainError):
    status = 429


def export_data(user: User, progress: Callable[[int], None] | None = None) -> dict:
    """Everything Amora holds about the user, as plain JSON-able data: each area of the registry
    that exports adds its keys, in the registry's order. `progress(percent)` is called after
    each area (the worker commits it so the settings page can show it)."""
    data: dict = {"format": EXPORT_FORMAT, "exported_at": plain(clock.now())}
    parts = [area.export for area in REGISTRY if area.export is not None]
    for done, part in enumerate(parts, start=1):
        data.update(part(user))
        if progress is not None:
            progress(done * 100 // len(parts))
    return data


def _lock_user(user_id: int) -> None:
    """Serialize a user's own requests for the rest of the transaction: a no-op write to the
    user row takes its row lock on PostgreSQL and the write lock on SQLite, so reads that follow
    see what a concurrent request committed (two clicks cannot start two exports)."""
    db.session.execute(
        update(User).where(User.id == user_id).values(status=User.status),
        execution_options={"synchronize_session": False},
    )


def request_export(user: User) -> DataExport:
    """Start building an export on the worker, or return the one already under way.

    One export at a time per user; at most `EXPORTS_PER_DAY` a day (failed ones do not count).
    """
    if user.status == "deleted":
        raise NotAllowed("This account is deleted.")
    _lock_user(user.id)
    now = clock.now()
    under_way = db.session.scalars(
        select(DataExport)
        .where(DataExport.user_id == user.id, DataExport.status.in_(("queued", "running")))
        .order_by(DataExport.id.desc())
    ).all()
    for export in under_way:
        if export.created_at > now - EXPORT_STALE:
            db.session.rollback()
            return export
        export.status, export.error, export.finished_at = "failed", "never finished", now
    recent = db.session.scalars(
        select(DataExport.created_at)
        .where(
            DataExport.user_id == user.id,
            DataExport.created_at > now - dt.timedelta(days=1),
            DataExport.status != "failed",
        )
        .order_by(DataExport.created_at)
    ).all()
    if len(recent) >= EXPORTS_PER_DAY:
        db.session.rollback()
        again = recent[0] + dt.timedelta(days=1)
        raise TooManyExports(
            f"You can export your data {EXPORTS_PER_DAY} times a day. "
            f"Try again after {again:%d %b %H:%M} UTC."
        )
    export = DataExport(user_id=user.id, status="queued", progress=0, created_at=now)
    db.session.add(export)
    db.session.flush()
    enqueue(build_export, export.id)
    audit.record("data.export_requested", actor_id=user.id, target=("data_export", export.id))
    db.session.commit()
    return export


def build_export(export_id: int) -> str:
    """Worker: build the JSON, committing the progress as it goes, and store it privately.
    Safe to run again: a retried job starts over and replaces nothing but its own file."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.status not in ("queued", "running"):
        return "nothing to do"
    user = db.session.get(User, export.user_id)
    export.status, export.progress, export.error = "running", 0, None
    db.session.commit()

    def progress(percent: int) -> None:
        export.progress = min(percent, 99)  # 100 once the file is stored
        db.session.commit()

    key = None
    try:
        if user is None or user.status == "deleted":
            raise DomainError("the account is deleted")
        body = json.dumps(export_data(user, progress), indent=2, ensure_ascii=False).encode()
        # The random part keeps the key unguessable; the name is what the browser saves.
        name = f"amora-my-data-{clock.now():%Y-%m-%d}.json"
        key = f"u/{user.id}/exports/{secrets.token_hex(16)}/{name}"
        media.storage().write(key, body, "application/json")
        now = clock.now()
        export.storage_key, export.size = key, len(body)
        export.status, export.progress = "ready", 100
        export.finished_at, export.expires_at = now, now + EXPORT_KEEP
        db.session.commit()  # fails if the account was erased meanwhile (the row is gone)
    except Exception as exc:
        db.session.rollback()
        log.exception("data export %s failed", export_id)
        if key is not None:
            media.storage().delete(key)  # no file without a row that expires it
        export = db.session.get(DataExport, export_id)
        if export is not None:
            export.status, export.finished_at = "failed", clock.now()
            export.error = f"{type(exc).__name__}: {exc}"[:500]
            db.session.commit()
        return "failed"
    return "ready"


def get_export(user: User, export_id: int) -> DataExport:
    """One of the user's own exports; anyone else's is "not found"."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id:
        raise NotFound("There is no such export.")
    return export


def latest_export(user: User) -> DataExport | None:
    return db.session.scalars(
        select(DataExport).where(DataExport.user_id == user.id).order_by(DataExport.id.desc())
    ).first()


def export_url(user: User, export_id: int) -> str:
    """A signed download link for a ready export, valid for a few minutes."""
    export = get_export(user, export_id)
    if export.status == "ready" and export.expires_at and export.expires_at <= clock.now():
        raise DomainError("This export has expired. Prepare a new one.")
    if export.status != "ready" or not export.storage_key:
        raise DomainError(
            "This export has expired. Prepare a new one."
            if export.status == "expired"
            else "This export is not ready yet."
        )
    return media.storage().signed_url(export.storage_key, EXPORT_URL_SECONDS)


def expire_exports(now: dt.datetime | None = None) -> int:
    """Periodic job: delete the files of exports past their 7 days. Idempotent."""
    now = now or clock.now()
    expired = db.session.scalars(
        select(DataExport).where(DataExport.status == "ready", DataExport.expires_at <= now)
    ).all()
    for export in expired:
        if export.storage_key:
            media.storage().delete(export.storage_key)
        export.status, export.storage_key = "expired", None
    db.session.commit()
    return len(expired)
