"""Dating (docs/dating.md): profiles, photos, match answers, likes and matches, blocks, reports,
notifications."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock, geo
from extensions import db
from models.checks import one_of
from models.user import User

GENDERS = ("woman", "man", "nonbinary")


# ix_profiles_discover, and ix_profiles_recent after its week: the genders sought and the grid
# cells of the box (two short IN lists), then the range of birth dates, then the position and
# the flags checked inside the index (on PostgreSQL both also carry user_id, so the scan need
# not visit the table).
DISCOVER_COLUMNS = (
    "gender",
    "geo_cell",
    "date_of_birth",
    "latitude",
    "longitude",
    "discoverable",
    "user_active",
    "active_at",
)


class Profile(db.Model):
    """One per user who has one. Coordinates are rounded to 0.01° (about 1 km) when stored and
    are never shown; `date_of_birth` is copied from the user so that discovery can filter by
    age in the same index as place."""

    __tablename__ = "profiles"
    __table_args__ = (
        CheckConstraint("gender IS NULL OR gender IN ('woman', 'man', 'nonbinary')", name="gender"),
        CheckConstraint("age_min >= 18 AND age_max <= 120 AND age_min <= age_max", name="ages"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
        # The bounding-box prefilter of discovery (DISCOVER_COLUMNS).
        Index("ix_profiles_discover", *DISCOVER_COLUMNS, postgresql_include=["user_id"]),
        # The match pool (sort by match %, discover.py): the weeks of recency first, so that
        # listing the recent weeks newest first reads the people nearby in recency order, a
        # week at a time, and stops once the pool is full.
        Index(
            "ix_profiles_recent",
            "active_week",
            *DISCOVER_COLUMNS,
            postgresql_include=["user_id"],
        ),
        Index("ix_profiles_dob", "date_of_birth"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    gender: Mapped[str | None] = mapped_column(String(12))
    seeking: Mapped[str] = mapped_column(String(40), default="woman,man,nonbinary")
    age_min: Mapped[int] = mapped_column(default=18)
    age_max: Mapped[int] = mapped_column(default=99)
    bio: Mapped[str] = mapped_column(Text, default="")
    date_of_birth: Mapped[dt.date]
    city_id: Mapped[int | None]
    place_name: Mapped[str | None] = mapped_column(String(120))
    country_code: Mapped[str | None] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # The grid cell of the position (core/geo.py), computed by the database (migration
    # 0016 has each dialect's expression; this one is SQLite's).
    geo_cell: Mapped[int | None] = mapped_column(Computed(geo.CELL_SQL_SQLITE))
    # Copies of the account's state and recency, kept by database triggers (migration 0017)
    # whenever users.status or users.last_active_at changes, so that discover can rank the
    # people nearby by recency from ix_profiles_discover alone. `active_at` follows
    # users.last_active_at in steps of ACTIVITY_STEP (a copy rewritten every minute would
    # rewrite the index every minute); it never runs ahead of it.
    user_active: Mapped[bool | None]
    active_at: Mapped[dt.datetime | None]
    # The week of active_at (days since 1970-01-01 // 7, by the same triggers), or 0 once that
    # week is more than discover.RECENT_WEEKS old (discover.settle_recent_weeks) or when never
    # active: ordering by (active_week, active_at) is ordering by active_at.
    active_week: Mapped[int | None]
    photo_count: Mapped[int] = mapped_column(default=0)
    is_creator: Mapped[bool] = mapped_column(default=False)
    is_verified: Mapped[bool] = mapped_column(default=False)
    is_photo_verified: Mapped[bool] = mapped_column(default=False)  # users.photo_verified_at
    discoverable: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    user: Mapped[User] = relationship()
    interests: Mapped[list[ProfileInterest]] = relationship(
        cascade="all, delete-orphan", order_by="ProfileInterest.tag"
    )

    @property
    def seeking_list(self) -> list[str]:
        return [g for g in (self.seeking or "").split(",") if g]


class ProfileInterest(db.Model):
    __tablename__ = "profile_interests"
    __table_args__ = (
        UniqueConstraint("user_id", "tag", name="uq_profile_interests_user_tag"),
        Index("ix_profile_interests_tag_user_id", "tag", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("profiles.user_id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(32))


class Photo(db.Model):
    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_user_id_position", "user_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    media_id: Mapped[int] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), unique=True
    )
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    width: Mapped[int]
    height: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class MatchAnswer(db.Model):
    """My answer to a question of the bank: my choice, the choices I accept from others (a bit
    mask over choice numbers), and how much it matters (0, 1, 10, 50, 250)."""

    __tablename__ = "match_answers"
    __table_args__ = (
        UniqueConstraint("user_id", "question_id", name="uq_match_answers_user_question"),
        Index("ix_match_answers_question_id_user_id", "question_id", "user_id"),
        # Match % reads a few answers of hundreds of people: all from the index, each
        # person's answers side by side, none from the table.
        Index(
            "ix_match_answers_scoring",
            "user_id",
            "question_id",
            "choice",
            "acceptable",
            "importance",
        ),
        CheckConstraint("importance IN (0, 1, 10, 50, 250)", name="importance"),
        CheckConstraint("choice BETWEEN 0 AND 3 AND acceptable BETWEEN 1 AND 15", name="choice"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(8))
    choice: Mapped[int]
    acceptable: Mapped[int]
    importance: Mapped[int]
    answered_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Like(db.Model):
    """A like or a pass from one user to another; two likes make a match."""

    __tablename__ = "likes"
    __table_args__ = (
        UniqueConstraint("liker_id", "liked_id", name="uq_likes_pair"),
        Index("ix_likes_liked_id_liker_id", "liked_id", "liker_id"),
        CheckConstraint("liker_id <> liked_id", name="not_self"),
        CheckConstraint("kind IN ('like', 'pass')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    liker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    liked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Match(db.Model):
    """A mutual like; `user_a_id` < `user_b_id` so that a pair has exactly one row."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("user_a_id", "user_b_id", name="uq_matches_pair"),
        CheckConstraint("user_a_id < user_b_id", name="ordered"),
        Index("ix_matches_user_b_id", "user_b_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_a_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class Block(db.Model):
    __tablename__ = "blocks"
    __table_args__ = (
        UniqueConstraint("blocker_id", "blocked_id", name="uq_blocks_pair"),
        Index("ix_blocks_blocked_id", "blocked_id"),
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    blocker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    blocked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class ReportStatus(StrEnum):
    OPEN = "open"
    ACTIONED = "actioned"  # the moderator acted on it (removed, warned, suspended, banned)
    DISMISSED = "dismissed"


class Report(db.Model):
    """A report for the moderation queue: who, about whom, why, and the reported object."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("reporter_id", "subject_type", "subject_id", name="uq_reports_once"),
        one_of("status", ReportStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reported_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    subject_type: Mapped[str] = mapped_column(String(24))  # profile, photo, message, …
    subject_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    details: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=ReportStatus.OPEN, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    # The moderator's decision: dismiss, remove, warn, suspend or ban, and a note.
    outcome: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[dt.datetime | None]


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(300))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    read_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)


class TakedownStatus(StrEnum):
    OPEN = "open"
    REMOVED = "removed"  # the content was taken down
    REJECTED = "rejected"  # the notice was rejected


class Takedown(db.Model):
    """A copyright (DMCA) takedown notice: anyone may file one, with the fields the law needs;
    an admin removes the content or rejects the notice, and the claimant gets a reply."""

    __tablename__ = "takedowns"
    __table_args__ = (one_of("status", TakedownStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claimant_name: Mapped[str] = mapped_column(String(120))
    claimant_email: Mapped[str] = mapped_column(String(254))
    content_url: Mapped[str] = mapped_column(String(500))
    original_work: Mapped[str] = mapped_column(Text)
    good_faith: Mapped[bool]
    signature: Mapped[str] = mapped_column(String(120))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject_type: Mapped[str | None] = mapped_column(String(24))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=TakedownStatus.OPEN, index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
