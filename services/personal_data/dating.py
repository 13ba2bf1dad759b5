"""The dating side (docs/dating.md): profile, photos, answers, likes, matches, blocks, messages,
notifications and reports."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, or_, select, update

from extensions import db
from models import (
    Block,
    Like,
    Match,
    MatchAnswer,
    Message,
    Notification,
    Photo,
    Profile,
    Report,
    User,
)
from services.personal_data.base import ERASED_MESSAGE, Erasure, plain, rows


def export_profile(user: User) -> dict:
    profile = db.session.get(Profile, user.id)
    if profile is None:
        return {"profile": None}
    return {
        "profile": {
            "gender": profile.gender,
            "seeking": profile.seeking_list,
            "age_min": profile.age_min,
            "age_max": profile.age_max,
            "bio": profile.bio,
            "place": profile.place_name,
            "country_code": profile.country_code,
            # Stored rounded to about 1 km (docs/dating.md#place); this is all we keep.
            "latitude": profile.latitude,
            "longitude": profile.longitude,
            "discoverable": profile.discoverable,
            "interests": [i.tag for i in profile.interests],
            "updated_at": plain(profile.updated_at),
        }
    }


def export_dating(user: User) -> dict:
    return {
        "photos": rows(
            select(Photo).where(Photo.user_id == user.id).order_by(Photo.position),
            "id",
            "position",
            "width",
            "height",
            "created_at",
        ),
        "match_answers": rows(
            select(MatchAnswer).where(MatchAnswer.user_id == user.id).order_by(MatchAnswer.id),
            "choice",
            "acceptable",
            "importance",
            "answered_at",
            question="question_id",
        ),
        "likes": rows(
            select(Like).where(Like.liker_id == user.id).order_by(Like.id),
            "kind",
            user="liked_id",
            at="created_at",
        ),
        "matches": [
            {"user": m.other_id, "at": plain(m.created_at)}
            for m in db.session.execute(
                select(
                    case(
                        (Match.user_a_id == user.id, Match.user_b_id), else_=Match.user_a_id
                    ).label("other_id"),
                    Match.created_at,
                )
                .where(or_(Match.user_a_id == user.id, Match.user_b_id == user.id))
                .order_by(Match.id)
            )
        ],
        "blocks": rows(
            select(Block).where(Block.blocker_id == user.id).order_by(Block.id),
            user="blocked_id",
            at="created_at",
        ),
    }


def photo_files(user_id: int) -> Iterable[str]:
    for photo in db.session.scalars(select(Photo).where(Photo.user_id == user_id)):
        yield from (k for k in (photo.storage_key, photo.thumb_key) if k)


def export_messages(user: User) -> dict:
    fields = ("conversation_id", "body", "price", "media_id", "unlock_price", "read_at")
    return {
        "messages_sent": rows(
            select(Message).where(Message.sender_id == user.id).order_by(Message.id),
            *fields,
            to="recipient_id",
            at="created_at",
        ),
        "messages_received": rows(
            select(Message).where(Message.recipient_id == user.id).order_by(Message.id),
            *fields,
            sender="sender_id",
            at="created_at",
        ),
    }


def erase_messages(erasure: Erasure) -> None:
    erasure.execute(
        update(Message)
        .where(Message.sender_id == erasure.user_id)
        .values(body=ERASED_MESSAGE, media_id=None, unlock_price=None)
    )


def export_notifications(user: User) -> dict:
    return {
        "notifications": rows(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id),
            "kind",
            "text",
            "link",
            "read_at",
            "created_at",
        )
    }


def export_reports(user: User) -> dict:
    return {
        "reports_filed": rows(
            select(Report).where(Report.reporter_id == user.id).order_by(Report.id),
            "subject_type",
            "subject_id",
            "reason",
            "details",
            "status",
            "created_at",
        )
    }
