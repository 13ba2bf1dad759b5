"""Accounts (SPEC §1): sign-up, email verification, login sessions, password reset, states.

Every public function here is one transaction: it commits on success and leaves nothing
written when it raises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import EmailToken, User, UserSession
from models.user import age_on
from services import audit, clock, mail, passwords
from services.errors import DomainError, NotAllowed, ValidationFailed

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


def sign_up(email: str, password: str, display_name: str, date_of_birth: dt.date | None) -> User:
    """Create a fan account and mail a verification link. Under 18: refused, nothing kept."""
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
    if "email" not in errors and find_by_email(email) is not None:
        errors["email"] = _DUPLICATE_EMAIL
    if errors:
        raise ValidationFailed(errors)

    user = User(
        email=email,
        password_hash=passwords.hash_password(password),
        display_name=display_name,
        date_of_birth=date_of_birth,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent sign-up with the same email won the race
        db.session.rollback()
        raise ValidationFailed({"email": _DUPLICATE_EMAIL}) from exc
    _send_verification(user)
    audit.record("account.created", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    return user


_DUPLICATE_EMAIL = "An account with this email already exists. Log in or reset your password."


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
        _sessions_changed(user_id)
    db.session.commit()


def _revoke_sessions(user_id: int, reason: str, keep_raw_token: str | None = None) -> int:
    """Revoke a user's live sessions (all but `keep_raw_token`); caller commits."""
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_raw_token:
        stmt = stmt.where(UserSession.token_hash != _hash_token(keep_raw_token))
    result = db.session.execute(stmt.values(revoked_at=clock.now(), revoked_reason=reason))
    _sessions_changed(user_id)
    return result.rowcount


def _sessions_changed(user_id: int) -> None:
    """Tell the user's open sockets to re-check their session once this commits (a revoked
    or banned session's sockets close within a second, without polling the database)."""
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
    """Mail a reset link if the account exists; says nothing either way (no enumeration)."""
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
    """Move an account between active, suspended and banned (SPEC §1).

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
        _sessions_changed(user.id)  # suspended sockets go read-only at once
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
    _sessions_changed(user.id)
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


# --- your data: export and deletion (SPEC §1) --------------------------------------------------


def export_data(user: User) -> dict:
    """Everything Amora holds about the user, as plain JSON-able data."""
    from models import (
        Like,
        Match,
        MatchAnswer,
        Message,
        Order,
        Photo,
        Profile,
        ProfileInterest,
    )
    from services import ledger

    def iso(value):
        return value.isoformat() if value is not None else None

    profile = db.session.get(Profile, user.id)
    return {
        "account": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "date_of_birth": user.date_of_birth.isoformat(),
            "created_at": iso(user.created_at),
            "email_verified_at": iso(user.email_verified_at),
            "status": user.status,
            "is_creator": user.is_creator,
            "two_factor": user.has_2fa,
        },
        "profile": None
        if profile is None
        else {
            "gender": profile.gender,
            "seeking": profile.seeking_list,
            "age_min": profile.age_min,
            "age_max": profile.age_max,
            "bio": profile.bio,
            "place": profile.place_name,
            "interests": [
                i.tag
                for i in db.session.scalars(
                    select(ProfileInterest).where(ProfileInterest.user_id == user.id)
                )
            ],
        },
        "photos": [
            {"id": p.id, "created_at": iso(p.created_at)}
            for p in db.session.scalars(select(Photo).where(Photo.user_id == user.id))
        ],
        "match_answers": [
            {
                "question": a.question_id,
                "choice": a.choice,
                "acceptable": a.acceptable,
                "importance": a.importance,
            }
            for a in db.session.scalars(select(MatchAnswer).where(MatchAnswer.user_id == user.id))
        ],
        "likes": [
            {"user": like.liked_id, "kind": like.kind, "at": iso(like.created_at)}
            for like in db.session.scalars(select(Like).where(Like.liker_id == user.id))
        ],
        "matches": [
            iso(m.created_at)
            for m in db.session.scalars(
                select(Match).where((Match.user_a_id == user.id) | (Match.user_b_id == user.id))
            )
        ],
        "messages_sent": [
            {"to": m.recipient_id, "body": m.body, "price": m.price, "at": iso(m.created_at)}
            for m in db.session.scalars(select(Message).where(Message.sender_id == user.id))
        ],
        "orders": [
            {
                "id": o.id,
                "provider": o.provider,
                "credits": o.credits,
                "amount_minor": o.amount_minor,
                "currency": o.currency,
                "status": o.status,
                "created_at": iso(o.created_at),
            }
            for o in db.session.scalars(select(Order).where(Order.user_id == user.id))
        ],
        "balances": ledger.balances(user.id),
        "wallet_history": [
            {
                "kind": r.kind,
                "amount": r.amount,
                "balance_after": r.balance_after,
                "at": iso(r.created_at),
            }
            for r in ledger.history(user.id, limit=10_000)
        ],
        "sessions": [
            {
                "ip": s.ip,
                "user_agent": s.user_agent,
                "created_at": iso(s.created_at),
                "revoked_at": iso(s.revoked_at),
            }
            for s in db.session.scalars(select(UserSession).where(UserSession.user_id == user.id))
        ],
    }


def delete_account(user: User, password: str) -> None:
    """Erase personal data and pseudonymise the account (SPEC §1): ledger rows and orders stay,
    pointing at a nameless account; the profile, photos, answers, likes and sessions go."""
    from models import Block, Like, Match, MatchAnswer, Notification, Photo, Profile
    from services import media

    if not passwords.verify_password(user.password_hash, password or ""):
        raise ValidationFailed({"password": "Your password is not correct."})
    for photo in db.session.scalars(select(Photo).where(Photo.user_id == user.id)):
        for key in (photo.storage_key, photo.thumb_key):
            if key:
                media.storage().delete(key)
    for model, column in (
        (Photo, Photo.user_id),
        (MatchAnswer, MatchAnswer.user_id),
        (Notification, Notification.user_id),
        (Like, Like.liker_id),
        (Like, Like.liked_id),
        (Block, Block.blocker_id),
        (Block, Block.blocked_id),
        (Match, Match.user_a_id),
        (Match, Match.user_b_id),
        (Profile, Profile.user_id),
        (EmailToken, EmailToken.user_id),
    ):
        db.session.execute(model.__table__.delete().where(column == user.id))
    _revoke_sessions(user.id, "account deleted")
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.display_name = "Deleted member"
    user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
    user.totp_secret = None
    user.totp_enabled_at = None
    user.status = "deleted"
    user.status_reason = None
    audit.record("account.deleted", actor_id=user.id, target=("user", user.id))
    db.session.commit()
