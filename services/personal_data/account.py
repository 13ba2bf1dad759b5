"""The account and its security records (docs/security.md#your-data): the user row, sessions and
devices, sign-in secrets, login attempts, mail and data exports."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable

from sqlalchemy import delete, or_, select, update

from extensions import db
from models import DataExport, LoginAttempt, Outbox, User, UserDevice, UserSession
from services import passwords, sessions
from services.personal_data.base import Erasure, deleting, plain, rows


def export_account(user: User) -> dict:
    return {
        "account": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "date_of_birth": user.date_of_birth.isoformat(),
            "created_at": plain(user.created_at),
            "email_verified_at": plain(user.email_verified_at),
            "last_active_at": plain(user.last_active_at),
            "status": user.status,
            "is_creator": user.is_creator,
            "creator_verified_at": plain(user.creator_verified_at),
            "two_factor": user.has_2fa,
            "delete_after": plain(user.delete_after),
        }
    }


def anonymise_account(erasure: Erasure) -> None:
    user = erasure.user
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = "Deleted member"
    user.date_of_birth = dt.date(1970, 1, 1)
    user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.is_creator = False
    user.status_reason = None
    user.last_active_at = None


def export_sessions(user: User) -> dict:
    return {
        "sessions": rows(
            select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id),
            "ip",
            "user_agent",
            "created_at",
            "last_seen_at",
            "revoked_at",
            "revoked_reason",
        )
    }


def erase_sessions(erasure: Erasure) -> None:
    deleting(UserDevice.user_id)(erasure)
    sessions.revoke_sessions(erasure.user_id, "account deleted")
    erasure.execute(
        update(UserSession)
        .where(UserSession.user_id == erasure.user_id)
        .values(ip=None, user_agent=None)
    )


def data_export_files(user_id: int) -> Iterable[str]:
    return db.session.scalars(
        select(DataExport.storage_key).where(
            DataExport.user_id == user_id, DataExport.storage_key.is_not(None)
        )
    )


def erase_by_address(erasure: Erasure) -> None:
    """Rows found by the member's id or by the address they had (a failed login or a mail may
    name the address without the account)."""
    for user_column, email_column in (
        (LoginAttempt.user_id, LoginAttempt.email),
        (Outbox.user_id, Outbox.to_email),
    ):
        erasure.execute(
            delete(user_column.class_).where(
                or_(user_column == erasure.user_id, email_column == erasure.email)
            )
        )
