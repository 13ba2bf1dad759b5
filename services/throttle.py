"""Login throttling per account and per IP (docs/security.md#throttling), on top of Flask-Limiter's
request limits.

After a few failed passwords for one email address, each further attempt must wait longer
(1 s, 2 s, 4 s … up to a minute); after `ACCOUNT_LOCK_AFTER` failures the address is locked for
`LOCK_MINUTES` and its owner gets an email. An IP address that fails against many accounts is
slowed and locked the same way. Unknown addresses are throttled exactly like real ones, so the
answers never reveal whether an account exists. A successful login resets the account's count.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import func, select

from core import clock
from core.emails import normalize_email
from core.errors import DomainError
from extensions import db
from models import LoginAttempt
from services import audit, mail

WINDOW = dt.timedelta(minutes=15)
LOCK_MINUTES = 15
ACCOUNT_FREE_FAILURES = 3
ACCOUNT_LOCK_AFTER = 10
IP_FREE_FAILURES = 20
IP_LOCK_AFTER = 50
MAX_DELAY_SECONDS = 60


class Throttled(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _failures(
    column, value: str, since: dt.datetime, reset_on_success: bool = True
) -> tuple[int, dt.datetime | None]:
    """Failures for `column == value` since `since` (and, for an account, since its last
    success; an IP's count is not reset by logging in to an account of one's own)."""
    last_success = (
        db.session.scalar(
            select(func.max(LoginAttempt.created_at)).where(
                column == value,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.created_at >= since,
            )
        )
        if reset_on_success
        else None
    )
    start = max(since, last_success) if last_success else since
    count, latest = db.session.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.created_at)).where(
            column == value,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.created_at >= start,
        )
    ).one()
    return count, latest


def _wait(
    failures: int, latest: dt.datetime | None, free: int, lock_after: int, now: dt.datetime
) -> int:
    """Seconds to wait before the next attempt (0 = go ahead)."""
    if latest is None or failures < free:
        return 0
    if failures >= lock_after:
        delay = LOCK_MINUTES * 60
    else:
        delay = min(2 ** (failures - free), MAX_DELAY_SECONDS)
    remaining = (latest + dt.timedelta(seconds=delay) - now).total_seconds()
    return max(0, math.ceil(remaining))


def _key(email: str) -> str:
    """The address as accounts are looked up ("ＡＮＡ@example.com" is ana@example.com), so
    look-alike spellings share one counter."""
    try:
        return normalize_email(email)[:254]
    except ValueError:
        return (email or "").strip().lower()[:254]


def check(email: str, ip: str | None) -> None:
    """Raise Throttled when this email or IP must wait before trying another password."""
    now = clock.now()
    since = now - WINDOW
    email = _key(email)
    failures, latest = _failures(LoginAttempt.email, email, since)
    wait = _wait(failures, latest, ACCOUNT_FREE_FAILURES, ACCOUNT_LOCK_AFTER, now)
    if failures >= ACCOUNT_LOCK_AFTER and wait:
        raise Throttled(
            f"Too many failed attempts: this account is locked for {_minutes(wait)}. "
            "We emailed its owner.",
            wait,
        )
    if ip:
        ip_failures, ip_latest = _failures(LoginAttempt.ip, ip, since, reset_on_success=False)
        ip_wait = _wait(ip_failures, ip_latest, IP_FREE_FAILURES, IP_LOCK_AFTER, now)
        wait = max(wait, ip_wait)
    if wait:
        raise Throttled(f"Too many failed attempts. Try again in {wait} seconds.", wait)


def _minutes(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _add_attempt(email: str, user, ip: str | None, succeeded: bool, stage: str) -> None:
    db.session.add(
        LoginAttempt(
            email=email,
            user_id=user.id if user is not None else None,
            ip=(ip or "")[:45] or None,
            succeeded=succeeded,
            stage=stage,
            created_at=clock.now(),
        )
    )


def add_success(email: str, user, ip: str | None) -> None:
    """Add a successful login (it resets the account's count) to the caller's transaction:
    the login commits it with the session it starts."""
    _add_attempt(_key(email), user, ip, True, "password")


def record(email: str, user, ip: str | None, succeeded: bool, stage: str = "password") -> None:
    """Store one attempt; on the failure that locks an account, email its owner. Commits."""
    email = _key(email)
    _add_attempt(email, user, ip, succeeded, stage)
    db.session.flush()
    if not succeeded and user is not None:
        failures, _ = _failures(LoginAttempt.email, email, clock.now() - WINDOW)
        if failures == ACCOUNT_LOCK_AFTER:
            mail.send(
                user,
                user.email,
                "account_locked",
                "Your Amora account was locked after failed logins",
                "account_locked",
                minutes=LOCK_MINUTES,
                ip=ip or "an unknown address",
            )
            audit.record("login.locked", actor_id=None, target=("user", user.id), failures=failures)
    db.session.commit()
