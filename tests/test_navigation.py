"""The navigation bar (blueprints/navigation.py): who sees which items, and which one the page
belongs to."""

from __future__ import annotations

import re

from tests.creator_helpers import signed_in

NAV = re.compile(r'<ul class="nav-links">(.*?)</ul>', re.S)
ITEM = re.compile(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)')


def items(html: str) -> list[tuple[str, str, bool]]:
    """(label, URL, marked as the current page) of each item of the bar."""
    bar = NAV.search(html).group(1)
    return [(label, url, bool(current)) for url, current, label in ITEM.findall(bar)]


def test_members_see_their_items_and_the_page_they_are_on(app):
    fan, _ = signed_in(app, "fan@example.com", "Fan")
    wallet = items(fan.client.get("/wallet").text)
    labels = [label for label, _, _ in wallet]
    assert labels[:3] == ["Discover", "Matches", "Profile"] and "Settings" in labels
    assert "Creator" not in labels and "Admin" not in labels
    assert [label for label, _, current in wallet if current] == ["Wallet"]
    assert ("Wallet", "/wallet", True) in wallet and ("Feed", "/feed", False) in wallet


def test_a_creator_sees_creator_marked_on_the_payouts_page(app):
    """Payouts is another blueprint than the dashboard's: NAV_SECTIONS counts it as Creator."""
    creator, _ = signed_in(app, "mira@example.com", "Mira", creator=True)
    payouts = items(creator.client.get("/creator/payouts").text)
    assert [label for label, _, current in payouts if current] == ["Creator"]
    assert ("Creator", "/creator", True) in payouts


def test_visitors_see_no_member_items(client):
    html = client.get("/terms").text
    assert items(html) == []
    assert 'href="/login"' in html
