"""A creator's tools in Chromium, with two browsers: a mass message with a pay-per-view photo
from the vault goes to every subscriber while the creator watches its progress, and a subscribed
fan unlocks it from Messages; a post scheduled in the creator's local time is published by the
periodic job and appears in the fan's feed."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from core import clock
from extensions import db
from models import CreatorSettings, Message, User
from services import mass_messages, posts, subscriptions
from testkit.ledger import paid_order
from tests.conftest import hold_jobs
from tests.creator_helpers import fan as service_fan
from tests.creator_helpers import vault_photo
from tests.test_browser_payouts import new_page, shot, sign_up

pytestmark = pytest.mark.browser
SUBSCRIPTION = 50


class WorkerDied(Exception):
    """Stands for a worker killed between two batches."""


def verified_creator(live_server, user_id: int) -> None:
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        user.is_creator = True
        user.creator_verified_at = clock.now()
        db.session.add(CreatorSettings(user_id=user.id, subscription_price=SUBSCRIPTION))
        db.session.commit()


def subscribed_fan(live_server, creator_id: int, fan_id: int | None = None, credits: int = 100):
    """A fan (the browser's user, or a new one) with credits, subscribed to the creator."""
    with live_server.app.app_context():
        fan = db.session.get(User, fan_id) if fan_id else service_fan("Noa")
        paid_order(fan, credits)
        subscriptions.subscribe(fan, creator_id)
        return fan.id


def open_creator_tab(page: Page, tab: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
    page.get_by_role("navigation", name="Creator").get_by_role("link", name=tab).click()
    expect(page.get_by_role("heading", name=tab, exact=True)).to_be_visible()


def test_a_mass_message_with_a_ppv_photo_reaches_subscribers_who_unlock_it(
    live_server, browser, page, monkeypatch
):
    base = live_server.url
    price = 15
    # The worker's job is held back, so the creator sees the message before it is delivered.
    held = hold_jobs(monkeypatch, mass_messages.deliver)
    monkeypatch.setattr(mass_messages, "BATCH", 1)  # one fan per batch: progress shows steps

    creator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    try:
        luna_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        verified_creator(live_server, luna_id)
        with live_server.app.app_context():
            photo_id = vault_photo(db.session.get(User, luna_id)).id
        sam_id = sign_up(live_server, page, "sam@example.com", "Sam")
        subscribed_fan(live_server, luna_id, sam_id)
        noa_id = subscribed_fan(live_server, luna_id)
        with live_server.app.app_context():
            outsider_id = service_fan("Ola", credits=100).id  # not a subscriber

        creator.reload()
        open_creator_tab(creator, "Mass messages")
        expect(creator.get_by_text("Nothing sent yet.")).to_be_visible()
        form = creator.locator("#mass-form")
        form.get_by_label("Message").fill("New set from the beach <3, just for you")
        form.get_by_role("radio", name=f"Vault item {photo_id}").check()
        form.get_by_label("Price to unlock the photo (credits, 0 = free)").fill(str(price))
        form.get_by_role("button", name="Send to subscribers").click()
        expect(creator.get_by_text("Sending to your subscribers.")).to_be_visible()
        row = creator.locator(".mass-row")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("New set from the beach <3, just for you")
        expect(row).to_contain_text(f"{price} credits to unlock")
        expect(row.get_by_role("status")).to_have_text("Sending… 0 of 2")
        expect(row.locator("progress")).to_have_attribute("value", "0")
        assert len(held) == 1, "sending queues exactly one job"
        creator.evaluate("window.__notReloaded = true")

        # The worker delivers one batch, then dies; the row polls and shows the step.
        real_publish = mass_messages.publish_message

        def die_after_first_batch(message):
            raise WorkerDied

        monkeypatch.setattr(mass_messages, "publish_message", die_after_first_batch)
        _, args, kwargs = held[0]
        with live_server.app.app_context(), pytest.raises(WorkerDied):
            mass_messages.deliver(*args, **kwargs)
        expect(row.get_by_role("status")).to_have_text("Sending… 1 of 2")
        expect(row.locator("progress")).to_have_attribute("value", "1")
        shot(creator, "mass-message-sending.png")

        # The job is retried, resumes after the last fan it reached and finishes.
        monkeypatch.setattr(mass_messages, "publish_message", real_publish)
        with live_server.app.app_context():
            assert mass_messages.deliver(*args, **kwargs) == 1
        expect(row.get_by_role("status")).to_have_text("Sent to 2 subscribers.")
        expect(row.locator("progress")).to_have_attribute("value", "2")
        assert creator.evaluate("window.__notReloaded === true"), "the page was reloaded"
        expect(creator.locator(".mass-row[hx-get]")).to_have_count(0)  # done: it stops polling
        shot(creator, "mass-message-sent.png")
        with live_server.app.app_context():
            recipients = db.session.scalars(
                db.select(Message.recipient_id).where(Message.sender_id == luna_id)
            ).all()
        assert sorted(recipients) == sorted([sam_id, noa_id]), "each subscriber got it once"
        assert outsider_id not in recipients

        # The fan finds it in Messages, the photo blurred until unlocked.
        fan = page
        fan.reload()
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - SUBSCRIPTION} credits")
        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
        expect(fan.get_by_role("heading", name="Messages")).to_be_visible()
        conversation = fan.locator(".inbox li", has_text="Luna")
        expect(conversation).to_contain_text("New set from the beach <3")
        expect(conversation).to_contain_text("1 new")
        conversation.get_by_role("link").click()
        expect(fan).to_have_url(f"{base}/messages/{luna_id}")
        message = fan.locator("#messages li.message.theirs")
        expect(message).to_have_count(1)
        expect(message.locator(".bubble")).to_have_text("New set from the beach <3, just for you")
        locked = message.get_by_role("img", name="Locked photo (blurred preview)")
        expect(locked).to_have_attribute("src", re.compile(r"\.blur\."))
        fan.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=locked.element_handle()
        )
        shot(fan, "mass-message-fan-locked.png")

        fan.evaluate("window.__notReloaded = true")
        message.get_by_role("button", name=f"Unlock for {price} credits").click()
        photo = message.get_by_role("img", name="Photo", exact=True)
        expect(photo).to_be_visible()
        assert ".blur." not in (photo.get_attribute("src") or "")
        expect(message.get_by_text("Unlocked")).to_be_visible()
        expect(message.get_by_role("button", name=re.compile("Unlock"))).to_have_count(0)
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - SUBSCRIPTION - price} credits")
        assert fan.evaluate("window.__notReloaded === true"), "the page was reloaded"
        fan.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
        )
        shot(fan, "mass-message-fan-unlocked.png")

        # Paid once: after a reload it stays unlocked and the balance stays put.
        fan.reload()
        expect(
            fan.locator("#messages").get_by_role("img", name="Photo", exact=True)
        ).to_be_visible()
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - SUBSCRIPTION - price} credits")
    finally:
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"


