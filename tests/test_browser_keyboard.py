"""Keyboard only, as someone who cannot use a mouse: sign up and log in, reach Discover from the
main navigation, like someone, open a conversation from Messages, reply, and unlock a
pay-per-view photo. Only Tab, Shift+Tab, Enter, Space and typed text; never a click, a fill or
the mouse. Locators only read the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from extensions import db
from services import accounts, messaging, profiles
from testkit.ledger import paid_order
from tests.creator_helpers import creator, vault_photo
from tests.dating_helpers import dater

pytestmark = pytest.mark.browser
PASSWORD = "velvet-harbor-lamp-31"
EMAIL = "kim@example.com"
NAME = "Kim"

# What the focused element is, in words, for failure messages.
_DESCRIBE_FOCUS = """() => {
  const el = document.activeElement;
  if (!el) return "nothing";
  const text = (el.getAttribute("aria-label") || el.innerText || el.value || "").trim();
  return `${el.tagName}${el.id ? "#" + el.id : ""}${el.name ? "[name=" + el.name + "]" : ""}`
    + (text ? ` "${text.slice(0, 40)}"` : "");
}"""

# Whether the focused element shows that it has focus: an outline on a box big enough to see (a
# 1px clipped element, however outlined, shows nothing; a file input hidden behind its label
# shows its focus on the label). A date input's month, day and year and its calendar button are
# parts of Chromium's own, which draws their focus itself.
_FOCUS_SHOWN = """() => {
  let el = document.activeElement;
  if (!el || el === document.body) return false;
  if (el.type === "file" && el.id) {
    el = document.querySelector(`label[for="${el.id}"]`) || el;
  }
  const box = el.getBoundingClientRect();
  if (box.width < 4 || box.height < 4) return false;
  if (el.type === "date") return true;
  const style = getComputedStyle(el);
  return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
}"""


def focused(page: Page) -> str:
    return page.evaluate(_DESCRIBE_FOCUS)


def press(page: Page, key: str) -> str:
    """Press `key`; focus must then be on an element of the page, shown as focused."""
    page.keyboard.press(key)
    where = focused(page)
    assert page.evaluate("document.activeElement.tagName") != "BODY", (
        f"after {key} on {page.url} focus fell back to the page body"
    )
    assert page.evaluate(_FOCUS_SHOWN), f"after {key} on {page.url} focus on {where} is not shown"
    return where


def tab_to(page: Page, target: Locator, max_presses: int = 60, key: str = "Tab") -> None:
    """Press Tab (or `key`) until `target` has focus; fail listing where focus went."""
    visited: list[str] = []
    for _ in range(max_presses):
        if target.evaluate("el => el === document.activeElement"):
            expect(target).to_be_focused()
            return
        visited.append(press(page, key))
    if target.evaluate("el => el === document.activeElement"):
        return
    pytest.fail(
        f"{max_presses} × {key} on {page.url} never reached {target}; focus went to: "
        + " → ".join(visited),
        pytrace=False,
    )


def type_into(page: Page, target: Locator, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)


def sign_up_and_log_in_by_keyboard(page: Page, base: str) -> None:
    page.goto(base + "/signup")
    form = page.locator("#main form")
    # The email field takes focus on arrival (autofocus).
    expect(form.get_by_label("Email")).to_be_focused()
    page.keyboard.type(EMAIL)
    type_into(page, form.get_by_label("Display name"), NAME)
    # Chromium's date input (en-US): month, day and year segments, each moved past when full.
    type_into(page, form.get_by_label("Date of birth"), "06012000")
    expect(form.get_by_label("Date of birth")).to_have_value("2000-06-01")
    type_into(page, form.get_by_label("Password"), PASSWORD)
    tab_to(page, form.get_by_role("button", name="Sign up"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    tab_to(page, page.locator("#main").get_by_role("link", name="Log in"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    form = page.locator("#main form")
    expect(form.get_by_label("Email")).to_be_focused()
    page.keyboard.type(EMAIL)
    type_into(page, form.get_by_label("Password"), PASSWORD)
    page.keyboard.press("Enter")  # Enter in a field submits its form
    expect(page.get_by_role("heading", name=f"Hi, {NAME}")).to_be_visible()


def verify_and_place(app) -> int:
    """The member's email confirmed and a dating profile in Paris, as the pages would leave
    them (both are other pages' journeys). Returns the member's id."""
    with app.app_context():
        member = accounts.find_by_email(EMAIL)
        member.email_verified_at = member.created_at
        db.session.commit()
        profiles.update_basics(
            member, gender="man", seeking=["woman"], age_min=18, age_max=99, bio=""
        )
        profiles.set_location_coordinates(member, 48.8566, 2.3522)
        return member.id


def main_nav_link(page: Page, name: str) -> Locator:
    """The main navigation's link `name` (Messages carries its unread count after the name)."""
    label = re.compile(rf"^{re.escape(name)}\s*\d*$")
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=label)


