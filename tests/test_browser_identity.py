"""Identity checks in Chromium (docs/identity.md), with two browsers and a fake camera: a new
creator is refused a pay-per-view post until verified, sends the identity check from Settings →
Verification (a national identity card, front and back, and a selfie taken in the page while
making the gesture asked for); a moderator, logged in through the real 2FA step, opens the
request, sees the three sealed images decrypted for the look (each look audited) and approves;
the creator's page turns to "verified" and the pay-per-view post goes through. A second test:
a rejection needs a reason, which the member then reads beside a "Send again" link.
Screenshots at desktop and phone widths are kept in test-artifacts/identity-*.png."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core import clock
from extensions import db
from models import AuditLog, User, VerificationRequest
from models.user import Role
from services import compliance, passwords, twofactor
from tests.browser_shots import named
from tests.identity_helpers import picture, submitted
from tests.test_browser_creator import (
    create_post,
    open_creator_tab,
    switch_creator_mode_on,
    upload_to_vault,
)
from tests.test_browser_creator import picture as vault_picture
from tests.test_browser_payouts import PASSWORD, new_page, sign_up

pytestmark = pytest.mark.browser

screenshots = named("identity-")

SENT = "Sent. A reviewer looks at it soon; you get a notification with the answer."
REASON = "The back of the card is blurred: take it again in good light, flat on a table."


def log_in_moderator_with_2fa(live_server, page: Page, email: str, name: str) -> int:
    """A moderator made in the database, with 2FA on, logs in through the form's second step."""
    with live_server.app.app_context():
        user = User(
            email=email,
            password_hash=passwords.hash_password(PASSWORD),
            display_name=name,
            date_of_birth=dt.date(1986, 5, 5),
            role=Role.MODERATOR,
            email_verified_at=clock.now(),
        )
        db.session.add(user)
        db.session.commit()
        secret = twofactor.new_secret()
        twofactor.enable(user, secret, twofactor.code_for(secret, clock.now()))  # commits
        user_id = user.id
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    # The next 30-second step: the current one was spent turning 2FA on.
    page.get_by_label("Code").fill(
        twofactor.code_for(secret, clock.now() + dt.timedelta(seconds=30))
    )
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()
    return user_id


def open_verification_tab(page: Page) -> None:
    """Settings → Verification, from the main navigation and the settings tabs."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    tabs = page.get_by_role("navigation", name="Settings")
    tabs.get_by_role("link", name="Verification").click()
    expect(page).to_have_url(re.compile(r"/settings/verification$"))
    expect(tabs.get_by_role("link", name="Verification")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="Identity check for creators")).to_be_visible()


def open_verification_queue(page: Page) -> None:
    """Admin → Verification: a moderator's console is "Moderation" in the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Moderation").click()
    admin_tabs = page.get_by_role("navigation", name="Admin")
    admin_tabs.get_by_role("link", name="Verification").click()
    expect(page).to_have_url(re.compile(r"/admin/verification$"))
    expect(page.get_by_role("heading", name="Identity checks")).to_be_visible()
    expect(admin_tabs.get_by_role("link", name="Verification")).to_have_attribute(
        "aria-current", "page"
    )


def try_pay_per_view_post(page: Page, text: str, price: int) -> None:
    """Creator → Posts: a pay-per-view post with the vault's first photo, sent."""
    open_creator_tab(page, "Posts")
    form = page.locator("#post-form")
    form.get_by_label("Text").fill(text)
    photos = form.get_by_role("group", name="Photos and videos from your vault")
    photos.get_by_role("checkbox").first.check()
    form.get_by_role("group", name="Who can see it").get_by_label("Pay per view").check()
    form.get_by_label("Price for pay per view (credits)").fill(str(price))
    form.get_by_role("button", name="Post").click()


def document_files(tmp_path: Path) -> tuple[Path, Path]:
    """A card's two sides, as JPEGs without metadata."""
    front = tmp_path / "card-front.jpg"
    back = tmp_path / "card-back.jpg"
    front.write_bytes(picture((1200, 760), (60, 110, 170), "NATIONAL IDENTITY CARD - FRONT"))
    back.write_bytes(picture((1200, 760), (90, 130, 120), "NATIONAL IDENTITY CARD - BACK"))
    return front, back


