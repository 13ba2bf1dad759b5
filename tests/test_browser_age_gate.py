"""Age assurance in Chromium (docs/identity.md#age-assurance): with `AGE_CHECK_COUNTRIES` set to
the UK, a fan whose profile says "GB" finds an adult creator's pay-per-view post replaced by an
"18+ · Verify your age" box (no text, no picture, no unlock button; subscribing is refused),
while a creator who is not adult stays open. The fan follows the box's link to the age check,
sends a passport and a selfie from the fake camera, a moderator approves it, and the post then
offers its unlock, which opens the photo in place and takes the credits. A second test: a fan
in France, not on the list, is offered the unlock at once. Screenshots at desktop and phone
widths are kept in test-artifacts/age-gate-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from extensions import db
from models import Notification, User, VerificationKind, VerificationRequest
from models.user import Role
from services import identity, posts, profiles
from testkit.ledger import paid_order
from testkit.people import person
from tests.browser_shots import named
from tests.conftest import ARTIFACTS
from tests.creator_helpers import creator, vault_photo
from tests.identity_helpers import picture
from tests.test_browser_identity import take_selfie
from tests.test_browser_payouts import new_page, sign_up

pytestmark = pytest.mark.browser

screenshots = named("age-gate-")

PRICE = 30
CREDITS = 100
MIA_BODY = "The full set from the rooftop shoot"
LEO_BODY = "Sunday hike along the ridge"
AGE_BOX = (
    "Adult content. Where you are, the law asks us to check your age before showing it (1 item)."
)
SENT = "Sent. A reviewer looks at it soon; you get a notification with the answer."
APPROVED = "Your age is verified: adult content is open to you."


def adult_world(live_server) -> dict[str, int]:
    """Mia, a verified creator marked adult, with a pay-per-view photo post; Leo, a creator who
    is not adult, with a public photo post. Returns their ids and their posts' ids."""
    with live_server.app.app_context():
        mia = creator("Mia")
        mia.adult_content = True
        db.session.commit()
        ppv = posts.create(
            mia, body=MIA_BODY, visibility="ppv", price=PRICE, media_ids=[vault_photo(mia).id]
        )
        leo = creator("Leo")
        plain = posts.create(
            leo, body=LEO_BODY, visibility="public", media_ids=[vault_photo(leo).id]
        )
        return {"mia": mia.id, "mia_ppv": ppv.id, "leo": leo.id, "leo_plain": plain.id}


def fan_in(live_server, page: Page, email: str, name: str, country: str) -> int:
    """A fan signed up in the browser, with credits and a profile in `country`; the page is
    reloaded so that the navigation shows the credits."""
    fan_id = sign_up(live_server, page, email, name)
    with live_server.app.app_context():
        fan = db.session.get(User, fan_id)
        paid_order(fan, CREDITS)
        profiles.ensure(fan).country_code = country
        db.session.commit()
    page.reload()
    expect(page.locator("#nav-credits")).to_have_text(f"{CREDITS} credits")
    return fan_id


