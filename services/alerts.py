"""Admin → Alerts: fraud alerts (docs/security.md#risk-engine) and payment alerts
(docs/payments.md#alerts) triaged by admins, with notes."""

from __future__ import annotations

from sqlalchemy import func, select

from core import clock
from core.errors import NotFound, ValidationFailed
from extensions import db
from models import Alert, AlertNote, AlertStatus, User
from services import audit

NOTE_MAX = 5000
NOTE_TOO_LONG = f"Keep the note under {NOTE_MAX:,} characters."

STATUSES = {
    AlertStatus.OPEN: "Open",
    AlertStatus.INVESTIGATING: "Investigating",
    AlertStatus.RESOLVED: "Resolved",
    AlertStatus.FALSE_POSITIVE: "False positive",
}


def listing(
    status: str | None = AlertStatus.OPEN, kind: str | None = None, limit: int = 200
) -> list[tuple[Alert, User | None]]:
    query = select(Alert, User).outerjoin(User, User.id == Alert.user_id)
    if status:
        query = query.where(Alert.status == status)
    if kind:
        query = query.where(Alert.kind == kind)
    rows = db.session.execute(query.order_by(Alert.id.desc()).limit(limit)).all()
    return [(alert, user) for alert, user in rows]


def kinds() -> list[tuple[str, int]]:
    return [
        (kind, count)
        for kind, count in db.session.execute(
            select(Alert.kind, func.count(Alert.id)).group_by(Alert.kind).order_by(Alert.kind)
        ).all()
    ]


def get(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("There is no such alert.")
    return alert


def notes(alert_id: int) -> list[tuple[AlertNote, User | None]]:
    rows = db.session.execute(
        select(AlertNote, User)
        .outerjoin(User, User.id == AlertNote.author_id)
        .where(AlertNote.alert_id == alert_id)
        .order_by(AlertNote.id)
    ).all()
    return [(note, author) for note, author in rows]


def triage(admin: User, alert_id: int, status: AlertStatus | None, body: str) -> Alert:
    """Add a note, change the status (None: keep it), or both. One transaction, audited."""
    alert = get(alert_id)
    body = body.strip()
    if len(body) > NOTE_MAX:
        raise ValidationFailed({"body": NOTE_TOO_LONG})
    if status is not None and status not in STATUSES:
        raise ValidationFailed({"status": "Choose a status."})
    changed = status is not None and status != alert.status
    if not changed and not body:
        raise ValidationFailed({"body": "Write a note or change the status."})
    if status in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE) and changed and not body:
        raise ValidationFailed({"body": "Say how it was resolved."})
    db.session.add(
        AlertNote(
            alert_id=alert.id,
            author_id=admin.id,
            body=body,
            from_status=alert.status if changed else None,
            to_status=status if changed else None,
            created_at=clock.now(),
        )
    )
    previous = alert.status
    if changed:
        alert.status = status
    audit.record(
        "alert.triaged",
        actor_id=admin.id,
        target=("alert", alert.id),
        note=body or None,
        **({"from": previous, "to": status} if changed else {}),
    )
    db.session.commit()
    return alert
