"""Creator economy jobs: subscription renewals and scheduled posts."""

from __future__ import annotations

from services import posts, subscriptions


def renew_subscriptions() -> dict[str, int]:
    """Charge every subscription whose period ended (grace and lapse included)."""
    return subscriptions.renew_due()


def publish_scheduled_posts() -> int:
    """Scheduled posts whose time has come go live."""
    return posts.publish_due()
