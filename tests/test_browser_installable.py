"""The installable app in Chromium: the service worker registers for the whole site, and with
the network gone a page says so (the offline page), then the site comes back online."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_shots import named

pytestmark = pytest.mark.browser

screenshots = named("installable-")


def test_the_service_worker_shows_the_offline_page_without_a_network(live_server, page: Page):
    base = live_server.url
    page.goto(base + "/")
    scope = page.evaluate(
        "() => navigator.serviceWorker.ready.then((registration) => registration.scope)"
    )
    assert scope == base + "/"
    page.reload()  # the page is now under the worker's control
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    manifest = page.evaluate("() => fetch('/manifest.webmanifest').then((r) => r.json())")
    assert manifest["display"] == "standalone"

    page.context.set_offline(True)
    page.goto(base + "/terms")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
    # The stylesheet still applies, from the worker's copy.
    assert page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius") == "12px"
    screenshots(page, "offline")

    page.context.set_offline(False)
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("heading", name="You are offline")).to_have_count(0)
