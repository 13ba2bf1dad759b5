"""The database session at the edges that outlive one request: a socket's frames and the error
handlers. A service commits or raises and leaves the rest to these (docs/architecture.md#layers):
roll back after a refusal or a fault, and give the connection back to the pool between frames
(a socket that sleeps for hours must not hold one)."""

from __future__ import annotations

from extensions import db


def rollback() -> None:
    """Undo what the session holds that was not committed (after a refusal or a fault)."""
    db.session.rollback()


def release() -> None:
    """End the session: roll back what is open and give its connection back to the pool. The
    next use starts a new one."""
    db.session.remove()
