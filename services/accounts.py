"""Accounts (docs/security.md): sign-up, email verification, login sessions, password reset, states.

Every public function here is one transaction: it commits on success and leaves nothing
written when it raises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import DataExport, EmailToken, User, UserSession
from models.user import age_on
from services import audit, clock, mail, passwords
from services.errors import DomainError, NotAllowed, NotFound, ValidationFailed

if TYPE_CHECKING:
    from models import Payout

log = logging.getLogger("amora.accounts")

GENERIC_LOGIN_ERROR = "Email or password is incorrect."
OLDEST_AGE = 120
SESSION_TOUCH_INTERVAL = dt.timedelta(minutes=1)


class LoginFailed(DomainError):
    status = 401


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def normalize_email(raw: str) -> str:
    """Validate an address's syntax and return it lower-cased; raise ValueError when malformed."""
    try:
        checked = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()


def _clean_display_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", " ".join((raw or "").split()))
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValueError("Use letters, numbers and punctuation only.")
    if not 1 <= len(name) <= 60:
        raise ValueError("Use between 1 and 60 characters.")
    return name


def find_by_email(email: str) -> User | None:
    try:
        normalized = normalize_email(email)
    except ValueError:
        return None
    return db.session.scalar(select(User).where(User.email == normalized))


# --- sign-up and verification -------------------------------------------------------------


def sign_up(
    email: str,
    password: str,
    display_name: str,
    date_of_birth: dt.date | None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    fingerprint: str | None = None,
) -> User | None:
    """Create a fan account and mail a verification link. Under 18: refused, nothing kept.

    An address that already has an account is not revealed (a dating site must not tell who is
    a member): its owner is mailed instead, and None is returned, with the same work done, so
    the visitor sees the same answer at the same speed either way.
    """
    email, display_name = _check_sign_up(email, password, display_name, date_of_birth)
    password_hash = passwords.hash_password(password)  # both ways: the hash is the slow part
    owner = find_by_email(email)
    if owner is not None:
        _tell_owner_of_sign_up(owner)
        return None
    user = User(
        email=email,
        password_hash=password_hash,
        display_name=display_name,
        date_of_birth=date_of_birth,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won the race
        db.session.rollback()
        owner = find_by_email(email)
        if owner is not None:
            _tell_owner_of_sign_up(owner)
        return None
    _send_verification(user)
    _score_sign_up(user, ip, user_agent, fingerprint)
    audit.record("account.created", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    return user


def _check_sign_up(
    email: str, password: str, display_name: str, date_of_birth: dt.date | None
) -> tuple[str, str]:
    """The normalized email and display name, or ValidationFailed with every problem."""
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
    except ValueError:
        errors["email"] = "Enter a valid email address, like name@example.com."
    try:
        display_name = _clean_display_name(display_name)
    except ValueError as exc:
        errors["display_name"] = str(exc)
    today = clock.today()
    min_age = current_app.config["MIN_AGE"]
    if date_of_birth is None:
        errors["date_of_birth"] = "Enter your date of birth."
    elif date_of_birth > today or age_on(date_of_birth, today) > OLDEST_AGE:
        errors["date_of_birth"] = "Enter your real date of birth."
    elif age_on(date_of_birth, today) < min_age:
        errors["date_of_birth"] = f"You must be {min_age} or older to join Amora."
    problem = passwords.password_problem(
        password, email=email if "email" not in errors else "", display_name=display_name or ""
    )
    if problem:
        errors["password"] = problem
    if errors:
        raise ValidationFailed(errors)
    return email, display_name


def _tell_owner_of_sign_up(owner: User) -> None:
    """Someone signed up with `owner`'s address: tell them how to get in, change nothing."""
    mail.send(
        owner,
        owner.email,
        "sign_up_attempt",
        "Someone tried to sign up to Amora with your address",
        "sign_up_attempt",
        login_link=_external_url("auth.login"),
        reset_link=_external_url("auth.forgot_password"),
    )
    db.session.commit()


def _score_sign_up(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None
) -> None:
    """Link the device the account was made on and score the sign-up; caller commits."""
    from services import devices, risk

    risk.assess(risk.Signals("signup", user, ip=ip, fingerprint=fingerprint))
    devices.link(user, fingerprint, ip, user_agent, notify=False)


def _issue_token(user: User, purpose: str, lifetime: dt.timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash_token(raw),
            expires_at=clock.now() + lifetime,
        )
    )
    return raw


def _external_url(endpoint: str, **values) -> str:
    """An absolute link for mail, built from BASE_URL (works in jobs, outside any request)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path


def _send_verification(user: User) -> None:
    hours = current_app.config["EMAIL_VERIFY_HOURS"]
    raw = _issue_token(user, "verify_email", dt.timedelta(hours=hours))
    mail.send(
        user,
        user.email,
        "verify_email",
        "Confirm your email for Amora",
        "verify_email",
        link=_external_url("auth.verify_email", token=raw),
        hours=hours,
    )


def resend_verification(user: User) -> None:
    if user.email_verified:
        raise DomainError("Your email address is already verified.")
    _send_verification(user)
    db.session.commit()


def _consume_token(raw: str, purpose: str) -> EmailToken:
    """Mark a valid token used, atomically, so that two clicks cannot both succeed."""
    token = db.session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == _hash_token(raw or ""), EmailToken.purpose == purpose
        )
    )
    if token is None:
        raise DomainError("This link is not valid. Check that you copied the whole link.")
    if token.used_at is not None:
        raise DomainError("This link has already been used.")
    if token.expires_at <= clock.now():
        raise DomainError("This link has expired. Ask for a new one.")
    claimed = db.session.execute(
        update(EmailToken)
        .where(EmailToken.id == token.id, EmailToken.used_at.is_(None))
        .values(used_at=clock.now())
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        raise DomainError("This link has already been used.")
    return token


def verify_email(raw_token: str) -> User:
    token = _consume_token(raw_token, "verify_email")
    user = token.user
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    db.session.commit()
    return user


# --- login sessions -------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User:
    """The user for these credentials, or LoginFailed with one message for every wrong input."""
    user = find_by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok or user.status == "deleted":
        raise LoginFailed(GENERIC_LOGIN_ERROR)
    if user.status == "banned":
        raise NotAllowed(
            "This account has been banned"
            + (f": {user.status_reason}" if user.status_reason else ".")
        )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        db.session.commit()
    return user


@dataclass
class LoginStep:
    """Where a login stands once its password was right."""

    decision: str  # allow | step_up | review | block (docs/security.md#risk-engine)
    needs_second_factor: bool = False  # TOTP, or an emailed code (sent) for accounts without
    session_token: str | None = None  # the new session's raw token, once the login is complete

    @property
    def blocked(self) -> bool:
        return self.decision == "block"


def log_in(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None
) -> LoginStep:
    """The password was right: score the sign-in (docs/security.md#risk-engine), then refuse it, ask
    for a second factor (an emailed code when the account has no TOTP) or start the session.

    One transaction: the RiskEvent and any alert are committed with the emailed code or the
    session, so a login that raises leaves nothing written, and scoring pays no commit.
    """
    from services import risk, twofactor

    assessment = risk.assess_login(user, ip, fingerprint)
    if assessment.decision == "block":
        db.session.commit()
        return LoginStep(assessment.decision)
    if user.has_2fa or assessment.decision != "allow":
        if user.has_2fa:
            db.session.commit()
        else:  # a risky sign-in steps up to an emailed code
            twofactor.send_login_code(user)  # commits
        return LoginStep(assessment.decision, needs_second_factor=True)
    token = complete_login(user, ip, user_agent, fingerprint)
    return LoginStep(assessment.decision, session_token=token)


def complete_login(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None
) -> str:
    """Every factor passed: record the success (only now: it resets the account's failure
    count) and start the session, in one transaction. Returns the session's raw token."""
    from services import throttle

    throttle.add_success(user.email, user, ip)
    return start_session(user, ip, user_agent, fingerprint)


def start_session(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None = None
) -> str:
    """Record a login (and the device it came from); returns the raw token that the browser's
    signed cookie will carry."""
    from services import devices

    raw = secrets.token_urlsafe(32)
    now = clock.now()
    device = devices.link(user, fingerprint, ip, user_agent, notify=True)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash_token(raw),
            ip=(ip or "")[:45] or None,
            user_agent=(user_agent or "")[:400] or None,
            device_id=device.id if device else None,
            created_at=now,
            last_seen_at=now,
        )
    )
    user.last_active_at = now
    audit.record(
        "login.succeeded",
        actor_id=user.id,
        target=("user", user.id),
        device_id=device.id if device else None,
    )
    db.session.commit()
    return raw


