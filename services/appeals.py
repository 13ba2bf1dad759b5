"""Appeals (docs/security.md#appeals): a suspended or banned member, or one whose identity, age
or photo check was rejected, may appeal once, with a message; staff uphold or overturn the
decision in Admin → Appeals, and the outcome is mailed.

A banned member cannot log in: their correct password at the login form earns them a signed
appeal link instead (`appeal_token`), valid for an hour. A suspended member is logged in,
read-only, and appeals from Settings. "Once" is per decision: per account state change (the
audit row that recorded it), per rejected request.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import clock
from core.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    Appeal,
    AppealStatus,
    AppealSubject,
    AuditLog,
    User,
    UserStatus,
    VerificationRequest,
    VerificationStatus,
)
from services import accounts, audit, identity, mail
from services.input import parse_id

MESSAGE_MAX = 2000
NOTE_MAX = 1000
TOKEN_SECONDS = 3600
ONCE = "You appealed this decision already: we will mail you the outcome."


# --- the member's side -------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="amora appeal")


def appeal_token(user: User) -> str:
    """A banned member's way to the appeal form, given after their password was right."""
    return _serializer().dumps({"u": user.id})


def banned_member(token: str) -> User:
    """The banned member an appeal link was made for (NotFound for any other link)."""
    try:
        data = _serializer().loads(token or "", max_age=TOKEN_SECONDS)
    except (SignatureExpired, BadSignature):
        raise NotFound("This appeal link has expired: log in again to get a new one.") from None
    user = db.session.get(User, data.get("u") if isinstance(data, dict) else None)
    if user is None or user.status != UserStatus.BANNED:
        raise NotFound("This appeal link is not valid any more.")
    return user


