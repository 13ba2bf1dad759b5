"""Random chat (docs/dating.md#random-chat): who was paired with whom, and what they wrote (kept for
reports)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class RandomSession(db.Model):
    __tablename__ = "random_sessions"
    __table_args__ = (
        CheckConstraint("user_a_id <> user_b_id", name="two_people"),
        Index("ix_random_sessions_user_a_id_id", "user_a_id", "id"),
        Index("ix_random_sessions_user_b_id_id", "user_b_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_a_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shared_tags: Mapped[list] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    ended_at: Mapped[dt.datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def other(self, user_id: int) -> int:
        return self.user_b_id if user_id == self.user_a_id else self.user_a_id


class RandomMessage(db.Model):
    __tablename__ = "random_messages"
    __table_args__ = (Index("ix_random_messages_session_id_id", "session_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("random_sessions.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now, index=True)


class CallStatus(StrEnum):
    REQUESTED = "requested"  # ringing
    ACTIVE = "active"
    ENDED = "ended"
    DECLINED = "declined"
    EXPIRED = "expired"  # not answered in time
    CANCELLED = "cancelled"  # hung up before an answer, or the fan ran out of credits


OPEN_CALL = (CallStatus.REQUESTED, CallStatus.ACTIVE)


class Call(db.Model):
    """A paid call with a creator at their per-minute price (docs/dating.md#paid-calls).

    requested → active → ended · requested → declined | expired | cancelled. Money: holds placed
    on the fan's wallet with reference ("call", id), settled when the call ends.
    """

    __tablename__ = "calls"
    __table_args__ = (
        one_of("status", CallStatus),
        CheckConstraint("price_per_minute > 0", name="price"),
        Index("ix_calls_creator_id_status", "creator_id", "status"),
        Index("ix_calls_fan_id_status", "fan_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fan_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    price_per_minute: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default=CallStatus.REQUESTED)
    requested_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    last_seen_fan: Mapped[dt.datetime | None]
    last_seen_creator: Mapped[dt.datetime | None]
    held_minutes: Mapped[int] = mapped_column(default=0)
    charged_minutes: Mapped[int | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    @hybrid_property
    def is_open(self) -> bool:
        """Ringing or under way."""
        return self.status in OPEN_CALL

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls):
        return cls.status.in_(OPEN_CALL)
