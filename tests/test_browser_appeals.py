"""Appeals and the dev identity service in Chromium (docs/security.md#appeals,
docs/identity.md#identity-services).

A banned member types the right password at the login form and gets the ban message with a link
"Appeal this decision"; the appeal form refuses an empty message, takes a real one, and shows,
opened again, that the member appealed already. A moderator (not the admin who banned: the one
who took a decision does not judge its appeal), logged in through the real 2FA step, opens Admin
→ Appeals, reads the message and overturns the ban with an answer; the appeal leaves the queue,
the member gets the outcome by mail and logs in again.

With IDENTITY_PROVIDER = "dev", a creator starts the identity check with the test identity
service, approves on its page, and comes back verified (the signed webhook is delivered by a
job); a pay-per-view post then goes through. Screenshots at desktop and phone widths are kept in
test-artifacts/appeals-*.png and test-artifacts/identity-service-*.png."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core import clock
from extensions import db
from models import Appeal, AuditLog, User, VerificationRequest
from models.user import Role
from services import admin_users, passwords, twofactor
from tests.browser_shots import screenshots
from tests.conftest import last_mail
from tests.test_browser_creator import create_post, switch_creator_mode_on, upload_to_vault
from tests.test_browser_creator import picture as vault_picture
from tests.test_browser_identity import log_in_moderator_with_2fa, open_verification_tab
from tests.test_browser_payouts import PASSWORD, new_page, sign_up

pytestmark = pytest.mark.browser

BAN_REASON = "spam links"
APPEAL_TEXT = "Those links were to my own pottery shop, not spam. I will not post them again."
ANSWER = "The shop is yours and the links were fair; sorry for the trouble."
APPEAL_SENT = "Appeal sent. A moderator looks at it; we mail you the outcome."
DEV_SERVICE_BUTTON = "Start with the test identity service (dev)"


def make_admin_with_2fa(live_server, email: str, name: str) -> int:
    """An admin made in the database, with 2FA on (they ban; they never open a browser)."""
    with live_server.app.app_context():
        admin = User(
            email=email,
            password_hash=passwords.hash_password(PASSWORD),
            display_name=name,
            date_of_birth=dt.date(1980, 3, 3),
            role=Role.ADMIN,
            email_verified_at=clock.now(),
        )
        db.session.add(admin)
        db.session.commit()
        secret = twofactor.new_secret()
        twofactor.enable(admin, secret, twofactor.code_for(secret, clock.now()))  # commits
        return admin.id


def log_in(page: Page, base: str, email: str, password: str) -> None:
    """Fill in and send the login form (the answer is the caller's to check)."""
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def open_appeals_queue(page: Page) -> None:
    """Admin → Appeals: a moderator's console is "Moderation" in the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Moderation").click()
    admin_tabs = page.get_by_role("navigation", name="Admin")
    admin_tabs.get_by_role("link", name="Appeals").click()
    expect(page).to_have_url(re.compile(r"/admin/appeals$"))
    expect(page.get_by_role("heading", name="Appeals", exact=True)).to_be_visible()
    expect(admin_tabs.get_by_role("link", name="Appeals")).to_have_attribute("aria-current", "page")


def test_a_banned_member_appeals_and_a_moderator_overturns_the_ban(live_server, browser):
    member_errors: list[str] = []
    moderator_errors: list[str] = []
    member = new_page(browser, member_errors)
    moderator = new_page(browser, moderator_errors)
    base = live_server.url
    try:
        member_id = sign_up(live_server, member, "ana@example.com", "Ana")
        admin_id = make_admin_with_2fa(live_server, "boss@example.com", "Bea")
        with live_server.app.app_context():
            admin = db.session.get(User, admin_id)
            admin_users.set_status(admin, member_id, "banned", BAN_REASON)
            assert db.session.get(User, member_id).status == "banned"

        # A wrong password earns no appeal link.
        log_in(member, base, "ana@example.com", "not-the-password-at-all")
        error = member.locator("form .flash.error")
        expect(error).to_be_visible()
        expect(error).not_to_contain_text("banned")
        expect(member.get_by_role("link", name="Appeal this decision")).to_have_count(0)

        # The right one: the ban, with its reason, and the way to appeal.
        log_in(member, base, "ana@example.com", PASSWORD)
        error = member.get_by_role("alert").filter(has_text="banned")
        expect(error).to_contain_text(f"This account has been banned: {BAN_REASON}")
        link = error.get_by_role("link", name="Appeal this decision")
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", re.compile(r"^/appeal/[^/]+$"))
        expect(member).to_have_url(re.compile(r"/login$"))
        screenshots(member, "appeals-login-banned")
        link.click()

        expect(member).to_have_url(re.compile(r"/appeal/[^/]+$"))
        appeal_url = member.url
        expect(member.get_by_role("heading", name="Appeal a decision")).to_be_visible()
        expect(member.get_by_text(f"Your account was banned: {BAN_REASON}.")).to_be_visible()
        expect(member.get_by_text("ana@example.com")).to_be_visible()
        message = member.get_by_label("Why the decision should change")
        expect(message).to_be_visible()
        expect(message).to_have_value("")
        screenshots(member, "appeals-form")

        # An empty message is refused, on the form.
        member.get_by_role("button", name="Send my appeal").click()
        expect(member.get_by_text("Tell us why the decision should change.")).to_be_visible()
        message = member.get_by_label("Why the decision should change")
        expect(message).to_be_visible()
        expect(message).to_be_focused()
        with live_server.app.app_context():
            assert db.session.scalars(select(Appeal)).all() == []
        screenshots(member, "appeals-form-empty")

        message.fill(APPEAL_TEXT)
        member.get_by_role("button", name="Send my appeal").click()
        expect(member.get_by_text(APPEAL_SENT)).to_be_visible()
        expect(member).to_have_url(appeal_url)
        status = member.get_by_role("status").filter(has_text="You appealed on")
        expect(status).to_contain_text("a moderator looks at it, and we mail you the outcome.")
        expect(member.get_by_label("Why the decision should change")).to_have_count(0)
        expect(member.get_by_role("button", name="Send my appeal")).to_have_count(0)
        screenshots(member, "appeals-sent")

        # Opened again, the link says the member appealed already, with no form.
        member.goto(appeal_url)
        expect(member.get_by_role("heading", name="Appeal a decision")).to_be_visible()
        expect(member.get_by_role("status").filter(has_text="You appealed on")).to_be_visible()
        expect(member.get_by_text("Each decision can be appealed once.")).to_be_visible()
        expect(member.get_by_label("Why the decision should change")).to_have_count(0)
        expect(member.get_by_role("button", name="Send my appeal")).to_have_count(0)
        with live_server.app.app_context():
            appeal = db.session.scalars(select(Appeal)).one()
            appeal_id = appeal.id
            assert appeal.user_id == member_id and appeal.status == "open"
            assert appeal.message == APPEAL_TEXT

        # A moderator who did not ban her decides.
        moderator_id = log_in_moderator_with_2fa(live_server, moderator, "mod@example.com", "Mona")
        open_appeals_queue(moderator)
        card = moderator.locator(f"#appeal-{appeal_id}")
        expect(card.get_by_role("heading", name=re.compile(r"^Ana"))).to_be_visible()
        expect(card.locator(".badge")).to_have_text("banned")
        expect(card).to_contain_text(f"Your account was banned: {BAN_REASON}.")
        expect(card.locator("blockquote")).to_have_text(APPEAL_TEXT)
        answer = card.get_by_label("Answer (the member gets it by mail)")
        expect(answer).to_be_visible()
        expect(card.get_by_role("button", name="Uphold the decision")).to_be_visible()
        screenshots(moderator, "appeals-admin-queue")

        # An answer is required: refused without one, the appeal stays open.
        card.get_by_role("button", name="Overturn it").click()
        expect(moderator.get_by_text("Say why: the member reads it.")).to_be_visible()
        card = moderator.locator(f"#appeal-{appeal_id}")
        answer = card.get_by_label("Answer (the member gets it by mail)")
        expect(answer).to_be_focused()
        with live_server.app.app_context():
            assert db.session.get(Appeal, appeal_id).status == "open"
            assert db.session.get(User, member_id).status == "banned"

        answer.fill(ANSWER)
        card.get_by_role("button", name="Overturn it").click()
        expect(moderator).to_have_url(re.compile(r"/admin/appeals$"))
        expect(
            moderator.get_by_text(f"Appeal {appeal_id}: overturned. The member is mailed.")
        ).to_be_visible()
        expect(moderator.locator(f"#appeal-{appeal_id}")).to_have_count(0)
        expect(moderator.get_by_text("No appeal waits.")).to_be_visible()
        decided = moderator.locator(
            "section", has=moderator.get_by_role("heading", name="Decided lately")
        )
        row = decided.get_by_role("listitem").filter(has_text="Ana")
        expect(row).to_contain_text("overturned")
        expect(row).to_contain_text(ANSWER)
        screenshots(moderator, "appeals-admin-decided")

        with live_server.app.app_context():
            appeal = db.session.get(Appeal, appeal_id)
            assert appeal.status == "overturned" and appeal.reviewer_id == moderator_id
            assert appeal.outcome == ANSWER
            user = db.session.get(User, member_id)
            assert user.status == "active" and user.status_reason is None
            actions = db.session.scalars(
                select(AuditLog.action).where(AuditLog.action.like("appeal.%"))
            ).all()
            assert sorted(actions) == ["appeal.overturned", "appeal.submitted"]

        mail = last_mail(live_server.app, "ana@example.com")
        assert mail.subject == "Your appeal: the decision was changed"
        assert "Hello Ana," in mail.body
        assert f"Your account was banned: {BAN_REASON}." in mail.body
        assert "your account is active again" in mail.body
        assert ANSWER in mail.body

        # The member logs in again, as usual.
        log_in(member, base, "ana@example.com", PASSWORD)
        expect(member.get_by_role("heading", name="Hi, Ana")).to_be_visible()
        expect(member.get_by_role("link", name="Appeal this decision")).to_have_count(0)
    finally:
        member.context.close()
        moderator.context.close()
    assert not member_errors, f"the member's browser reported errors: {member_errors}"
    assert not moderator_errors, f"the moderator's browser reported errors: {moderator_errors}"


def expect_verified_after_the_job(page: Page, attempts: int = 20) -> None:
    """The webhook's job may finish a moment after the redirect: reload until "verified"."""
    badge = page.locator("#creator-check .check-state .badge")
    for _ in range(attempts - 1):
        try:
            expect(badge).to_have_text("verified", timeout=500)
            return
        except AssertionError:
            page.reload()
    expect(badge).to_have_text("verified")


def test_a_creator_is_verified_by_the_dev_identity_service(live_server, browser, tmp_path):
    live_server.app.config["IDENTITY_PROVIDER"] = "dev"
    errors: list[str] = []
    creator = new_page(browser, errors)
    try:
        creator_id = sign_up(live_server, creator, "luna@example.com", "Luna")
        switch_creator_mode_on(creator, "Lighthouses at dawn", subscription_price=0)

        open_verification_tab(creator)
        identity_check = creator.locator("#creator-check")
        expect(identity_check.locator(".check-state .badge")).to_have_text("not done")
        # The service takes the check: no manual form to fill in.
        expect(identity_check.get_by_role("link", name="Start")).to_have_count(0)
        identity_check.get_by_role("button", name=DEV_SERVICE_BUTTON).click()

        expect(creator).to_have_url(re.compile(r"/settings/verification/dev/devid_[0-9a-f]+$"))
        expect(creator.get_by_role("heading", name="Amora test identity service")).to_be_visible()
        expect(creator.get_by_text("Test identity service · no real check")).to_be_visible()
        expect(creator.get_by_role("button", name="Reject")).to_be_visible()
        with live_server.app.app_context():
            request = db.session.scalars(
                select(VerificationRequest).where(VerificationRequest.user_id == creator_id)
            ).one()
            request_id = request.id
            assert request.provider == "dev" and request.status == "pending"
            assert creator.url.endswith(f"/settings/verification/dev/{request.provider_ref}")
        screenshots(creator, "identity-service-page")

        creator.get_by_role("button", name="Approve").click()
        expect(creator).to_have_url(re.compile(r"/settings/verification$"))
        expect(
            creator.get_by_text(re.compile(r"^The identity service has sent its answer"))
        ).to_be_visible()
        expect_verified_after_the_job(creator)
        identity_check = creator.locator("#creator-check")
        expect(
            identity_check.get_by_text("You can sell content and request payouts.")
        ).to_be_visible()
        expect(identity_check.get_by_role("button")).to_have_count(0)
        expect(identity_check.get_by_role("link")).to_have_count(0)
        screenshots(creator, "identity-service-settings-verified")
        with live_server.app.app_context():
            request = db.session.get(VerificationRequest, request_id)
            assert request.status == "approved" and request.reviewer_id is None
            assert request.document_type == "passport"
            assert db.session.get(User, creator_id).creator_verified_at is not None

        # Verified: a pay-per-view post goes through.
        creator.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
        upload_to_vault(creator, vault_picture(tmp_path, "bay.jpg"))
        create_post(creator, "Golden hour over the bay", "Pay per view", 25)
        post = creator.locator("article.post", has_text="Golden hour over the bay")
        expect(post).to_contain_text("25")
    finally:
        creator.context.close()
    assert not errors, f"the creator's browser reported errors: {errors}"