def take_selfie(page: Page) -> None:
    """The fake camera (Chromium's --use-fake-device-for-media-stream) turned on, a frame taken."""
    submit = page.get_by_role("button", name="Send for review")
    expect(submit).to_be_disabled()  # nothing to send before the selfie
    page.get_by_role("button", name="Turn on the camera").click()
    expect(page.get_by_role("button", name="Take the selfie")).to_be_visible()
    expect(page.get_by_label("Your camera")).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('[data-selfie-video]').videoWidth > 0"
    )  # frames arrive
    page.get_by_role("button", name="Take the selfie").click()
    preview = page.get_by_role("img", name="Your selfie")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )
    expect(page.get_by_label("Your camera")).to_be_hidden()
    expect(page.get_by_role("button", name="Take it again")).to_be_visible()
    expect(page.get_by_role("button", name="Take the selfie")).to_be_hidden()
    expect(page.get_by_text("Selfie taken. Send it, or take it again.")).to_be_visible()
    expect(submit).to_be_enabled()
    assert page.evaluate("document.getElementById('selfie-file').files.length") == 1


def all_images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        """(selector) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
        }""",
        arg=selector,
    )


def test_a_creator_is_verified_by_a_moderator_and_may_then_sell(live_server, browser, tmp_path):
    creator_errors: list[str] = []
    moderator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    moderator = new_page(browser, moderator_errors)
    try:
        creator_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        switch_creator_mode_on(creator, "Lighthouses at dawn", subscription_price=0)
        upload_to_vault(creator, vault_picture(tmp_path, "bay.jpg"))

        # Not verified yet: a pay-per-view post is refused, with the reason, on the Posts page.
        try_pay_per_view_post(creator, "Golden hour over the bay", 25)
        expect(creator.get_by_role("alert").filter(has_text=compliance.UNVERIFIED)).to_be_visible()
        expect(creator.locator("#post-form").get_by_label("Text")).to_have_value(
            "Golden hour over the bay"
        )

        # Settings → Verification: nothing done yet.
        open_verification_tab(creator)
        identity_check = creator.locator("#creator-check")
        expect(identity_check.locator(".check-state .badge")).to_have_text("not done")
        photo_check = creator.locator("#photo-check")
        expect(photo_check.get_by_text("Add a photo to your profile first")).to_be_visible()
        expect(photo_check.get_by_role("link", name="Start")).to_have_count(0)
        screenshots(creator, "settings-before")

        identity_check.get_by_role("link", name="Start").click()
        expect(creator).to_have_url(re.compile(r"/settings/verification/creator$"))
        expect(creator.get_by_role("heading", name="Identity check")).to_be_visible()
        gesture = creator.locator("#gesture-text").inner_text().strip()
        assert gesture, "the page asks for no gesture"
        creator.get_by_label("Document").select_option(label="National identity card")
        front, back = document_files(tmp_path)
        creator.get_by_label("Front (for a passport: the page with your photo)").set_input_files(
            str(front)
        )
        creator.get_by_label("Back (not needed for a passport)").set_input_files(str(back))
        take_selfie(creator)
        screenshots(creator, "capture-after-selfie")

        creator.get_by_role("button", name="Send for review").click()
        expect(creator).to_have_url(re.compile(r"/settings/verification$"))
        expect(creator.get_by_text(SENT)).to_be_visible()
        identity_check = creator.locator("#creator-check")
        expect(identity_check.locator(".check-state .badge")).to_have_text("in review")
        expect(identity_check.get_by_role("link", name="Start")).to_have_count(0)
        screenshots(creator, "settings-in-review")
        with live_server.app.app_context():
            request = db.session.scalars(
                select(VerificationRequest).where(VerificationRequest.user_id == creator_id)
            ).one()
            request_id = request.id
            assert request.status == "pending" and request.document_type == "id_card"
            file_ids = {file.id: file.role for file in request.files}
        assert sorted(file_ids.values()) == ["document_back", "document_front", "selfie"]

        # The moderator reviews it.
        moderator_id = log_in_moderator_with_2fa(live_server, moderator, "mod@example.com", "Mona")
        open_verification_queue(moderator)
        row = moderator.locator(f"#verification-{request_id}")
        expect(row).to_contain_text("Luna")
        expect(row).to_contain_text("identity check")
        screenshots(moderator, "admin-queue")
        row.get_by_role("link", name="Review").click()
        expect(moderator).to_have_url(re.compile(rf"/admin/verification/{request_id}$"))
        expect(
            moderator.get_by_role("heading", name=re.compile(r"^Identity check: Luna"))
        ).to_be_visible()
        expect(moderator.locator("#gesture")).to_have_text(re.compile(re.escape(gesture), re.I))
        facts = moderator.locator("dl.facts")
        expect(facts).to_contain_text("National identity card")
        images = moderator.locator(".identity-files img")
        expect(images).to_have_count(3)
        all_images_loaded(moderator, ".identity-files img")
        widths = images.evaluate_all("(images) => images.map((img) => img.naturalWidth)")
        assert all(width > 0 for width in widths), widths
        expect(moderator.locator(".identity-files figcaption")).to_have_text(
            [re.compile(f"^{role} · ") for role in ("Document front", "Document back", "Selfie")]
        )
        expect(moderator.get_by_role("img", name="Selfie of Luna")).to_be_visible()
        screenshots(moderator, "admin-request")

        # Each image was decrypted for this look, and each look is on the audit log.
        with live_server.app.app_context():
            looks = db.session.scalars(
                select(AuditLog).where(AuditLog.action == "verification.file_viewed")
            ).all()
            assert {look.detail["file"] for look in looks} == set(file_ids)
            assert len(looks) == 3, [look.detail for look in looks]
            assert all(look.actor_id == moderator_id for look in looks)
            assert all(look.target_id == str(request_id) for look in looks)
            assert {look.detail["role"] for look in looks} == set(file_ids.values())

        moderator.get_by_role("button", name="Approve").click()
        expect(moderator).to_have_url(re.compile(r"/admin/verification$"))
        expect(moderator.get_by_text("Identity check approved.")).to_be_visible()
        expect(moderator.get_by_text("Nothing waits for review.")).to_be_visible()
        decided = moderator.locator(
            "section", has=moderator.get_by_role("heading", name="Decided lately")
        )
        expect(decided.get_by_role("row").filter(has_text="Luna")).to_contain_text("approved")
        with live_server.app.app_context():
            assert db.session.get(User, creator_id).creator_verified_at is not None

        # The creator is verified, and the pay-per-view post now goes through.
        open_verification_tab(creator)
        identity_check = creator.locator("#creator-check")
        expect(identity_check.locator(".check-state .badge")).to_have_text("verified")
        expect(
            identity_check.get_by_text("You can sell content and request payouts.")
        ).to_be_visible()
        expect(identity_check.get_by_role("link")).to_have_count(0)
        creator.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
        create_post(creator, "Golden hour over the bay", "Pay per view", 25)
        post = creator.locator("article.post", has_text="Golden hour over the bay")
        expect(post).to_contain_text("25")
    finally:
        creator.context.close()
        moderator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
    assert not moderator_errors, f"the moderator's browser reported errors: {moderator_errors}"


