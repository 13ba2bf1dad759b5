"""A free-trial link in Chromium: the fan opens it, gets subscriber access at once for free, and
is charged only when the renewal job runs at the end of the trial."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import CreatorSettings
from services import accounts, clock, ledger, posts, subscriptions
from tests.conftest import ARTIFACTS
from tests.ledger_helpers import paid_order
from tests.test_browser_messaging import sign_up

pytestmark = pytest.mark.browser


def test_a_fan_opens_a_trial_link_gets_access_and_pays_only_when_it_ends(live_server, browser):
    base = live_server.app.config["BASE_URL"]
    luna = browser.new_context().new_page()
    sam = browser.new_context().new_page()
    sign_up(luna, base, "luna@example.com", "Luna")
    sign_up(sam, base, "sam@example.com", "Sam")
    with live_server.app.app_context():
        creator = accounts.find_by_email("luna@example.com")
        creator.is_creator = True
        creator.creator_verified_at = creator.created_at
        db.session.add(CreatorSettings(user_id=creator.id, subscription_price=40))
        fan = accounts.find_by_email("sam@example.com")
        for user in (creator, fan):
            user.email_verified_at = user.created_at
        db.session.commit()
        posts.create(creator, {"body": "Only for my subscribers", "visibility": "subscribers"}, [])
        paid_order(fan, 100)
        luna_id, sam_id = creator.id, fan.id

    luna.goto(base + "/creator")
    luna.get_by_role("link", name="Growth").click()
    luna.get_by_label("Free days").fill("7")
    luna.get_by_role("button", name="Make a trial link").click()
    expect(luna.get_by_text("Trial link made.")).to_be_visible()
    trial_url = luna.locator("code.trial-url").first.inner_text()
    assert trial_url.startswith(base + "/trial/")

    sam.goto(trial_url)
    expect(sam.get_by_role("heading", name="7 days of Luna, free")).to_be_visible()
    sam.get_by_role("button", name="Start my free trial").click()
    expect(sam.get_by_text(re.compile(r"Your free trial runs until"))).to_be_visible()
    expect(sam.get_by_text("Only for my subscribers")).to_be_visible()
    expect(sam.locator(".badge", has_text="free trial")).to_be_visible()
    expect(sam.locator("#nav-credits")).to_have_text("100 credits")
    sam.screenshot(path=str(ARTIFACTS / "trial-started.png"), full_page=True)

    with live_server.app.app_context():
        subscription = subscriptions.get(sam_id, luna_id)
        trial_end = subscription.trial_until
        with clock.frozen(trial_end - dt.timedelta(hours=1)):
            assert subscriptions.renew_due() == {}
        assert ledger.wallet_balance(sam_id) == 100  # nothing charged during the trial
        with clock.frozen(trial_end):
            assert subscriptions.renew_due() == {"converted": 1}
        assert ledger.wallet_balance(sam_id) == 60
    sam.goto(f"{base}/creators/{luna_id}")
    expect(sam.locator("#nav-credits")).to_have_text("60 credits")
    expect(sam.get_by_text(re.compile(r"Renews .* for 40 credits"))).to_be_visible()
