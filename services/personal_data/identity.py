"""Identity checks (docs/identity.md#retention): the facts of each request are exported and kept;
the documents and selfies are deleted with the account."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update

from extensions import db
from models import Appeal, CoPerformer, SealedFile, User, VerificationRequest
from services.personal_data.base import Erasure, rows


def export_identity(user: User) -> dict:
    return {
        "identity_checks": rows(
            select(VerificationRequest)
            .where(VerificationRequest.user_id == user.id)
            .order_by(VerificationRequest.id),
            "kind",
            "status",
            "document_type",
            "gesture",
            "submitted_at",
            "decided_at",
            "reason",
            "files_deleted_at",
        ),
        "appeals": rows(
            select(Appeal).where(Appeal.user_id == user.id).order_by(Appeal.id),
            "subject",
            "decision",
            "message",
            "status",
            "outcome",
            "created_at",
            "decided_at",
        ),
        "co_performers": rows(
            select(CoPerformer)
            .where((CoPerformer.owner_id == user.id) | (CoPerformer.performer_id == user.id))
            .order_by(CoPerformer.id),
            "media_id",
            "owner_id",
            "kind",
            "performer_id",
            "legal_name",
            "status",
            "reason",
            "created_at",
            "decided_at",
        ),
    }


def sealed_files(user_id: int) -> Iterable[str]:
    requests = select(SealedFile.key).join(
        VerificationRequest, VerificationRequest.id == SealedFile.request_id
    )
    releases = select(SealedFile.key).join(
        CoPerformer, CoPerformer.id == SealedFile.co_performer_id
    )
    return [
        *db.session.scalars(requests.where(VerificationRequest.user_id == user_id)),
        *db.session.scalars(releases.where(CoPerformer.owner_id == user_id)),
    ]


def erase_identity(erasure: Erasure) -> None:
    requests = select(VerificationRequest.id).where(VerificationRequest.user_id == erasure.user_id)
    erasure.execute(delete(SealedFile).where(SealedFile.request_id.in_(requests)))
    erasure.execute(delete(CoPerformer).where(CoPerformer.owner_id == erasure.user_id))
    erasure.execute(delete(Appeal).where(Appeal.user_id == erasure.user_id))
    erasure.execute(
        update(VerificationRequest)
        .where(
            VerificationRequest.user_id == erasure.user_id,
            VerificationRequest.files_deleted_at.is_(None),
        )
        .values(files_deleted_at=erasure.now)
    )
    erasure.execute(  # nothing left to review
        update(VerificationRequest)
        .where(
            VerificationRequest.user_id == erasure.user_id,
            VerificationRequest.status == "pending",
        )
        .values(status="rejected", decided_at=erasure.now, reason="The account was deleted.")
    )
