"""The demo world `flask demo seed` builds: an admin, creators with posts, fans with wallets,
dating profiles with portraits and answers, and a creator with earnings ready to pay out.

Everything goes through the services, as the app itself would do it (accounts, the ledger,
the media pipeline), and is deterministic: seeding again creates only what is missing.
"""

from __future__ import annotations

from flask import current_app

from core.errors import NotAllowed
from services.demo.creators import seed_creators
from services.demo.money import seed_matured_earnings, seed_wallets
from services.demo.people import (
    CREATOR_NAMES,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    FAN_COUNT,
    seed_people,
)
from services.demo.profiles import seed_profiles

__all__ = ["DEMO_DOMAIN", "DEMO_PASSWORD", "PAYABLE_CREATOR", "logins", "seed"]

PAYABLE_CREATOR = f"creator1@{DEMO_DOMAIN}"


def seed() -> int:
    """Create what is missing of the demo world; returns how many accounts were created.
    Refused in production: every demo account shares a published password."""
    if current_app.config["APP_ENV"] == "production":
        raise NotAllowed("The demo world is refused with APP_ENV=production.")
    created = seed_people()
    seed_matured_earnings(PAYABLE_CREATOR)  # before the wallets: its fans bought days ago
    seed_wallets()
    seed_profiles()
    seed_creators()
    return created


def logins() -> list[tuple[str, str]]:
    """Who one can log in as (all with DEMO_PASSWORD): (role, addresses)."""
    return [
        ("admin", f"admin@{DEMO_DOMAIN}"),
        ("moderator", f"moderator@{DEMO_DOMAIN}"),
        ("creator", f"creator1@{DEMO_DOMAIN} … creator{len(CREATOR_NAMES)}@{DEMO_DOMAIN}"),
        ("fan", f"fan1@{DEMO_DOMAIN} … fan{FAN_COUNT}@{DEMO_DOMAIN}"),
    ]
