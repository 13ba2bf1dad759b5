"""Block and report (docs/dating.md#blocks, docs/dating.md#reports): a block hides both people from
each other everywhere; a report goes to the moderation queue with a snapshot of what was
reported."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.exc import IntegrityError

from core import sql
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from extensions import db
from models import Block, Like, Match, Report, User
from services import audit

REPORT_REASONS = {
    "spam": "Spam or scam",
    "fake": "Fake profile or impersonation",
    "harassment": "Harassment or hate",
    "explicit": "Unwanted explicit content",
    "underage": "May be under 18",
    "other": "Something else",
}
MAX_REPORT_DETAILS = 2000


def blocked_between(user_a: int, user_b: int) -> bool:
    return db.session.scalar(_BLOCKED_BETWEEN, {"user_a": user_a, "user_b": user_b}) or False


def block_exists(user_a, user_b):
    """SQL: a block between the two, in either direction (usable in WHERE clauses)."""
    return exists().where(
        or_(
            and_(Block.blocker_id == user_a, Block.blocked_id == user_b),
            and_(Block.blocker_id == user_b, Block.blocked_id == user_a),
        )
    )


# Asked before most pages about another person: built once.
_BLOCKED_BETWEEN = select(block_exists(bindparam("user_a"), bindparam("user_b")))


# Accounts that are gone for everyone else (docs/dating.md#visible-people).
GONE_STATUSES = ("banned", "deleted")
NOT_HERE = "That person is not here."


def require_present(status: str | None) -> None:
    """The first half of the visibility rule, on an account's status already read (None: no
    such account): NotFound unless the account exists and is not banned or deleted."""
    if status is None or status in GONE_STATUSES:
        raise NotFound(NOT_HERE)


def visible_person(viewer: User, person_id: int) -> User:
    """The member `viewer` may open at `person_id` (their page, a conversation with them, a
    like, an intro): the account exists, is not banned or deleted, and neither of the two
    blocked the other (docs/dating.md#visible-people). Anyone else is NotFound, the answer an
    id nobody has gets: a block is never revealed. Suspended members stay visible (their
    account is read-only, not hidden); `viewer` is visible to themselves. One statement."""
    return visible_row(_VISIBLE_PERSON, viewer, person_id)[0]


def visible_row(statement, viewer: User, person_id: int) -> tuple:
    """`visible_person` through `statement`, built once (it runs through `core.sql.load`): a
    select of the User first, `BLOCKED_BY_VIEWER` last and anything else the caller reads with
    them between, for `person_id` and `viewer_id`. The row without the block flag."""
    found = sql.load(statement, {"person_id": person_id, "viewer_id": viewer.id})
    row = found[0] if found else None
    require_present(row[0].status if row is not None else None)
    if row[-1]:
        raise NotFound(NOT_HERE)
    return tuple(row[:-1])


# A block between the person of the statement (User) and the viewer, either way.
BLOCKED_BY_VIEWER = block_exists(bindparam("viewer_id"), User.id).label("blocked")
_VISIBLE_PERSON = select(User, BLOCKED_BY_VIEWER).where(User.id == bindparam("person_id"))


def _present_user(user_id: int) -> User:
    """An account that exists and is not gone, blocks aside (a person who blocked me can still
    be blocked, or reported)."""
    user = sql.get(User, user_id)
    require_present(user.status if user is not None else None)
    return user


def block(me: User, other_id: int) -> User:
    """Block `other_id` (docs/dating.md#blocks); returns the person blocked."""
    if other_id == me.id:
        raise DomainError("You cannot block yourself.")
    other = _present_user(other_id)
    if db.session.scalar(
        select(Block.id).where(Block.blocker_id == me.id, Block.blocked_id == other.id)
    ):
        return other  # already blocked: nothing to do
    db.session.add(Block(blocker_id=me.id, blocked_id=other.id))
    # A block ends what was between them: the match goes, and their likes.
    low, high = sorted((me.id, other.id))
    db.session.execute(
        Match.__table__.delete().where(Match.user_a_id == low, Match.user_b_id == high)
    )
    db.session.execute(
        Like.__table__.delete().where(
            or_(
                and_(Like.liker_id == me.id, Like.liked_id == other.id),
                and_(Like.liker_id == other.id, Like.liked_id == me.id),
            )
        )
    )
    audit.record("user.blocked", actor_id=me.id, target=("user", other.id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a double click raced itself: the block exists
    return other


def unblock(me: User, other_id: int) -> None:
    deleted = db.session.execute(
        Block.__table__.delete().where(Block.blocker_id == me.id, Block.blocked_id == other_id)
    )
    if deleted.rowcount == 0:
        raise NotFound("You have not blocked that person.")
    db.session.commit()


def blocked_people(me: User) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Block, Block.blocked_id == User.id)
            .where(Block.blocker_id == me.id)
            .order_by(Block.created_at.desc())
        )
    )


def report(
    me: User,
    reported_user_id: int,
    subject_type: str,
    subject_id: str,
    reason: str,
    details: str | None,
    snapshot: dict | None = None,
) -> Report:
    if reported_user_id == me.id:
        raise DomainError("You cannot report yourself.")
    if reason not in REPORT_REASONS:
        raise ValidationFailed({"reason": "Choose a reason."})
    details = (details or "").strip()
    if len(details) > MAX_REPORT_DETAILS:
        raise ValidationFailed({"details": f"Keep it under {MAX_REPORT_DETAILS} characters."})
    _present_user(reported_user_id)
    already = db.session.scalar(
        select(Report.id).where(
            Report.reporter_id == me.id,
            Report.subject_type == subject_type,
            Report.subject_id == str(subject_id),
        )
    )
    if already:
        raise Conflict("You already reported this. Our moderators will look at it.")
    row = Report(
        reporter_id=me.id,
        reported_user_id=reported_user_id,
        subject_type=subject_type,
        subject_id=str(subject_id),
        reason=reason,
        details=details or None,
        snapshot=snapshot or {},
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("You already reported this. Our moderators will look at it.") from exc
    audit.record(
        "user.reported",
        actor_id=me.id,
        target=("user", reported_user_id),
        reason=reason,
        subject=f"{subject_type}:{subject_id}",
    )
    db.session.commit()
    return row