def test_a_rejection_needs_a_reason_which_the_member_reads(live_server, browser):
    creator_errors: list[str] = []
    moderator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    moderator = new_page(browser, moderator_errors)
    try:
        creator_id = sign_up(live_server, creator, "nina@example.com", "Nina")
        with live_server.app.app_context():
            user = db.session.get(User, creator_id)
            user.is_creator = True
            db.session.commit()
            request_id = submitted(user).id  # an identity card and a selfie, as the page sends

        log_in_moderator_with_2fa(live_server, moderator, "mod@example.com", "Mona")
        open_verification_queue(moderator)
        moderator.locator(f"#verification-{request_id}").get_by_role("link", name="Review").click()
        expect(moderator).to_have_url(re.compile(rf"/admin/verification/{request_id}$"))
        all_images_loaded(moderator, ".identity-files img")

        # Without a reason the rejection is refused, on the form, which stays.
        moderator.get_by_role("button", name="Reject").click()
        reason = moderator.get_by_label("Reason (required to reject: the member reads it)")
        expect(moderator.get_by_text("Say why, so that the member can fix it.")).to_be_visible()
        expect(moderator).to_have_url(re.compile(rf"/admin/verification/{request_id}$"))
        expect(reason).to_be_visible()
        expect(reason).to_be_focused()
        expect(moderator.get_by_role("button", name="Approve")).to_be_visible()
        expect(moderator.locator("#request-heading .status")).to_have_text("pending")

        reason.fill(REASON)
        moderator.get_by_role("button", name="Reject").click()
        expect(moderator).to_have_url(re.compile(r"/admin/verification$"))
        expect(moderator.get_by_text("Identity check rejected.")).to_be_visible()
        expect(moderator.get_by_text("Nothing waits for review.")).to_be_visible()
        with live_server.app.app_context():
            assert db.session.get(VerificationRequest, request_id).status == "rejected"
            assert db.session.get(User, creator_id).creator_verified_at is None

        # The member reads the reason and may send again.
        open_verification_tab(creator)
        identity_check = creator.locator("#creator-check")
        expect(identity_check.locator(".check-state .badge")).to_have_text("not approved")
        expect(identity_check.locator(".check-state")).to_contain_text(REASON)
        identity_check.get_by_role("link", name="Send again").click()
        expect(creator).to_have_url(re.compile(r"/settings/verification/creator$"))
        expect(creator.get_by_text(f"Your last one was not approved: {REASON}")).to_be_visible()
        expect(creator.get_by_role("button", name="Turn on the camera")).to_be_visible()
    finally:
        creator.context.close()
        moderator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
    assert not moderator_errors, f"the moderator's browser reported errors: {moderator_errors}"
