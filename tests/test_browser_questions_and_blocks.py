"""Dating in Chromium: a member answers match questions one at a time (the box swaps in place);
until enough questions are shared another member's card and profile say how many more answers
it takes, then the match % appears there; then she blocks him from his profile and he is gone
from Discover."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from extensions import db
from models import User
from services import matching, profiles
from tests.dating_helpers import answer, dater
from tests.test_browser_payouts import new_page, shot, sign_up

pytestmark = pytest.mark.browser

# Mia's answers: (choice, acceptable choices, importance label), for the bank's first questions.
MIA = [
    (0, [0, 3], "Very important"),  # a long-term relationship; accepts that or "open"
    (0, [0, 1], "Somewhat important"),  # wants children; accepts "yes" or "maybe"
    (0, [0], "Mandatory"),  # monogamous, and only that
]
# Leo answers each of Mia's acceptably, but accepts only "maybe" about children; on the next
# five questions both answer the first choice and accept only it, "somewhat important".
# sat(Mia, Leo) = 1; sat(Leo, Mia) = 70 / 80; √(7/8) − 1/8 = 0.810 → 81 %.
EXPECTED_MATCH = 81
AGREED = ["q004", "q005", "q006", "q007", "q008"]


def answer_in_the_box(page: Page, choice: int, acceptable: list[int], importance: str) -> str:
    """Answer the question on screen; returns its text."""
    box = page.locator("#question-box")
    question = box.locator("#question-text").inner_text()
    box.get_by_role("group", name="Your answer").get_by_role("radio").nth(choice).check()
    accepts = box.get_by_role("group", name="Answers you accept from others")
    for index in acceptable:
        accepts.get_by_role("checkbox").nth(index).check()
    box.get_by_label("How important is this to you?").select_option(label=importance)
    box.get_by_role("button", name="Answer").click()
    expect(box.locator("#question-text")).not_to_have_text(question)
    return question


def test_match_questions_give_a_match_percentage_and_a_block_hides_him(live_server, browser):
    base = live_server.url
    errors: list[str] = []
    mia = new_page(browser, errors)
    try:
        mia_id = sign_up(live_server, mia, "mia@example.com", "Mia")
        with live_server.app.app_context():
            me = db.session.get(User, mia_id)
            profiles.update_basics(
                me, gender="woman", seeking=["man"], age_min=18, age_max=99, bio="Hi, I'm Mia."
            )
            profiles.set_location_coordinates(me, 48.8566, 2.3522)
            leo = dater("Leo", gender="man", seeking=("woman",))
            for question_id, choice, acceptable in (
                ("q001", 0, [0]),
                ("q002", 1, [1]),
                ("q003", 0, [0, 1]),
            ):
                answer(leo, question_id, choice, acceptable, 10)
            for question_id in AGREED:
                answer(leo, question_id, 0, [0], 10)
            assert 3 + len(AGREED) == matching.MIN_COMMON
            noah = dater("Noah", gender="man", seeking=("woman",))
            leo_id, noah_id = leo.id, noah.id

        # Profile → Answer questions; one question at a time, swapped in place.
        mia.reload()
        mia.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
        mia.get_by_role("link", name="Answer questions").click()
        expect(mia.get_by_role("heading", name="Match questions")).to_be_visible()
        box = mia.locator("#question-box")
        total = int(re.search(r"of (\d+)", box.get_by_text("Answered 0 of").inner_text()).group(1))
        expect(box.locator("#question-text")).to_have_text("What are you looking for right now?")
        mia.evaluate("window.__notReloaded = true")

        # An answer without an acceptable one is refused, and the question stays.
        box.get_by_role("group", name="Your answer").get_by_role("radio").first.check()
        box.get_by_role("button", name="Answer").click()
        accepts = box.get_by_role("group", name="Answers you accept from others")
        expect(accepts).to_contain_text("Pick at least one answer you would accept.")
        expect(box.locator("#question-text")).to_have_text("What are you looking for right now?")
        expect(box.get_by_role("radio", name="A long-term relationship")).to_be_checked()  # kept
        shot(mia, "questions-error.png")

        for done, (choice, acceptable, importance) in enumerate(MIA[:2], start=1):
            answer_in_the_box(mia, choice, acceptable, importance)
            expect(box.get_by_text(f"Answered {done} of {total}.")).to_be_visible()
        expect(box.locator(".error")).to_have_count(0)
        assert mia.evaluate("window.__notReloaded === true"), "the page was reloaded"
        shot(mia, "questions-two-answered.png")

        # Two in common: no percentage yet, but how many more answers it takes, on his
        # profile and on his card; Noah answered nothing, so his card promises nothing.
        mia.goto(f"{base}/people/{leo_id}")
        expect(mia.get_by_role("heading", name=re.compile(r"^Leo, "))).to_be_visible()
        expect(mia.get_by_text(re.compile(r"% match"))).to_have_count(0)
        hint = "Answer 6 more questions to see your match %"
        expect(mia.locator(".profile-view").get_by_role("link", name=hint)).to_be_visible()
        mia.get_by_role("navigation", name="Main").get_by_role("link", name="Discover").click()
        expect(mia.locator(f"#person-{leo_id}").get_by_role("link", name=hint)).to_be_visible()
        expect(mia.locator(f"#person-{noah_id}")).to_be_visible()
        expect(mia.locator(f"#person-{noah_id}").get_by_text(re.compile(r"match"))).to_have_count(0)
        shot(mia, "discover-answers-needed.png")
        mia.locator(f"#person-{leo_id}").get_by_role("link", name=hint).click()
        expect(box.get_by_text(f"Answered 2 of {total}.")).to_be_visible()
        answer_in_the_box(mia, *MIA[2])
        expect(box.get_by_text(f"Answered 3 of {total}.")).to_be_visible()
        with live_server.app.app_context():  # and five more, as Leo answered them
            for question_id in AGREED:
                answer(db.session.get(User, mia_id), question_id, 0, [0], 10)

        # Eight in common: the percentage on his profile and on his card in Discover.
        mia.goto(f"{base}/people/{leo_id}")
        expect(mia.locator(".profile-view .badge", has_text="match")).to_have_text(
            f"{EXPECTED_MATCH}% match"
        )
        shot(mia, "person-match.png")
        mia.get_by_role("navigation", name="Main").get_by_role("link", name="Discover").click()
        leo_card = mia.locator(f"#person-{leo_id}")
        noah_card = mia.locator(f"#person-{noah_id}")
        expect(leo_card.locator(".badge", has_text="match")).to_have_text(
            f"{EXPECTED_MATCH}% match"
        )
        expect(noah_card).to_be_visible()
        expect(noah_card.get_by_text(re.compile(r"% match"))).to_have_count(0)  # no answers
        shot(mia, "discover-match.png")

        # She blocks Leo from his profile: back on Discover, he is gone, Noah is not.
        leo_card.get_by_role("link").first.click()
        expect(mia).to_have_url(f"{base}/people/{leo_id}")
        mia.locator("summary", has_text="Block or report").click()
        mia.get_by_role("button", name="Block Leo").click()
        expect(mia).to_have_url(re.compile(r"/discover"))
        expect(
            mia.get_by_text("You blocked Leo. You will not see each other any more.")
        ).to_be_visible()
        expect(noah_card).to_be_visible()
        expect(mia.locator(f"#person-{leo_id}")).to_have_count(0)
        expect(mia.get_by_role("heading", name=re.compile(r"^Leo, "))).to_have_count(0)
        shot(mia, "discover-after-block.png")
        response = mia.goto(f"{base}/people/{leo_id}")
        assert response is not None and response.status == 404, "his profile is gone too"
    finally:
        mia.context.close()
    assert not errors, f"the browser reported errors: {errors}"
