"""A creator's video in Chromium, from the file to a fan's player, with two browsers: the creator
adds a clip to the vault (it goes up in parts, with a progress bar), watches it being processed
until its thumbnail and length show, and sells it in a pay-per-view post; a fan sees the
blurred teaser playing, unlocks the post, plays the video and skips ahead in it (the player
asks for byte ranges of the file)."""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import blueprints.media
import services.media
import services.storage
from services.storage import LocalStorage
from tests.conftest import ARTIFACTS
from tests.test_browser_creator import (
    buy_credits,
    create_post,
    new_page,
    open_creator_tab,
    sign_up_verified,
    switch_creator_mode_on,
    verify_creator,
)
from tests.test_video import make_clip

pytestmark = pytest.mark.browser
PART_BYTES = 8 * 1024  # small parts, so that a clip of ~70 KB goes up in several
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}
WAIT = 20  # seconds a held server step waits for the test at most

# Records the text of every upload progress row as it changes: the bar moves faster than a test
# can look at it, and the rows are removed when the upload ends.
WATCH_UPLOAD = """() => {
  window.__uploadTexts = [];
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.textContent) { window.__uploadTexts.push(node.textContent); }
      }
    }
  }).observe(document.getElementById("vault-progress"), { childList: true, subtree: true });
}"""


def hold_last_part(monkeypatch, parts: int) -> threading.Event:
    """Small parts, each answered after a short pause as over a slow line; the part that makes
    the upload whole (all `parts` stored) is answered only once the returned event is set, so
    the test sees the upload under way."""
    for module in (services.storage, services.media, blueprints.media):
        monkeypatch.setattr(module, "PART_BYTES", PART_BYTES)
    release = threading.Event()
    write_part = LocalStorage.write_part

    def held_write_part(self, key, upload_id, number, body, *size):
        stored = write_part(self, key, upload_id, number, body, *size)
        time.sleep(0.05)
        if len(self.list_parts(key, upload_id) or []) == parts:
            release.wait(WAIT)
        return stored

    monkeypatch.setattr(LocalStorage, "write_part", held_write_part)
    return release


def hold_processing(monkeypatch) -> threading.Event:
    """The video's processing job starts only once the returned event is set."""
    release = threading.Event()
    process_video = services.media.process_video

    @functools.wraps(process_video)  # the same job path and `long_running` timeout
    def held(media_id: int) -> None:
        release.wait(WAIT)
        process_video(media_id)

    monkeypatch.setattr(services.media, "process_video", held)
    return release


def screenshot(page: Page, name: str, viewport: dict) -> None:
    page.set_viewport_size(viewport)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.set_viewport_size(DESKTOP)


def upload_video(
    page: Page, clip: Path, parts_release: threading.Event, job_release: threading.Event
) -> None:
    """The vault's file field with a video: a progress bar moving through the parts, then the
    item processing, then its thumbnail with the video's length."""
    open_creator_tab(page, "Vault")
    expect(page.get_by_text("0 items.")).to_be_visible()
    page.evaluate(WATCH_UPLOAD)
    page.get_by_label("Add photos or videos").set_input_files(str(clip))

    # Under way: the last part is held, so the bar stays on screen.
    bar = page.get_by_role("progressbar", name=f"Uploading {clip.name}")
    expect(bar).to_be_visible()
    row = page.locator("#vault-progress .upload-progress")
    expect(row).to_have_text(re.compile(rf"^Uploading {clip.name}: \d+ % \(.+ of .+\)$"))
    expect(page.get_by_text("Uploading 1 of 1…")).to_be_visible()
    page.wait_for_function(
        """() => window.__uploadTexts.filter((t) => / \\d+ % /.test(t)).length >= 3"""
    )
    parts_release.set()

    # Uploaded: the bar is gone and the item shows it is being processed (the job is held).
    expect(bar).to_have_count(0)
    expect(page.get_by_text("Uploaded.")).to_be_visible()
    expect(page.get_by_text("1 item.")).to_be_visible()
    processing = page.locator("#vault").get_by_role("status")
    expect(processing).to_have_text(re.compile(r"Processing the video: 0 %"))
    expect(
        processing.get_by_role("progressbar", name=re.compile(r"^Processing video \d+$"))
    ).to_be_visible()
    percents = [
        int(match.group(1))
        for text in page.evaluate("window.__uploadTexts")
        if (match := re.search(r": (\d+) % ", text))
    ]
    assert len(set(percents)) >= 3, f"the bar did not move through the parts: {percents}"
    assert percents == sorted(percents), f"the bar went backwards: {percents}"
    assert percents[-1] == 100, percents
    job_release.set()

    # Processed: the grid, polling while the item processes, shows the thumbnail and length.
    thumbnail = page.locator("#vault").get_by_role("img", name=re.compile(r"^Vault video \d+$"))
    expect(thumbnail).to_be_visible(timeout=20_000)
    expect(processing).to_have_count(0)
    expect(page.locator("#vault .video-thumb .badge.duration")).to_have_text("▶ 0:06")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )


