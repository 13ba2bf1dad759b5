"""Identity checks (docs/identity.md): verification requests and the sealed files they hold.

A creator's request holds an identity document (front and back) and a selfie taken with the
camera in the page; a dater's photo check holds the selfie alone. Every file is sealed
(core/sealed.py) before it reaches storage: a `SealedFile` row keeps the storage key and the
data key wrapped by the master key, never the plaintext.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from extensions import db
from models.checks import one_of


class VerificationKind(StrEnum):
    CREATOR = "creator"  # an identity document and a selfie: opens selling and payouts
    AGE = "age"  # the same, for a viewer: adult content where the law asks for an age check
    PHOTO = "photo"  # a selfie compared with the profile's photos: the dater's badge


class VerificationStatus(StrEnum):
    PENDING = "pending"  # waiting for a reviewer (or the identity provider's result)
    APPROVED = "approved"
    REJECTED = "rejected"


class DocumentType(StrEnum):
    PASSPORT = "passport"
    ID_CARD = "id_card"
    DRIVING_LICENCE = "driving_licence"


class SealedFileRole(StrEnum):
    DOCUMENT_FRONT = "document_front"
    DOCUMENT_BACK = "document_back"
    SELFIE = "selfie"
    RELEASE_ID = "release_id"  # a co-performer's identity document
    RELEASE_FORM = "release_form"  # the release they signed


class CoPerformerKind(StrEnum):
    MEMBER = "member"  # a verified creator here, who accepts the tag
    RELEASE = "release"  # someone else, covered by a release a reviewer checks


class CoPerformerStatus(StrEnum):
    PENDING = "pending"  # waiting for the member's answer or a reviewer
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # declined by the member, or the release refused
    REVOKED = "revoked"  # consent withdrawn: the item is taken down everywhere


class VerificationRequest(db.Model):
    __tablename__ = "verification_requests"
    __table_args__ = (
        one_of("kind", VerificationKind),
        one_of("status", VerificationStatus),
        one_of("document_type", DocumentType),
        # One request of a kind waits at a time: a second submission while one is pending fails
        # in the database too, whatever two browser tabs do at once.
        Index(
            "ux_verification_requests_pending",
            "user_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_verification_requests_status_submitted_at", "status", "submitted_at"),
        Index("ix_verification_requests_purge_after", "purge_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=VerificationStatus.PENDING)
    document_type: Mapped[str | None] = mapped_column(String(20))
    # The pose shown on screen when the selfie was taken; the reviewer checks the selfie shows it
    # (none when an identity service takes the check).
    gesture: Mapped[str | None] = mapped_column(String(120))
    # Who decides: "manual" (the review queue) or an identity service (services/
    # identity_providers.py), whose session id is `provider_ref`.
    provider: Mapped[str] = mapped_column(String(20), default="manual")
    provider_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[dt.datetime | None]
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)  # a rejection's reason: the member sees it
    # The files go this long after the decision (VERIFICATION_RETENTION_DAYS); the row and its
    # facts (who decided what, when, on which document type) stay for compliance records.
    purge_after: Mapped[dt.datetime | None]
    files_deleted_at: Mapped[dt.datetime | None]

    files: Mapped[list[SealedFile]] = relationship(
        back_populates="request", order_by="SealedFile.id", cascade="all, delete-orphan"
    )


class CoPerformer(db.Model):
    """Someone other than the creator shown in a vault item (docs/identity.md#co-performers).
    The item may be published, sent or sold only while every one of its co-performers is
    accepted; the row outlives the item (SET NULL), as the record of who appeared."""

    __tablename__ = "co_performers"
    __table_args__ = (
        one_of("kind", CoPerformerKind),
        one_of("status", CoPerformerStatus),
        CheckConstraint(
            "(kind = 'member' AND performer_id IS NOT NULL)"
            " OR (kind = 'release' AND legal_name IS NOT NULL)",
            name="who",
        ),
        Index("ix_co_performers_media_id", "media_id"),
        # A person named once per item while the name stands (two tags at once: one row).
        Index(
            "ux_co_performers_named",
            "media_id",
            "performer_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'accepted')"),
            postgresql_where=text("status IN ('pending', 'accepted')"),
        ),
        Index("ix_co_performers_performer_id_status", "performer_id", "status"),
        Index("ix_co_performers_status_kind", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int | None] = mapped_column(
        ForeignKey("media_objects.id", ondelete="SET NULL")
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    performer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    legal_name: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10), default=CoPerformerStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    decided_at: Mapped[dt.datetime | None]
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    files: Mapped[list[SealedFile]] = relationship(
        back_populates="co_performer", order_by="SealedFile.id", cascade="all, delete-orphan"
    )


class SealedFile(db.Model):
    """A file encrypted at rest: `key` in storage holds the sealed bytes; `wrapped_key` is its
    data key wrapped by a master key, as `"<master key id>:<base64>"` (core/sealed.py). It
    belongs to a verification request or to a co-performer's release."""

    __tablename__ = "sealed_files"
    __table_args__ = (
        one_of("role", SealedFileRole),
        CheckConstraint("(request_id IS NULL) <> (co_performer_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("verification_requests.id", ondelete="CASCADE"), index=True
    )
    co_performer_id: Mapped[int | None] = mapped_column(
        ForeignKey("co_performers.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    wrapped_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    request: Mapped[VerificationRequest | None] = relationship(back_populates="files")
    co_performer: Mapped[CoPerformer | None] = relationship(back_populates="files")