def _status_decision(user: User) -> int | None:
    """The audit row that put the account in its present state (the decision appealed)."""
    return db.session.scalar(
        select(AuditLog.id)
        .where(
            AuditLog.target_type == "user",
            AuditLog.target_id == str(user.id),
            AuditLog.action == f"account.{user.status}",
        )
        .order_by(AuditLog.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Appealable:
    subject: AppealSubject
    ref: int
    what: str  # what the member is told they appeal


def account_decision(user: User) -> Appealable | None:
    """The suspension or ban `user` may appeal, if any."""
    if user.status not in (UserStatus.SUSPENDED, UserStatus.BANNED):
        return None
    ref = _status_decision(user)
    if ref is None:
        return None
    reason = user.status_reason or "no reason was given"
    return Appealable(AppealSubject.ACCOUNT, ref, f"Your account was {user.status}: {reason}.")


def verification_decision(user: User, request_id: object) -> Appealable:
    request = db.session.get(VerificationRequest, parse_id(request_id) or 0)
    if request is None or request.user_id != user.id:
        raise NotFound("There is no such check.")
    if request.status != VerificationStatus.REJECTED:
        raise NotAllowed("Only a rejected check can be appealed.")
    name = identity.KIND_NAMES[request.kind]
    return Appealable(
        AppealSubject.VERIFICATION, request.id, f"Your {name} was not approved: {request.reason}"
    )


def existing(user: User, decision: Appealable | None) -> Appeal | None:
    if decision is None:
        return None
    return db.session.scalar(
        select(Appeal).where(
            Appeal.user_id == user.id,
            Appeal.subject == decision.subject,
            Appeal.subject_ref == decision.ref,
        )
    )


def submit(user: User, decision: Appealable | None, message: str) -> Appeal:
    """Appeal `decision` once, with a message (one transaction)."""
    if decision is None:
        raise NotAllowed("There is no decision to appeal.")
    text = (message or "").strip()
    if not text:
        raise ValidationFailed({"message": "Tell us why the decision should change."})
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed({"message": f"At most {MESSAGE_MAX:,} characters."})
    if existing(user, decision) is not None:
        raise Conflict(ONCE)
    appeal = Appeal(
        user_id=user.id,
        subject=decision.subject,
        subject_ref=decision.ref,
        decision=decision.what[:500],
        message=text,
    )
    db.session.add(appeal)
    try:
        db.session.flush()
    except IntegrityError:  # a second tab's appeal got in first
        db.session.rollback()
        raise Conflict(ONCE) from None
    audit.record(
        "appeal.submitted",
        actor_id=user.id,
        target=("appeal", appeal.id),
        subject=str(decision.subject),
        ref=decision.ref,
    )
    db.session.commit()
    return appeal


# --- staff ---------------------------------------------------------------------------------------


def queue(staff: User) -> list[tuple[Appeal, User]]:
    identity.require_staff(staff)
    rows = db.session.execute(
        select(Appeal, User)
        .join(User, User.id == Appeal.user_id)
        .where(Appeal.status == AppealStatus.OPEN)
        .order_by(Appeal.created_at, Appeal.id)
        .limit(200)
    ).all()
    return [(appeal, user) for appeal, user in rows]


def recent(staff: User, limit: int = 20) -> list[tuple[Appeal, User]]:
    identity.require_staff(staff)
    rows = db.session.execute(
        select(Appeal, User)
        .join(User, User.id == Appeal.user_id)
        .where(Appeal.status != AppealStatus.OPEN)
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(limit)
    ).all()
    return [(appeal, user) for appeal, user in rows]


def decide(staff: User, appeal_id: object, *, overturn: bool, note: str) -> Appeal:
    """Uphold the decision, or overturn it (the account reactivated, the check approved); the
    member gets the outcome by mail. One transaction."""
    identity.require_staff(staff)
    appeal = db.session.get(Appeal, parse_id(appeal_id) or 0)
    if appeal is None:
        raise NotFound("There is no such appeal.")
    if appeal.user_id == staff.id or _decided_by(appeal) == staff.id:
        raise NotAllowed("Another moderator decides: this appeal is about you or your decision.")
    note = (note or "").strip()
    if not note:
        raise ValidationFailed({"note": "Say why: the member reads it."})
    if len(note) > NOTE_MAX:
        raise ValidationFailed({"note": f"At most {NOTE_MAX:,} characters."})
    if (
        overturn
        and appeal.subject == AppealSubject.ACCOUNT
        and _status_decision(db.session.get(User, appeal.user_id)) != appeal.subject_ref
    ):
        raise Conflict(
            "The account's state changed since this appeal (a newer decision): uphold it, "
            "and change the state from the member's page if needed."
        )
    status = AppealStatus.OVERTURNED if overturn else AppealStatus.UPHELD
    claimed = db.session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.status == AppealStatus.OPEN)
        .values(status=status, decided_at=clock.now(), reviewer_id=staff.id, outcome=note),
        execution_options={"synchronize_session": False},
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict("Someone decided on this appeal already.")
    db.session.refresh(appeal)
    member = db.session.get(User, appeal.user_id)
    if overturn:
        _overturn(staff, appeal, member)
    audit.record(
        f"appeal.{status}",
        actor_id=staff.id,
        target=("appeal", appeal.id),
        note=note,
        member=member.id,
    )
    mail.send(
        member,
        member.email,
        "appeal_outcome",
        "Your appeal: " + ("the decision was changed" if overturn else "the decision stands"),
        "appeal_outcome",
        name=member.display_name,
        appeal=appeal,
        overturned=overturn,
        note=note,
    )
    db.session.commit()
    return appeal


def _decided_by(appeal: Appeal) -> int | None:
    """Who took the decision appealed (they do not judge the appeal)."""
    if appeal.subject == AppealSubject.ACCOUNT:
        row = db.session.get(AuditLog, appeal.subject_ref)
        return row.actor_id if row is not None else None
    request = db.session.get(VerificationRequest, appeal.subject_ref)
    return request.reviewer_id if request is not None else None


def _overturn(staff: User, appeal: Appeal, member: User) -> None:
    if appeal.subject == AppealSubject.ACCOUNT:
        if member.status in (UserStatus.SUSPENDED, UserStatus.BANNED):
            accounts.change_status(member, UserStatus.ACTIVE, None, actor_id=staff.id)
        return
    identity.overturn(staff, appeal.subject_ref)
