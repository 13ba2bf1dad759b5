"""Your data in Chromium: a member prepares a data export and watches it become ready without
reloading, downloads the JSON; then asks to delete the account, undoes it within the 7 days, asks
again, and once the deletion job runs after the window their login no longer works."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playwright.sync_api import expect

from core import clock
from extensions import db
from models import User
from services import erasure
from tests.test_browser_payouts import PASSWORD, new_page, shot, sign_up

pytestmark = pytest.mark.browser


def test_export_my_data_then_delete_undo_and_delete_for_good(live_server, browser):
    errors: list[str] = []
    page = new_page(browser, errors)
    try:
        user_id = sign_up(live_server, page, "iris@example.com", "Iris")
        page.get_by_role("link", name="Settings").first.click()

        # Export: the worker builds it (inline in the embedded mode), the box turns ready by itself.
        page.get_by_role("button", name="Prepare my data export").click()
        expect(page.get_by_text("Your export is ready")).to_be_visible()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download").click()
        exported = json.loads(download_info.value.path().read_text(encoding="utf-8"))
        assert exported["account"]["email"] == "iris@example.com"
        assert exported["account"]["display_name"] == "Iris"
        shot(page, "settings-export-ready.png")

        # Delete: a wrong password is refused in place, the right one schedules it.
        page.get_by_role("link", name="Delete my account…").click()
        page.get_by_label("Your password").fill("not-my-password-1")
        page.get_by_role("button", name="Delete my account in 7 days").click()
        expect(page.get_by_text("Your password is not correct.")).to_be_visible()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Delete my account in 7 days").click()
        expect(page.get_by_text("Your account will be deleted on")).to_be_visible()
        shot(page, "settings-deletion-pending.png")

        page.get_by_role("button", name="Undo: keep my account").click()
        expect(
            page.get_by_text("Your account will not be deleted. Nothing was lost.")
        ).to_be_visible()
        expect(page.get_by_text("Your account will be deleted on")).to_have_count(0)

        page.get_by_role("link", name="Delete my account…").click()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Delete my account in 7 days").click()
        expect(page.get_by_text("Your account will be deleted on")).to_be_visible()

        # Seven days and a minute later the job erases the account; the open session ends.
        with live_server.app.app_context():
            later = clock.now() + dt.timedelta(days=7, minutes=1)
            assert erasure.erase_due_accounts(now=later) == 1
            user = db.session.get(User, user_id)
            assert user.status == "deleted" and user.email != "iris@example.com"
        page.reload()
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        page.get_by_label("Email").fill("iris@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Email or password is incorrect.")).to_be_visible()
        assert errors == []
    finally:
        page.context.close()
