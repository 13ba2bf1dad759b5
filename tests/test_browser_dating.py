"""Dating in Chromium: set a place → filter by 25 km → like someone → they like back →
both see the match."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from extensions import db
from services import accounts, profiles
from tests.conftest import ARTIFACTS, sign_up_in_browser
from tests.dating_helpers import dater

pytestmark = pytest.mark.browser
PASSWORD = "velvet-harbor-lamp-31"


def sign_up(page, base, email, name):
    sign_up_in_browser(page, base, email, name, PASSWORD, "1993-03-03")


def set_up_profile(page, gender_label, city_query, city_label, use_geolocation=False):
    page.get_by_role("link", name="Discover").first.click()
    expect(page).to_have_url(re.compile(r"/profile$"))  # asked to set up first
    page.get_by_label("I am").select_option(label=gender_label)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#basics-form").get_by_text("Saved.")).to_be_visible()
    if use_geolocation:
        page.get_by_role("button", name="Use my current location").click()
    else:
        page.get_by_label("Or pick a city").fill(city_query)
        page.get_by_role("button", name=city_label).first.click()
    expect(page.locator("#place-name")).to_contain_text(city_label.split(",")[0])


def test_set_location_filter_like_and_match(live_server, browser):
    base = live_server.url
    with live_server.app.app_context():
        dater("Faraway", lat=45.764, lon=4.8357)  # Lyon, ~390 km from Paris
        db.session.commit()

    mia_context = browser.new_context(
        geolocation={"latitude": 48.8566, "longitude": 2.3522}, permissions=["geolocation"]
    )
    mia = mia_context.new_page()
    sign_up(mia, base, "mia@example.com", "Mia")
    set_up_profile(mia, "A woman", "", "Paris", use_geolocation=True)

    leo_context = browser.new_context()
    leo = leo_context.new_page()
    sign_up(leo, base, "leo@example.com", "Leo")
    set_up_profile(leo, "A man", "Argent", "Argenteuil, France")

    # Mia discovers, narrows to 25 km: Leo (≈13 km) stays, Faraway (≈390 km) goes.
    mia.get_by_role("link", name="Discover").first.click()
    mia.wait_for_url(re.compile(r"/discover"))
    mia.wait_for_load_state("load")  # htmx listens to the filters only once it has started
    mia.get_by_label("Within").select_option("500")
    expect(mia.get_by_role("heading", name="Faraway, 30")).to_be_visible()
    mia.get_by_label("Within").select_option("25")
    expect(mia).to_have_url(re.compile(r"radius=25"))
    expect(mia.get_by_role("heading", name="Faraway, 30")).to_have_count(0)
    card = mia.locator("article.person-card", has_text="Leo")
    expect(card).to_contain_text("10 km away")
    assert "radius=25" in mia.url  # the filters are in the address
    ARTIFACTS.mkdir(exist_ok=True)
    mia.screenshot(path=str(ARTIFACTS / "discover.png"), full_page=True)
    card.get_by_role("button", name="Like Leo").click()
    expect(card.get_by_text("You liked Leo.")).to_be_visible()

    # Leo sees a notification, finds Mia and likes her back.
    leo.reload()
    expect(leo.locator("#nav-bell .count")).to_have_text("1")
    leo.get_by_role("link", name="Discover").first.click()
    leo.wait_for_url(re.compile(r"/discover"))
    leo.wait_for_load_state("load")
    leo.get_by_label("Within").select_option("25")
    expect(leo).to_have_url(re.compile(r"radius=25"))  # the filtered results are in
    mia_card = leo.locator("article.person-card", has_text="Mia")
    mia_card.get_by_role("button", name="Like Mia").click()
    expect(mia_card.get_by_text("It's a match!")).to_be_visible()

    for page, other in ((leo, "Mia"), (mia, "Leo")):
        page.get_by_role("link", name="Matches").first.click()
        expect(page.locator("article.person-card", has_text=other)).to_be_visible()
    mia.locator("#nav-bell").click()
    expect(mia.get_by_text("You and Leo like each other!")).to_be_visible()
    with live_server.app.app_context():
        assert accounts.find_by_email("mia@example.com") is not None
    mia_context.close()
    leo_context.close()


def test_upload_a_photo_to_the_profile(live_server, page, tmp_path):
    from tests.test_media import jpeg_bytes

    sign_up(page, live_server.url, "zia@example.com", "Zia")
    with live_server.app.app_context():
        user = accounts.find_by_email("zia@example.com")
        user.email_verified_at = user.created_at
        db.session.commit()
    page.goto(live_server.url + "/profile")
    picture = tmp_path / "me.jpg"
    picture.write_bytes(jpeg_bytes((900, 700)))
    page.get_by_label("Add a photo").set_input_files(str(picture))
    image = page.get_by_role("img", name="Your photo 1")
    expect(image).to_be_visible()
    # Laid out is not loaded: wait for the download to finish (or fail), then look at it.
    page.wait_for_function("(img) => img.complete", arg=image.element_handle())
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 400
    page.screenshot(path=str(ARTIFACTS / "profile-photos.png"), full_page=True)
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("img", name="Your photo 1")).to_have_count(0)


def test_every_discover_address_reloads_goes_back_and_shares_as_a_whole_page(live_server, page):
    base = live_server.url
    sign_up(page, base, "ivy@example.com", "Ivy")
    with live_server.app.app_context():
        me = accounts.find_by_email("ivy@example.com")
        profiles.update_basics(me, gender="woman", seeking=["man"], age_min=18, age_max=99, bio="")
        profiles.set_location_coordinates(me, 48.8566, 2.3522)
        dater("Leo", gender="man", lat=48.9472, lon=2.2467)  # Argenteuil, ~12 km
        dater("Faraway", gender="man", lat=45.764, lon=4.8357)  # Lyon, ~390 km
    heading = page.get_by_role("heading", name="Discover", exact=True)

    page.goto(base + "/discover?radius=500")
    page.wait_for_load_state("load")  # htmx listens to the filters only once it has started
    expect(page.get_by_role("heading", name="Faraway, 30")).to_be_visible()
    page.get_by_label("Within").select_option("25")
    expect(page.get_by_role("heading", name="Faraway, 30")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/discover\?(.+&)?radius=25"))
    assert "/discover/results" not in page.url, "the address bar shows the fragment's URL"

    page.reload()
    expect(heading).to_be_visible()
    expect(page.get_by_label("Within")).to_have_value("25")
    expect(page.get_by_role("heading", name="Leo, 30")).to_be_visible()
    assert page.evaluate("document.styleSheets.length") > 0, "unstyled after a reload"

    page.go_back()
    expect(page).to_have_url(re.compile(r"radius=500"))
    expect(heading).to_be_visible()
    expect(page.get_by_role("heading", name="Faraway, 30")).to_be_visible()

    # A link someone shared before the fix: the results address opens as the whole page too.
    page.goto(base + "/discover/results?radius=25&sort=newest")
    expect(heading).to_be_visible()
    expect(page.get_by_label("Sort by")).to_have_value("newest")
    expect(page.get_by_role("heading", name="Leo, 30")).to_be_visible()
