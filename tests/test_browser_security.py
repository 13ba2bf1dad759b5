"""Two-factor authentication and sessions, clicked through in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from core import clock
from services import twofactor
from tests.conftest import ARTIFACTS, sign_up_in_browser

pytestmark = pytest.mark.browser
PASSWORD = "saffron-glacier-ink-23"


def _login(page, base, email):
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_enable_2fa_login_with_a_code_and_revoke_another_device(live_server, page, browser):
    base = live_server.url
    sign_up_in_browser(page, base, "noa@example.com", "Noa", PASSWORD, "1992-02-02")

    page.get_by_role("link", name="Settings").first.click()
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = page.locator("#totp-secret").inner_text()
    # "Scan" the QR code: it must encode exactly the otpauth URI for this secret.
    uri = f"otpauth://totp/Amora:{quote('noa@example.com')}?secret={secret}&issuer=Amora"
    assert page.locator("#totp-qr").get_attribute("src") == twofactor.qr_data_uri(uri)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "2fa-setup.png"), full_page=True)

    page.get_by_label("Code from your app").fill(twofactor.code_for(secret, clock.now()))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Two-factor authentication is on")).to_be_visible()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I saved them").click()
    expect(page.get_by_text("10 of 10 recovery codes left")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    _login(page, base, "noa@example.com")
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    page.get_by_label("Code").fill("000000" if codes else "")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not valid")).to_be_visible()
    # The code of the next 30-second step: the current one was spent turning 2FA on.
    page.get_by_label("Code").fill(
        twofactor.code_for(secret, clock.now() + dt.timedelta(seconds=30))
    )
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hi, Noa")).to_be_visible()

    # Another browser logs in with a recovery code.
    other = browser.new_context(user_agent="OtherDevice/2.0")
    laptop = other.new_page()
    _login(laptop, base, "noa@example.com")
    laptop.get_by_label("Code").fill(codes[0])
    laptop.get_by_role("button", name="Verify").click()
    expect(laptop.get_by_role("heading", name="Hi, Noa")).to_be_visible()

    page.goto(base + "/settings/security")
    expect(page.get_by_text("9 of 10 recovery codes left")).to_be_visible()
    other_row = page.locator("#sessions tbody tr", has_text="OtherDevice/2.0")
    expect(other_row).to_have_count(1)
    other_row.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("That device is logged out.")).to_be_visible()
    expect(page.locator("#sessions tbody tr")).to_have_count(1)

    laptop.reload()
    expect(laptop.get_by_role("link", name="Sign up")).to_be_visible()
    other.close()
    assert re.search(r"/settings/security$", page.url)
