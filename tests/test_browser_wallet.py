"""Buying credits in Chromium: the dev checkout, the order page that turns paid by itself,
and the wallet's balance and history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from extensions import db
from services import accounts
from tests.conftest import ARTIFACTS, sign_up_in_browser

pytestmark = pytest.mark.browser


def sign_up_verified(live_server, page, email="zoe@example.com", name="Zoe"):
    sign_up_in_browser(page, live_server.url, email, name, "lilac-engine-summit-64", "1994-09-09")
    with live_server.app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        db.session.commit()


def test_a_fan_buys_credits_through_the_dev_checkout(live_server, page):
    sign_up_verified(live_server, page)
    page.get_by_role("link", name="Wallet").first.click()
    expect(page.get_by_text("Nothing yet.")).to_be_visible()
    expect(page.locator("#nav-credits")).to_have_text("0 credits")
    page.get_by_role("button", name=re.compile(r"Buy 500 credits for \$54\.99")).click()

    expect(page.get_by_role("heading", name="Amora test checkout")).to_be_visible()
    expect(page.get_by_text("$54.99")).to_be_visible()
    page.get_by_role("button", name="Pay").click()

    # The order page: pending at first or paid at once; it turns paid without a reload.
    expect(page).to_have_url(re.compile(r"/wallet/orders/\d+$"))
    url_before = page.url
    expect(page.get_by_text("Paid.")).to_be_visible()
    assert page.url == url_before
    expect(page.get_by_text("Your balance is now 500 credits")).to_be_visible()
    expect(page.locator("#nav-credits")).to_have_text("500 credits")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "order-paid.png"), full_page=True)

    page.get_by_role("link", name="Back to the wallet").click()
    expect(page.locator(".balance")).to_contain_text("500")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Bought credits")
    expect(history.first).to_contain_text("+500")
    page.screenshot(path=str(ARTIFACTS / "wallet.png"), full_page=True)


def test_the_order_page_updates_itself_while_pending(live_server, page):
    """Open the order page first; the payment is confirmed afterwards (as a late webhook)."""
    sign_up_verified(live_server, page, "ivy@example.com", "Ivy")
    page.goto(live_server.url + "/wallet")
    page.get_by_role("button", name=re.compile(r"Buy 100 credits")).click()
    expect(page.get_by_role("heading", name="Amora test checkout")).to_be_visible()
    order_id = int(re.search(r"/orders/(\d+)/dev", page.url).group(1))
    page.goto(f"{live_server.url}/wallet/orders/{order_id}")
    expect(page.get_by_text("Waiting for the payment")).to_be_visible()

    from services.payments import orders
    from services.payments.dev import SIGNATURE_HEADER, DevProvider, sign

    with live_server.app.test_request_context():
        from models import Order

        body = DevProvider().event_body(db.session.get(Order, order_id), "succeeded")
        orders.handle_webhook("dev", body, {SIGNATURE_HEADER: sign(body)})
    expect(page.get_by_text("Paid.")).to_be_visible()
    expect(page.locator("#nav-credits")).to_have_text("100 credits")


def test_declining_shows_the_failure(live_server, page):
    sign_up_verified(live_server, page, "max@example.com", "Max")
    page.goto(live_server.url + "/wallet")
    page.get_by_role("button", name=re.compile(r"Buy 1,?000 credits")).click()
    page.get_by_role("button", name="Decline").click()
    expect(page.get_by_text("Payment failed.")).to_be_visible()
    expect(page.get_by_text("Declined on the test checkout.")).to_be_visible()
