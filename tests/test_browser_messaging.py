"""Messaging in Chromium with two browsers: a fan buys credits, messages a creator, the creator
sees it live and replies, the fan sees the reply live and the balance drop."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from extensions import db
from models import CreatorSettings
from services import accounts
from tests.conftest import ARTIFACTS, sign_up_in_browser

pytestmark = pytest.mark.browser
PASSWORD = "velvet-harbor-lamp-31"


def sign_up(page, base, email, name):
    sign_up_in_browser(page, base, email, name, PASSWORD, "1991-05-05")


def creator_and_fan(live_server, browser, price: int, credits: int = 0):
    """Luna, a creator charging `price` a message, and Sam, a fan holding `credits`: both signed
    up in their own browser, emails verified. Returns (luna page, sam page, luna id, sam id)."""
    from testkit.ledger import paid_order

    base = live_server.app.config["BASE_URL"]
    luna, fan = browser.new_context().new_page(), browser.new_context().new_page()
    sign_up(luna, base, "luna@example.com", "Luna")
    sign_up(fan, base, "sam@example.com", "Sam")
    with live_server.app.app_context():
        creator = accounts.find_by_email("luna@example.com")
        creator.is_creator = True
        db.session.add(CreatorSettings(user_id=creator.id, message_price=price))
        for email in ("luna@example.com", "sam@example.com"):
            user = accounts.find_by_email(email)
            user.email_verified_at = user.created_at
        if credits:
            paid_order(accounts.find_by_email("sam@example.com"), credits)
        db.session.commit()
        return luna, fan, creator.id, accounts.find_by_email("sam@example.com").id


def test_fan_and_creator_chat_live(live_server, browser, tmp_path):
    base = live_server.app.config["BASE_URL"]
    luna, fan, luna_id, sam_id = creator_and_fan(live_server, browser, price=5)

    # The fan buys credits through the dev checkout.
    fan.goto(base + "/wallet")
    fan.get_by_role("button", name=re.compile(r"Buy 100 credits")).click()
    expect(fan.get_by_role("heading", name="Amora test checkout")).to_be_visible()
    fan.get_by_role("button", name="Pay", exact=True).click()
    expect(fan.get_by_text("Paid.")).to_be_visible()

    # Both open the conversation.
    fan.goto(f"{base}/people/{luna_id}")
    fan.get_by_role("link", name="Message", exact=True).click()
    expect(fan.get_by_role("button", name="Send · 5 credits")).to_be_visible()
    luna.goto(f"{base}/messages/{sam_id}")
    expect(luna.get_by_role("textbox", name="Message")).to_be_visible()
    luna.wait_for_timeout(300)  # the socket says hello

    fan.get_by_role("textbox", name="Message").fill("Hi Luna, love your work!")
    fan.get_by_role("button", name="Send · 5 credits").click()
    expect(fan.locator("li.message.mine", has_text="love your work")).to_be_visible()
    expect(fan.locator("#chat-balance")).to_have_text("95")
    expect(fan.locator("#nav-credits")).to_have_text("95 credits")

    # The creator sees it without reloading, and replies (free) with a photo.
    expect(luna.locator("li.message.theirs", has_text="love your work")).to_be_visible()
    photo = tmp_path / "beach.jpg"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(photo, "JPEG")
    luna.locator("#chat-file").set_input_files(str(photo))
    expect(luna.get_by_role("img", name="Photo to send")).to_be_visible()
    luna.get_by_role("textbox", name="Message").fill("Thank you, Sam!")
    luna.get_by_role("button", name="Send").click()
    expect(fan.locator("li.message.theirs", has_text="Thank you, Sam!")).to_be_visible()
    expect(fan.locator("li.message.theirs").get_by_role("img", name="Photo")).to_be_visible()
    expect(luna.get_by_role("img", name="Photo to send")).to_have_count(0)  # sent with it
    expect(fan.locator("li.message")).to_have_count(2)
    # Luna had the conversation open: Sam's message shows as read, live.
    expect(fan.locator("li.message.mine .meta")).to_contain_text("read")
    ARTIFACTS.mkdir(exist_ok=True)
    fan.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # The inbox shows the conversation.
    luna.goto(base + "/messages")
    expect(luna.get_by_role("link", name=re.compile("Sam"))).to_be_visible()
    luna.context.close()
    fan.context.close()


def test_with_the_socket_open_a_message_goes_over_it(live_server, browser):
    """No HTTP request for a text message once the page is live; short of credits, the prompt
    to buy comes back over the socket too, and nothing is stored."""
    base = live_server.app.config["BASE_URL"]
    luna, fan, luna_id, sam_id = creator_and_fan(live_server, browser, price=60, credits=100)

    luna.goto(f"{base}/messages/{sam_id}")
    fan.goto(f"{base}/messages/{luna_id}")
    expect(luna.locator("#chat[data-live=true]")).to_have_count(1)
    expect(fan.locator("#chat[data-live=true]")).to_have_count(1)
    posts = []
    fan.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    fan.get_by_role("textbox", name="Message").fill("Over the socket, Luna")
    fan.get_by_role("textbox", name="Message").press("Enter")
    expect(fan.locator("li.message.mine", has_text="Over the socket")).to_be_visible()
    expect(fan.locator("#chat-balance")).to_have_text("40")
    expect(fan.locator("#nav-credits")).to_have_text("40 credits")
    expect(fan.get_by_role("textbox", name="Message")).to_have_value("")
    expect(luna.locator("li.message.theirs", has_text="Over the socket")).to_be_visible()

    fan.get_by_role("textbox", name="Message").fill("And again")
    fan.get_by_role("button", name="Send · 60 credits").click()
    alert = fan.locator("#compose-status [role=alert]")
    expect(alert).to_contain_text("credits")
    expect(alert.get_by_role("link", name="Buy credits")).to_have_attribute("href", "/wallet#buy")
    expect(fan.get_by_role("textbox", name="Message")).to_have_value("And again")  # kept
    expect(fan.get_by_role("button", name="Send · 60 credits")).to_be_enabled()
    expect(fan.locator("li.message")).to_have_count(1)
    expect(fan.locator("#chat-balance")).to_have_text("40")
    assert posts == []  # both went over the socket
    ARTIFACTS.mkdir(exist_ok=True)
    fan.screenshot(path=str(ARTIFACTS / "chat-socket-send.png"), full_page=True)
    luna.context.close()
    fan.context.close()


def test_a_refused_ppv_message_says_why_and_keeps_what_was_typed(live_server, browser):
    """A price that is not a whole number comes back above the form; the text, the photo and
    the price stay for the retry, which goes out as a pay-per-view message."""
    from core import clock
    from models import User
    from tests.creator_helpers import vault_photo

    base = live_server.app.config["BASE_URL"]
    luna, fan, luna_id, sam_id = creator_and_fan(live_server, browser, price=0)
    with live_server.app.app_context():
        creator = db.session.get(User, luna_id)
        creator.creator_verified_at = clock.now()
        db.session.commit()
        vault_photo(creator)

    luna.goto(f"{base}/messages/{sam_id}")
    expect(luna.locator("#chat[data-live=true]")).to_have_count(1)
    luna.get_by_text("Attach from vault").click()
    photo = luna.locator("input[name=media_id]").first
    photo.check()
    price = luna.get_by_label("Price to unlock (credits, 0 = free)")
    price.fill("2.5")
    luna.get_by_role("textbox", name="Message").fill("Just for you")
    luna.get_by_role("button", name="Send").click()
    expect(luna.locator("#compose-status [role=alert]")).to_have_text(
        "The unlock price is a whole number of credits."
    )
    expect(luna.get_by_role("textbox", name="Message")).to_have_value("Just for you")  # kept
    expect(photo).to_be_checked()
    expect(price).to_have_value("2.5")
    expect(luna.locator("li.message")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    luna.screenshot(path=str(ARTIFACTS / "chat-ppv-refused.png"), full_page=True)

    price.fill("5")
    luna.get_by_role("button", name="Send").click()
    expect(luna.locator("li.message.mine")).to_contain_text("Pay-per-view · 5 credits")
    expect(luna.locator("#compose-status")).to_be_empty()
    expect(luna.get_by_role("textbox", name="Message")).to_have_value("")
    luna.context.close()
    fan.context.close()
