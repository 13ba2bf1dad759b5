"""A paid video call in Chromium with fake cameras: the fan calls, the creator accepts, both see
each other, the fan hangs up and exactly one started minute is charged."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from extensions import db
from models import CreatorSettings
from services import accounts, ledger
from testkit.ledger import paid_order
from tests.conftest import ARTIFACTS
from tests.test_browser_messaging import sign_up
from tests.test_browser_random_chat import PLAYING, _page

pytestmark = pytest.mark.browser


def test_a_fan_calls_a_creator_who_accepts_and_one_minute_is_charged(live_server, browser):
    base = live_server.app.config["BASE_URL"]
    errors: list[str] = []
    luna, sam = _page(browser, errors, "luna"), _page(browser, errors, "sam")
    sign_up(luna, base, "luna@example.com", "Luna")
    sign_up(sam, base, "sam@example.com", "Sam")
    with live_server.app.app_context():
        creator = accounts.find_by_email("luna@example.com")
        creator.is_creator = True
        creator.creator_verified_at = creator.created_at
        db.session.add(CreatorSettings(user_id=creator.id, call_price=12))
        fan = accounts.find_by_email("sam@example.com")
        for user in (creator, fan):
            user.email_verified_at = user.created_at
        db.session.commit()
        paid_order(fan, 100)
        luna_id, sam_id = creator.id, fan.id

    sam.goto(f"{base}/creators/{luna_id}")
    sam.get_by_role("button", name="Video call · 12 credits/min").click()
    expect(sam.locator("#call-status")).to_contain_text("Calling Luna")

    luna.goto(base + "/creator")
    luna.get_by_role("link", name="Calls").click()
    expect(luna.get_by_text("Sam is calling")).to_be_visible()
    luna.get_by_role("button", name="Accept").click()

    for page in (luna, sam):
        expect(page.locator("#call-status")).to_have_text("On the call.")
        page.wait_for_function(PLAYING, arg="#call-remote", timeout=20_000)
    expect(sam.locator("#call-cost")).to_have_text("12")
    sam.screenshot(path=str(ARTIFACTS / "call-fan.png"), full_page=True)

    sam.get_by_role("button", name="Hang up").click()
    for page in (luna, sam):
        expect(page.locator("#call-status")).to_have_text(
            "Call ended (hung up): 1 minute, 12 credits."
        )
    with live_server.app.app_context():
        assert ledger.wallet_balance(sam_id) == 88
        assert ledger.balances(luna_id)["earnings_pending"] == 10  # 12 − 2 fee
        assert ledger.system_balance("holds") == 0 and ledger.verify() == []
    assert errors == []
