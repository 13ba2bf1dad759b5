"""Screenshots of a page at desktop and phone widths, for people to look at
(test-artifacts/<prefix><name>-desktop.png and -phone.png)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from tests.conftest import ARTIFACTS

DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshots(page: Page, name: str) -> None:
    """The page at desktop and phone widths, full length; the page is left at desktop width."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        # Two animation frames: the page is laid out again at the new width.
        page.evaluate(
            "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-screenshot
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def named(prefix: str) -> Callable[[Page, str], None]:
    """`screenshots` whose files all start with `prefix` (a test module's own)."""
    return lambda page, name: screenshots(page, prefix + name)
