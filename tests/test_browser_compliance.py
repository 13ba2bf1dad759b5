"""Compliance in Chromium: a copyright owner, logged out, files a takedown notice from the
footer; an admin (logged in with 2FA) removes the post in Admin → Takedowns and the claimant gets
the reply by mail. A creator blocks a country in their settings and a fan whose profile is in
that country finds their page "not found" and their posts gone from the feed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import clock
from extensions import db
from models import CreatorSettings, Profile, User
from services import posts, profiles, subscriptions
from testkit.ledger import paid_order
from tests.conftest import last_mail
from tests.test_browser_payouts import log_in_admin_with_2fa, new_page, shot, sign_up

pytestmark = pytest.mark.browser
CLAIMANT = "Ines Duarte"
CLAIMANT_EMAIL = "ines@photo.example"
REPLY = "We removed the post: it copied your photograph without permission."


def creator_with_post(live_server, user_id: int, body: str, visibility: str = "public") -> int:
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        user.is_creator = True
        user.creator_verified_at = clock.now()
        db.session.add(CreatorSettings(user_id=user.id, subscription_price=30))
        db.session.commit()
        return posts.create(user, body=body, visibility=visibility).id


def test_a_takedown_notice_from_the_footer_is_answered_and_the_post_removed(
    live_server, browser, page
):
    base = live_server.url
    creator_errors: list[str] = []
    admin_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    admin = new_page(browser, admin_errors)
    try:
        luna_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        post_id = creator_with_post(live_server, luna_id, "Lighthouse at dawn (my photo!)")

        # The claimant, logged out, finds the post and copies its address.
        claimant = page
        claimant.goto(f"{base}/creators/{luna_id}")
        post = claimant.locator("article.post", has_text="Lighthouse at dawn")
        post.get_by_role("link", name=re.compile(r"\d{2} \w{3} \d{4}")).click()
        expect(claimant).to_have_url(f"{base}/posts/{post_id}")
        post_url = claimant.url

        claimant.get_by_role("contentinfo").get_by_role("link", name="Copyright notice").click()
        expect(claimant.get_by_role("heading", name="Copyright takedown notice")).to_be_visible()
        claimant.get_by_label("Your full name", exact=True).fill(CLAIMANT)
        claimant.get_by_label("Your email").fill(CLAIMANT_EMAIL)
        claimant.get_by_label("Address of the post or page on Amora").fill(post_url)
        claimant.get_by_label("Your work: what it is and where it was first published").fill(
            "My photograph 'Lighthouse at dawn', first published on my portfolio in 2021."
        )
        claimant.get_by_label("Signature (type your full name)").fill(CLAIMANT)
        # Without the statement under penalty of perjury the notice is refused.
        claimant.get_by_role("button", name="Send notice").click()
        expect(claimant.get_by_role("alert")).to_have_text(
            "Please complete the fields marked below."
        )
        expect(
            claimant.get_by_text("The statement under penalty of perjury is required.")
        ).to_be_visible()
        expect(claimant.get_by_label("Your full name", exact=True)).to_have_value(CLAIMANT)  # kept
        claimant.get_by_label(re.compile("I believe in good faith")).check()
        claimant.get_by_role("button", name="Send notice").click()
        done = claimant.get_by_role("status").filter(has_text="Thank you. Notice #")
        expect(done).to_have_text(
            re.compile(rf"Notice #(\d+) is with our team; we will reply to {CLAIMANT_EMAIL}\.")
        )
        notice_id = int(re.search(r"#(\d+)", done.inner_text()).group(1))
        shot(claimant, "takedown-filed.png")

        # The admin removes the post from Admin → Takedowns.
        log_in_admin_with_2fa(live_server, admin, "root@example.com", "Root")
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        admin.get_by_role("navigation", name="Admin").get_by_role("link", name="Takedowns").click()
        expect(admin.get_by_role("heading", name="Copyright takedowns")).to_be_visible()
        notice = admin.locator("article", has_text=f"Notice #{notice_id}")
        expect(notice.get_by_role("heading")).to_have_text(f"Notice #{notice_id} · post {post_id}")
        expect(notice).to_contain_text(f"{CLAIMANT} <{CLAIMANT_EMAIL}>")
        expect(notice.get_by_role("link", name=post_url)).to_be_visible()
        shot(admin, "takedown-admin-open.png")
        notice.get_by_label("Reply to the claimant").fill(REPLY)
        notice.get_by_role("button", name="Remove the content").click()
        expect(admin.get_by_text(f"Notice {notice_id} answered.")).to_be_visible()
        expect(admin.get_by_text("No notices here.")).to_be_visible()
        admin.get_by_role("navigation", name="Notice status").get_by_role(
            "link", name="Removed"
        ).click()
        removed = admin.locator("article", has_text=f"Notice #{notice_id}")
        expect(removed.locator(".badge")).to_have_text("removed")
        expect(removed).to_contain_text(REPLY)

        # The claimant's reply is in the outbox; the post is gone for everyone.
        mail = last_mail(live_server.app, CLAIMANT_EMAIL)
        assert mail.subject == f"Your copyright notice #{notice_id}"
        assert "We removed the content." in mail.body
        assert REPLY in mail.body
        assert post_url in mail.body
        response = claimant.goto(post_url)
        assert response is not None and response.status == 404
        claimant.goto(f"{base}/creators/{luna_id}")
        expect(claimant.get_by_text("No posts yet.")).to_be_visible()
        creator.goto(f"{base}/creator/posts")
        expect(creator.get_by_text("Lighthouse at dawn")).to_have_count(0)
        expect(creator.get_by_text("Nothing posted yet.")).to_be_visible()
    finally:
        creator.context.close()
        admin.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
    assert not admin_errors, f"the admin's browser reported errors: {admin_errors}"


def test_a_creators_country_block_hides_their_page_from_a_fan_in_that_country(
    live_server, browser, page
):
    base = live_server.url
    creator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    try:
        luna_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        creator_with_post(live_server, luna_id, "Backstage in Lisbon", visibility="subscribers")
        fan = page
        hans_id = sign_up(live_server, fan, "hans@example.com", "Hans")
        with live_server.app.app_context():
            hans = db.session.get(User, hans_id)
            profiles.set_location_coordinates(hans, 52.52, 13.405)  # Berlin
            assert db.session.get(Profile, hans_id).country_code == "DE"
            paid_order(hans, 100)
            subscriptions.subscribe(hans, luna_id)

        fan.goto(f"{base}/creators/{luna_id}")
        expect(fan.get_by_role("heading", name=re.compile("^Luna"))).to_be_visible()
        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        expect(fan.locator("#feed article.post", has_text="Backstage in Lisbon")).to_be_visible()

        # The creator hides their page from Germany in Creator → Settings.
        creator.reload()
        creator.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
        creator.get_by_role("navigation", name="Creator").get_by_role(
            "link", name="Settings"
        ).click()
        field = creator.get_by_label(
            "Hide my page and content from these countries (two-letter codes, e.g. DE, FR)"
        )
        field.fill("de, xyz")
        creator.get_by_role("button", name="Save", exact=True).click()
        expect(creator.get_by_text("“XYZ” is not a two-letter country code.")).to_be_visible()
        field.fill("de, at")
        creator.get_by_role("button", name="Save", exact=True).click()
        expect(creator.get_by_text("Creator settings saved.")).to_be_visible()
        expect(field).to_have_value("DE,AT")
        shot(creator, "country-block-settings.png")

        # The fan in Germany: the page is "not found", the post gone from the feed.
        response = fan.goto(f"{base}/creators/{luna_id}")
        assert response is not None and response.status == 404
        expect(fan.get_by_text(re.compile("not found", re.I)).first).to_be_visible()
        expect(fan.get_by_text("Backstage in Lisbon")).to_have_count(0)
        shot(fan, "country-block-fan-404.png")
        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        expect(fan.get_by_role("heading", name="Feed")).to_be_visible()
        expect(fan.get_by_text("Backstage in Lisbon")).to_have_count(0)

        # Moving to Paris (a place the creator did not block) brings it back.
        with live_server.app.app_context():
            profiles.set_location_coordinates(db.session.get(User, hans_id), 48.8566, 2.3522)
        fan.goto(f"{base}/creators/{luna_id}")
        expect(fan.get_by_text("Backstage in Lisbon")).to_be_visible()
    finally:
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