def test_a_creator_sells_a_video_and_a_fan_unlocks_it_and_plays_it(
    live_server, browser, page, tmp_path, monkeypatch
):
    base = live_server.url
    price = 30
    live_server.app.config["JOBS_LONG_IN_THREAD"] = True  # processing on its own thread
    clip = make_clip(tmp_path / "holiday.mp4", seconds=6.0, size=(640, 360), fps=24)
    parts = math.ceil(clip.stat().st_size / PART_BYTES)
    assert parts >= 6, parts
    parts_release = hold_last_part(monkeypatch, parts)
    job_release = hold_processing(monkeypatch)
    creator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    try:
        creator_id = sign_up_verified(live_server, creator, "luna@example.com", "Luna")
        switch_creator_mode_on(creator, "Harbour films", subscription_price=50)
        verify_creator(live_server, creator_id)  # an admin's step: paid content needs it
        upload_video(creator, clip, parts_release, job_release)
        screenshot(creator, "video-vault.png", DESKTOP)
        screenshot(creator, "video-vault-phone.png", PHONE)
        create_post(creator, "Six seconds of the harbour", "Pay per view", price)
    finally:
        parts_release.set()
        job_release.set()
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"

    # The fan finds the post locked: the blurred teaser plays on its own, silent, no controls.
    fan = page
    video_responses = []
    fan.on("response", lambda r: video_responses.append(r) if ".v480." in r.url else None)
    sign_up_verified(live_server, fan, "sam@example.com", "Sam")
    buy_credits(fan, base, 100)
    fan.goto(f"{base}/creators/{creator_id}")
    post = fan.locator("article.post", has_text="Six seconds")
    teaser = post.get_by_label("Locked video (blurred preview)")
    expect(teaser).to_be_visible()
    expect(teaser).to_have_attribute("poster", re.compile(r"\.blur\.jpg"))
    expect(teaser).to_have_attribute("src", re.compile(r"\.teaser\.mp4"))
    expect(post.get_by_text("▶ 0:06")).to_be_visible()
    expect(post.locator("video[controls]")).to_have_count(0)
    fan.wait_for_function(
        "(v) => v.currentTime > 0 && v.muted && !v.error", arg=teaser.element_handle()
    )
    unlock = post.get_by_role("button", name=f"Unlock for {price} credits")
    expect(unlock).to_be_visible()
    screenshot(fan, "video-post-locked.png", DESKTOP)

    # Unlocked: the post is swapped in place with the player, the sharp poster, no teaser.
    unlock.click()
    player = post.get_by_label("Video 1 by Luna")
    expect(player).to_be_visible()
    expect(player).to_have_attribute("controls", "")
    expect(player).to_have_attribute("poster", re.compile(r"\.poster\.jpg"))
    expect(player.locator("source").first).to_have_attribute(
        "src", re.compile(r"/media/file/.+\.v480\.mp4\?")
    )
    expect(post.get_by_label("Locked video (blurred preview)")).to_have_count(0)
    expect(post.get_by_text("You unlocked this post.")).to_be_visible()
    expect(fan.locator("#nav-credits")).to_have_text(f"{100 - price} credits")

    # It plays, and skipping ahead to 0:03 plays on from there.
    handle = player.element_handle()
    player.evaluate("(v) => { v.muted = true; return v.play(); }")
    fan.wait_for_function("(v) => v.currentTime > 0", arg=handle)
    player.evaluate("(v) => { v.currentTime = 3; }")
    fan.wait_for_function("(v) => !v.seeking && v.currentTime >= 3", arg=handle)
    after_seek = player.evaluate("(v) => v.currentTime")
    fan.wait_for_function("([v, t]) => v.currentTime > t + 0.3", arg=[handle, after_seek])
    state = player.evaluate(
        """(v) => ({ error: v.error && v.error.message, paused: v.paused,
                    duration: v.duration, seekable: v.seekable.length ? v.seekable.end(0) : 0 })"""
    )
    assert state["error"] is None, state
    assert not state["paused"], state
    assert state["duration"] == pytest.approx(6.0, abs=0.2), state
    assert state["seekable"] == pytest.approx(state["duration"], abs=0.2), state
    ranges = [r for r in video_responses if r.status == 206]
    assert ranges, f"the player got no partial content: {[r.status for r in video_responses]}"
    assert ranges[0].headers["content-range"].startswith("bytes ")
    player.evaluate("(v) => v.pause()")
    screenshot(fan, "video-post-unlocked.png", DESKTOP)
    screenshot(fan, "video-post-unlocked-phone.png", PHONE)
    with live_server.app.app_context():
        from services import ledger

        assert ledger.verify() == []  # a creator's video business leaves the books balanced


