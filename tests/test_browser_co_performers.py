"""Co-performers in Chromium (docs/identity.md#co-performers), with two browsers: a creator tags
another verified creator on a vault photo from its People page, is refused a post with it until
the tag is accepted in Creator → Tags, posts it once cleared, and the photo leaves the post when
the one tagged withdraws consent. A second test: a release for someone who is not a member (their
document and the release they signed) is sent from the People page, reviewed by a moderator
(real 2FA login) who sees the item and both sealed files side by side, and approved.
Screenshots at desktop and phone widths are kept in test-artifacts/co-performers-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from extensions import db
from models import AuditLog, CoPerformer, MediaObject, Post
from services import co_performers, compliance, passwords
from tests.browser_shots import named
from tests.creator_helpers import creator, vault_photo
from tests.identity_helpers import picture
from tests.test_browser_creator import create_post, open_creator_tab
from tests.test_browser_identity import (
    all_images_loaded,
    log_in_moderator_with_2fa,
    open_verification_queue,
)
from tests.test_browser_payouts import new_page

pytestmark = pytest.mark.browser

screenshots = named("co-performers-")

PASSWORD = "saffron-harbour-quill-73"
WHO = "Their handle, as on their photos (e.g. @luna12)"
REFUSED = co_performers.NOT_CLEARED.format(what="a photo or video")


def verified_creator_with_photo(live_server, email: str, name: str) -> tuple[int, str, int]:
    """A verified creator made in the database, who can log in with PASSWORD, and one processed
    photo in their vault. Returns (user id, handle, vault item id)."""
    with live_server.app.app_context():
        user = creator(name)
        user.email = email
        user.password_hash = passwords.hash_password(PASSWORD)
        db.session.commit()
        item = vault_photo(user)
        return user.id, compliance.handle(user), item.id


def verified_creator(live_server, email: str, name: str) -> tuple[int, str]:
    with live_server.app.app_context():
        user = creator(name)
        user.email = email
        user.password_hash = passwords.hash_password(PASSWORD)
        db.session.commit()
        return user.id, compliance.handle(user)


def log_in(live_server, page: Page, email: str, name: str) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()


def open_creator_area(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
    expect(page.get_by_role("navigation", name="Creator")).to_be_visible()


def open_people_page(page: Page, item_id: int, link: str) -> None:
    """Creator → Vault, then the item's People link (`link` is what it says)."""
    open_creator_area(page)
    open_creator_tab(page, "Vault")
    card = page.locator(f"#vault-item-{item_id}")
    thumbnail = card.get_by_role("img", name=f"Vault photo {item_id}")
    expect(thumbnail).to_be_visible()
    card.get_by_role("link", name=link).click()
    expect(page).to_have_url(re.compile(rf"/creator/vault/{item_id}/people$"))
    expect(page.get_by_role("heading", name="People in this item")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Vault photo {item_id}")).to_be_visible()
    image = page.get_by_role("img", name=f"Vault photo {item_id}")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


def clearance(page: Page):
    return page.locator(".people-head .badge")


def try_post(page: Page, text: str) -> None:
    """Creator → Posts: a post for everyone with the vault's first photo, sent."""
    open_creator_tab(page, "Posts")
    form = page.locator("#post-form")
    form.get_by_label("Text").fill(text)
    photos = form.get_by_role("group", name="Photos and videos from your vault")
    photos.get_by_role("checkbox").first.check()
    form.get_by_role("group", name="Who can see it").get_by_label("Everyone").check()
    form.get_by_role("button", name="Post").click()


def release_files(tmp_path: Path) -> tuple[Path, Path]:
    document = tmp_path / "alex-id.jpg"
    signed = tmp_path / "alex-release.jpg"
    document.write_bytes(picture((1200, 760), (70, 100, 160), "IDENTITY CARD - ALEX DOE"))
    signed.write_bytes(picture((900, 1200), (235, 235, 225), "MODEL RELEASE - SIGNED ALEX DOE"))
    return document, signed


def test_a_tagged_creator_accepts_then_withdraws_and_the_photo_leaves_the_post(
    live_server, browser, page
):
    luna_id, _, item_id = verified_creator_with_photo(live_server, "luna@example.com", "Luna")
    mia_id, mia_handle = verified_creator(live_server, "mia@example.com", "Mia")
    mia_errors: list[str] = []
    mia = new_page(browser, mia_errors)
    try:
        # Luna names Mia on her photo, by the handle on Mia's photos.
        log_in(live_server, page, "luna@example.com", "Luna")
        open_people_page(page, item_id, "Someone else in it?")
        expect(page.get_by_text("Only you are shown, as you said when uploading.")).to_be_visible()
        page.get_by_label(WHO).fill(mia_handle)
        page.get_by_role("button", name="Tag them").click()
        expect(page).to_have_url(re.compile(rf"/creator/vault/{item_id}/people$"))
        expect(page.get_by_text("Tagged: they are asked to accept.")).to_be_visible()
        expect(clearance(page)).to_have_text("not cleared")
        with live_server.app.app_context():
            tag = db.session.scalars(
                select(CoPerformer).where(CoPerformer.media_id == item_id)
            ).one()
            tag_id = tag.id
            assert tag.performer_id == mia_id and tag.owner_id == luna_id
        row = page.locator(f"#co-performer-{tag_id}")
        expect(row.get_by_role("cell")).to_have_text(
            ["Mia", "tag (creator here)", "pending", "Remove"]
        )
        expect(row.get_by_role("button", name="Remove")).to_be_visible()
        screenshots(page, "people-not-cleared")

        # The vault says the photo needs names.
        page.get_by_role("link", name="← Back to the vault").click()
        expect(page).to_have_url(re.compile(r"/creator/vault$"))
        expect(page.locator(f"#vault-item-{item_id}").get_by_text("needs names")).to_be_visible()

        # A post with it is refused, with where to name people, and the text typed is kept.
        try_post(page, "Us at the lighthouse")
        expect(page.get_by_role("alert").filter(has_text=REFUSED)).to_be_visible()
        expect(page.locator("#post-form").get_by_label("Text")).to_have_value(
            "Us at the lighthouse"
        )
        with live_server.app.app_context():
            assert db.session.scalars(select(Post)).all() == []

        # Mia finds the tag in Creator → Tags, with the photo, and accepts.
        log_in(live_server, mia, "mia@example.com", "Mia")
        open_creator_area(mia)
        open_creator_tab(mia, "Tags")
        expect(mia).to_have_url(re.compile(r"/creator/tags$"))
        expect(
            mia.get_by_role("navigation", name="Creator").get_by_role("link", name="Tags")
        ).to_have_attribute("aria-current", "page")
        expect(mia.get_by_role("heading", name="Where you are tagged")).to_be_visible()
        listed = mia.locator(f"#tag-{tag_id}")
        expect(listed).to_contain_text("Luna")
        expect(listed.locator(".status")).to_have_text("pending")
        thumbnail = listed.get_by_role("img", name=f"Item {item_id} by Luna")
        expect(thumbnail).to_be_visible()
        mia.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
        )
        expect(listed.get_by_role("button", name="Decline")).to_be_visible()
        screenshots(mia, "tags-pending")
        listed.get_by_role("button", name="Accept").click()
        expect(mia.get_by_text("Accepted.")).to_be_visible()
        listed = mia.locator(f"#tag-{tag_id}")
        expect(listed.locator(".status")).to_have_text("accepted")
        expect(listed.get_by_role("button", name="Accept")).to_have_count(0)
        expect(listed.get_by_role("button", name="Withdraw consent")).to_be_visible()

        # Luna's photo is cleared, and the post goes through.
        page.goto(f"{live_server.url}/creator/vault/{item_id}/people")
        expect(clearance(page)).to_have_text("cleared")
        row = page.locator(f"#co-performer-{tag_id}")
        expect(row.locator(".status")).to_have_text("accepted")
        expect(row.get_by_role("button", name="Remove")).to_have_count(0)
        screenshots(page, "people-cleared")
        open_creator_tab(page, "Vault")
        expect(
            page.locator(f"#vault-item-{item_id}").get_by_role("link", name="People ✓")
        ).to_be_visible()
        create_post(page, "Us at the lighthouse", "Everyone")
        with live_server.app.app_context():
            post_id = db.session.scalars(select(Post.id)).one()
        page.goto(f"{live_server.url}/posts/{post_id}")
        photo = page.locator(f"#post-{post_id}").get_by_role("img", name="Photo 1 by Luna")
        expect(photo).to_be_visible()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
        )
        photo_url = photo.get_attribute("src")
        assert photo_url

        # Mia withdraws her consent: the photo is taken down everywhere.
        mia.once("dialog", lambda dialog: dialog.accept())
        mia.locator(f"#tag-{tag_id}").get_by_role("button", name="Withdraw consent").click()
        expect(
            mia.get_by_text("Consent withdrawn: the item was taken down everywhere.")
        ).to_be_visible()
        expect(mia.locator(f"#tag-{tag_id} .status")).to_have_text("withdrawn")
        expect(mia.get_by_role("button", name="Withdraw consent")).to_have_count(0)
        with live_server.app.app_context():
            item = db.session.get(MediaObject, item_id)
            assert item.status == "rejected"
            assert item.variants == {}
            assert db.session.get(CoPerformer, tag_id).status == "revoked"

        page.reload()
        post = page.locator(f"#post-{post_id}")
        expect(post).to_contain_text("Us at the lighthouse")
        expect(post.get_by_role("img", name="Photo 1 by Luna")).to_have_count(0)
        expect(post.locator(".post-media")).to_have_count(0)
        # Its file is gone from storage too: the old address leads nowhere.
        absolute = photo_url if photo_url.startswith("http") else live_server.url + photo_url
        assert page.request.get(absolute).status == 404
    finally:
        mia.context.close()
    assert not mia_errors, f"Mia's browser reported errors: {mia_errors}"