def go_by_nav(page: Page, name: str, url: re.Pattern) -> None:
    """From a freshly loaded page: the first Tab stop is the skip link, then Tab on through the
    main navigation to `name` and follow it."""
    press(page, "Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    link = main_nav_link(page, name)
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(url)
    page.wait_for_load_state("load")  # htmx and the page's scripts have started


def use_skip_link(page: Page) -> None:
    """On a freshly loaded page without autofocus: the first Tab stop is "Skip to content",
    shown on screen; Enter follows it, and the next Tab goes on from the main content, past the
    header and its navigation."""
    skip = page.get_by_role("link", name="Skip to content")
    press(page, "Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    where = press(page, "Tab")
    in_header = page.evaluate("document.querySelector('header').contains(document.activeElement)")
    assert not in_header, f"after the skip link on {page.url}, Tab went back to {where}"


def test_skip_link_is_the_first_tab_stop_and_skips_the_header(live_server, page):
    page.goto(live_server.url + "/takedown")
    use_skip_link(page)
    expect(page.locator("#main form input:not([type=hidden])").first).to_be_focused()
    page.goto(live_server.url + "/terms")  # nothing to focus in its main: on to the footer
    use_skip_link(page)
    expect(page.locator("footer").get_by_role("link", name="Terms")).to_be_focused()


def test_skip_link_moves_focus_to_main(live_server, page):
    page.goto(live_server.url + "/terms")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    expect(page.locator("#main")).to_be_focused(timeout=2_000)


def discover_by_keyboard(live_server, page: Page) -> Locator:
    """Nora on Discover, reached from the main navigation. Returns her card."""
    with live_server.app.app_context():
        dater("Nora", gender="woman", seeking=("man",))
        db.session.commit()
    sign_up_and_log_in_by_keyboard(page, live_server.url)
    verify_and_place(live_server.app)
    page.reload()
    go_by_nav(page, "Discover", re.compile(r"/discover$"))
    expect(main_nav_link(page, "Discover")).to_have_attribute("aria-current", "page")
    card = page.locator("article.person-card", has_text="Nora")
    expect(card).to_be_visible()
    return card


def test_sign_up_discover_and_like_by_keyboard(live_server, page):
    card = discover_by_keyboard(live_server, page)
    tab_to(page, card.get_by_role("link", name=re.compile("Nora")))
    tab_to(page, card.get_by_role("button", name="Like Nora"))
    page.keyboard.press("Enter")
    expect(card.get_by_text("You liked Nora.")).to_be_visible()


def test_after_liking_focus_stays_on_the_card(live_server, page):
    card = discover_by_keyboard(live_server, page)
    tab_to(page, card.get_by_role("button", name="Like Nora"))
    page.keyboard.press("Enter")
    expect(card.get_by_text("You liked Nora.")).to_be_visible()
    where = focused(page)
    assert card.evaluate("el => el.contains(document.activeElement)"), (
        f"after Like, focus is on {where}, not on Nora's card"
    )


def ppv_from_a_creator(app, member_id: int) -> None:
    """Luna, a verified creator, sends the member a photo to unlock for 20 credits; the member
    holds 100."""
    with app.app_context():
        luna = creator("Luna")
        photo = vault_photo(luna)
        paid_order(accounts.find_by_email(EMAIL), 100)
        messaging.send(luna, member_id, "For you", media_id=photo.id, unlock_price=20)
        db.session.commit()


def open_conversation_by_keyboard(live_server, page: Page) -> Locator:
    """Signed up, sent a pay-per-view photo, the member opens the conversation from Messages in
    the main navigation. Returns Luna's message."""
    sign_up_and_log_in_by_keyboard(page, live_server.url)
    member_id = verify_and_place(live_server.app)
    ppv_from_a_creator(live_server.app, member_id)
    page.reload()
    expect(page.locator("#nav-credits")).to_have_text("100 credits")
    go_by_nav(page, "Messages", re.compile(r"/messages$"))
    tab_to(page, page.locator("#main").get_by_role("link", name=re.compile("Luna")))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/messages/\d+$"))
    expect(page.locator("#chat[data-live=true]")).to_have_count(1)
    message = page.locator("li.message.theirs", has_text="For you")
    expect(message.get_by_role("img", name="Locked photo (blurred preview)")).to_be_visible()
    return message


def test_reply_and_unlock_a_photo_by_keyboard(live_server, page):
    message = open_conversation_by_keyboard(live_server, page)

    box = page.get_by_role("textbox", name="Message")
    type_into(page, box, "Thank you, Luna")
    page.keyboard.press("Enter")  # Enter sends; Shift+Enter would start a new line
    expect(page.locator("li.message.mine", has_text="Thank you, Luna")).to_be_visible()
    expect(box).to_have_value("")
    expect(box).to_be_focused()  # ready for the next message

    # Back up from the message box to the locked photo's button.
    tab_to(page, message.get_by_role("button", name="Unlock for 20 credits"), key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(message.get_by_text("Unlocked")).to_be_visible()
    expect(message.get_by_role("img", name="Photo", exact=True)).to_be_visible()
    expect(page.locator("#nav-credits")).to_have_text("80 credits")


def test_after_unlocking_focus_stays_in_the_message(live_server, page):
    message = open_conversation_by_keyboard(live_server, page)
    tab_to(page, message.get_by_role("button", name="Unlock for 20 credits"))
    page.keyboard.press("Enter")
    expect(message.get_by_text("Unlocked")).to_be_visible()
    where = focused(page)
    assert message.evaluate("el => el.contains(document.activeElement)"), (
        f"after the unlock swap, focus is on {where}, not in the unlocked message"
    )


def test_every_compose_control_shows_focus_on_the_way_to_send(live_server, page):
    open_conversation_by_keyboard(live_server, page)
    type_into(page, page.get_by_role("textbox", name="Message"), "Sent with the button")
    tab_to(page, page.locator("#compose").get_by_role("button", name="Send"))
    page.keyboard.press("Enter")
    expect(page.locator("li.message.mine", has_text="Sent with the button")).to_be_visible()
