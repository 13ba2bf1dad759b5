"""Orders for credit packs and the webhook events that move them (docs/payments.md#orders,
docs/payments.md#webhooks)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from extensions import db
from models.checks import one_of
from models.user import User


class OrderStatus(StrEnum):
    """A payment order's state (docs/payments.md#orders)."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


PROVIDERS = ("dev", "stripe", "razorpay")


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        one_of("status", OrderStatus),
        CheckConstraint("provider IN ('dev', 'stripe', 'razorpay')", name="provider"),
        CheckConstraint("credits > 0 AND amount_minor > 0", name="positive"),
        CheckConstraint("credits_refunded >= 0 AND credits_charged_back >= 0", name="reversed"),
        UniqueConstraint("provider", "provider_payment_id", name="uq_orders_provider_payment"),
        Index("ix_orders_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(String(16))
    pack_id: Mapped[str] = mapped_column(String(32))
    credits: Mapped[int]
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING, index=True)
    provider_order_id: Mapped[str | None] = mapped_column(String(200), index=True)
    provider_payment_id: Mapped[str | None] = mapped_column(String(200))
    credits_refunded: Mapped[int] = mapped_column(default=0)
    credits_charged_back: Mapped[int] = mapped_column(default=0)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    paid_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    user: Mapped[User] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status != OrderStatus.PENDING


class PaymentEvent(db.Model):
    """Every webhook we accepted (signature valid), once per provider event id."""

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_events_event"),
        Index("ix_payment_events_waiting", "provider", "payment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    # A refund or dispute that arrived before its payment (providers do not order their events)
    # waits here, outcome "waiting_for_payment", and is applied when the payment lands.
    payment_id: Mapped[str | None] = mapped_column(String(200))
    waiting_event: Mapped[dict | None] = mapped_column(JSON)
