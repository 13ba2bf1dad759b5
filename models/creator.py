"""The creator economy (docs/creators.md): posts, unlocks, subscriptions, tips and mass messages.

Money never lives here: every payment is a ledger transfer, and these rows point at it
(`transfer_id`) so a page can show what was paid and an admin can trace it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of

MAX_PRICE = 100_000  # credits; far above any real price, refuses typos like 1000000


class PostStatus(StrEnum):
    SCHEDULED = "scheduled"  # goes live at publish_at
    PUBLISHED = "published"
    DELETED = "deleted"  # soft-deleted: unlocks still point at it
    REVIEW = "review"  # waiting for a reviewer (docs/creators.md#content-review)
    REJECTED = "rejected"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    GRACE = "grace"  # a renewal failed; access kept until grace_until
    LAPSED = "lapsed"
    ENDED = "ended"


LIVE_SUBSCRIPTION = (SubscriptionStatus.ACTIVE, SubscriptionStatus.GRACE)


class MassMessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"


class Post(db.Model):
    """A creator's post. `ppv` posts have a price; `subscribers` posts need a subscription."""

    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint("visibility IN ('public', 'subscribers', 'ppv')", name="visibility"),
        one_of("status", PostStatus),
        CheckConstraint(
            f"(visibility = 'ppv' AND price > 0 AND price <= {MAX_PRICE})"
            " OR (visibility <> 'ppv' AND price = 0)",
            name="price",
        ),
        Index("ix_posts_creator_id_published_at", "creator_id", "published_at", "id"),
        Index("ix_posts_status_publish_at", "status", "publish_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(12), default="public")
    price: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default=PostStatus.PUBLISHED)
    publish_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    published_at: Mapped[dt.datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)  # why a reviewer rejected it
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    # Adult content: where an age check is required, only the age-checked see it
    # (docs/identity.md#age-assurance). All of a creator's posts are, with users.adult_content.
    adult: Mapped[bool] = mapped_column(default=False)


class PostMedia(db.Model):
    """Media of a post, in order. The media object stays in the creator's vault."""

    __tablename__ = "post_media"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)


class Unlock(db.Model):
    """A fan paid to see a PPV post or a PPV message: once per fan and thing."""

    __tablename__ = "unlocks"
    __table_args__ = (
        UniqueConstraint("user_id", "post_id", name="uq_unlocks_post"),
        UniqueConstraint("user_id", "message_id", name="uq_unlocks_message"),
        CheckConstraint("(post_id IS NULL) <> (message_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    price: Mapped[int]
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id", ondelete="RESTRICT"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Subscription(db.Model):
    """One row per fan and creator, reused when a fan subscribes again.

    active → (period end, paid) active · (period end, short of credits) grace → paid: active,
    or after the grace days: lapsed · (cancelled) active until the period end → ended.
    `periods` counts paid periods; the next charge's idempotency key is built from it, so a
    period is charged once whatever retries or races happen.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("fan_id", "creator_id", name="uq_subscriptions_pair"),
        one_of("status", SubscriptionStatus),
        CheckConstraint(f"price >= 0 AND price <= {MAX_PRICE}", name="price"),
        Index("ix_subscriptions_creator_id_status", "creator_id", "status"),
        Index("ix_subscriptions_status_current_period_end", "status", "current_period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fan_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=SubscriptionStatus.ACTIVE)
    price: Mapped[int] = mapped_column(default=0)
    periods: Mapped[int] = mapped_column(default=0)
    current_period_start: Mapped[dt.datetime]
    current_period_end: Mapped[dt.datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    trial_until: Mapped[dt.datetime | None]  # a free trial runs until then, then renews paid
    grace_until: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @hybrid_property
    def is_live(self) -> bool:
        """Active or in grace: it renews, and (in grace, until grace_until) gives access."""
        return self.status in LIVE_SUBSCRIPTION

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls):
        return cls.status.in_(LIVE_SUBSCRIPTION)


class Tip(db.Model):
    """A tip with an optional note, on a creator's profile, a post or a message."""

    __tablename__ = "tips"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("target_type IN ('profile', 'post', 'message')", name="target_type"),
        Index("ix_tips_creator_id_id", "creator_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fan_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int]
    note: Mapped[str | None] = mapped_column(String(200))
    target_type: Mapped[str] = mapped_column(String(10), default="profile")
    target_id: Mapped[int | None]
    transfer_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transfers.id", ondelete="RESTRICT"), unique=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class MassMessage(db.Model):
    """A message to every subscriber, sent by the worker in batches.

    `cursor` is the last fan id written; it is committed with each batch of messages, so a
    worker killed mid-way resumes where it stopped and nobody gets the message twice.
    """

    __tablename__ = "mass_messages"
    __table_args__ = (
        one_of("status", MassMessageStatus),
        CheckConstraint(f"price >= 0 AND price <= {MAX_PRICE}", name="price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_objects.id", ondelete="SET NULL")
    )
    price: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default=MassMessageStatus.QUEUED)
    audience: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    cursor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[dt.datetime | None]
