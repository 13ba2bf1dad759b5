"""Sessions and devices (docs/security.md#sessions-and-devices): the login session behind each
cookie, and the devices (fingerprint hashes our script sends with sign-up and login) linked to
accounts, IP addresses and sessions.

A function that commits says so; the others add to the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets

from sqlalchemy import Select, String, bindparam, func, select, update

from core import clock, sql
from core.errors import DomainError, NotFound
from extensions import db
from models import Device, Profile, User, UserDevice, UserSession, UserStatus
from services import audit, mail, realtime

SESSION_TOUCH_INTERVAL = dt.timedelta(minutes=1)
FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def hash_token(raw: str) -> str:
    """What we store of a random token (a session's, an email link's): its SHA-256
    (docs/security.md#secrets)."""
    return hashlib.sha256(raw.encode()).hexdigest()


# --- sessions -------------------------------------------------------------------------------


def start_session(
    user: User, ip: str | None, user_agent: str | None, fingerprint: str | None = None
) -> str:
    """Record a login (and the device it came from); returns the raw token that the browser's
    signed cookie will carry. Commits."""
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    device = link_device(user, fingerprint, ip, user_agent, notify=True)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=hash_token(raw),
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


# Read on every request of a logged-in member: built once (building it cost more than running it).
_SESSION_USER = (
    select(UserSession.id, UserSession.revoked_at, UserSession.last_seen_at, User)
    .join(User, User.id == UserSession.user_id)
    .where(
        UserSession.token_hash == bindparam("token_hash"),
        UserSession.user_id == bindparam("user_id"),
    )
)


_TOUCHING: set[int] = set()  # the sessions a request of this process is touching now

# Only if still due: the requests of one session that find it due at the same moment wait for
# the first one's commit and then write nothing, rather than each writing and committing in
# turn (32 at once waited up to 0.4 s on PostgreSQL, BENCHMARKS.md).
_TOUCH = (
    update(UserSession)
    .where(
        UserSession.id == bindparam("session_id"),
        UserSession.last_seen_at <= bindparam("due_before"),
    )
    .values(last_seen_at=bindparam("now"))
)


@functools.cache
def _session_user_with(extra: tuple, profile: bool = False) -> Select:
    statement = _SESSION_USER
    if profile:
        statement = statement.add_columns(Profile).outerjoin(Profile, Profile.user_id == User.id)
    return statement.add_columns(*extra)


def load_session_user(
    user_id: str | int,
    raw_token: str | None,
    extra: tuple = (),
    into: list | None = None,
    profile: bool = False,
) -> User | None:
    """The user behind a cookie, if its session is live and the account may be logged in.
    Commits when it touches the session's last use (at most once a minute).

    `extra`: more columns to read in the same statement, built once per tuple; they may use the
    `user_id` parameter. Their values are appended to `into` when the user is returned, after
    the user's dating profile (None: none yet) when `profile` asks for it too."""
    if not raw_token:
        return None
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    statement = _session_user_with(extra, profile) if extra or profile else _SESSION_USER
    # Straight through the driver: every request reads it (core.sql.load, BENCHMARKS.md).
    found = sql.load(statement, {"token_hash": hash_token(raw_token), "user_id": uid})
    if not found:
        return None
    row = found[0]
    session_id, revoked_at, last_seen_at, user = row[:4]
    if revoked_at is not None or not user.is_active:
        return None
    if into is not None:
        into.extend(row[4:])
    now = clock.now()
    if now - last_seen_at >= SESSION_TOUCH_INTERVAL and session_id not in _TOUCHING:
        _TOUCHING.add(session_id)  # this process's other requests of the session go on
        try:
            values = {
                "session_id": session_id,
                "now": now,
                "due_before": now - SESSION_TOUCH_INTERVAL,
            }
            if db.session.execute(_TOUCH, values).rowcount:
                user.last_active_at = now
            db.session.commit()
        finally:
            _TOUCHING.discard(session_id)
    return user


_SOCKET_CHECK_CHUNK = 500  # sessions per query when a process checks its open sockets


def still_live(pairs) -> set[tuple[int, str]]:
    """Of these (user id, raw session token) pairs, the open sockets of a process, those whose
    session is live and whose account may still log in: the same rule as `load_session_user`,
    in one query per 500 sessions instead of one per socket. Touches the last use of the live
    ones that are due, as a request would (one UPDATE each for sessions and users). Each list
    travels as one parameter (`sql.in_values`). Commits."""
    pairs = list(pairs)
    live: set[tuple[int, str]] = set()
    now = clock.now()
    for start in range(0, len(pairs), _SOCKET_CHECK_CHUNK):
        by_hash: dict[str, list[tuple[int, str]]] = {}
        for uid, raw in pairs[start : start + _SOCKET_CHECK_CHUNK]:
            by_hash.setdefault(hash_token(raw), []).append((uid, raw))
        rows = db.session.execute(
            select(
                UserSession.id,
                UserSession.user_id,
                UserSession.token_hash,
                UserSession.last_seen_at,
            )
            .join(User, User.id == UserSession.user_id)
            .where(
                sql.in_values(UserSession.token_hash, list(by_hash), String),
                UserSession.revoked_at.is_(None),
                User.status.in_((UserStatus.ACTIVE, UserStatus.SUSPENDED)),
            )
        ).all()
        due_sessions, due_users = [], set()
        for session_id, user_id, token_hash, last_seen_at in rows:
            mine = [pair for pair in by_hash[token_hash] if pair[0] == user_id]
            if not mine:
                continue  # a cookie that names another user than its session's: not live
            live.update(mine)
            if now - last_seen_at >= SESSION_TOUCH_INTERVAL:
                due_sessions.append(session_id)
                due_users.add(user_id)
        if due_sessions:
            db.session.execute(
                update(UserSession)
                .where(sql.in_values(UserSession.id, due_sessions))
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
            db.session.execute(
                update(User)
                .where(sql.in_values(User.id, sorted(due_users)))
                .values(last_active_at=now)
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
    return live


def end_session(raw_token: str | None, user_id: int | None = None) -> None:
    """Log out: revoke the session behind this cookie. Commits."""
    if not raw_token:
        return
    ended = db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == hash_token(raw_token), UserSession.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoked_reason="logout")
    )
    if ended.rowcount and user_id is not None:
        audit.record("logout", actor_id=user_id, target=("user", user_id))
        recheck_sockets(user_id)
    db.session.commit()


def revoke_sessions(user_id: int, reason: str, keep_raw_token: str | None = None) -> int:
    """Revoke a user's live sessions (all but `keep_raw_token`); caller commits."""
    stmt = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep_raw_token:
        stmt = stmt.where(UserSession.token_hash != hash_token(keep_raw_token))
    result = db.session.execute(stmt.values(revoked_at=clock.now(), revoked_reason=reason))
    recheck_sockets(user_id)
    return result.rowcount


def revoke_all_sessions(user: User, reason: str) -> int:
    """End every session of `user` (an admin's force logout, a 2FA reset); caller commits."""
    return revoke_sessions(user.id, reason)


def recheck_sockets(user_id: int) -> None:
    """Tell the user's open sockets to re-check their session, and read the account again,
    once this commits: a revoked or banned session's sockets close within a second, and a
    suspended one goes read-only, without polling the database."""
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
    return bool(raw_token) and user_session.token_hash == hash_token(raw_token)


def revoke_other_sessions(user: User, keep_raw_token: str | None) -> int:
    """Log out every other device of the user (Settings → Security). Commits."""
    count = revoke_sessions(user.id, "revoked by user", keep_raw_token)
    audit.record("sessions.revoked_others", actor_id=user.id, target=("user", user.id), count=count)
    db.session.commit()
    return count


def revoke_session(user: User, session_id: int) -> None:
    """Log out one of the user's own devices (another user's session id is simply not found).
    Commits."""
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


# --- devices --------------------------------------------------------------------------------


class BadFingerprint(DomainError):
    pass


def clean_fingerprint(raw: str | None) -> str | None:
    """None when the browser sent none (no JavaScript); refuse anything not a SHA-256 hex."""
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if not FINGERPRINT.fullmatch(value):
        raise BadFingerprint(
            "Your browser sent an invalid device check. Reload the page and try again."
        )
    return value


def find_device(fingerprint: str | None) -> Device | None:
    if fingerprint is None:
        return None
    return db.session.scalar(select(Device).where(Device.fingerprint == fingerprint))


def _get_or_create_device(fingerprint: str, user_agent: str | None) -> Device:
    device = find_device(fingerprint)
    if device is None:
        now = clock.now()
        sql.insert_ignore(  # a concurrent request may create the same device
            Device,
            {
                "fingerprint": fingerprint,
                "user_agent": (user_agent or "")[:400] or None,
                "first_seen_at": now,
                "last_seen_at": now,
            },
            ["fingerprint"],
        )
        device = find_device(fingerprint)
    return device


def is_known_device(user_id: int, fingerprint: str | None) -> bool:
    if fingerprint is None:
        return False
    return (
        db.session.scalar(
            select(UserDevice.id)
            .join(Device, Device.id == UserDevice.device_id)
            .where(UserDevice.user_id == user_id, Device.fingerprint == fingerprint)
        )
        is not None
    )


def accounts_on_device(fingerprint: str | None, excluding: int | None = None) -> int:
    if fingerprint is None:
        return 0
    query = (
        select(func.count(UserDevice.id))
        .join(Device, Device.id == UserDevice.device_id)
        .where(Device.fingerprint == fingerprint)
    )
    if excluding is not None:
        query = query.where(UserDevice.user_id != excluding)
    return db.session.scalar(query)


def link_device(
    user: User, fingerprint: str | None, ip: str | None, user_agent: str | None, *, notify: bool
) -> Device | None:
    """Record that `user` is on this device; mail "new device" when it is one they never used
    before (and they have used others: not on their very first login). Caller commits."""
    if fingerprint is None:
        return None
    now = clock.now()
    device = _get_or_create_device(fingerprint, user_agent)
    device.last_seen_at = now
    pair = db.session.scalar(
        select(UserDevice).where(UserDevice.user_id == user.id, UserDevice.device_id == device.id)
    )
    if pair is None:
        had_devices = db.session.scalar(
            select(func.count(UserDevice.id)).where(UserDevice.user_id == user.id)
        )
        db.session.add(
            UserDevice(
                user_id=user.id,
                device_id=device.id,
                last_ip=ip,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
        if notify and had_devices:
            mail.send(
                user,
                user.email,
                "new_device",
                "New sign-in to your Amora account",
                "new_device",
                browser=describe_user_agent(user_agent),
                ip=ip or "unknown",
                when=now,
            )
            audit.record(
                "login.new_device", actor_id=user.id, target=("user", user.id), device_id=device.id
            )
    else:
        pair.last_seen_at = now
        pair.last_ip = ip
    return device


_BROWSERS = [
    ("Edge", r"Edg/"),
    ("Opera", r"OPR/"),
    ("Firefox", r"Firefox/"),
    ("Chrome", r"Chrome/"),
    ("Chromium", r"Chromium/"),
    ("Safari", r"Version/[\d.]+ .*Safari/"),
]
_SYSTEMS = [
    ("iPhone", r"iPhone"),
    ("iPad", r"iPad"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux"),
]


def describe_user_agent(user_agent: str | None) -> str:
    """ "Firefox on Windows", good enough for a person recognising their own device."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:40]
