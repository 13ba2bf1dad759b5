"""The demo world `flask seed-demo` builds: an admin, creators with posts, fans with wallets,
dating profiles with portraits and answers, and a creator with earnings ready to pay out.

Everything goes through the services, as the app itself would do it (accounts, the ledger,
the media pipeline), and is deterministic: seeding again creates only what is missing.
"""

from __future__ import annotations

from services.demo.creators import seed_creators
from services.demo.money import seed_matured_earnings, seed_wallets
from services.demo.people import DEMO_DOMAIN, DEMO_PASSWORD, seed_people
from services.demo.profiles import seed_profiles

__all__ = ["DEMO_DOMAIN", "DEMO_PASSWORD", "PAYABLE_CREATOR", "seed"]

PAYABLE_CREATOR = f"creator1@{DEMO_DOMAIN}"


def seed() -> int:
    """Create what is missing of the demo world; returns how many accounts were created."""
    created = seed_people()
    seed_matured_earnings(PAYABLE_CREATOR)  # before the wallets: its fans bought days ago
    seed_wallets()
    seed_profiles()
    seed_creators()
    return created