def load_session_user(user_id: str | int, raw_token: str | None) -> User | None:
    """The user behind a cookie, if its session is live and the account may be logged in."""
    if not raw_token:
        return None
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    row = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == _hash_token(raw_token), UserSession.user_id == uid)
    ).first()
    if row is None:
        return None
    user_session, user = row
    if user_session.revoked_at is not None or not user.is_active:
        return None
    now = clock.now()
    if now - user_session.last_seen_at >= SESSION_TOUCH_INTERVAL:
        user_session.last_seen_at = now
        user.last_active_at = now
        db.session.commit()
    return user


def end_session(raw_token: str | None, user_id: int | None = None) -> None:
    if not raw_token:
        return
    ended = db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash_token(raw_token), UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_reason="logout")
    )
    if ended.rowcount and user_id is not None:
        audit.record("logout", actor_id=user_id, target=("user", user_id))
        recheck_sockets(user_id)
    db.session.commit()


def _revoke_sessions(user_id: int, reason: str, keep_raw_token: str | None = None) -> int:
    """Revoke a user's live sessions (all but `keep_raw_token`); caller commits."""
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_raw_token:
        stmt = stmt.where(UserSession.token_hash != _hash_token(keep_raw_token))
    result = db.session.execute(stmt.values(revoked_at=clock.now(), revoked_reason=reason))
    recheck_sockets(user_id)
    return result.rowcount


def revoke_all_sessions(user: User, reason: str) -> int:
    """End every session of `user` (an admin's force logout, a 2FA reset); caller commits."""
    return _revoke_sessions(user.id, reason)


def recheck_sockets(user_id: int) -> None:
    """Tell the user's open sockets to re-check their session, and read the account again,
    once this commits: a revoked or banned session's sockets close within a second, and a
    suspended one goes read-only, without polling the database."""
    from services import realtime

    realtime.publish_after_commit(user_id, {"type": "sessions_changed"})


def live_sessions(user: User) -> list[UserSession]:
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def is_current_session(user_session: UserSession, raw_token: str | None) -> bool:
    return bool(raw_token) and user_session.token_hash == _hash_token(raw_token)


