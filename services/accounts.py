"""Accounts (docs/security.md): sign-up, email verification, login, passwords, account states and
admin creation. Sessions and devices are in `services/sessions.py`; your data's export and
erasure in `services/data_export.py` and `services/erasure.py`.

Every public function here is one transaction: it commits on success and leaves nothing
written when it raises.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import clock
from core.emails import normalize_email
from core.errors import DomainError, NotAllowed, ValidationFailed
from extensions import db
from models import EmailToken, User
from models.user import age_on
from services import audit, mail, passwords, risk, sessions, throttle, twofactor
from workers.queue import enqueue

GENERIC_LOGIN_ERROR = "Email or password is incorrect."
OLDEST_AGE = 120


class LoginFailed(DomainError):
    status = 401


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


# --- sign-up and verification --------------------------------------------------------------


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
        login_link=external_url("auth.login"),
        reset_link=external_url("auth.forgot_password"),
    )
    db.session.commit()


def _score_sign_up(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None
) -> None:
    """Link the device the account was made on and score the sign-up; caller commits."""
    risk.assess(risk.Signals("signup", user, ip=ip, fingerprint=fingerprint))
    sessions.link_device(user, fingerprint, ip, user_agent, notify=False)


def _issue_token(user: User, purpose: str, lifetime: dt.timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=sessions.hash_token(raw),
            expires_at=clock.now() + lifetime,
        )
    )
    return raw


def external_url(endpoint: str, **values) -> str:
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
        link=external_url("auth.verify_email", token=raw),
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
            EmailToken.token_hash == sessions.hash_token(raw or ""), EmailToken.purpose == purpose
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


class Banned(NotAllowed):
    """A banned member's right password: refused, with the member, whom the login form offers
    an appeal (docs/security.md#appeals)."""

    def __init__(self, message: str, user: User) -> None:
        super().__init__(message)
        self.user = user


# --- login --------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User:
    """The user for these credentials, or LoginFailed with one message for every wrong input."""
    user = find_by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok or user.status == "deleted":
        raise LoginFailed(GENERIC_LOGIN_ERROR)
    if user.status == "banned":
        reason = (user.status_reason or "").rstrip(". ")
        raise Banned(f"This account has been banned{': ' + reason if reason else ''}.", user)
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
    throttle.add_success(user.email, user, ip)
    return sessions.start_session(user, ip, user_agent, fingerprint)


# --- passwords ----------------------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """Queue the reset mail for `email`. The account is looked up by the job, so this request
    does the same work whether or not the address has one: it tells nothing, not even by how
    long it takes."""
    enqueue(send_password_reset, (email or "").strip())
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
        link=external_url("auth.reset_password", token=raw),
        minutes=minutes,
    )
    db.session.commit()


def check_reset_token(raw_token: str) -> None:
    """Raise DomainError when a reset link can no longer be used (to show before the form)."""
    token = db.session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == sessions.hash_token(raw_token or ""),
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
    revoked = sessions.revoke_sessions(user.id, "password reset")
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
    revoked = sessions.revoke_sessions(user.id, "password changed", keep_raw_token)
    audit.record(
        "password.changed", actor_id=user.id, target=("user", user.id), sessions_revoked=revoked
    )
    db.session.commit()
    return revoked


# --- account states -----------------------------------------------------------------------


THEMES = {"system": "As my device is set", "light": "Light", "dark": "Dark"}


def set_theme(user: User, theme: str) -> None:
    """Light or dark pages, or as the device is set. One transaction."""
    if theme not in THEMES:
        raise ValidationFailed({"theme": "Choose light, dark, or as your device is set."})
    user.theme = theme
    db.session.commit()


def set_status(
    user: User, status: str, reason: str | None = None, actor_id: int | None = None
) -> None:
    """Move an account between active, suspended and banned (docs/security.md#account-states).

    Banning ends every session at once; suspending keeps the user logged in, read-only.
    """
    change_status(user, status, reason, actor_id)
    db.session.commit()


def change_status(
    user: User, status: str, reason: str | None = None, actor_id: int | None = None
) -> None:
    """`set_status` in the caller's transaction (an overturned appeal commits with it)."""
    if status not in ("active", "suspended", "banned"):
        raise DomainError(f"Unknown account state {status!r}.")
    if status != "active" and not (reason or "").strip():
        raise ValidationFailed({"reason": "Say why: the user will see it."})
    if user.status == "deleted":
        raise DomainError("A deleted account cannot change state.")
    user.status = status
    user.status_reason = (reason or "").strip() or None if status != "active" else None
    if status == "banned":
        sessions.revoke_sessions(user.id, "banned")
    else:
        sessions.recheck_sockets(user.id)  # suspended sockets go read-only at once
    audit.record(
        f"account.{status}", actor_id=actor_id, target=("user", user.id), note=user.status_reason
    )


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