def test_a_scheduled_post_goes_live_when_the_job_runs_and_shows_in_the_feed(
    live_server, browser, page
):
    creator_errors: list[str] = []
    # The creator is in Paris: the form takes their local time, the server keeps UTC.
    creator = new_page(browser, creator_errors, timezone_id="Europe/Paris")
    try:
        luna_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        verified_creator(live_server, luna_id)
        sam_id = sign_up(live_server, page, "sam@example.com", "Sam")
        subscribed_fan(live_server, luna_id, sam_id)

        now = clock.now()
        when_utc = (now + dt.timedelta(days=2)).replace(hour=17, minute=30, second=0, microsecond=0)
        when_paris = when_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Europe/Paris"))

        creator.reload()
        open_creator_tab(creator, "Posts")
        form = creator.locator("#post-form")
        form.get_by_label("Text").fill("Sunday livestream: behind the scenes")
        form.get_by_label("Subscribers only").check()
        form.get_by_label("Publish at (leave empty to publish now)").fill(
            when_paris.strftime("%Y-%m-%dT%H:%M")
        )
        form.get_by_role("button", name="Post").click()
        expect(creator.get_by_text(f"Scheduled for {when_utc:%d %b %Y %H:%M} UTC.")).to_be_visible()
        mine = creator.locator("article.post", has_text="Sunday livestream")
        expect(mine.locator(".badge", has_text="scheduled")).to_have_text(
            f"scheduled {when_utc:%d %b %H:%M} UTC"
        )
        shot(creator, "scheduled-post-creator.png")

        # Not yet in the fan's feed, nor on the creator's page.
        fan = page
        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        expect(fan.locator("#feed")).to_be_visible()
        expect(fan.get_by_text("Sunday livestream")).to_have_count(0)
        fan.goto(f"{live_server.url}/creators/{luna_id}")
        expect(fan.get_by_role("heading", name="Luna")).to_be_visible()
        expect(fan.get_by_text("Sunday livestream")).to_have_count(0)

        # The periodic job, a minute before and at the scheduled time.
        with live_server.app.app_context():
            with clock.frozen(when_utc - dt.timedelta(minutes=1)):
                assert posts.publish_due() == 0
            with clock.frozen(when_utc):
                assert posts.publish_due() == 1

        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        post = fan.locator("#feed article.post", has_text="Sunday livestream")
        expect(post).to_be_visible()
        expect(post).to_contain_text("Luna")
        expect(post.locator(".badge", has_text="scheduled")).to_have_count(0)
        shot(fan, "scheduled-post-feed.png")

        creator.reload()
        expect(mine).to_be_visible()
        expect(mine.locator(".badge", has_text="scheduled")).to_have_count(0)
    finally:
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