def revoke_other_sessions(user: User, keep_raw_token: str | None) -> int:
    count = _revoke_sessions(user.id, "revoked by user", keep_raw_token)
    audit.record("sessions.revoked_others", actor_id=user.id, target=("user", user.id), count=count)
    db.session.commit()
    return count


# --- passwords ----------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Queue the reset mail for `email`. The account is looked up by the job, so this request
    does the same work whether or not the address has one: it tells nothing, not even by how
    long it takes."""
    from workers import accounts as account_jobs
    from workers.queue import enqueue

    enqueue(account_jobs.send_password_reset, (email or "").strip())
    db.session.commit()


def send_password_reset(email: str) -> None:
    """Mail a reset link if the address has an account that may log in; else do nothing."""
    user = find_by_email(email)
    if user is None or user.status in ("banned", "deleted"):
        return
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    raw = _issue_token(user, "reset_password", dt.timedelta(minutes=minutes))
    mail.send(
        user,
        user.email,
        "reset_password",
        "Reset your Amora password",
        "reset_password",
        link=_external_url("auth.reset_password", token=raw),
        minutes=minutes,
    )
    db.session.commit()


def check_reset_token(raw_token: str) -> None:
    """Raise DomainError when a reset link can no longer be used (to show before the form)."""
    token = db.session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == _hash_token(raw_token or ""),
            EmailToken.purpose == "reset_password",
        )
    )
    if token is None or token.used_at is not None or token.expires_at <= clock.now():
        raise DomainError("This reset link is invalid, used or expired. Ask for a new one.")


def reset_password(raw_token: str, new_password: str) -> User:
    """Set a new password from a reset link; every session of the account is revoked."""
    token = _consume_token(raw_token, "reset_password")
    user = token.user
    problem = passwords.password_problem(
        new_password, email=user.email, display_name=user.display_name
    )
    if problem:
        db.session.rollback()
        raise ValidationFailed({"password": problem})
    user.password_hash = passwords.hash_password(new_password)
    # Other outstanding reset links die with this one.
    db.session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == "reset_password",
            EmailToken.used_at.is_(None),
        )
        .values(used_at=clock.now())
    )
    revoked = _revoke_sessions(user.id, "password reset")
    # Following the emailed link proves the address, too.
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
    audit.record(
        "password.reset", actor_id=user.id, target=("user", user.id), sessions_revoked=revoked
    )
    db.session.commit()
    return user


def change_password(
    user: User, current_password: str, new_password: str, keep_raw_token: str | None
) -> int:
    """Change a password; every other session is revoked. Returns how many were."""
    if not passwords.verify_password(user.password_hash, current_password or ""):
        raise ValidationFailed({"current_password": "Your current password is not correct."})
    problem = passwords.password_problem(
        new_password, email=user.email, display_name=user.display_name
    )
    if problem:
        raise ValidationFailed({"new_password": problem})
    user.password_hash = passwords.hash_password(new_password)
    revoked = _revoke_sessions(user.id, "password changed", keep_raw_token)
    audit.record(
        "password.changed", actor_id=user.id, target=("user", user.id), sessions_revoked=revoked
    )
    db.session.commit()
    return revoked


# --- account states -----------------------------------------------------------------------


def set_status(
    user: User, status: str, reason: str | None = None, actor_id: int | None = None
) -> None:
    """Move an account between active, suspended and banned (docs/security.md#account-states).

    Banning ends every session at once; suspending keeps the user logged in, read-only.
    """
    if status not in ("active", "suspended", "banned"):
        raise DomainError(f"Unknown account state {status!r}.")
    if status != "active" and not (reason or "").strip():
        raise ValidationFailed({"reason": "Say why: the user will see it."})
    if user.status == "deleted":
        raise DomainError("A deleted account cannot change state.")
    user.status = status
    user.status_reason = (reason or "").strip() or None if status != "active" else None
    if status == "banned":
        _revoke_sessions(user.id, "banned")
    else:
        recheck_sockets(user.id)  # suspended sockets go read-only at once
    audit.record(
        f"account.{status}", actor_id=actor_id, target=("user", user.id), note=user.status_reason
    )
    db.session.commit()


def revoke_session(user: User, session_id: int) -> None:
    """Log out one of the user's own devices (another user's session id is simply not found)."""
    from services.errors import NotFound

    result = db.session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now(), revoked_reason="revoked by user")
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFound("That session does not exist or has already ended.")
    audit.record("session.revoked", actor_id=user.id, target=("session", session_id))
    recheck_sockets(user.id)
    db.session.commit()


# --- administration -----------------------------------------------------------------------


def create_admin(
    email: str, password: str | None, display_name: str = "Admin"
) -> tuple[User, bool]:
    """Make `email` an admin: promote an existing account, or create a verified one.

    Returns (user, created). A new account needs a password that passes the usual rules.
    """
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise ValidationFailed({"email": "Enter a valid email address."}) from exc
    user = find_by_email(email)
    if user is not None:
        if user.status in ("banned", "deleted"):
            raise DomainError(f"{email} is {user.status}; it cannot become an admin.")
        user.role = "admin"
        if user.email_verified_at is None:
            user.email_verified_at = clock.now()
        audit.record("admin.promoted", actor_id=None, target=("user", user.id))
        db.session.commit()
        return user, False
    problem = passwords.password_problem(password or "", email=email, display_name=display_name)
    if problem:
        raise ValidationFailed({"password": problem})
    user = User(
        email=email,
        password_hash=passwords.hash_password(password or ""),
        display_name=_clean_display_name(display_name),
        # Admin accounts are staff accounts; a birth date is required by the schema, and the
        # admin confirms being an adult by running the command.
        date_of_birth=dt.date(1970, 1, 1),
        role="admin",
        email_verified_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("admin.created", actor_id=None, target=("user", user.id))
    db.session.commit()
    return user, True


# --- your data: export (docs/security.md#data-export) -------------------------------------------
#
# "Export my data" is a JSON file built by the worker (`build_export`), with its progress on a
# `DataExport` row that the settings page polls. The file lives in media storage under a
# private key; the owner downloads it through a short-lived signed URL for 7 days.

EXPORT_FORMAT = "amora-export/1"
EXPORTS_PER_DAY = 3
EXPORT_KEEP = dt.timedelta(days=7)
EXPORT_STALE = dt.timedelta(hours=1)  # a queued/running export this old lost its job
EXPORT_URL_SECONDS = 300
EXPORT_FAILED = "Your export could not be prepared. Try again in a few minutes."
HISTORY_PAGE = 500


class TooManyExports(DomainError):
    status = 429


def _plain(value: object) -> object:
    """A column value as JSON: dates and times in ISO 8601, the rest as is."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _rows(query, *fields: str, **renamed: str) -> list[dict]:
    """Each row of `query` as a dict of `fields` (and `renamed`: output name → attribute)."""
    pairs = [(f, f) for f in fields] + list(renamed.items())
    return [
        {name: _plain(getattr(row, attr)) for name, attr in pairs}
        for row in db.session.scalars(query)
    ]


