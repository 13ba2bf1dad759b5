"""The audit log: security-relevant and admin actions, append-only (SPEC §9)."""

from __future__ import annotations

from flask import has_request_context, request

from extensions import db
from models import AuditLog


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
