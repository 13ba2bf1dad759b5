"""Two-factor authentication (docs/security.md#two-factor-authentication): TOTP, ten single-use
recovery codes, email codes.

A TOTP code is accepted for the current 30-second step or one step either side (phones drift),
and never twice: the accepted step is stored with a conditional update, so even two requests
racing with the same code cannot both pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import pyotp
import segno
from sqlalchemy import delete, select, update

from core import clock
from core.errors import DomainError, ValidationFailed
from extensions import db
from models import EmailToken, RecoveryCode, User
from services import audit, mail, passwords

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
EMAIL_CODE_MINUTES = 10
ISSUER = "Amora"
WRONG_CODE = "That code is not valid. Check it and try again."


def pending_login(user_id: int, email_only: bool) -> User | None:
    """The account that passed the password step and now owes a second factor, if it still may
    log in and still has one: its own 2FA, or (`email_only`) a code sent by email."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or not (user.has_2fa or email_only):
        return None
    return user


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The otpauth:// URI as an SVG QR code (a data: URI, allowed by our CSP)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _step(at: dt.datetime) -> int:
    return int(at.replace(tzinfo=dt.UTC).timestamp()) // STEP_SECONDS


def code_for(secret: str, at: dt.datetime) -> str:
    """The TOTP code at a moment (what the user's app shows)."""
    return pyotp.TOTP(secret).generate_otp(_step(at))


def _matching_step(secret: str, code: str, at: dt.datetime) -> int | None:
    totp = pyotp.TOTP(secret)
    now = _step(at)
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def _normalize(code: str) -> str:
    """Spaces and dashes dropped, lower case; anything but ASCII letters and digits is not a
    code we issue (and must not reach the comparisons)."""
    cleaned = "".join((code or "").split()).replace("-", "").lower()
    return cleaned if cleaned.isascii() and cleaned.isalnum() else "!"


def _hash_code(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{_normalize(code)}".encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 10 hex characters, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(user.id, raw)))
    return codes


# --- enrolment ------------------------------------------------------------------------------


def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn on TOTP once the user proves their app has the secret; returns the recovery codes
    (to show once)."""
    if user.has_2fa:
        raise DomainError("Two-factor authentication is already on.")
    code = _normalize(code)
    step = _matching_step(secret, code, clock.now()) if code.isdigit() else None
    if step is None:
        raise ValidationFailed({"code": WRONG_CODE})
    user.totp_secret = secret
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    audit.record("2fa.enabled", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    return codes


def disable(user: User, password: str, code: str) -> None:
    if not user.has_2fa:
        raise DomainError("Two-factor authentication is already off.")
    if not passwords.verify_password(user.password_hash, password or ""):
        raise ValidationFailed({"password": "Your password is not correct."})
    _check(user, code)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("2fa.disabled", actor_id=user.id, target=("user", user.id))
    db.session.commit()


def regenerate_recovery_codes(user: User, code: str) -> list[str]:
    if not user.has_2fa:
        raise DomainError("Turn on two-factor authentication first.")
    _check(user, code)
    codes = _new_recovery_codes(user)
    audit.record("2fa.recovery_codes_regenerated", actor_id=user.id, target=("user", user.id))
    db.session.commit()
    return codes


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


# --- the second step of a login ---------------------------------------------------------------


def _check(user: User, code: str) -> str:
    """Accept a TOTP code, a recovery code or an emailed code, each at most once.
    Returns the method used; raises ValidationFailed. Does not commit."""
    normalized = _normalize(code)
    now = clock.now()
    if user.totp_secret and len(normalized) == 6 and normalized.isdigit():
        step = _matching_step(user.totp_secret, normalized, now)
        if step is not None:
            claimed = db.session.execute(
                update(User)
                .where(
                    User.id == user.id,
                    (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            if claimed.rowcount == 1:
                return "totp"
            raise ValidationFailed({"code": "That code was already used. Wait for the next one."})
    if len(normalized) == 10:
        used = db.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash_code(user.id, normalized),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
        if used.rowcount == 1:
            return "recovery_code"
    if len(normalized) == 6 and normalized.isdigit():
        used = db.session.execute(
            update(EmailToken)
            .where(
                EmailToken.user_id == user.id,
                EmailToken.purpose == "login_code",
                EmailToken.token_hash == _hash_code(user.id, normalized),
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > now,
            )
            .values(used_at=now)
        )
        if used.rowcount == 1:
            return "email_code"
    raise ValidationFailed({"code": WRONG_CODE})


def check_step_up(user: User, code: str) -> str:
    """A second factor for a sensitive action (a payout): TOTP, recovery or emailed code, each
    once. Joins the caller's transaction; raises ValidationFailed."""
    if not user.has_2fa:
        raise ValidationFailed({"code": "Turn on two-factor authentication first."})
    return _check(user, code or "")


def verify_login_code(user: User, code: str, ip: str | None = None) -> str:
    """The second factor of a login; one transaction. Failures are audited."""
    try:
        method = _check(user, code)
    except ValidationFailed:
        db.session.rollback()
        audit.record("2fa.failed", actor_id=user.id, target=("user", user.id))
        db.session.commit()
        raise
    audit.record("2fa.passed", actor_id=user.id, target=("user", user.id), method=method)
    db.session.commit()
    return method


def send_login_code(user: User) -> None:
    """Email a 6-digit code valid for 10 minutes (replacing any earlier one)."""
    db.session.execute(
        delete(EmailToken).where(EmailToken.user_id == user.id, EmailToken.purpose == "login_code")
    )
    code = f"{secrets.randbelow(10**6):06d}"
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose="login_code",
            token_hash=_hash_code(user.id, code),
            expires_at=clock.now() + dt.timedelta(minutes=EMAIL_CODE_MINUTES),
        )
    )
    mail.send(
        user,
        user.email,
        "login_code",
        f"Your Amora sign-in code: {code}",
        "login_code",
        code=code,
        minutes=EMAIL_CODE_MINUTES,
    )
    db.session.commit()
