"""Alerts for admins (fraud, payment inconsistencies) and the append-only audit log."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class AlertStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


UNRESOLVED = (AlertStatus.OPEN, AlertStatus.INVESTIGATING)


class Alert(db.Model):
    """Something an admin must look at: a chargeback, a webhook whose amount did not match…"""

    __tablename__ = "alerts"
    __table_args__ = (
        one_of("status", AlertStatus),
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(8), default="medium")
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    summary: Mapped[str] = mapped_column(String(300))
    score: Mapped[int | None]
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now, index=True)

    @hybrid_property
    def is_unresolved(self) -> bool:
        return self.status in UNRESOLVED

    @is_unresolved.inplace.expression
    @classmethod
    def _is_unresolved_expression(cls):
        return cls.status.in_(UNRESOLVED)


class AuditLog(db.Model):
    """Who did what to whom, from where. Rows are only ever inserted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now, index=True)


class AlertNote(db.Model):
    """An admin's note on an alert, with the status change it came with (if any)."""

    __tablename__ = "alert_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class LedgerCheckStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # finished; its violations (maybe none) are stored
    FAILED = "failed"  # the check itself broke


class LedgerCheck(db.Model):
    """A reconciliation run (`flask ledger verify`, on the worker) with its progress."""

    __tablename__ = "ledger_checks"
    __table_args__ = (one_of("status", LedgerCheckStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default=LedgerCheckStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)  # 0–100
    violations: Mapped[list] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[dt.datetime | None]

    @hybrid_property
    def is_in_progress(self) -> bool:
        return self.status in (LedgerCheckStatus.QUEUED, LedgerCheckStatus.RUNNING)

    @is_in_progress.inplace.expression
    @classmethod
    def _is_in_progress_expression(cls):
        return cls.status.in_((LedgerCheckStatus.QUEUED, LedgerCheckStatus.RUNNING))