def _export_account(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "date_of_birth": user.date_of_birth.isoformat(),
        "created_at": _plain(user.created_at),
        "email_verified_at": _plain(user.email_verified_at),
        "last_active_at": _plain(user.last_active_at),
        "status": user.status,
        "is_creator": user.is_creator,
        "creator_verified_at": _plain(user.creator_verified_at),
        "two_factor": user.has_2fa,
        "delete_after": _plain(user.delete_after),
    }


def _export_profile(user: User) -> dict | None:
    from models import Profile

    profile = db.session.get(Profile, user.id)
    if profile is None:
        return None
    return {
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
        "updated_at": _plain(profile.updated_at),
    }


def _export_dating(user: User) -> dict:
    from models import Block, Like, Match, MatchAnswer, Photo

    return {
        "photos": _rows(
            select(Photo).where(Photo.user_id == user.id).order_by(Photo.position),
            "id",
            "position",
            "width",
            "height",
            "created_at",
        ),
        "match_answers": _rows(
            select(MatchAnswer).where(MatchAnswer.user_id == user.id).order_by(MatchAnswer.id),
            "choice",
            "acceptable",
            "importance",
            "answered_at",
            question="question_id",
        ),
        "likes": _rows(
            select(Like).where(Like.liker_id == user.id).order_by(Like.id),
            "kind",
            user="liked_id",
            at="created_at",
        ),
        "matches": [
            {"user": m.other_id, "at": _plain(m.created_at)}
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
        "blocks": _rows(
            select(Block).where(Block.blocker_id == user.id).order_by(Block.id),
            user="blocked_id",
            at="created_at",
        ),
    }


def _export_messages(user: User) -> dict:
    from models import Message

    fields = ("conversation_id", "body", "price", "media_id", "unlock_price", "read_at")
    return {
        "messages_sent": _rows(
            select(Message).where(Message.sender_id == user.id).order_by(Message.id),
            *fields,
            to="recipient_id",
            at="created_at",
        ),
        "messages_received": _rows(
            select(Message).where(Message.recipient_id == user.id).order_by(Message.id),
            *fields,
            sender="sender_id",
            at="created_at",
        ),
    }


def _export_creator(user: User) -> dict:
    from models import CreatorSettings, MassMessage, MediaObject, Post, PostMedia

    settings = db.session.get(CreatorSettings, user.id)
    media_of_post: dict[int, list[int]] = {}
    for post_id, media_id in db.session.execute(
        select(PostMedia.post_id, PostMedia.media_id)
        .join(Post, Post.id == PostMedia.post_id)
        .where(Post.creator_id == user.id)
        .order_by(PostMedia.post_id, PostMedia.position)
    ):
        media_of_post.setdefault(post_id, []).append(media_id)
    posts = _rows(
        select(Post).where(Post.creator_id == user.id).order_by(Post.id),
        "id",
        "body",
        "visibility",
        "price",
        "status",
        "publish_at",
        "published_at",
        "created_at",
    )
    for post in posts:
        post["media"] = media_of_post.get(post["id"], [])
    return {
        "creator_settings": None
        if settings is None
        else {
            "headline": settings.headline,
            "message_price": settings.message_price,
            "subscription_price": settings.subscription_price,
            "call_price": settings.call_price,
        },
        "posts": posts,
        # The list of what was uploaded, not the files (they are yours in the app already).
        "media": _rows(
            select(MediaObject).where(MediaObject.user_id == user.id).order_by(MediaObject.id),
            "id",
            "purpose",
            "content_type",
            "size",
            "width",
            "height",
            "status",
            "created_at",
        ),
        "mass_messages": _rows(
            select(MassMessage).where(MassMessage.creator_id == user.id).order_by(MassMessage.id),
            "body",
            "media_id",
            "price",
            "audience",
            "sent",
            "created_at",
        ),
    }


def _export_payments(user: User) -> dict:
    from models import Order, Subscription, Tip, Unlock

    subscription_fields = ("status", "price", "periods", "started_at", "current_period_end")
    tip_fields = ("amount", "note", "target_type", "target_id", "created_at")
    return {
        "subscriptions": _rows(
            select(Subscription).where(Subscription.fan_id == user.id).order_by(Subscription.id),
            *subscription_fields,
            creator="creator_id",
        ),
        "subscribers": _rows(
            select(Subscription)
            .where(Subscription.creator_id == user.id)
            .order_by(Subscription.id),
            *subscription_fields,
            fan="fan_id",
        ),
        "tips_sent": _rows(
            select(Tip).where(Tip.fan_id == user.id).order_by(Tip.id),
            *tip_fields,
            creator="creator_id",
        ),
        "tips_received": _rows(
            select(Tip).where(Tip.creator_id == user.id).order_by(Tip.id),
            *tip_fields,
            fan="fan_id",
        ),
        "unlocks": _rows(
            select(Unlock).where(Unlock.user_id == user.id).order_by(Unlock.id),
            "post_id",
            "message_id",
            "price",
            "created_at",
        ),
        "orders": _rows(
            select(Order).where(Order.user_id == user.id).order_by(Order.id),
            "id",
            "provider",
            "pack_id",
            "credits",
            "amount_minor",
            "currency",
            "status",
            "credits_refunded",
            "created_at",
            "paid_at",
        ),
    }


def _export_payouts(user: User) -> dict:
    from models import Payout, PayoutMethod
    from services import payouts

    methods = {
        m.id: m
        for m in db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user.id))
    }
    return {
        # Account numbers are masked: an export that leaks must not be usable for payouts.
        "payout_methods": [
            {
                "kind": m.kind,
                "method": payouts.mask(m),
                "created_at": _plain(m.created_at),
                "removed_at": _plain(m.removed_at),
            }
            for m in methods.values()
        ],
        "payouts": [
            {
                "id": p.id,
                "credits": p.credits,
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "status": p.status,
                "method": payouts.mask(methods[p.method_id]) if p.method_id in methods else None,
                "reference": p.reference,
                "created_at": _plain(p.created_at),
                "updated_at": _plain(p.updated_at),
            }
            for p in db.session.scalars(
                select(Payout).where(Payout.creator_id == user.id).order_by(Payout.id)
            )
        ],
    }


