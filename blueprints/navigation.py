"""The navigation bar: one list, filtered by role and by which pages exist in this build."""

from __future__ import annotations

from typing import NamedTuple

from flask import current_app, g, has_request_context, request
from flask_login import current_user

from blueprints.urls import fast_url_for
from core import transactions
from services import badges, matching, sessions

# (endpoint, label, who sees it): "anon", "user", "creator", "moderator" (and not admin),
# "admin".
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
    ("admin.reports", "Moderation", "moderator"),
    ("settings.account", "Settings", "user"),
]


# Blueprints whose pages belong to a navigation item (its link is marked as current there).
NAV_SECTIONS: dict[str, tuple[str, ...]] = {
    "creator.dashboard": ("creator", "payouts"),
    "admin.index": ("admin", "admin_analytics"),
    "admin.reports": ("admin",),
    "messages.inbox": ("messages",),
    "wallet.index": ("wallet",),
    "settings.account": ("settings",),
}


class NavItem(NamedTuple):
    endpoint: str
    label: str
    url: str
    current: bool  # this page belongs to it (aria-current)


def _visible(audience: str, who: tuple[bool, bool, bool, bool]) -> bool:
    signed_in, creator, admin, staff = who
    if audience == "anon":
        return not signed_in
    if not signed_in:
        return False
    if audience == "creator":
        return creator
    if audience == "admin":
        return admin
    if audience == "moderator":
        return staff and not admin
    return True


def _links(who: tuple[bool, bool, bool, bool]) -> list[tuple[str, str, str]]:
    """(endpoint, label, URL) of the items `who` sees (signed in, creator, admin, staff): the same
    few lists on every page, each built once per app and script root."""
    kept = current_app.extensions.setdefault("amora_nav_links", {})
    key = (request.script_root, who)
    links = kept.get(key)
    if links is None:
        links = kept[key] = [
            (endpoint, label, fast_url_for(endpoint))
            for endpoint, label, audience in NAV_ITEMS
            if endpoint in current_app.view_functions and _visible(audience, who)
        ]
    return links


def _current(endpoint: str, here: str | None, section: str | None) -> bool:
    return endpoint == here or (section is not None and section in NAV_SECTIONS.get(endpoint, ()))


def context() -> dict:
    if not has_request_context():  # mail rendered by a job has no navigation
        return {}
    user = current_user._get_current_object()
    signed_in = user.is_authenticated
    who = (
        signed_in,
        signed_in and user.is_creator,
        signed_in and user.is_admin,
        signed_in and user.is_staff,
    )
    here, section = request.endpoint, request.blueprint
    context = {
        "nav_items": [
            NavItem(endpoint, label, url, _current(endpoint, here, section))
            for endpoint, label, url in _links(who)
        ],
        "csp_nonce": getattr(g, "csp_nonce", ""),
    }
    if signed_in:
        # Called by base.html only: fragments (htmx swaps, which are most requests on a busy
        # chat) render without the navigation bar and so without these three queries.
        context["nav_credits"] = lambda: counts().credits
        context["nav_unread"] = lambda: counts().unread_notifications
        context["nav_unread_messages"] = lambda: counts().unread_messages
    return context


def counts() -> badges.Badges:
    """The signed-in member's three counts, read once per request: the navigation bar's, and a
    page's that shows one of them too (the balance of a paid chat). Read with the member
    (`load_member`) when the request is a whole page, else in a statement of their own; read
    again if the request committed anything since (a conversation just marked read)."""
    found = g.get("amora_nav_counts")
    if found is None or g.get("amora_nav_counts_commits") != transactions.commits():
        found = _hold(badges.for_user(current_user.id))
    return found


def _hold(found: badges.Badges) -> badges.Badges:
    """Keep `found` for the rest of the request, until its next commit."""
    g.amora_nav_counts, g.amora_nav_counts_commits = found, transactions.commits()
    return found


def _is_whole_page() -> bool:
    """A browser's navigation to a page: a GET for HTML that htmx did not send. (Images, htmx
    swaps, JSON and posts show no navigation bar.)"""
    return (
        request.method == "GET"
        and request.headers.get("HX-Request") != "true"
        and "text/html" in request.headers.get("Accept", "")
    )


def with_profile(view):
    """Mark a view that reads its member's dating profile (`profiles.get(current_user.id)`) and
    answers (`member_answers`): `load_member` reads them with the member, and the view finds
    the profile in the session."""
    view.amora_with_profile = True
    return view


def member_answers() -> list | None:
    """The member's answers as read with them (`matching.my_answers(known=)`) by a view marked
    `with_profile`; None otherwise (read them)."""
    return g.get("amora_member_answers")


def with_member_columns(*columns):
    """Mark a view that reads `columns` of its member (labelled scalar subqueries of the
    `user_id` parameter, e.g. `subscriptions.SUBSCRIBED_JSON`): `load_member` reads them in
    the member's statement, and the view finds their values in `member_columns()`."""

    def mark(view):
        view.amora_member_columns = columns
        return view

    return mark


def member_columns() -> tuple | None:
    """The values of the columns a view marked `with_member_columns` read with its member, in
    their order; None when they were not read (read them otherwise)."""
    return g.get("amora_member_columns")


def _view():
    return current_app.view_functions.get(request.endpoint)  # marks kept by functools.wraps


def load_member(user_id: str, raw_token: str | None):
    """The member behind the session cookie (`sessions.load_session_user`); for a whole page,
    with the navigation bar's counts in the same statement; for a view marked `with_profile`,
    with the member's dating profile; for one marked `with_member_columns`, with those."""
    view = _view()
    whole = _is_whole_page()
    profile = getattr(view, "amora_with_profile", False)
    own = getattr(view, "amora_member_columns", ())
    if not whole and not profile and not own:
        return sessions.load_session_user(user_id, raw_token)
    values: list = []
    columns = ((matching.ANSWERS_JSON,) if profile else ()) + own
    columns += badges.COLUMNS if whole else ()
    user = sessions.load_session_user(user_id, raw_token, columns, values, profile=profile)
    if user is not None:
        if profile:
            g.amora_member_profile = values.pop(0)  # held: the session finds it by key
            g.amora_member_answers = values.pop(0) or []
        if own:
            g.amora_member_columns = tuple(values[: len(own)])
            del values[: len(own)]
        if whole:
            _hold(badges.from_values(*values))
    return user
