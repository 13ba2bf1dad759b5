"""The creator economy in Chromium, with two browsers: a creator switches creator mode on,
uploads to the vault and posts; a fan buys credits, unlocks a pay-per-view post, subscribes and
tips; the creator's dashboard shows the earnings after the platform fee."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from extensions import db
from models import User
from services import accounts
from tests.conftest import ARTIFACTS, sign_up_in_browser

pytestmark = pytest.mark.browser
PASSWORD = "amber-quarry-violin-27"


def fee(amount: int, bps: int = 2000) -> int:
    """The platform's cut, rounded half up: fee = (amount * bps + 5000) // 10000
    (docs/ledger.md#fees)."""
    return (amount * bps + 5000) // 10000


def picture(tmp_path: Path, name: str = "sunset.jpg") -> Path:
    """A real JPEG with shapes, so the sharp and the blurred versions look different."""
    image = Image.new("RGB", (1200, 800), (30, 40, 90))
    draw = ImageDraw.Draw(image)
    for y in range(0, 800, 8):
        draw.rectangle((0, y, 1200, y + 8), fill=(40 + y // 5, 60, 160 - y // 8))
    draw.ellipse((450, 150, 750, 450), fill=(250, 200, 60))
    draw.rectangle((0, 560, 1200, 800), fill=(20, 90, 60))
    for x in range(0, 1200, 60):
        draw.line((x, 560, x + 30, 800), fill=(240, 240, 240), width=4)
    path = tmp_path / name
    image.save(path, "JPEG", quality=90)
    return path


def new_page(browser, errors: list[str]) -> Page:
    """A page in its own browser context (its own cookies) that records page errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} @ {message.location}")
            if message.type == "error"
            else None
        ),
    )
    return page


def verify_creator(live_server, user_id: int) -> None:
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        user.creator_verified_at = user.created_at
        db.session.commit()


def sign_up_verified(live_server, page: Page, email: str, name: str) -> int:
    sign_up_in_browser(page, live_server.url, email, name, PASSWORD, "1993-03-03")
    with live_server.app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        db.session.commit()
        return user.id


def switch_creator_mode_on(page: Page, headline: str, subscription_price: int) -> None:
    page.get_by_role("link", name="Settings").first.click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Creator").click()
    expect(page.get_by_role("heading", name="Creator mode")).to_be_visible()
    page.get_by_label("Headline").fill(headline)
    page.get_by_label("Monthly subscription (credits, 0 = free to follow)").fill(
        str(subscription_price)
    )
    page.get_by_label(re.compile(r"^Price of a message from a fan")).fill("0")
    page.get_by_label(re.compile(r"^Call price per minute")).fill("0")
    page.get_by_role("button", name="Switch on creator mode").click()
    expect(page).to_have_url(re.compile(r"/creator$"))
    expect(page.get_by_role("heading", name="Creator dashboard")).to_be_visible()
    expect(page.locator("#earnings-pending")).to_have_text("0")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Creator", exact=True)).to_be_visible()
    expect(main_nav.get_by_role("link", name="Feed", exact=True)).to_be_visible()


def upload_to_vault(page: Page, photo: Path) -> None:
    open_creator_tab(page, "Vault")
    expect(page.get_by_text("0 items.")).to_be_visible()
    page.get_by_label("Add photos or videos").set_input_files(str(photo))
    thumbnail = page.locator("#vault").get_by_role("img", name=re.compile(r"^Vault photo \d+$"))
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_be_visible()
    expect(page.get_by_text("Uploaded.")).to_be_visible()
    expect(page.get_by_text("1 item.")).to_be_visible()
    page.wait_for_function("(img) => img.complete", arg=thumbnail.element_handle())  # loaded
    assert page.evaluate("(img) => img.naturalWidth", thumbnail.element_handle()) > 0


def open_creator_tab(page: Page, name: str) -> None:
    """Follow a tab of the creator area; a page that fails to render fails here, by name."""
    with page.expect_navigation() as navigation:
        page.get_by_role("navigation", name="Creator").get_by_role("link", name=name).click()
    response = navigation.value
    assert response is not None and response.ok, (
        f"GET {response.url if response else name} answered "
        f"{response.status if response else 'nothing'}"
    )


def create_post(page: Page, text: str, visibility: str, price: int | None = None) -> None:
    open_creator_tab(page, "Posts")
    form = page.locator("#post-form")
    form.get_by_label("Text").fill(text)
    photos = form.get_by_role("group", name="Photos and videos from your vault")
    photos.get_by_role("checkbox").first.check()
    form.get_by_role("group", name="Who can see it").get_by_label(visibility).check()
    if price is not None:
        form.get_by_label("Price for pay per view (credits)").fill(str(price))
    form.get_by_role("button", name="Post").click()
    expect(page.get_by_text("Posted.")).to_be_visible()
    expect(page.locator("article.post", has_text=text)).to_be_visible()


def buy_credits(page: Page, base: str, credits: int) -> None:
    page.goto(base + "/wallet")
    page.get_by_role("button", name=re.compile(rf"Buy {credits} credits")).click()
    expect(page.get_by_role("heading", name="Amora test checkout")).to_be_visible()
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.get_by_text("Paid.")).to_be_visible()
    expect(page.locator("#nav-credits")).to_have_text(f"{credits} credits")


def test_a_fan_unlocks_a_pay_per_view_photo_and_the_creator_earns_the_split(
    live_server, browser, page, tmp_path
):
    base = live_server.url
    price = 35
    creator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    try:
        creator_id = sign_up_verified(live_server, creator, "luna@example.com", "Luna")
        switch_creator_mode_on(creator, "Sunsets and city lights", subscription_price=50)
        verify_creator(live_server, creator_id)  # an admin's step: paid content needs it
        upload_to_vault(creator, picture(tmp_path))
        create_post(creator, "Golden hour over the bay", "Pay per view", price)

        # The fan buys credits and finds the locked post on the creator's page.
        fan = page
        sign_up_verified(live_server, fan, "sam@example.com", "Sam")
        buy_credits(fan, base, 100)
        fan.goto(f"{base}/creators")
        fan.get_by_role("link", name="Luna").click()
        expect(fan).to_have_url(f"{base}/creators/{creator_id}")
        expect(fan.get_by_text("Sunsets and city lights")).to_be_visible()
        post = fan.locator("article.post", has_text="Golden hour")
        locked = post.get_by_role("img", name="Locked photo (blurred preview)")
        expect(locked).to_be_visible()
        expect(locked).to_have_attribute("src", re.compile(r"\.blur\."))
        fan.wait_for_function("(img) => img.complete", arg=locked.element_handle())  # loaded
        assert fan.evaluate("(img) => img.naturalWidth", locked.element_handle())
        unlock = post.get_by_role("button", name=f"Unlock for {price} credits")
        expect(unlock).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        fan.screenshot(path=str(ARTIFACTS / "creator-page-locked.png"), full_page=True)

        # Unlocking swaps the post in place; the balance in the nav follows, no reload.
        fan.evaluate("window.__sameDocument = true")
        unlock.click()
        photo = post.get_by_role("img", name="Photo 1 by Luna")
        expect(photo).to_be_visible()
        expect(photo).to_have_attribute("src", re.compile(r"\.display\."))
        assert ".blur." not in photo.get_attribute("src")
        expect(post.get_by_text("You unlocked this post.")).to_be_visible()
        expect(post.get_by_role("button", name=re.compile("Unlock"))).to_have_count(0)
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - price} credits")
        assert fan.evaluate("window.__sameDocument === true"), "the page was reloaded"
        fan.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
        )
        fan.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-screenshot
        fan.screenshot(path=str(ARTIFACTS / "creator-page-unlocked.png"), full_page=True)

        # The creator's pending earnings rose by the price less the platform fee.
        creator.goto(base + "/creator")
        expect(creator.locator("#earnings-pending")).to_have_text(str(price - fee(price)))
        assert price - fee(price) == 28
        expect(creator.locator("#earnings-available")).to_have_text("0")
        expect(creator.locator("svg.chart rect")).not_to_have_count(0)
        top_fans = creator.get_by_role("region", name="Top fans")
        expect(top_fans.get_by_role("listitem")).to_have_count(1)
        expect(top_fans).to_contain_text("Sam")
        creator.screenshot(path=str(ARTIFACTS / "creator-dashboard.png"), full_page=True)
    finally:
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"


def test_a_fan_subscribes_and_tips_and_the_dashboard_counts_both(
    live_server, browser, page, tmp_path
):
    base = live_server.url
    subscription, tip, post_tip = 50, 10, 5
    creator_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    try:
        creator_id = sign_up_verified(live_server, creator, "mira@example.com", "Mira")
        switch_creator_mode_on(creator, "Behind the scenes", subscription_price=subscription)
        verify_creator(live_server, creator_id)
        upload_to_vault(creator, picture(tmp_path, "studio.jpg"))
        create_post(creator, "Only for my subscribers", "Subscribers only")

        fan = page
        sign_up_verified(live_server, fan, "noa@example.com", "Noa")
        buy_credits(fan, base, 100)
        fan.goto(f"{base}/creators/{creator_id}")
        post = fan.locator("#creator-posts article.post", has_text="Only for my")
        expect(post.get_by_role("img", name="Locked photo (blurred preview)")).to_be_visible()
        expect(post.get_by_role("link", name="Subscribe to see this post")).to_be_visible()

        # Subscribing swaps the subscribe box, and the posts out of band, without a reload.
        fan.evaluate("window.__sameDocument = true")
        fan.get_by_role("button", name=f"Subscribe · {subscription} credits / 30 days").click()
        expect(fan.get_by_text("You are subscribed. Enjoy!")).to_be_visible()
        expect(fan.locator("#subscribe .badge", has_text="subscribed")).to_be_visible()
        post = fan.locator("#creator-posts article.post", has_text="Only for my subscribers")
        photo = post.get_by_role("img", name="Photo 1 by Mira")
        expect(photo).to_be_visible()
        expect(photo).to_have_attribute("src", re.compile(r"\.display\."))
        expect(post.get_by_role("link", name="Subscribe to see this post")).to_have_count(0)
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - subscription} credits")
        assert fan.evaluate("window.__sameDocument === true"), "the page was reloaded"

        # A tip with a note, from the creator page's tip box.
        tip_box = fan.locator(f"#tip-profile-{creator_id}")
        tip_box.get_by_label("Credits", exact=True).fill(str(tip))
        tip_box.get_by_label("Note (optional)").fill("Loved the studio tour!")
        tip_box.get_by_role("button", name="Send tip").click()
        expect(fan.get_by_text(f"You tipped Mira {tip} credits. Thank you!")).to_be_visible()
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - subscription - tip} credits")
        assert fan.evaluate("window.__sameDocument === true"), "the page was reloaded"
        ARTIFACTS.mkdir(exist_ok=True)
        fan.evaluate("window.scrollTo(0, 0)")
        fan.screenshot(path=str(ARTIFACTS / "creator-page-subscribed.png"), full_page=True)

        # The feed now shows the creator's post.
        fan.get_by_role("navigation", name="Main").get_by_role("link", name="Feed").click()
        feed_post = fan.locator("#feed article.post", has_text="Only for my subscribers")
        expect(feed_post).to_be_visible()
        expect(feed_post.get_by_role("img", name="Photo 1 by Mira")).to_be_visible()

        # A tip on the post, from the feed: "Tip" fetches its form when opened.
        fan.evaluate("window.__sameDocument = true")
        expect(feed_post.get_by_label("Credits", exact=True)).to_have_count(0)
        feed_post.get_by_text("Tip", exact=True).click()
        feed_post.get_by_label("Credits", exact=True).fill(str(post_tip))
        feed_post.get_by_role("button", name="Send tip").click()
        expect(feed_post.get_by_text(f"You tipped Mira {post_tip} credits.")).to_be_visible()
        spent = subscription + tip + post_tip
        expect(fan.locator("#nav-credits")).to_have_text(f"{100 - spent} credits")
        assert fan.evaluate("window.__sameDocument === true"), "the page was reloaded"

        creator.goto(base + "/creator")
        expect(creator.locator("#subscriber-count")).to_have_text("1")
        expected = sum(paid - fee(paid) for paid in (subscription, tip, post_tip))
        assert expected == 40 + 8 + 4
        expect(creator.locator("#earnings-pending")).to_have_text(str(expected))
        expect(creator.get_by_role("region", name="Top fans")).to_contain_text("Noa")
        creator.screenshot(path=str(ARTIFACTS / "creator-dashboard-subscribed.png"), full_page=True)
    finally:
        creator.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