def test_a_dater_adds_a_profile_video_that_others_watch(live_server, browser, page, tmp_path):
    """From the Profile page: a short video goes up with its progress, is processed, shows on
    the profile page for others with its player, and can be removed."""
    base = live_server.url
    live_server.app.config["JOBS_LONG_IN_THREAD"] = True
    clip = make_clip(tmp_path / "me.mp4", seconds=3.0, size=(640, 360), fps=24)
    ana = page
    ana_id = sign_up_verified(live_server, ana, "ana@example.com", "Ana")
    ana.get_by_role("link", name="Profile").first.click()
    section = ana.locator("#clip")
    expect(ana.get_by_role("heading", name="Profile video")).to_be_visible()
    ana.get_by_label(re.compile(r"^Add a video, or replace yours")).set_input_files(str(clip))
    player = section.get_by_label("Your profile video, 0:03")
    expect(player).to_be_visible(timeout=WAIT * 1000)
    expect(section.get_by_role("button", name="Remove the video")).to_be_visible()
    screenshot(ana, "profile-video.png", DESKTOP)

    bob_errors: list[str] = []
    bob = new_page(browser, bob_errors)
    try:
        sign_up_verified(live_server, bob, "bob@example.com", "Bob")
        bob.goto(f"{base}/people/{ana_id}")
        watched = bob.get_by_label("Ana's video, 0:03")
        expect(watched).to_be_visible()
        handle = watched.element_handle()
        watched.evaluate("(v) => { v.muted = true; return v.play(); }")
        bob.wait_for_function("(v) => v.currentTime > 0.5 && !v.error", arg=handle)
        screenshot(bob, "profile-video-seen-phone.png", PHONE)
    finally:
        bob.context.close()
    assert not bob_errors, f"the viewer's browser reported errors: {bob_errors}"

    section.get_by_role("button", name="Remove the video").click()
    expect(section.get_by_text("A short video says more than a photo")).to_be_visible()
    expect(section.locator("video")).to_have_count(0)


def test_a_moderator_plays_a_reported_video_in_place_and_takes_it_down(live_server, page, tmp_path):
    """Admin → Moderation: the reported post's video plays in the queue, in full; "Remove
    content" takes the post down with every file of the video."""
    from services import media, posts, safety
    from tests.creator_helpers import creator, fan
    from tests.test_browser_payouts import log_in_admin_with_2fa
    from tests.test_videos import still_stored, vault_video

    with live_server.app.app_context():
        luna = creator("Luna")
        luna.email_verified_at = luna.created_at
        clip = vault_video(luna, tmp_path)
        post = posts.create(luna, body="Harbour at dawn", visibility="public", media_ids=[clip.id])
        safety.report(fan("Sam"), luna.id, "post", str(post.id), "explicit", "Not as described")
        clip_id, keys = clip.id, list(clip.variants.values())
    log_in_admin_with_2fa(live_server, page, "root@example.com", "Root")
    page.goto(f"{live_server.url}/admin/reports")
    player = page.get_by_label("Reported video 1, 0:01")
    expect(player).to_be_visible()
    expect(player).to_have_attribute("poster", re.compile(r"\.poster\.jpg"))  # not the blur
    player.evaluate("(v) => { v.muted = true; return v.play(); }")
    page.wait_for_function("(v) => v.currentTime > 0.2 && !v.error", arg=player.element_handle())
    player.evaluate("(v) => v.pause()")
    screenshot(page, "moderation-video.png", DESKTOP)

    page.get_by_role("button", name="Remove content").click()
    expect(page.get_by_label("Reported video 1, 0:01")).to_have_count(0)
    with live_server.app.app_context():
        from extensions import db
        from models import MediaObject

        taken = db.session.get(MediaObject, clip_id)
        assert taken.status == "rejected" and taken.error == media.TAKEN_DOWN
        assert still_stored(keys) == []
