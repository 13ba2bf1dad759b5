"""Likes, passes and matches (docs/dating.md#likes-passes-and-matches), with notifications."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from core import clock, sql
from core.errors import DomainError, NotAllowed
from extensions import db
from models import Like, Match, Notification, Transfer, User, UserStatus
from services import ledger, safety


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def is_match(a: int, b: int) -> bool:
    low, high = _pair(a, b)
    return (
        db.session.scalar(select(Match.id).where(Match.user_a_id == low, Match.user_b_id == high))
        is not None
    )


def react(me: User, other_id: int, kind: str) -> bool:
    """Like or pass. Returns True when this like made a match (both are notified)."""
    if kind not in ("like", "pass"):
        raise DomainError("Choose like or pass.")
    if other_id == me.id:
        raise DomainError("You cannot like yourself.")
    other = safety.visible_person(me, other_id)
    existing = db.session.scalar(
        select(Like).where(Like.liker_id == me.id, Like.liked_id == other.id)
    )
    if existing is None:
        db.session.add(Like(liker_id=me.id, liked_id=other.id, kind=kind))
    else:
        existing.kind = kind
        existing.created_at = clock.now()
    matched = False
    if kind == "like":
        liked_back = db.session.scalar(
            select(Like.id).where(
                Like.liker_id == other.id, Like.liked_id == me.id, Like.kind == "like"
            )
        )
        if liked_back and not is_match(me.id, other.id):
            _add_match(me, other)
            matched = True
        elif not liked_back and existing is None:
            db.session.add(
                Notification(
                    user_id=other.id,
                    kind="like",
                    actor_id=None,
                    text="Someone liked you. Like them back to match!",
                    link="/discover",
                )
            )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # both liked at the same instant: the other request matched
        matched = is_match(me.id, other.id)
    if kind == "like" and not matched and not is_match(me.id, other.id):
        # Two likes committed at the same moment cannot see each other: look again now.
        matched = _match_if_mutual(me, other)
    return matched


def _add_match(me: User, other: User) -> None:
    """The match row and a notification for each of the two (the caller commits)."""
    low, high = _pair(me.id, other.id)
    db.session.add(Match(user_a_id=low, user_b_id=high))
    for person, partner in ((me, other), (other, me)):
        db.session.add(
            Notification(
                user_id=person.id,
                kind="match",
                actor_id=partner.id,
                text=f"You and {partner.display_name} like each other!",
                link=f"/people/{partner.id}",
            )
        )


def _match_if_mutual(me: User, other: User) -> bool:
    mutual = db.session.scalar(
        select(func.count(Like.id)).where(
            or_(
                (Like.liker_id == me.id) & (Like.liked_id == other.id),
                (Like.liker_id == other.id) & (Like.liked_id == me.id),
            ),
            Like.kind == "like",
        )
    )
    if mutual != 2:
        return False
    _add_match(me, other)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # the other request made the match
        return False
    return True


_MATCHES_OF = (
    select(User, Match)
    .join(
        Match,
        or_(
            (Match.user_a_id == bindparam("me")) & (Match.user_b_id == User.id),
            (Match.user_b_id == bindparam("me")) & (Match.user_a_id == User.id),
        ),
    )
    .where(User.status.in_((UserStatus.ACTIVE, UserStatus.SUSPENDED)))
    .order_by(Match.created_at.desc())
)  # the Matches page: built once, read straight through the driver (core.sql.load)


def matches_of(me: User) -> list[tuple[User, Match]]:
    return [(user, match) for user, match in sql.load(_MATCHES_OF, {"me": me.id})]


def my_reaction(me_id: int, other_id: int) -> str | None:
    return db.session.scalar(
        select(Like.kind).where(Like.liker_id == me_id, Like.liked_id == other_id)
    )


# --- notifications --------------------------------------------------------------------------


def unread_count(user_id: int) -> int:
    return db.session.scalar(unread_count_query(user_id))


def unread_count_query(user_id):
    """The count of unread notifications, for an id or a bind parameter (services/badges.py)."""
    return select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )


def notifications(user_id: int, limit: int = 50) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(user_id: int) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
    db.session.commit()


# --- intros before a match ----------------------------------------------------------------


def intro_paid(me_id: int, other_id: int) -> bool:
    return (
        db.session.scalar(
            select(Transfer.id).where(Transfer.idempotency_key == f"intro:{me_id}:{other_id}")
        )
        is not None
    )


def can_message(me: User, other: User) -> bool:
    """Free once matched; before that, after paying for an intro (docs/dating.md#intros)."""
    if safety.blocked_between(me.id, other.id):
        return False
    return is_match(me.id, other.id) or intro_paid(me.id, other.id)


def pay_intro(me: User, other_id: int) -> bool:
    """Pay INTRO_PRICE to message someone before matching; once per pair. Returns True when
    credits moved now (False: already paid or already matched)."""

    if other_id == me.id:
        raise DomainError("You cannot message yourself.")
    other = safety.visible_person(me, other_id)
    if not me.email_verified:
        raise NotAllowed("Confirm your email address before paying for an intro.")
    if is_match(me.id, other_id):
        return False
    price = current_app.config["INTRO_PRICE"]
    key = f"intro:{me.id}:{other_id}"
    if other.is_creator:
        _, created = ledger.spend(
            me.id, other_id, price, "intro", key, reference=("user", other_id)
        )
    else:
        _, created = ledger.pay_platform(me.id, price, "intro", key, reference=("user", other_id))
    db.session.commit()
    return created