def test_a_release_is_sent_and_approved_by_a_moderator(live_server, browser, page, tmp_path):
    luna_id, _, item_id = verified_creator_with_photo(live_server, "luna@example.com", "Luna")
    moderator_errors: list[str] = []
    moderator = new_page(browser, moderator_errors)
    try:
        # Luna sends the release of someone who is not a member.
        log_in(live_server, page, "luna@example.com", "Luna")
        open_people_page(page, item_id, "Someone else in it?")
        document, signed = release_files(tmp_path)
        page.get_by_label("Their full legal name, as on their document").fill("Alex Doe")
        page.get_by_label("Their identity document (photo page or front)").set_input_files(
            str(document)
        )
        page.get_by_label(
            "The release they signed (a photo or scan of every page's signature)"
        ).set_input_files(str(signed))
        page.get_by_role("button", name="Send the release").click()
        expect(page).to_have_url(re.compile(rf"/creator/vault/{item_id}/people$"))
        expect(
            page.get_by_text("Release added: our team checks it before the item can be used.")
        ).to_be_visible()
        expect(clearance(page)).to_have_text("not cleared")
        with live_server.app.app_context():
            release = db.session.scalars(
                select(CoPerformer).where(CoPerformer.media_id == item_id)
            ).one()
            release_id = release.id
            assert release.owner_id == luna_id and release.legal_name == "Alex Doe"
            file_ids = {file.id: file.role for file in release.files}
        assert sorted(file_ids.values()) == ["release_form", "release_id"]
        row = page.locator(f"#co-performer-{release_id}")
        expect(row.get_by_role("cell")).to_have_text(["Alex Doe", "release", "pending", "Remove"])
        screenshots(page, "people-release-pending")

        # A moderator finds it in Admin → Verification and opens it.
        moderator_id = log_in_moderator_with_2fa(live_server, moderator, "mod@example.com", "Mona")
        open_verification_queue(moderator)
        waiting = moderator.locator(
            "section",
            has=moderator.get_by_role(
                "heading", name=re.compile(r"^Co-performer releases waiting")
            ),
        )
        expect(waiting.get_by_role("heading")).to_have_text("Co-performer releases waiting (1)")
        listed = waiting.locator(f"#release-{release_id}")
        expect(listed).to_contain_text("Alex Doe")
        expect(listed).to_contain_text("Luna")
        listed.get_by_role("link", name="Review").click()
        expect(moderator).to_have_url(re.compile(rf"/admin/releases/{release_id}$"))
        expect(
            moderator.get_by_role("heading", name=re.compile(r"^Release: Alex Doe"))
        ).to_be_visible()
        expect(moderator.locator("#release-heading .status")).to_have_text("pending")
        images = moderator.locator(".identity-files img")
        expect(images).to_have_count(3)
        all_images_loaded(moderator, ".identity-files img")
        widths = images.evaluate_all("(images) => images.map((img) => img.naturalWidth)")
        assert len(widths) == 3 and all(width > 0 for width in widths), widths
        expect(moderator.locator(".identity-files figcaption")).to_have_text(
            [
                re.compile(rf"^{name} · ")
                for name in ("The item", "Identity document", "Signed release")
            ]
        )
        expect(
            moderator.get_by_role("img", name=f"The item, vault photo {item_id}")
        ).to_be_visible()
        expect(moderator.get_by_role("img", name="Identity document of Alex Doe")).to_be_visible()
        expect(moderator.get_by_role("img", name="Signed release of Alex Doe")).to_be_visible()
        screenshots(moderator, "admin-release")
        with live_server.app.app_context():
            looks = db.session.scalars(
                select(AuditLog).where(AuditLog.action == "verification.file_viewed")
            ).all()
            assert {look.detail["file"] for look in looks} == set(file_ids)
            assert all(look.actor_id == moderator_id for look in looks)
            assert all(look.target_id == str(release_id) for look in looks)

        moderator.get_by_role("button", name="Approve").click()
        expect(moderator).to_have_url(re.compile(r"/admin/verification$"))
        expect(moderator.get_by_text("Release for Alex Doe: accepted.")).to_be_visible()
        expect(moderator.get_by_text("No release waits.")).to_be_visible()
        with live_server.app.app_context():
            decided = db.session.get(CoPerformer, release_id)
            assert decided.status == "accepted" and decided.reviewer_id == moderator_id

        # Luna's photo is cleared.
        page.reload()
        expect(clearance(page)).to_have_text("cleared")
        row = page.locator(f"#co-performer-{release_id}")
        expect(row.locator(".status")).to_have_text("accepted")
        expect(row.get_by_role("button", name="Remove")).to_have_count(0)
        with live_server.app.app_context():
            assert co_performers.uncleared([item_id]) == set()
    finally:
        moderator.context.close()
    assert not moderator_errors, f"the moderator's browser reported errors: {moderator_errors}"
