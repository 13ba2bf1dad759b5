"""The database session's life at the edges: a socket's frames and the error handlers. A service
commits or raises; these roll back after a refusal or a fault, and give the connection back to
the pool between a socket's frames (a socket that sleeps for hours must not hold one); and a
request's count of commits (`commits`), for what a page read before them. No queries:
blueprints use these, never `db.session` (docs/architecture.md#layers)."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import db


def rollback() -> None:
    """Undo what the session holds that was not committed (after a refusal or a fault)."""
    db.session.rollback()


def release() -> None:
    """End the session: roll back what is open and give its connection back to the pool. The
    next use starts a new one."""
    db.session.remove()


def commits() -> int:
    """How many times this request has committed so far (`count_commits`)."""
    return g.get("amora_commits", 0)


def _count_commit(_session) -> None:
    if has_request_context():
        g.amora_commits = g.get("amora_commits", 0) + 1


def count_commits() -> None:
    """Count each request's commits from now on (once per process; idempotent)."""
    if not event.contains(Session, "after_commit", _count_commit):
        event.listen(Session, "after_commit", _count_commit)
