"""The navigation bar: one list, filtered by role and by which pages exist in this build."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, has_request_context
from flask_login import current_user

from services import badges

T = TypeVar("T")

# (endpoint, label, who sees it): "anon", "user", "creator", "admin".
NAV_ITEMS: list[tuple[str, str, str]] = [
    ("dating.discover_page", "Discover", "user"),
    ("dating.matches", "Matches", "user"),
    ("profile.edit", "Profile", "user"),
    ("feed.index", "Feed", "user"),
    ("messages.inbox", "Messages", "user"),
    ("random_chat.index", "Random chat", "user"),
    ("wallet.index", "Wallet", "user"),
    ("creator.dashboard", "Creator", "creator"),
    ("admin.index", "Admin", "admin"),
    ("settings.account", "Settings", "user"),
]


# Blueprints whose pages belong to a navigation item (its link is marked as current there).
NAV_SECTIONS: dict[str, tuple[str, ...]] = {
    "creator.dashboard": ("creator", "payouts"),
    "admin.index": ("admin", "admin_analytics"),
    "messages.inbox": ("messages",),
    "wallet.index": ("wallet",),
    "settings.account": ("settings",),
}


def _visible(audience: str) -> bool:
    if audience == "anon":
        return not current_user.is_authenticated
    if not current_user.is_authenticated:
        return False
    if audience == "creator":
        return current_user.is_creator
    if audience == "admin":
        return current_user.is_admin
    return True


def context() -> dict:
    if not has_request_context():  # mail rendered by a job has no navigation
        return {}
    items = [
        (endpoint, label)
        for endpoint, label, audience in NAV_ITEMS
        if endpoint in current_app.view_functions and _visible(audience)
    ]
    context = {
        "nav_items": items,
        "nav_sections": NAV_SECTIONS,
        "csp_nonce": getattr(g, "csp_nonce", ""),
    }
    if current_user.is_authenticated:
        # Called by base.html only: fragments (htmx swaps, which are most requests on a busy
        # chat) render without the navigation bar and so without these three queries.
        user_id = current_user.id
        counts = _once(lambda: badges.for_user(user_id))  # one statement for the three
        context["nav_credits"] = lambda: counts().credits
        context["nav_unread"] = lambda: counts().unread_notifications
        context["nav_unread_messages"] = lambda: counts().unread_messages
    return context


def _once(compute: Callable[[], T]) -> Callable[[], T]:
    """`compute`, run at most once (a page may show a count twice)."""
    result: list[T] = []

    def value() -> T:
        if not result:
            result.append(compute())
        return result[0]

    return value
