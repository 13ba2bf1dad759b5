"""Random chat in Chromium with two browser contexts and fake cameras: two strangers who share
an interest are paired, talk, start video and both see the other's stream, then Next."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from extensions import db
from services import accounts
from tests.conftest import ARTIFACTS
from tests.test_browser_messaging import sign_up

pytestmark = pytest.mark.browser

PLAYING = """(selector) => {
  const v = document.querySelector(selector);
  return !!v && !!v.srcObject && !v.paused && v.readyState >= 2 && v.videoWidth > 0;
}"""


def _page(browser, errors, who):
    context = browser.new_context(permissions=["camera", "microphone"])
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            errors.append(f"{who}: {message.text}") if message.type == "error" else None
        ),
    )
    return page


def test_two_strangers_are_paired_chat_see_each_others_video_then_next(live_server, browser):
    base = live_server.app.config["BASE_URL"]
    errors: list[str] = []
    ana, bob = _page(browser, errors, "ana"), _page(browser, errors, "bob")
    sign_up(ana, base, "ana@example.com", "Ana")
    sign_up(bob, base, "bob@example.com", "Bob")
    with live_server.app.app_context():
        for email in ("ana@example.com", "bob@example.com"):
            user = accounts.find_by_email(email)
            user.email_verified_at = user.created_at
        db.session.commit()

    for page in (ana, bob):
        page.goto(base + "/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Random chat").click()
        page.get_by_label("Interests (optional, comma-separated)").fill("Jazz, chess")
    ana.get_by_role("button", name="Start chatting").click()
    expect(ana.locator("#rc-status")).to_contain_text("Looking for someone who likes")
    bob.get_by_role("button", name="Start chatting").click()
    for page in (ana, bob):
        expect(page.locator("#rc-status")).to_have_text("You both like chess, jazz. Say hi!")

    bob.get_by_label("Message").fill("Hi stranger!")
    bob.get_by_label("Message").press("Enter")
    expect(ana.locator("#rc-log .theirs")).to_have_text("Hi stranger!")
    ana.get_by_label("Message").type("hello")
    expect(bob.locator("#rc-typing")).to_have_text("Stranger is typing…")
    ana.get_by_role("button", name="Send").click()
    expect(bob.locator("#rc-log .theirs")).to_have_text("hello")

    ana.get_by_role("button", name="Start video").click()
    bob.get_by_role("button", name="Start video").click()
    for page in (ana, bob):
        page.wait_for_function(PLAYING, arg="#rc-remote", timeout=20_000)
        expect(page.get_by_role("button", name="Mute")).to_be_visible()
    ana.screenshot(path=str(ARTIFACTS / "random-chat-video.png"), full_page=True)

    ana.get_by_role("button", name="Mute").click()
    expect(ana.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")

    bob.get_by_role("button", name="Next").click()
    expect(ana.locator("#rc-status")).to_have_text(
        "The stranger left. Press Next to meet someone new."
    )
    expect(ana.locator("#rc-videos")).to_be_hidden()
    expect(bob.locator("#rc-status")).to_contain_text("Looking for someone")
    ana.get_by_role("button", name="Next").click()
    for page in (ana, bob):  # both back in the queue, and paired again
        expect(page.locator("#rc-status")).to_have_text("You both like chess, jazz. Say hi!")
    assert errors == []


def test_a_report_without_a_reason_says_so_then_ends_the_chat(live_server, browser):
    base = live_server.app.config["BASE_URL"]
    errors: list[str] = []
    ana, bob = _page(browser, errors, "ana"), _page(browser, errors, "bob")
    sign_up(ana, base, "ana@example.com", "Ana")
    sign_up(bob, base, "bob@example.com", "Bob")
    with live_server.app.app_context():
        for email in ("ana@example.com", "bob@example.com"):
            user = accounts.find_by_email(email)
            user.email_verified_at = user.created_at
        db.session.commit()
    for page in (ana, bob):
        page.goto(base + "/random")
        page.get_by_role("button", name="Start chatting").click()
    for page in (ana, bob):
        expect(page.locator("#rc-status")).to_have_text("You are chatting with a stranger. Say hi!")

    ana.get_by_text("Report this stranger").click()
    ana.get_by_role("button", name="Send report (the chat ends)").click()
    expect(ana.locator("#rc-reason-error")).to_have_text("Choose a reason.")
    expect(ana.get_by_label("Because")).to_have_attribute("aria-invalid", "true")
    expect(ana.locator("#rc-status")).to_have_text("You are chatting with a stranger. Say hi!")
    ana.screenshot(path=str(ARTIFACTS / "random-chat-report-refused.png"), full_page=True)

    ana.get_by_label("Because").select_option("harassment")
    ana.get_by_label("Anything to add (optional)").fill("Rude from the first line")
    ana.get_by_role("button", name="Send report (the chat ends)").click()
    expect(ana.get_by_role("status").filter(has_text="our moderators")).to_be_visible()
    expect(ana.locator("#rc-status")).to_have_text("Reported. Press Next to meet someone new.")
    expect(bob.locator("#rc-status")).to_have_text(
        "The stranger left. Press Next to meet someone new."
    )
    # The next chat gets a fresh form, without the last one's errors.
    ana.get_by_role("button", name="Next").click()
    expect(ana.locator("#rc-report #rc-reason")).to_have_value("")
    expect(ana.locator("#rc-reason-error")).to_have_count(0)
    refused = "Failed to load resource: the server responded with a status of 422"
    assert [e for e in errors if refused not in e] == []  # the 422 was the point