def open_creator_from_the_feed(page: Page, name: str, creator_id: int) -> None:
    """Feed → Browse creators → the creator's card."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
    page.get_by_role("link", name="Browse creators").click()
    expect(page.get_by_role("heading", name="Creators", exact=True)).to_be_visible()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/creators/{creator_id}$"))


def image_loaded(page: Page, locator) -> None:
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=locator.element_handle()
    )


def passport(tmp_path: Path) -> Path:
    front = tmp_path / "passport.jpg"
    front.write_bytes(picture((1200, 860), (120, 40, 60), "PASSPORT - PHOTO PAGE"))
    return front


def test_a_viewer_in_a_gated_country_is_asked_to_verify_before_unlocking(
    live_server, browser, tmp_path
):
    live_server.app.config["AGE_CHECK_COUNTRIES"] = "GB"
    made = adult_world(live_server)
    errors: list[str] = []
    fan = new_page(browser, errors)
    try:
        asked_to_verify_then_unlocks(live_server, fan, made, tmp_path)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        fan.screenshot(path=str(ARTIFACTS / "age-gate-failed.png"), full_page=True)
        raise
    finally:
        fan.context.close()
    assert errors == [], errors


def asked_to_verify_then_unlocks(live_server, fan: Page, made: dict[str, int], tmp_path) -> None:
    fan_id = fan_in(live_server, fan, "sam@example.com", "Sam", "GB")

    # Mia's page: the age box in place of the post, and nothing of the post behind it.
    open_creator_from_the_feed(fan, "Mia", made["mia"])
    post = fan.locator(f"#post-{made['mia_ppv']}")
    box = post.locator(".age-box")
    expect(box).to_be_visible()
    expect(box.locator(".badge")).to_have_text("18+")
    expect(box).to_have_text(re.compile(re.escape(AGE_BOX)))
    verify = box.get_by_role("link", name="Verify your age")
    expect(verify).to_have_attribute("href", "/settings/verification/age")
    expect(post.locator("img, video")).to_have_count(0)
    expect(post.locator(".post-media")).to_have_count(0)
    expect(fan.get_by_role("button", name=re.compile(r"^Unlock"))).to_have_count(0)
    assert MIA_BODY not in fan.content()
    screenshots(fan, "creator-page-age-box")

    # No Subscribe button either: the way to verify instead (the service refuses too).
    subscribe = fan.locator("#subscribe")
    expect(subscribe.get_by_role("button", name=re.compile(r"^Subscribe"))).to_have_count(0)
    expect(subscribe.get_by_role("link", name="Verify your age to subscribe")).to_have_attribute(
        "href", "/settings/verification/age"
    )
    expect(fan.locator("#nav-credits")).to_have_text(f"{CREDITS} credits")

    # Leo is not an adult creator: his public post shows as ever.
    open_creator_from_the_feed(fan, "Leo", made["leo"])
    leo_post = fan.locator(f"#post-{made['leo_plain']}")
    expect(leo_post.get_by_text(LEO_BODY)).to_be_visible()
    expect(leo_post.locator(".age-box")).to_have_count(0)
    leo_photo = leo_post.get_by_role("img", name="Photo 1 by Leo")
    expect(leo_photo).to_be_visible()
    image_loaded(fan, leo_photo)

    # The box's link leads to the age check: a passport (the front only) and a selfie.
    open_creator_from_the_feed(fan, "Mia", made["mia"])
    fan.locator(f"#post-{made['mia_ppv']} .age-box").get_by_role(
        "link", name="Verify your age"
    ).click()
    expect(fan).to_have_url(re.compile(r"/settings/verification/age$"))
    expect(fan.get_by_role("heading", name="Age check")).to_be_visible()
    expect(fan.get_by_role("group", name="1. Your identity document")).to_be_visible()
    fan.get_by_label("Document").select_option(label="Passport")
    fan.get_by_label("Front (for a passport: the page with your photo)").set_input_files(
        str(passport(tmp_path))
    )
    take_selfie(fan)
    screenshots(fan, "capture-after-selfie")
    fan.get_by_role("button", name="Send for review").click()
    expect(fan).to_have_url(re.compile(r"/settings/verification$"))
    expect(fan.get_by_text(SENT)).to_be_visible()
    age_check = fan.locator("#age-check")
    expect(age_check.get_by_role("heading", name="Age check")).to_be_visible()
    expect(age_check.locator(".check-state .badge")).to_have_text("in review")
    expect(age_check.get_by_role("link", name="Start")).to_have_count(0)
    screenshots(fan, "settings-in-review")

    # Still in review: Mia's post stays behind the box.
    fan.goto(f"{live_server.url}/creators/{made['mia']}")
    expect(fan.locator(f"#post-{made['mia_ppv']} .age-box")).to_be_visible()

    # A moderator approves it (the review page itself: tests/test_browser_identity.py).
    with live_server.app.app_context():
        request = db.session.scalars(
            select(VerificationRequest).where(VerificationRequest.user_id == fan_id)
        ).one()
        assert request.kind == VerificationKind.AGE
        assert request.document_type == "passport"
        assert sorted(file.role for file in request.files) == ["document_front", "selfie"]
        moderator = person("Mona")
        moderator.role = Role.MODERATOR
        db.session.commit()
        identity.decide(moderator, request.id, approve=True)
        fan_user = db.session.get(User, fan_id)
        assert fan_user.age_verified_at is not None
        assert fan_user.creator_verified_at is None
        texts = db.session.scalars(
            select(Notification.text).where(Notification.user_id == fan_id)
        ).all()
        assert APPROVED in texts

    # The fan reads the answer in the notifications and on Settings → Verification.
    fan.reload()
    fan.locator("#nav-bell").click()
    expect(fan.get_by_role("heading", name="Notifications")).to_be_visible()
    fan.get_by_role("link", name=APPROVED).click()
    expect(fan).to_have_url(re.compile(r"/settings/verification$"))
    age_check = fan.locator("#age-check")
    expect(age_check.locator(".check-state .badge")).to_have_text("verified")
    expect(age_check.get_by_text("Adult content is open to you.")).to_be_visible()

    # Mia's post now offers its unlock, over a blurred preview, as any pay-per-view post.
    open_creator_from_the_feed(fan, "Mia", made["mia"])
    post = fan.locator(f"#post-{made['mia_ppv']}")
    expect(post.locator(".age-box")).to_have_count(0)
    expect(post.get_by_text(MIA_BODY)).to_be_visible()  # the short preview of the text
    locked = post.get_by_role("img", name="Locked photo (blurred preview)")
    expect(locked).to_be_visible()
    expect(locked).to_have_attribute("src", re.compile(r"\.blur\."))
    image_loaded(fan, locked)
    unlock = post.get_by_role("button", name=f"Unlock for {PRICE} credits")
    expect(unlock).to_be_visible()

    # Unlocking swaps the post in place; the photo shows and the balance follows, no reload.
    fan.evaluate("window.__sameDocument = true")
    unlock.click()
    photo = post.get_by_role("img", name="Photo 1 by Mia")
    expect(photo).to_be_visible()
    expect(photo).to_have_attribute("src", re.compile(r"\.display\."))
    image_loaded(fan, photo)
    expect(post.locator(".post-body")).to_have_text(MIA_BODY)
    expect(post.get_by_text("You unlocked this post.")).to_be_visible()
    expect(post.get_by_role("button", name=re.compile(r"^Unlock"))).to_have_count(0)
    expect(fan.locator("#nav-credits")).to_have_text(f"{CREDITS - PRICE} credits")
    assert fan.evaluate("window.__sameDocument === true"), "the page was reloaded"
    screenshots(fan, "creator-page-unlocked")


def test_a_viewer_elsewhere_is_offered_the_unlock_at_once(live_server, page):
    live_server.app.config["AGE_CHECK_COUNTRIES"] = "GB"
    made = adult_world(live_server)
    fan = page
    fan_in(live_server, fan, "lea@example.com", "Léa", "FR")

    open_creator_from_the_feed(fan, "Mia", made["mia"])
    post = fan.locator(f"#post-{made['mia_ppv']}")
    expect(post.get_by_role("button", name=f"Unlock for {PRICE} credits")).to_be_visible()
    expect(post.get_by_role("img", name="Locked photo (blurred preview)")).to_be_visible()
    expect(post.get_by_text(MIA_BODY)).to_be_visible()
    expect(fan.locator(".age-box")).to_have_count(0)
    expect(fan.get_by_role("link", name="Verify your age")).to_have_count(0)