def _export_ledger(user: User) -> dict:
    from services import ledger

    histories: dict[str, list[dict]] = {}
    for kind in ("wallet", "earnings_pending", "earnings_available"):
        rows: list[dict] = []
        before = None
        while True:
            page = ledger.history(user.id, kind, before_entry_id=before, limit=HISTORY_PAGE)
            rows += [
                {
                    "kind": r.kind,
                    "amount": r.amount,
                    "balance_after": r.balance_after,
                    "counterparty": r.counterparty,
                    "memo": r.memo,
                    "transfer": r.transfer_id,
                    "at": _plain(r.created_at),
                }
                for r in page
            ]
            if len(page) < HISTORY_PAGE:
                break
            before = page[-1].entry_id
        histories[kind] = rows
    return {"balances": ledger.balances(user.id), "ledger_history": histories}


def _export_activity(user: User) -> dict:
    from models import Notification, Report

    return {
        "sessions": _rows(
            select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id),
            "ip",
            "user_agent",
            "created_at",
            "last_seen_at",
            "revoked_at",
            "revoked_reason",
        ),
        "notifications": _rows(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id),
            "kind",
            "text",
            "link",
            "read_at",
            "created_at",
        ),
        "reports_filed": _rows(
            select(Report).where(Report.reporter_id == user.id).order_by(Report.id),
            "subject_type",
            "subject_id",
            "reason",
            "details",
            "status",
            "created_at",
        ),
    }


# In the order they are built; each step moves the progress bar.
_EXPORT_STEPS: list[Callable[[User], dict]] = [
    lambda user: {"account": _export_account(user), "profile": _export_profile(user)},
    _export_dating,
    _export_messages,
    _export_creator,
    _export_payments,
    _export_payouts,
    _export_ledger,
    _export_activity,
]


