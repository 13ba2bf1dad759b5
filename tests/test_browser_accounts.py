"""Accounts clicked through in Chromium: sign up → verify from the outbox → log in → log out →
reset the password."""

from __future__ import annotations

import re
import socket
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import (
    ARTIFACTS,
    BASE_CONFIG,
    _cleanup,
    last_mail,
    last_mail_link,
    sign_up_in_browser,
)

pytestmark = pytest.mark.browser


def test_sign_up_verify_login_logout_and_reset(live_server, page):
    base = live_server.url
    page.goto(base + "/")
    page.get_by_role("link", name="Sign up").first.click()

    # A first try with mistakes: errors appear in place (htmx), nothing is lost.
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Display name").fill("Mia")
    page.get_by_label("Date of birth").fill("2012-04-02")
    page.get_by_label("Password").fill("password123")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("You must be 18 or older to join Amora.")).to_be_visible()
    expect(page.get_by_text("This password is too common")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value("mia@example.com")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "signup-errors.png"), full_page=True)

    page.get_by_label("Date of birth").fill("1996-04-02")
    page.get_by_label("Password").fill("velvet-harbor-lamp-31")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("We sent a message to mia@example.com")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)  # not logged in yet

    # The link from the outbox, as the user would click it in their mail.
    page.goto(last_mail_link(live_server.app, "mia@example.com"))
    expect(page.get_by_text("Thanks, mia@example.com is confirmed.")).to_be_visible()

    # Wrong password: the generic message, in place.
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill("not-my-password-9")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Email or password is incorrect.")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_focused()  # the address is kept

    page.get_by_label("Password").fill("velvet-harbor-lamp-31")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi, Mia")).to_be_visible()
    expect(page.get_by_text("Confirm your email address to pay")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    page.get_by_role("button", name="Log out").click()

    # Forgotten password.
    page.get_by_role("link", name="Log in").first.click()
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_text("If an account exists for mia@example.com")).to_be_visible()

    page.goto(last_mail_link(live_server.app, "mia@example.com"))
    page.get_by_label("New password", exact=True).fill("copper-willow-dawn-58")
    page.get_by_label("Repeat the new password").fill("copper-willow-dawn-58")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill("copper-willow-dawn-58")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi, Mia")).to_be_visible()


def fill_sign_up(page, base, email, name, password):
    page.goto(base + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Date of birth").fill("1994-07-07")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()


def test_signing_up_with_a_taken_address_looks_the_same_and_mails_its_owner(
    live_server, page, browser
):
    base = live_server.url
    fill_sign_up(page, base, "ivy@example.com", "Ivy", "cobalt-lantern-fig-23")
    first_url, first_text = page.url, page.locator("#main").inner_text()

    # Someone else tries the same address: the very same page, and no way in.
    other = browser.new_context()
    snoop = other.new_page()
    fill_sign_up(snoop, base, "Ivy@Example.com", "Snoop", "walnut-cipher-moon-88")
    assert snoop.url == first_url
    assert snoop.locator("#main").inner_text() == first_text
    expect(snoop.get_by_role("button", name="Log out")).to_have_count(0)
    snoop.goto(base + "/login")
    snoop.get_by_label("Email").fill("ivy@example.com")
    snoop.get_by_label("Password").fill("walnut-cipher-moon-88")
    snoop.get_by_role("button", name="Log in").click()
    expect(snoop.get_by_text("Email or password is incorrect.")).to_be_visible()
    other.close()

    # Ivy hears about it, with a way in.
    mail = last_mail(live_server.app, "ivy@example.com")
    assert mail.kind == "sign_up_attempt" and "tried to create an Amora account" in mail.body
    login_link, reset_link = re.findall(r"https?://\S+", mail.body)
    page.goto(reset_link)
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.goto(login_link)
    page.get_by_label("Email").fill("ivy@example.com")
    page.get_by_label("Password").fill("cobalt-lantern-fig-23")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hi, Ivy")).to_be_visible()


def test_settings_change_password_in_place_and_see_devices(live_server, page, browser):
    base = live_server.url
    sign_up_in_browser(page, base, "leo@example.com", "Leo", "amber-canyon-river-77", "1990-01-15")

    # A second device logs in.
    other = browser.new_context()
    phone = other.new_page()
    phone.goto(base + "/login")
    phone.get_by_label("Email").fill("leo@example.com")
    phone.get_by_label("Password").fill("amber-canyon-river-77")
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_role("heading", name="Hi, Leo")).to_be_visible()

    page.get_by_role("link", name="Settings").first.click()
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_text("this device")).to_be_visible()
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    page.screenshot(path=str(ARTIFACTS / "settings.png"), full_page=True)

    page.get_by_role("link", name="Account").click()
    page.get_by_label("Current password").fill("amber-canyon-river-77")
    page.get_by_label("New password", exact=True).fill("frost-meadow-signal-12")
    page.get_by_label("Repeat the new password").fill("frost-meadow-signal-12")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed. 1 other device was logged out.")).to_be_visible()

    phone.reload()
    expect(phone.get_by_role("link", name="Sign up")).to_be_visible()
    other.close()


def test_pages_without_javascript_errors_and_a_clear_404(live_server, page):
    page.goto(live_server.url + "/nowhere")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto(live_server.url + "/terms")
    expect(page.get_by_text("never runs personas")).to_be_visible()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_mail_link_opens_the_server_on_the_port_it_was_started_on(
    monkeypatch, sqlite_url, page
):
    """`PORT=5020 make run` without BASE_URL: the link in the mail goes to that server."""
    for name in ("BASE_URL", "HOST"):
        monkeypatch.delenv(name, raising=False)
    port = _free_port()
    monkeypatch.setenv("PORT", str(port))
    settings = {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": sqlite_url, "JOBS_RAISE": False}
    del settings["BASE_URL"]
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        page.goto(f"http://127.0.0.1:{port}/signup")
        page.get_by_label("Email").fill("port@example.com")
        page.get_by_label("Display name").fill("Pia")
        page.get_by_label("Date of birth").fill("1996-04-02")
        page.get_by_label("Password").fill("velvet-harbor-lamp-31")
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
        link = last_mail_link(app, "port@example.com")
        assert link.startswith(f"http://127.0.0.1:{port}/"), link
        page.goto(link)
        expect(page.get_by_text("Thanks, port@example.com is confirmed.")).to_be_visible()
    finally:
        server.shutdown()
        thread.join(5)
        _cleanup(app)
