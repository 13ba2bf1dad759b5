"""Dark mode in Chromium: a device set to dark gets dark pages; a member's choice in Settings
applies at once, without a reload, and holds on the next pages. Screenshots of the main pages
in dark at desktop and phone widths are kept for people to look at (test-artifacts/dark-*.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_shots import named
from tests.conftest import sign_up_in_browser

pytestmark = pytest.mark.browser

screenshots = named("dark-")
PASSWORD = "plum-orbit-kettle-42"


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def is_dark(rgb: str) -> bool:
    values = [int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    return sum(values) / 3 < 80


def test_pages_follow_a_dark_device_and_the_members_choice(live_server, page: Page):
    page.emulate_media(color_scheme="dark")
    base = live_server.url
    page.goto(base + "/")
    assert is_dark(background(page))
    sign_up_in_browser(page, base, "ana@example.com", "Ana", PASSWORD, "1995-06-01")
    for url, name in (("/", "home"), ("/discover", "discover"), ("/wallet", "wallet")):
        page.goto(base + url)
        assert is_dark(background(page)), url
        screenshots(page, name)

    # Settings → Account → Appearance: "Light" applies at once and is kept.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    appearance = page.get_by_role("group", name="Pages are")
    screenshots(page, "settings")
    with page.expect_response(lambda r: r.url.endswith("/settings/appearance")) as saved:
        appearance.get_by_label("Light").check()
    assert saved.value.status == 204
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert not is_dark(background(page))
    page.goto(base + "/wallet")
    assert not is_dark(background(page))

    # A light device, and the member's "Dark": dark pages.
    page.emulate_media(color_scheme="light")
    page.goto(base + "/settings")
    with page.expect_response(lambda r: r.url.endswith("/settings/appearance")):
        page.get_by_role("group", name="Pages are").get_by_label("Dark").check()
    assert is_dark(background(page))
    page.goto(base + "/")
    assert is_dark(background(page))
    # "As my device is set" hands back to the (light) device at once.
    page.goto(base + "/settings")
    with page.expect_response(lambda r: r.url.endswith("/settings/appearance")):
        page.get_by_role("group", name="Pages are").get_by_label("As my device is set").check()
    assert not is_dark(background(page))
