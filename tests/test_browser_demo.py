"""The demo world in Chromium, as `make run` seeds it: a fan finds a Discover grid of people
with portraits and opens one; creator1 finds earnings ready to be paid out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from services import demo
from tests.test_browser_payouts import shots_at_both_widths

pytestmark = pytest.mark.browser


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def broken_images(page: Page) -> list[str]:
    return page.locator("img").evaluate_all(
        "(images) => images.filter((img) => !img.complete || img.naturalWidth === 0)"
        ".map((img) => img.alt || img.src)"
    )


@pytest.fixture
def demo_world(live_server):
    with live_server.app.app_context():
        demo.seed()
    return live_server


def test_demo_daters_show_their_portraits_in_discover(demo_world, page):
    base = demo_world.url
    log_in(page, base, f"fan1@{demo.DEMO_DOMAIN}")
    page.goto(base + "/discover?radius=100")
    cards = page.locator("article.person-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 5
    expect(cards.locator(".avatar")).to_have_count(0)  # no grid of initials
    expect(cards.locator("img.card-photo")).to_have_count(cards.count())
    page.wait_for_load_state("networkidle")
    assert broken_images(page) == []
    shots_at_both_widths(page, "demo-discover")

    first = cards.first
    name = first.get_by_role("heading").inner_text().split(",")[0]
    first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=re.compile(rf"^{re.escape(name)}, "))).to_be_visible()
    expect(page.get_by_role("img", name=f"Photo 1 of {name}")).to_be_visible()
    expect(page.locator(".profile-head img.avatar")).to_be_visible()  # not an initial
    page.wait_for_load_state("networkidle")
    assert broken_images(page) == []
    shots_at_both_widths(page, "demo-person")


def test_a_demo_creator_can_ask_for_a_payout_at_once(demo_world, page):
    log_in(page, demo_world.url, demo.PAYABLE_CREATOR)
    page.goto(demo_world.url + "/creator/payouts")
    available = int(page.locator("#payout-available").inner_text().replace(",", ""))
    assert available >= demo_world.app.config["PAYOUT_MIN_CREDITS"]
    expect(page.get_by_text("two-factor authentication")).to_be_visible()  # the next step
    shots_at_both_widths(page, "demo-creator-payouts")
