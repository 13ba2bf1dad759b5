"""Password hashing (argon2id) and the password policy (docs/security.md#passwords)."""

from __future__ import annotations

import functools
import re
import string
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; this bounds the work an attacker can make us do.

_COMMON_FILE = Path(__file__).parent / "data" / "common_passwords.txt"
# argon2-cffi's recommended parameters (time cost, memory in KiB, lanes): also the defaults of
# PASSWORD_HASH_* (config.py), which an app may change.
_RECOMMENDED = PasswordHasher()
DEFAULT_COST = (_RECOMMENDED.time_cost, _RECOMMENDED.memory_cost, _RECOMMENDED.parallelism)


@functools.cache
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _hasher() -> PasswordHasher:
    """argon2id at the configured cost (PASSWORD_HASH_*; by default the argon2-cffi library's
    recommended parameters, config.py)."""
    if not has_app_context():
        return _hasher_for(*DEFAULT_COST)
    config = current_app.config
    return _hasher_for(
        config.get("PASSWORD_HASH_TIME_COST", DEFAULT_COST[0]),
        config.get("PASSWORD_HASH_MEMORY_KIB", DEFAULT_COST[1]),
        config.get("PASSWORD_HASH_PARALLELISM", DEFAULT_COST[2]),
    )


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password at `hasher`'s cost, verified against when no user matches,
    so that a login for an unknown email costs the same time as one for a known email (no user
    enumeration by timing)."""
    return hasher.hash("not-a-real-password-3c1f0b7e")


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8", errors="replace").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def _off_the_hub(work, *args):
    """Run argon2 (a few hundred milliseconds of CPU) where it stalls no one.

    Under gunicorn's gevent worker every request and socket of the process shares one OS
    thread: a login hashing on it would freeze every chat for that long. There the work goes to
    gevent's pool of real threads (argon2-cffi releases the GIL while it hashes); under threads
    it simply runs on the request's own thread."""
    # gevent is optional (the threaded server and SQLite laptops run without it): looked up
    # only here, where its absence simply means "not under gevent".
    try:
        from gevent import monkey  # noqa: PLC0415
    except ImportError:
        return work(*args)
    if not monkey.is_module_patched("threading"):
        return work(*args)
    import gevent  # noqa: PLC0415

    return gevent.get_hub().threadpool.apply(work, args)


def hash_password(password: str) -> str:
    return _off_the_hub(_hasher().hash, password)


def _matches(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """argon2's verify, answering False instead of raising: gevent's thread pool prints every
    exception a task raises, traceback and all, to the web process's log (ten lines per wrong
    password, thousands under a password-guessing attack)."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; runs a full verification even without a hash."""
    hasher = _hasher()
    checked = password_hash or _dummy_hash(hasher)
    return _off_the_hub(_matches, hasher, checked, password) and bool(password_hash)


def needs_rehash(password_hash: str) -> bool:
    """Made at another cost than the configured one: replaced at the next successful login."""
    return _hasher().check_needs_rehash(password_hash)


def is_common(password: str) -> bool:
    """In the bundled list, or a listed word with a short digit/symbol tail ("Sunshine2024!")."""
    lowered = password.lower()
    common = _common_passwords()
    if lowered in common:
        return True
    base = lowered.rstrip(string.digits + string.punctuation + " ")
    if len(base) >= 4 and len(lowered) - len(base) <= 6 and base in common:
        return True
    if len(set(lowered)) <= 2:
        return True
    return _is_sequence(lowered)


def _is_sequence(text: str) -> bool:
    """abcdefghij, 0123456789, 9876543210…: every step the same ±1."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def password_problem(password: str, *, email: str = "", display_name: str = "") -> str | None:
    """The reason a password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if is_common(password):
        return "This password is too common; choose one that is harder to guess."
    lowered = re.sub(r"\s+", "", password.lower())
    local_part = email.split("@", 1)[0].lower()
    for personal in (local_part, re.sub(r"\s+", "", display_name.lower())):
        if len(personal) >= 5 and personal in lowered:
            return "Don't use your name or email address in your password."
    return None
