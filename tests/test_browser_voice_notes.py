"""Voice notes in Chromium, with two browsers and a fake microphone: Ana and Bob matched, each
with the conversation open; Ana holds the record button, gets the note to listen to and
discards it; with the keyboard (Enter to start, Enter to stop) a note under a second is refused,
and the next one she sends: it is uploaded, made playable by the worker and goes with a message;
Bob sees it arrive live, without reloading, and plays it to the end of its first half second."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from extensions import db
from services import accounts, likes
from tests.conftest import ARTIFACTS
from tests.test_browser_creator import new_page, sign_up_verified

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
HELD_MS = 2500  # how long each note is recorded


def matched(live_server) -> None:
    """Ana and Bob like each other: daters may write once matched."""
    with live_server.app.app_context():
        ana = accounts.find_by_email("ana@example.com")
        bob = accounts.find_by_email("bob@example.com")
        likes.react(ana, bob.id, "like")
        likes.react(bob, ana.id, "like")
        db.session.commit()


def recording(page: Page, held: bool = True) -> None:
    """Recording: held with a pointer it stops on release, started from the keyboard on the
    next press."""
    expect(page.locator("#voice-record")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#voice-record")).to_have_text(
        "Recording… release to stop" if held else "Recording… press again to stop"
    )
    expect(page.locator("#voice-status")).to_have_text(re.compile(r"^Recording 0:0\d$"))


def recorded(page: Page) -> None:
    """The recorder stopped and shows the recording to listen to, send or discard."""
    expect(page.locator("#voice-record")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#voice-record")).to_have_text("Hold to record a voice note")
    preview = page.locator("#voice-preview")
    expect(preview).to_be_visible()
    expect(preview.get_by_label("Your voice note")).to_have_attribute("src", re.compile("^blob:"))
    expect(preview.get_by_role("button", name="Send voice note")).to_be_visible()
    expect(preview.get_by_role("button", name="Discard")).to_be_visible()
    expect(page.locator("#voice-status")).to_have_text(
        re.compile(r"^Recorded 0:0\d\. Listen, then send or discard it\.$")
    )


def screenshots(page: Page, name: str) -> None:
    """The page at desktop and phone widths, full length."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)  # laid out again
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-screenshot
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_a_voice_note_is_recorded_sent_and_played_live(live_server, browser):
    base = live_server.url
    ana_errors: list[str] = []
    bob_errors: list[str] = []
    ana, bob = new_page(browser, ana_errors), new_page(browser, bob_errors)
    try:
        ana_id = sign_up_verified(live_server, ana, "ana@example.com", "Ana")
        bob_id = sign_up_verified(live_server, bob, "bob@example.com", "Bob")
        matched(live_server)

        bob.goto(f"{base}/messages/{ana_id}")
        ana.goto(f"{base}/messages/{bob_id}")
        expect(bob.locator("#chat[data-live=true]")).to_have_count(1)
        expect(ana.locator("#chat[data-live=true]")).to_have_count(1)
        button = ana.get_by_role("button", name="Hold to record a voice note")
        expect(button).to_be_visible()  # MediaRecorder and a microphone: the recorder shows
        expect(ana.locator("#voice-preview")).to_be_hidden()

        # A tap, let go before the microphone is even open: nothing is left recording.
        button.click()
        ana.wait_for_timeout(1500)
        expect(button).to_have_attribute("aria-pressed", "false")
        expect(ana.locator("#voice-preview")).to_be_hidden()

        # Held with the mouse: it records while the button is down.
        box = button.bounding_box()
        ana.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        ana.mouse.down()
        recording(ana)
        ana.wait_for_timeout(HELD_MS)
        expect(ana.locator("#voice-status")).to_have_text(re.compile(r"^Recording 0:0[23]$"))
        ana.mouse.up()
        recorded(ana)
        screenshots(ana, "voice-preview")

        # Discarded: the preview goes, nothing is sent.
        ana.locator("#voice-preview").get_by_role("button", name="Discard").click()
        expect(ana.locator("#voice-preview")).to_be_hidden()
        expect(ana.locator("#voice-status")).to_have_text("Discarded.")
        expect(ana.locator("#voice-preview audio")).not_to_have_attribute("src", re.compile("."))
        expect(ana.locator("li.message")).to_have_count(0)

        # With the keyboard: Enter starts it, Enter stops it. Under a second is refused.
        record = ana.locator("#voice-record")
        record.focus()
        ana.keyboard.press("Enter")
        recording(ana, held=False)
        ana.wait_for_timeout(300)
        ana.keyboard.press("Enter")
        expect(ana.locator("#voice-status")).to_have_text("Too short: record at least a second.")
        expect(record).to_have_attribute("aria-pressed", "false")
        expect(ana.locator("#voice-preview")).to_be_hidden()
        ana.keyboard.press("Enter")
        recording(ana, held=False)
        ana.wait_for_timeout(HELD_MS)
        expect(record).to_have_attribute("aria-pressed", "true")  # still going: no hold needed
        ana.keyboard.press("Enter")
        recorded(ana)
        seconds = int(re.search(r"0:0(\d)", ana.locator("#voice-status").inner_text()).group(1))
        assert seconds in (2, 3)

        ana.locator("#voice-preview").get_by_role("button", name="Send voice note").click()
        mine = ana.locator("li.message.mine")
        expect(mine).to_have_count(1)
        expect(ana.locator("#chat-balance")).to_be_hidden()  # a free conversation: no balance
        note = mine.locator("figure.attachment.voice audio")
        expect(note).to_have_attribute("src", re.compile(r"/media/file/"))
        expect(note).to_have_attribute("aria-label", re.compile(r"^Voice note, 0:0\d$"))
        expect(mine.get_by_text(re.compile(r"^Voice note · 0:0\d$"))).to_be_visible()
        expect(ana.locator("#voice-preview")).to_be_hidden()
        expect(ana.locator("#voice-status")).to_have_text("")
        expect(ana.locator("#chat-attachment input[name=upload_id]")).to_have_count(0)  # spent
        expect(ana.locator("#chat-attachment")).to_have_attribute("data-status", "")

        # Bob has it without reloading, and it plays.
        bob.evaluate("window.__sameDocument = true")
        theirs = bob.locator("li.message.theirs")
        expect(theirs).to_have_count(1)
        audio = theirs.locator("figure.attachment.voice audio")
        expect(audio).to_have_attribute("src", re.compile(r"/media/file/"))
        caption = theirs.get_by_text(re.compile(r"^Voice note · 0:0\d$"))
        expect(caption).to_be_visible()
        assert bob.evaluate("window.__sameDocument === true"), "the page was reloaded"
        handle = audio.element_handle()
        bob.evaluate("(el) => { el.muted = true; return el.play(); }", handle)
        bob.wait_for_function("(el) => el.currentTime > 0.5", arg=handle, timeout=10_000)
        played = bob.evaluate(
            "(el) => ({error: el.error && el.error.code, duration: el.duration,"
            " paused: el.paused})",
            handle,
        )
        assert played["error"] is None
        assert not played["paused"]
        assert abs(played["duration"] - HELD_MS / 1000) <= 1, played
        assert abs(played["duration"] - seconds) <= 1, (played, seconds)
        shown = int(re.search(r"0:0(\d)", caption.inner_text()).group(1))
        assert abs(shown - seconds) <= 1, (shown, seconds)
        bob.evaluate("(el) => { el.pause(); el.muted = false; el.currentTime = 0; }", handle)

        screenshots(bob, "voice-note-received")
        screenshots(ana, "voice-note-sent")
    finally:
        ana.context.close()
        bob.context.close()
    assert not ana_errors, f"Ana's browser reported errors: {ana_errors}"
    assert not bob_errors, f"Bob's browser reported errors: {bob_errors}"