def export_data(user: User, progress: Callable[[int], None] | None = None) -> dict:
    """Everything Amora holds about the user, as plain JSON-able data. `progress(percent)` is
    called after each part (the worker commits it so the settings page can show it)."""
    data: dict = {"format": EXPORT_FORMAT, "exported_at": _plain(clock.now())}
    for done, step in enumerate(_EXPORT_STEPS, start=1):
        data.update(step(user))
        if progress is not None:
            progress(done * 100 // len(_EXPORT_STEPS))
    return data


def _lock_user(user_id: int) -> None:
    """Serialize a user's own requests for the rest of the transaction: a no-op write to the
    user row takes its row lock on PostgreSQL and the write lock on SQLite, so reads that follow
    see what a concurrent request committed (two clicks cannot start two exports)."""
    db.session.execute(
        update(User).where(User.id == user_id).values(status=User.status),
        execution_options={"synchronize_session": False},
    )


def request_export(user: User) -> DataExport:
    """Start building an export on the worker, or return the one already under way.

    One export at a time per user; at most `EXPORTS_PER_DAY` a day (failed ones do not count).
    """
    from workers import accounts as account_jobs
    from workers.queue import enqueue

    if user.status == "deleted":
        raise NotAllowed("This account is deleted.")
    _lock_user(user.id)
    now = clock.now()
    under_way = db.session.scalars(
        select(DataExport)
        .where(DataExport.user_id == user.id, DataExport.status.in_(("queued", "running")))
        .order_by(DataExport.id.desc())
    ).all()
    for export in under_way:
        if export.created_at > now - EXPORT_STALE:
            db.session.rollback()
            return export
        export.status, export.error, export.finished_at = "failed", "never finished", now
    recent = db.session.scalars(
        select(DataExport.created_at)
        .where(
            DataExport.user_id == user.id,
            DataExport.created_at > now - dt.timedelta(days=1),
            DataExport.status != "failed",
        )
        .order_by(DataExport.created_at)
    ).all()
    if len(recent) >= EXPORTS_PER_DAY:
        db.session.rollback()
        again = recent[0] + dt.timedelta(days=1)
        raise TooManyExports(
            f"You can export your data {EXPORTS_PER_DAY} times a day. "
            f"Try again after {again:%d %b %H:%M} UTC."
        )
    export = DataExport(user_id=user.id, status="queued", progress=0, created_at=now)
    db.session.add(export)
    db.session.flush()
    enqueue(account_jobs.build_export, export.id)
    audit.record("data.export_requested", actor_id=user.id, target=("data_export", export.id))
    db.session.commit()
    return export


def build_export(export_id: int) -> str:
    """Worker: build the JSON, committing the progress as it goes, and store it privately.
    Safe to run again: a retried job starts over and replaces nothing but its own file."""
    from services import media

    export = db.session.get(DataExport, export_id)
    if export is None or export.status not in ("queued", "running"):
        return "nothing to do"
    user = db.session.get(User, export.user_id)
    export.status, export.progress, export.error = "running", 0, None
    db.session.commit()

    def progress(percent: int) -> None:
        export.progress = min(percent, 99)  # 100 once the file is stored
        db.session.commit()

    key = None
    try:
        if user is None or user.status == "deleted":
            raise DomainError("the account is deleted")
        body = json.dumps(export_data(user, progress), indent=2, ensure_ascii=False).encode()
        # The random part keeps the key unguessable; the name is what the browser saves.
        name = f"amora-my-data-{clock.now():%Y-%m-%d}.json"
        key = f"u/{user.id}/exports/{secrets.token_hex(16)}/{name}"
        media.storage().write(key, body, "application/json")
        now = clock.now()
        export.storage_key, export.size = key, len(body)
        export.status, export.progress = "ready", 100
        export.finished_at, export.expires_at = now, now + EXPORT_KEEP
        db.session.commit()  # fails if the account was erased meanwhile (the row is gone)
    except Exception as exc:
        db.session.rollback()
        log.exception("data export %s failed", export_id)
        if key is not None:
            media.storage().delete(key)  # no file without a row that expires it
        export = db.session.get(DataExport, export_id)
        if export is not None:
            export.status, export.finished_at = "failed", clock.now()
            export.error = f"{type(exc).__name__}: {exc}"[:500]
            db.session.commit()
        return "failed"
    return "ready"


def get_export(user: User, export_id: int) -> DataExport:
    """One of the user's own exports; anyone else's is "not found"."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id:
        raise NotFound("There is no such export.")
    return export


def latest_export(user: User) -> DataExport | None:
    return db.session.scalars(
        select(DataExport).where(DataExport.user_id == user.id).order_by(DataExport.id.desc())
    ).first()


def export_url(user: User, export_id: int) -> str:
    """A signed download link for a ready export, valid for a few minutes."""
    from services import media

    export = get_export(user, export_id)
    if export.status == "ready" and export.expires_at and export.expires_at <= clock.now():
        raise DomainError("This export has expired. Prepare a new one.")
    if export.status != "ready" or not export.storage_key:
        raise DomainError(
            "This export has expired. Prepare a new one."
            if export.status == "expired"
            else "This export is not ready yet."
        )
    return media.storage().signed_url(export.storage_key, EXPORT_URL_SECONDS)


def expire_exports(now: dt.datetime | None = None) -> int:
    """Periodic job: delete the files of exports past their 7 days. Idempotent."""
    from services import media

    now = now or clock.now()
    expired = db.session.scalars(
        select(DataExport).where(DataExport.status == "ready", DataExport.expires_at <= now)
    ).all()
    for export in expired:
        if export.storage_key:
            media.storage().delete(export.storage_key)
        export.status, export.storage_key = "expired", None
    db.session.commit()
    return len(expired)


# --- your data: deletion (docs/security.md#account-deletion) ----------------------------------
#
# Asking to delete (password, plus a second factor with 2FA) schedules the erasure 7 days out
# and mails the deadline; nothing changes meanwhile, so "Undo" loses nothing. Then the periodic
# job `erase_due_accounts` erases the account (see `_erase` for exactly what goes and stays).

DELETION_GRACE = dt.timedelta(days=7)
ERASED_MESSAGE = "(This message was deleted with its sender's account.)"


@dataclass
class DeletionImpact:
    """What confirming now would do: the deadline, and for a creator what happens to their
    money (shown on the confirmation page and in the mail)."""

    deadline: dt.datetime
    open_payouts: list[tuple[Payout, str]]  # with the method, masked
    earnings_pending: int
    earnings_available: int

    @property
    def forfeited(self) -> int:
        return self.earnings_pending + self.earnings_available

    @property
    def any(self) -> bool:
        return bool(self.open_payouts) or self.forfeited > 0


def deletion_impact(user: User) -> DeletionImpact:
    from models import Payout, PayoutMethod
    from services import ledger, payouts

    balances = ledger.balances(user.id)
    rows = db.session.execute(
        select(Payout, PayoutMethod)
        .join(PayoutMethod, PayoutMethod.id == Payout.method_id)
        .where(Payout.creator_id == user.id, Payout.is_open)
        .order_by(Payout.id)
    ).all()
    return DeletionImpact(
        deadline=user.delete_after or clock.now() + DELETION_GRACE,
        open_payouts=[(payout, payouts.mask(method)) for payout, method in rows],
        earnings_pending=balances.get("earnings_pending", 0),
        earnings_available=balances.get("earnings_available", 0),
    )


def request_deletion(user: User, password: str, code: str = "") -> dt.datetime:
    """Schedule the account's erasure `DELETION_GRACE` from now; returns the deadline.

    Needs the password, and a second factor when 2FA is on. Sessions are kept (the user may
    come back and undo); the deadline is mailed.
    """
    from services import twofactor

    if user.status == "deleted":
        raise NotAllowed("This account is deleted.")
    if user.is_admin:
        raise NotAllowed("An admin account cannot be deleted here.")
    if user.delete_after is not None:
        raise DomainError(f"Your account is already being deleted, on {user.delete_after:%d %b}.")
    if not passwords.verify_password(user.password_hash, password or ""):
        raise ValidationFailed({"password": "Your password is not correct."})
    if user.has_2fa:
        try:
            twofactor.check_step_up(user, code or "")
        except ValidationFailed:
            db.session.rollback()
            raise
    now = clock.now()
    user.delete_requested_at = now
    user.delete_after = now + DELETION_GRACE
    mail.send(
        user,
        user.email,
        "account_deletion",
        f"Your Amora account will be deleted on {user.delete_after:%d %b %Y}",
        "account_deletion",
        deadline=user.delete_after,
        link=_external_url("settings.account"),
        impact=deletion_impact(user),
    )
    audit.record(
        "account.deletion_requested",
        actor_id=user.id,
        target=("user", user.id),
        delete_after=user.delete_after.isoformat(),
    )
    db.session.commit()
    return user.delete_after


def cancel_deletion(user: User) -> None:
    """Undo a scheduled deletion (until the job has erased the account)."""
    undone = db.session.execute(
        update(User)
        .where(User.id == user.id, User.status != "deleted", User.delete_after.is_not(None))
        .values(delete_requested_at=None, delete_after=None),
        execution_options={"synchronize_session": False},
    )
    if undone.rowcount != 1:
        db.session.rollback()
        raise DomainError("Your account is not being deleted.")
    audit.record("account.deletion_cancelled", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    db.session.refresh(user)


def erase_due_accounts(now: dt.datetime | None = None) -> int:
    """Periodic job: erase every account whose undo window has passed, each in its own
    transaction; then wipe payout details that a finished payout no longer needs. Returns how
    many accounts were erased."""
    now = now or clock.now()
    due = db.session.scalars(
        select(User.id)
        .where(User.delete_after <= now, User.status != "deleted")
        .order_by(User.delete_after)
    ).all()
    erased = 0
    for user_id in due:
        try:
            erased += _erase(user_id, now)
        except Exception:
            db.session.rollback()
            log.exception("erasing account %s failed", user_id)
    _wipe_payout_methods_of_deleted()
    return erased


def _wipe_payout_methods(user_id: int, now: dt.datetime) -> None:
    """Remove a deleted user's payout methods and their details, except those an open payout
    will still be paid to (the sweep in `erase_due_accounts` wipes them once it is done)."""
    from models import Payout, PayoutMethod

    in_use = set(
        db.session.scalars(
            select(Payout.method_id).where(Payout.creator_id == user_id, Payout.is_open)
        )
    )
    for method in db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user_id)):
        method.removed_at = method.removed_at or now
        if method.id not in in_use:
            method.account_ref, method.details = None, {}


def _wipe_payout_methods_of_deleted() -> None:
    from models import PayoutMethod

    user_ids = db.session.scalars(
        select(PayoutMethod.user_id)
        .join(User, User.id == PayoutMethod.user_id)
        .where(
            User.status == "deleted",
            or_(PayoutMethod.account_ref.is_not(None), PayoutMethod.kind == "manual"),
        )
        .distinct()
    ).all()
    for user_id in user_ids:
        _wipe_payout_methods(user_id, clock.now())
    db.session.commit()


def _erase(user_id: int, now: dt.datetime) -> bool:
    """Erase one account whose deadline passed (one transaction): personal data erased, ledger
    rows kept, pseudonymised (docs/security.md#account-deletion).

    Erased: email, name, birth date, password and 2FA (the row becomes "Deleted member",
    deleted-<id>@deleted.invalid, and can never log in); profile, interests, photos, answers,
    likes, matches and blocks both ways; every uploaded file (photos, vault) and its row; data
    exports and their files; notifications to or about the user; mail records, email tokens,
    recovery codes, device links and login attempts; sessions are revoked and their IP and
    browser cleared; creator settings, and creator mode is off.

    Kept because other people or the books depend on them, without personal content:
    * the ledger, orders, payouts, tips and unlocks (never deleted; they point at the
      pseudonymous account, whose balances stay where they are: credits and earnings left
      are forfeited);
    * posts, soft-deleted (status 'deleted', text cleared): unlocks point at them;
    * conversations: the other person keeps what they wrote; the text of this user's messages
      is replaced by `ERASED_MESSAGE` and their attachment and price removed (rows stay:
      payments point at them); mass messages likewise;
    * subscriptions (both ways) end now; notes on tips the user sent are cleared;
    * payout methods are removed and their details wiped, except a method an open payout will
      still be paid to, wiped by the next run once that payout is done;
    * reports (filed by or about the user), risk events and the audit log, for safety and
      fraud investigations.
    """
    from models import (
        Block,
        CreatorSettings,
        Like,
        LoginAttempt,
        MassMessage,
        Match,
        MatchAnswer,
        MediaObject,
        Message,
        Notification,
        Outbox,
        Photo,
        Post,
        PostMedia,
        Profile,
        ProfileInterest,
        RecoveryCode,
        Subscription,
        Tip,
        UserDevice,
    )
    from services import media

    # Claim it: an undo that committed first wins, and two workers cannot both erase.
    claimed = db.session.execute(
        update(User)
        .where(User.id == user_id, User.status != "deleted", User.delete_after <= now)
        .values(status="deleted"),
        execution_options={"synchronize_session": False},
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return False
    user = db.session.get(User, user_id)
    db.session.refresh(user)
    old_email = user.email

    # Files first: if the transaction then fails, the next run finds the rows and retries.
    media_objects = db.session.scalars(
        select(MediaObject).where(MediaObject.user_id == user_id)
    ).all()
    media_ids = [obj.id for obj in media_objects]
    keys = {k for obj in media_objects for k in [obj.key, *(obj.variants or {}).values()]}
    for photo in db.session.scalars(select(Photo).where(Photo.user_id == user_id)):
        keys.update(k for k in (photo.storage_key, photo.thumb_key) if k)
    keys.update(
        db.session.scalars(
            select(DataExport.storage_key).where(
                DataExport.user_id == user_id, DataExport.storage_key.is_not(None)
            )
        )
    )
    store = media.storage()
    for key in sorted(keys):
        store.delete(key)

    def execute(statement) -> None:
        db.session.execute(statement, execution_options={"synchronize_session": False})

    execute(
        update(Message)
        .where(Message.sender_id == user_id)
        .values(body=ERASED_MESSAGE, media_id=None, unlock_price=None)
    )
    execute(
        update(MassMessage)
        .where(MassMessage.creator_id == user_id)
        .values(body=ERASED_MESSAGE, media_id=None)
    )
    if media_ids:
        execute(update(Message).where(Message.media_id.in_(media_ids)).values(media_id=None))
        execute(delete(PostMedia).where(PostMedia.media_id.in_(media_ids)))
    execute(
        update(Post)
        .where(Post.creator_id == user_id)
        .values(status="deleted", body="", updated_at=now)
    )
    execute(
        update(Subscription)
        .where(
            or_(Subscription.fan_id == user_id, Subscription.creator_id == user_id),
            Subscription.status.in_(("active", "grace")),
        )
        .values(status="ended", cancel_at_period_end=True, grace_until=None, updated_at=now)
    )
    execute(update(Tip).where(Tip.fan_id == user_id).values(note=None))
    for statement in (
        delete(ProfileInterest).where(ProfileInterest.user_id == user_id),
        delete(Profile).where(Profile.user_id == user_id),
        delete(Photo).where(Photo.user_id == user_id),
        delete(MediaObject).where(MediaObject.user_id == user_id),
        delete(MatchAnswer).where(MatchAnswer.user_id == user_id),
        delete(Like).where(or_(Like.liker_id == user_id, Like.liked_id == user_id)),
        delete(Match).where(or_(Match.user_a_id == user_id, Match.user_b_id == user_id)),
        delete(Block).where(or_(Block.blocker_id == user_id, Block.blocked_id == user_id)),
        delete(Notification).where(
            or_(Notification.user_id == user_id, Notification.actor_id == user_id)
        ),
        delete(CreatorSettings).where(CreatorSettings.user_id == user_id),
        delete(DataExport).where(DataExport.user_id == user_id),
        delete(EmailToken).where(EmailToken.user_id == user_id),
        delete(RecoveryCode).where(RecoveryCode.user_id == user_id),
        delete(UserDevice).where(UserDevice.user_id == user_id),
        delete(LoginAttempt).where(
            or_(LoginAttempt.user_id == user_id, LoginAttempt.email == old_email)
        ),
        delete(Outbox).where(or_(Outbox.user_id == user_id, Outbox.to_email == old_email)),
    ):
        execute(statement)
    _wipe_payout_methods(user_id, now)
    _revoke_sessions(user_id, "account deleted")
    execute(
        update(UserSession).where(UserSession.user_id == user_id).values(ip=None, user_agent=None)
    )

    user.email = f"deleted-{user_id}@deleted.invalid"
    user.display_name = "Deleted member"
    user.date_of_birth = dt.date(1970, 1, 1)
    user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.is_creator = False
    user.status_reason = None
    user.last_active_at = None
    audit.record("account.erased", actor_id=None, target=("user", user_id))
    db.session.commit()
    return True
