"""Age assurance for adult content (docs/identity.md#age-assurance).

The operator lists where an age check is required (`AGE_CHECK_COUNTRIES`: country codes, or
"*" for everywhere). A viewer seen in one of those countries (their profile's country and, with
`GEOIP_DB`, their IP's: `country_blocks.viewer_countries`) must have passed an age or identity
check (`users.age_verified_at`) before seeing adult content, subscribing to an adult creator or
buying adult content. Adult content is a post marked adult, or anything of a creator marked
adult (`users.adult_content`). Everything else stays open, and a creator always sees their own.
"""

from __future__ import annotations

import functools

from flask import current_app, has_app_context

from core.errors import NotAllowed
from models import Post, User
from services.country_blocks import viewer_countries

AGE_CHECK_NEEDED = (
    "Where you are, adult content needs an age check first: verify your age in Settings → "
    "Verification (an ID document and a selfie)."
)
VERIFY_URL = "/settings/verification/age"


@functools.lru_cache(maxsize=8)
def _countries(setting: str) -> frozenset[str] | None:
    """None: everywhere; else the countries (empty: nowhere)."""
    if setting.strip() == "*":
        return None
    return frozenset(code for code in setting.split(",") if code)


def required_for(viewer: User | None) -> bool:
    """Whether `viewer` (None: not logged in) is where an age check is required."""
    if not has_app_context():
        return False
    countries = _countries(current_app.config.get("AGE_CHECK_COUNTRIES") or "")
    if countries is None:
        return True
    return bool(countries) and bool(countries & viewer_countries(viewer))


def needs_check(viewer: User | None) -> bool:
    """Whether adult content stays closed to `viewer` for want of an age check. Passed: an age
    check, an identity check (creators verified before age checks existed have no
    age_verified_at), or staff (who review adult content)."""
    if viewer is not None and (
        viewer.age_verified_at is not None
        or viewer.creator_verified_at is not None
        or viewer.is_staff
    ):
        return False
    return required_for(viewer)


def is_adult(creator: User, post: Post | None = None) -> bool:
    return bool(creator.adult_content or (post is not None and post.adult))


def needed_for(viewer: User | None, creator: User) -> bool:
    """Whether `viewer` must pass an age check before subscribing to `creator` (a page's
    Subscribe button becomes the way to verify)."""
    return (
        getattr(viewer, "id", None) != creator.id
        and bool(creator.adult_content)
        and needs_check(viewer)
    )


def check(viewer: User, creator: User, post: Post | None = None) -> None:
    """Refuse `viewer` adult content of `creator` (a post of theirs, or all of it) while they
    need an age check."""
    if viewer.id != creator.id and is_adult(creator, post) and needs_check(viewer):
        raise NotAllowed(AGE_CHECK_NEEDED)
