"""Devices (docs/security.md#sessions-and-devices): the fingerprint hash our script sends with
sign-up and login, linked to accounts, IP addresses and sessions."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from core import clock, sql
from core.errors import DomainError
from extensions import db
from models import Device, User, UserDevice
from services import audit, mail

FINGERPRINT = re.compile(r"[0-9a-f]{64}")


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


def find(fingerprint: str | None) -> Device | None:
    if fingerprint is None:
        return None
    return db.session.scalar(select(Device).where(Device.fingerprint == fingerprint))


def _get_or_create(fingerprint: str, user_agent: str | None) -> Device:
    device = find(fingerprint)
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
        device = find(fingerprint)
    return device


def is_known(user_id: int, fingerprint: str | None) -> bool:
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


def link(
    user: User, fingerprint: str | None, ip: str | None, user_agent: str | None, *, notify: bool
) -> Device | None:
    """Record that `user` is on this device; mail "new device" when it is one they never used
    before (and they have used others: not on their very first login). Caller commits."""
    if fingerprint is None:
        return None
    now = clock.now()
    device = _get_or_create(fingerprint, user_agent)
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
