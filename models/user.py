"""Accounts: users, their server-side login sessions and single-use email tokens."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from extensions import db
from models.checks import one_of


class Role(StrEnum):
    """What a member may do beyond their own account (docs/security.md#roles)."""

    FAN = "fan"  # every member, creators included
    MODERATOR = "moderator"  # reports, review queues, identity checks; no money, no exports
    ADMIN = "admin"  # everything


class Theme(StrEnum):
    """How the pages look: as the device is set, or always light or dark."""

    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


class UserStatus(StrEnum):
    """An account's state (docs/security.md#account-states)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # read-only: can log in and read, cannot write
    BANNED = "banned"
    DELETED = "deleted"  # personal data erased; the row stays for the ledger


GONE = (UserStatus.BANNED, UserStatus.DELETED)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        one_of("role", Role),
        one_of("theme", Theme),
        one_of("status", UserStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(60))
    date_of_birth: Mapped[dt.date]
    role: Mapped[str] = mapped_column(String(16), default="fan")
    is_creator: Mapped[bool] = mapped_column(default=False)
    creator_verified_at: Mapped[dt.datetime | None]
    # A dater's photo check passed (docs/identity.md#photo-verified-daters); cleared when the
    # main photo changes.
    photo_verified_at: Mapped[dt.datetime | None]
    # An identity document showed an adult (an age or identity check passed): adult content
    # opens where an age check is required (docs/identity.md#age-assurance).
    age_verified_at: Mapped[dt.datetime | None]
    # A creator whose content is all adult (set by the creator or by staff); a post may also be
    # marked adult on its own (posts.adult).
    adult_content: Mapped[bool] = mapped_column(default=False)
    adult_by_staff: Mapped[bool] = mapped_column(default=False)  # the creator cannot unmark it
    theme: Mapped[str] = mapped_column(String(8), default=Theme.SYSTEM)  # Settings → Account
    email_verified_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    last_active_at: Mapped[dt.datetime | None]
    # Account deletion (docs/security.md#account-deletion): asked for at `delete_requested_at`,
    # undoable until `delete_after`, when the worker erases personal data.
    delete_requested_at: Mapped[dt.datetime | None]
    delete_after: Mapped[dt.datetime | None] = mapped_column(index=True)
    # Two-factor authentication (docs/security.md#two-factor-authentication). `totp_last_step` is
    # the last 30-second step a code was accepted for: a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    sessions: Mapped[list[UserSession]] = relationship(back_populates="user")

    # flask-login: a banned or deleted account is never "active", so it cannot log in.
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.status in (UserStatus.ACTIVE, UserStatus.SUSPENDED)

    @hybrid_property
    def is_gone(self) -> bool:
        """Banned or deleted: nobody may reach this account any more."""
        return self.status in GONE

    @is_gone.inplace.expression
    @classmethod
    def _is_gone_expression(cls):
        return cls.status.in_(GONE)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def outranks(self, other: User) -> bool:
        """Whether this member may act on `other`'s account (suspend, ban, log out, judge a
        report about them): staff act on members, only admins act on staff, nobody on
        themselves (docs/security.md#roles)."""
        if self.id == other.id or not self.is_staff:
            return False
        return self.is_admin or not other.is_staff

    @property
    def is_staff(self) -> bool:
        """A moderator or an admin: the console's review queues are theirs."""
        return self.role in (Role.MODERATOR, Role.ADMIN)

    @property
    def has_2fa(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_suspended(self) -> bool:
        return self.status == UserStatus.SUSPENDED

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def age(self) -> int:
        return age_on(self.date_of_birth, clock.today())

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years between a birth date and `day` (a 29 February birthday counts on 1 March)."""
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


class UserSession(db.Model):
    """One row per login; the browser holds only a random token whose hash is stored here."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user_id_revoked_at", "user_id", "revoked_at"),
        Index("ix_user_sessions_ip_created_at", "ip", "created_at"),  # risk: accounts per IP
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(60))

    user: Mapped[User] = relationship(back_populates="sessions")


class EmailToken(db.Model):
    """A single-use link token (email verification, password reset); only its hash is kept."""

    __tablename__ = "email_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'login_code')", name="purpose"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()


class DataExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"  # downloadable until expires_at
    FAILED = "failed"
    EXPIRED = "expired"  # its file deleted


class DataExport(db.Model):
    """ "Export my data": a JSON file built by the worker, with progress, kept for a few days."""

    __tablename__ = "data_exports"
    __table_args__ = (one_of("status", DataExportStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=DataExportStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)  # 0–100
    storage_key: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]

    @hybrid_property
    def is_in_progress(self) -> bool:
        return self.status in (DataExportStatus.QUEUED, DataExportStatus.RUNNING)

    @is_in_progress.inplace.expression
    @classmethod
    def _is_in_progress_expression(cls):
        return cls.status.in_((DataExportStatus.QUEUED, DataExportStatus.RUNNING))
