"""Growth tools in Chromium: a free-trial link (access at once for free, charged only when the
renewal job runs at the end of the trial), and a three-month bundle bought at a discount and
charged once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from core import clock
from extensions import db
from models import CreatorSettings, User
from services import accounts, growth, ledger, posts, subscriptions
from testkit.ledger import paid_order
from tests.conftest import ARTIFACTS
from tests.test_browser_messaging import sign_up
from tests.test_browser_payouts import new_page, shot
from tests.test_browser_payouts import sign_up as payouts_sign_up

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
        posts.create(creator, body="Only for my subscribers", visibility="subscribers")
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


def test_a_fan_buys_a_three_month_bundle_and_is_charged_its_price_once(live_server, browser):
    base = live_server.url
    monthly, months, percent_off = 50, 3, 20
    bundle = growth.bundle_price(monthly, months, percent_off * 100)
    assert bundle == 120  # 150 credits less 20 %
    luna_errors: list[str] = []
    sam_errors: list[str] = []
    luna = new_page(browser, luna_errors)
    sam = new_page(browser, sam_errors)
    try:
        luna_id = payouts_sign_up(live_server, luna, "luna@example.com", "Luna")
        sam_id = payouts_sign_up(live_server, sam, "sam@example.com", "Sam")
        with live_server.app.app_context():
            creator = db.session.get(User, luna_id)
            creator.is_creator = True
            creator.creator_verified_at = creator.created_at
            db.session.add(CreatorSettings(user_id=luna_id, subscription_price=monthly))
            db.session.commit()
            posts.create(creator, body="Only for my subscribers", visibility="subscribers")
            paid_order(db.session.get(User, sam_id), 200)

        # The creator offers the bundle from Creator → Growth.
        luna.reload()
        luna.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
        luna.get_by_role("navigation", name="Creator").get_by_role("link", name="Growth").click()
        luna.get_by_label(f"{months} months: % off").fill(str(percent_off))
        luna.get_by_role("button", name="Save bundles").click()
        expect(luna.get_by_text("Bundles saved.")).to_be_visible()
        expect(luna.get_by_text(f"{months} months · {bundle} credits")).to_be_visible()
        expect(luna.get_by_text(f"(instead of {months * monthly})")).to_be_visible()

        # The fan buys it on the creator page.
        sam.goto(f"{base}/creators")
        sam.get_by_role("link", name="Luna").click()
        expect(sam.get_by_role("heading", name=re.compile("^Luna"))).to_be_visible()
        expect(sam.locator("#nav-credits")).to_have_text("200 credits")
        offer = sam.get_by_role(
            "button", name=f"{months} months · {bundle} credits (save {percent_off}%)"
        )
        expect(offer).to_be_visible()
        shot(sam, "bundle-offer.png")
        offer.click()
        flash = sam.get_by_role("status").filter(has_text="Subscribed until")
        expect(flash).to_be_visible()
        with live_server.app.app_context():
            subscription = subscriptions.get(sam_id, luna_id)
            start, end = subscription.current_period_start, subscription.current_period_end
        assert end - start == subscriptions.PERIOD * months, "the bundle buys three periods"
        expect(flash).to_have_text(f"Subscribed until {end:%d %b %Y}.")
        expect(sam.locator("#nav-credits")).to_have_text(f"{200 - bundle} credits")
        expect(sam.locator("#subscribe .badge", has_text="subscribed")).to_be_visible()
        expect(sam.get_by_text("Only for my subscribers")).to_be_visible()
        shot(sam, "bundle-bought.png")

        # One charge in the wallet, for the bundle price.
        sam.get_by_role("navigation", name="Main").get_by_role("link", name="Wallet").click()
        charges = sam.locator("#history tbody tr", has_text="Subscription")
        expect(charges).to_have_count(1)
        expect(charges).to_contain_text("Luna")
        expect(charges.locator("td.amount")).to_have_text(f"-{bundle}")
        with live_server.app.app_context():
            assert ledger.wallet_balance(sam_id) == 200 - bundle
            # No renewal is due before the three months are over.
            with clock.frozen(end - dt.timedelta(hours=1)):
                assert subscriptions.renew_due() == {}
            assert ledger.wallet_balance(sam_id) == 200 - bundle
    finally:
        luna.context.close()
        sam.context.close()
    assert not luna_errors, f"the creator's browser reported errors: {luna_errors}"
    assert not sam_errors, f"the fan's browser reported errors: {sam_errors}"
