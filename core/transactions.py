"""The database session's life at the edges: a socket's frames and the error handlers. A service
commits or raises; these roll back after a refusal or a fault, and give the connection back to
the pool between a socket's frames (a socket that sleeps for hours must not hold one). No
queries: blueprints use these, never `db.session` (docs/architecture.md#layers)."""

from __future__ import annotations

from extensions import db


def rollback() -> None:
    """Undo what the session holds that was not committed (after a refusal or a fault)."""
    db.session.rollback()


def release() -> None:
    """End the session: roll back what is open and give its connection back to the pool. The
    next use starts a new one."""
    db.session.remove()
