"""Payouts (docs/payouts.md): where a creator is paid, each payout request, and its state
timeline."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class PayoutStatus(StrEnum):
    """A payout's state; the moves between them are services/payouts.py: TRANSITIONS."""

    REQUESTED = "requested"
    APPROVED = "approved"
    PROCESSING = "processing"  # claimed by the worker, sent (or being sent) to the provider
    PAID = "paid"
    FAILED = "failed"  # credits returned
    REJECTED = "rejected"  # credits returned


OPEN = (PayoutStatus.REQUESTED, PayoutStatus.APPROVED, PayoutStatus.PROCESSING)
METHOD_KINDS = ("stripe", "razorpayx", "manual")


class PayoutMethod(db.Model):
    """A Stripe Connect account, a RazorpayX fund account, or bank details paid by hand."""

    __tablename__ = "payout_methods"
    __table_args__ = (
        CheckConstraint("kind IN ('stripe', 'razorpayx', 'manual')", name="kind"),
        Index("ix_payout_methods_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    account_ref: Mapped[str | None] = mapped_column(String(64))  # acct_…, fa_…
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # manual: holder, account, code
    removed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Payout(db.Model):
    __tablename__ = "payouts"
    __table_args__ = (
        one_of("status", PayoutStatus),
        CheckConstraint("credits > 0", name="credits"),
        Index("ix_payouts_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_payouts_creator_id_id", "creator_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    method_id: Mapped[int] = mapped_column(ForeignKey("payout_methods.id", ondelete="RESTRICT"))
    method_kind: Mapped[str] = mapped_column(String(12))
    credits: Mapped[int]
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default=PayoutStatus.REQUESTED)
    risk_score: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    provider_ref: Mapped[str | None] = mapped_column(String(80))
    reference: Mapped[str | None] = mapped_column(String(120))  # a manual transfer's reference
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected or failed
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @hybrid_property
    def is_open(self) -> bool:
        """Not finished yet: its credits are still on their way out."""
        return self.status in OPEN

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls):
        return cls.status.in_(OPEN)


class PayoutEvent(db.Model):
    """One step of a payout's state machine, with who took it and why."""

    __tablename__ = "payout_events"
    __table_args__ = (Index("ix_payout_events_payout_id_id", "payout_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
