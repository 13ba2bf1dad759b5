"""The demo accounts: one admin, one moderator, 10 creators, 40 fans, all verified, one
password."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core import clock
from extensions import db
from models import User
from services import passwords

DEMO_PASSWORD = "amora-demo-2026"  # noqa: S105 (the published demo login)
DEMO_DOMAIN = "demo.example.com"  # example.com: reserved for examples, yet valid email
FAN_COUNT = 40

CREATOR_NAMES = [
    "Luna Rivers",
    "Kai Morgan",
    "Sofia Marquez",
    "Jasper Lane",
    "Mira Chen",
    "Theo Blackwood",
    "Aria Patel",
    "Noah Sinclair",
    "Zara Okafor",
    "Elio Romano",
]
FAN_FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jay",
    "Kira",
    "Leo",
    "Maya",
    "Nico",
    "Olivia",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
FAN_LAST = ["Adams", "Brooks", "Carter", "Diaz", "Evans", "Fischer", "Garcia", "Hughes"]


def demo_people() -> list[dict]:
    """The demo world, deterministic so that seeding twice changes nothing."""
    people = [
        {
            "email": f"admin@{DEMO_DOMAIN}",
            "name": "Ada Admin",
            "dob": dt.date(1985, 4, 12),
            "role": "admin",
            "creator": False,
        },
        {
            "email": f"moderator@{DEMO_DOMAIN}",
            "name": "Milo Moderator",
            "dob": dt.date(1990, 9, 3),
            "role": "moderator",
            "creator": False,
        },
    ]
    for i, name in enumerate(CREATOR_NAMES, start=1):
        people.append(
            {
                "email": f"creator{i}@{DEMO_DOMAIN}",
                "name": name,
                "dob": dt.date(1988 + i % 10, 1 + i % 12, 1 + (i * 3) % 28),
                "role": "fan",
                "creator": True,
            }
        )
    for i in range(1, FAN_COUNT + 1):
        first = FAN_FIRST[(i - 1) % len(FAN_FIRST)]
        last = FAN_LAST[(i * 7) % len(FAN_LAST)]
        people.append(
            {
                "email": f"fan{i}@{DEMO_DOMAIN}",
                "name": f"{first} {last[0]}.",
                "dob": dt.date(1975 + (i * 5) % 30, 1 + (i * 5) % 12, 1 + (i * 11) % 28),
                "role": "fan",
                "creator": False,
            }
        )
    return people


def seed_people() -> int:
    """Create the demo accounts that do not exist yet; returns how many were created."""
    password_hash = passwords.hash_password(DEMO_PASSWORD)  # one hash: seeding stays fast
    existing = set(
        db.session.scalars(select(User.email).where(User.email.like(f"%@{DEMO_DOMAIN}")))
    )
    now = clock.now()
    created = 0
    for person in demo_people():
        if person["email"] in existing:
            continue
        db.session.add(
            User(
                email=person["email"],
                password_hash=password_hash,
                display_name=person["name"],
                date_of_birth=person["dob"],
                role=person["role"],
                is_creator=person["creator"],
                creator_verified_at=now if person["creator"] else None,
                email_verified_at=now,
                created_at=now,
            )
        )
        created += 1
    db.session.commit()
    return created


def demo_users(pattern: str, *where) -> list[User]:
    """Demo accounts whose address matches `pattern` (SQL LIKE, e.g. "fan%"), by id."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.email.like(f"{pattern}@{DEMO_DOMAIN}"), *where)
            .order_by(User.id)
        )
    )
