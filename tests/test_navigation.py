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


PAGE = {"Accept": "text/html,application/xhtml+xml"}  # a browser's navigation


def badges(html: str) -> tuple[str, str, str]:
    """(credits, unread notifications, unread messages) as the bar shows them."""
    credits = re.search(r'id="nav-credits">([\d,]+) credits', html).group(1)
    bell = re.search(r'id="nav-bell".*?</svg>(?:<span class="count">(\d+)</span>)?</a>', html, re.S)
    messages = re.search(r'id="nav-messages-count"[^>]*>(\d*)</span>', html).group(1)
    return credits, bell.group(1) or "", messages


def test_the_bar_counts_what_the_page_itself_just_read_and_paid(app):
    """A whole page reads the bar's counts with its member (navigation.load_member); a page that
    commits something (a conversation marked read) shows the counts as they are after it."""
    from extensions import db
    from models import User
    from services import likes, messaging
    from tests.creator_helpers import creator

    sam, sam_id = signed_in(app, "sam@example.com", "Sam", credits=40)
    with app.app_context():
        luna = creator("Luna", message_price=0)
        luna_id = luna.id
        messaging.send(luna, sam_id, "Hi Sam")
        messaging.send(luna, sam_id, "Still there?")
        db.session.commit()
    assert badges(sam.client.get("/wallet", headers=PAGE).text) == ("40", "", "2")
    assert badges(sam.client.get("/wallet").text) == ("40", "", "2")  # no Accept: read apart
    opened = sam.client.get(f"/messages/{luna_id}", headers=PAGE).text
    assert "Still there?" in opened and badges(opened) == ("40", "", "")
    with app.app_context():
        likes.react(db.session.get(User, luna_id), sam_id, "like")  # a like notifies Sam
    assert badges(sam.client.get("/settings", headers=PAGE).text) == ("40", "1", "")
    sam.client.get("/notifications", headers=PAGE)  # shown as they were, then marked read
    assert badges(sam.client.get("/settings", headers=PAGE).text) == ("40", "", "")


def test_a_moderator_finds_the_moderation_console_in_the_bar(app):
    from tests.test_admin import make_admin

    moderator, _ = make_admin(app, "mod@example.com", role="moderator")
    page = moderator.client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/admin/reports"' in page and ">Moderation<" in page
    assert 'href="/admin"' not in page
    admin, _ = make_admin(app)
    page = admin.client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'href="/admin"' in page and ">Moderation<" not in page
