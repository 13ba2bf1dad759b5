"""Appeals (docs/security.md#appeals): a member's one appeal against a decision about them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class AppealSubject(StrEnum):
    ACCOUNT = "account"  # a suspension or a ban; subject_ref: the audit row that recorded it
    VERIFICATION = "verification"  # a rejected check; subject_ref: the request


class AppealStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the decision stands
    OVERTURNED = "overturned"  # the account reactivated, the check approved


class Appeal(db.Model):
    __tablename__ = "appeals"
    __table_args__ = (
        one_of("subject", AppealSubject),
        one_of("status", AppealStatus),
        # Once per decision, whatever two tabs do at once.
        UniqueConstraint("user_id", "subject", "subject_ref"),
        Index("ix_appeals_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(14))
    subject_ref: Mapped[int]
    decision: Mapped[str] = mapped_column(String(500))  # the decision as the member was told it
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=AppealStatus.OPEN)
    outcome: Mapped[str | None] = mapped_column(Text)  # the moderator's answer, mailed
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[dt.datetime | None]
