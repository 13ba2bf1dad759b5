"""Messaging (docs/dating.md#who-may-write-to-whom, docs/creators.md#paid-messages): 1:1
conversations and their messages; creators' prices."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db


class CreatorSettings(db.Model):
    """What a creator charges (docs/creators.md#creator-mode). Creator mode itself is switched on in
    settings."""

    __tablename__ = "creator_settings"
    __table_args__ = (
        CheckConstraint("message_price >= 0 AND message_price <= 100000", name="message_price"),
        CheckConstraint(
            "subscription_price >= 0 AND subscription_price <= 100000", name="subscription_price"
        ),
        CheckConstraint("call_price >= 0 AND call_price <= 100000", name="call_price"),
        CheckConstraint(
            "bundle_3_bps BETWEEN 0 AND 5000 AND bundle_6_bps BETWEEN 0 AND 5000"
            " AND bundle_12_bps BETWEEN 0 AND 5000",
            name="bundles",
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    headline: Mapped[str] = mapped_column(String(140), default="")
    message_price: Mapped[int] = mapped_column(default=0)
    subscription_price: Mapped[int] = mapped_column(default=0)  # per 30 days; 0 = free to follow
    call_price: Mapped[int] = mapped_column(default=0)  # per started minute
    # Bundles: months paid up front at a discount (basis points; 0 = not offered).
    bundle_3_bps: Mapped[int] = mapped_column(default=0)
    bundle_6_bps: Mapped[int] = mapped_column(default=0)
    bundle_12_bps: Mapped[int] = mapped_column(default=0)
    referral_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    watermark: Mapped[bool] = mapped_column(default=True)  # the handle on delivered images
    blocked_countries: Mapped[str] = mapped_column(String(300), default="")  # "DE,FR"
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Conversation(db.Model):
    """A pair of people; `user_a_id` < `user_b_id` so a pair has one conversation."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("user_a_id", "user_b_id", name="uq_conversations_pair"),
        CheckConstraint("user_a_id < user_b_id", name="ordered"),
        Index("ix_conversations_user_b_id", "user_b_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_a_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_message_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    def other(self, user_id: int) -> int:
        return self.user_b_id if user_id == self.user_a_id else self.user_a_id


class Message(db.Model):
    """Ids grow monotonically: a client that knows the last id it has can catch up."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_messages_recipient_id_id", "recipient_id", "id"),
        Index("ix_messages_sender_id_id", "sender_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    price: Mapped[int] = mapped_column(default=0)
    transfer_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transfers.id", ondelete="RESTRICT")
    )
    # Room for attachments: a media object, and a price to unlock it (PPV, creator issue).
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_objects.id", ondelete="SET NULL")
    )
    unlock_price: Mapped[int | None]
    mass_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("mass_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    read_at: Mapped[dt.datetime | None]

    # Not a column: after `messaging.send` of a paid message, the sender's wallet balance, read
    # in the same transaction (to show it without another query after the commit).
    sender_balance = None
