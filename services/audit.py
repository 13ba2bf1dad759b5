"""The audit log: security-relevant and admin actions, append-only (docs/security.md#audit-log)."""

from __future__ import annotations

from flask import has_request_context, request
from sqlalchemy import false, func, select

from extensions import db
from models import AuditLog, User
from services.input import parse_id


def record(
    action: str,
    *,
    actor_id: int | None,
    target: tuple[str, object] | None = None,
    note: str | None = None,
    **detail,
) -> AuditLog:
    """Add an audit row to the current transaction (the caller commits with its change)."""
    row = AuditLog(
        actor_id=actor_id,
        action=action,
        target_type=target[0] if target else None,
        target_id=str(target[1]) if target else None,
        ip=request.remote_addr if has_request_context() else None,
        note=note,
        detail=detail,
    )
    db.session.add(row)
    return row


def search(
    *,
    action: str = "",
    actor: str = "",
    target: str = "",
    since=None,
    until=None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[tuple[AuditLog, object]]:
    """The audit log, newest first, filtered: `action` is a prefix ("payout." finds them all),
    `actor` an id or an email fragment, `target` "type" or "type:id"."""

    query = select(AuditLog, User).outerjoin(User, User.id == AuditLog.actor_id)
    if action.strip():
        query = query.where(AuditLog.action.startswith(action.strip()))
    if actor.strip():
        text = actor.strip()
        if text.isdigit():  # an id past any row's matches nothing
            actor_id = parse_id(text)
            query = query.where(AuditLog.actor_id == actor_id if actor_id else false())
        else:
            query = query.where(func.lower(User.email).contains(text.lower()))
    if target.strip():
        kind, _, ident = target.strip().partition(":")
        query = query.where(AuditLog.target_type == kind)
        if ident:
            query = query.where(AuditLog.target_id == ident)
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    if until is not None:
        query = query.where(AuditLog.created_at < until)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    rows = db.session.execute(query.order_by(AuditLog.id.desc()).limit(limit)).all()
    return [(row, user) for row, user in rows]
