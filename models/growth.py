"""Creator growth (docs/creators.md#growth-tools): free-trial links, promotions and referrals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db


class TrialLink(db.Model):
    """`/trial/<code>`: N days free, for up to `max_uses` fans, until `expires_at`."""

    __tablename__ = "trial_links"
    __table_args__ = (
        CheckConstraint("days BETWEEN 1 AND 90", name="days"),
        CheckConstraint("max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name="uses"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    days: Mapped[int]
    max_uses: Mapped[int]
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class TrialUse(db.Model):
    """A fan used a trial of a creator: once per fan and creator, whatever the link."""

    __tablename__ = "trial_uses"
    __table_args__ = (UniqueConstraint("fan_id", "creator_id", name="uq_trial_uses_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("trial_links.id", ondelete="CASCADE"))
    fan_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    used_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Promotion(db.Model):
    """A discount on the first period for new or lapsed subscribers, between two dates."""

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("audience IN ('new', 'lapsed', 'both')", name="audience"),
        CheckConstraint("discount_bps BETWEEN 100 AND 9000", name="discount"),
        CheckConstraint("ends_at > starts_at", name="dates"),
        Index("ix_promotions_creator_id_ends_at", "creator_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(8))
    discount_bps: Mapped[int]
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Referral(db.Model):
    """`referrer` brought `referred`; for `REFERRAL_MONTHS` from `started_at` the referrer earns
    `REFERRAL_BPS` of what the referred creator earns, paid by the platform."""

    __tablename__ = "referrals"
    __table_args__ = (CheckConstraint("referrer_id <> referred_id", name="not_self"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    referred_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    ends_at: Mapped[dt.datetime]
