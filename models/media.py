"""Media objects: every file a user uploads, from the pre-signed upload to its processing."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class MediaStatus(StrEnum):
    PENDING = "pending"  # upload URL handed out, nothing received yet
    UPLOADED = "uploaded"  # received, waiting for processing
    READY = "ready"  # processed: variants stored
    REJECTED = "rejected"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"  # a voice note


class MediaObject(db.Model):
    __tablename__ = "media_objects"
    __table_args__ = (
        one_of("status", MediaStatus),
        one_of("kind", MediaKind),
        Index("ix_media_objects_user_id_status", "user_id", "status"),
        # Abandoned uploads are found by their age (services/media.abort_abandoned_uploads).
        Index("ix_media_objects_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))  # photo, …
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default=MediaKind.IMAGE)
    content_type: Mapped[str] = mapped_column(String(40))
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int | None] = mapped_column(BigInteger)
    # A file sent in parts (videos): the store's id of the multipart upload while it is open,
    # and the size the browser declared (every part but the last is storage.PART_BYTES).
    upload_id: Mapped[str | None] = mapped_column(String(200))
    declared_size: Mapped[int | None] = mapped_column(BigInteger)
    # Processing on the worker: how far it is (per cent) and when it last said so (processing
    # silent for media.STALLED_PROCESSING has failed for good, and the item says so).
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    progress_at: Mapped[dt.datetime | None]
    duration_ms: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default=MediaStatus.PENDING)
    variants: Mapped[dict] = mapped_column(JSON, default=dict)  # name → storage key
    width: Mapped[int | None]
    height: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    # Consent (docs/creators.md#consent): does it show anyone besides the creator, and did they
    # attest consent.
    shows_others: Mapped[bool] = mapped_column(default=False)
    consent_attested_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
