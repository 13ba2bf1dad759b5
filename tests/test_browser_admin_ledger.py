"""Admin money tools in Chromium: an admin (logged in with 2FA) adjusts a member's credits with a
reason and the member's wallet shows it; runs the ledger reconciliation from Admin → Ledger and
watches its progress end in "every invariant holds"; and moves a fraud alert to another status
with a note."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import Page, expect

from extensions import db
from models import Alert, User
from services import ledger, reconciliation
from testkit.ledger import paid_order
from tests.conftest import hold_jobs
from tests.test_browser_payouts import log_in_admin_with_2fa, new_page, shot, sign_up

pytestmark = pytest.mark.browser
REASON = "Goodwill after the failed call on 30 Nov"
PAUSE_AT = 45  # percent: the check waits there until the admin has seen it


def open_admin_tab(admin: Page, tab: str) -> None:
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    admin.get_by_role("navigation", name="Admin").get_by_role("link", name=tab).click()


def test_an_admin_adjusts_a_wallet_and_the_ledger_check_comes_out_clean(
    live_server, browser, page, monkeypatch
):
    held = hold_jobs(monkeypatch, reconciliation.run)
    admin_errors: list[str] = []
    admin = new_page(browser, admin_errors)
    worker = None
    resume = threading.Event()
    try:
        member = page
        sam_id = sign_up(live_server, member, "sam@example.com", "Sam")
        with live_server.app.app_context():
            paid_order(db.session.get(User, sam_id), 40)
        log_in_admin_with_2fa(live_server, admin, "root@example.com", "Root")

        # Users → find Sam → Adjust credits, with a reason.
        open_admin_tab(admin, "Users")
        admin.get_by_label("Find by email, name, id, IP or device hash").fill("sam@example")
        admin.get_by_role("button", name="Search").click()
        admin.get_by_role("link", name="Sam", exact=True).click()
        expect(admin.get_by_role("heading", name=re.compile(r"^Sam"))).to_be_visible()
        expect(admin.get_by_text(re.compile(r"Wallet 40\b"))).to_be_visible()
        admin.locator("summary", has_text="Adjust credits").click()
        admin.get_by_label("Credits (+ or −)").fill("250")
        admin.get_by_label("Reason", exact=True).fill(REASON)
        admin.get_by_role("button", name="Adjust through the ledger").click()
        expect(admin.get_by_text("The wallet was adjusted.")).to_be_visible()
        expect(admin.get_by_text(re.compile(r"Wallet 290\b"))).to_be_visible()
        adjustment = admin.locator("tr", has_text="Adjustment by support")
        expect(adjustment).to_contain_text(REASON)
        expect(adjustment.locator("td.amount")).to_have_text("+250")
        shot(admin, "admin-user-adjusted.png")
        spilled = admin.locator("section.card").evaluate_all(
            """(cards) => cards
                .filter((card) => card.scrollWidth > card.clientWidth + 1)
                .map((card) => card.querySelector("h2").innerText)"""
        )
        assert spilled == [], f"these cards of the member's file spill over: {spilled}"

        # The member's wallet shows it, with the reason.
        member.reload()
        expect(member.locator("#nav-credits")).to_have_text("290 credits")
        member.get_by_role("navigation", name="Main").get_by_role("link", name="Wallet").click()
        row = member.locator("#history tbody tr", has_text="Adjustment by support")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(REASON)
        expect(row.locator("td.amount")).to_have_text("+250")
        expect(row.locator("td").last).to_have_text("290")

        # Ledger → Check the ledger now; the worker reports progress as it goes.
        open_admin_tab(admin, "Ledger")
        expect(admin.get_by_text("No check has run yet.")).to_be_visible()
        admin.get_by_role("button", name="Check the ledger now").click()
        run = admin.locator(".check-run")
        expect(run).to_have_count(1)
        expect(run.get_by_role("status")).to_have_text("queued 0%")
        assert len(held) == 1, "one check is queued"
        admin.evaluate("window.__notReloaded = true")
        # A second click while it runs does not start another.
        admin.get_by_role("button", name="Check the ledger now").click()
        expect(admin.get_by_text("A check is already running; watch it below.")).to_be_visible()
        expect(admin.locator(".check-run")).to_have_count(1)
        admin.evaluate("window.__notReloaded = true")

        reached = threading.Event()
        real_verify = ledger.verify

        def verify_pausing(progress=None):
            def step(percent, label):
                progress(percent, label)
                if percent == PAUSE_AT:
                    reached.set()
                    resume.wait(20)

            return real_verify(step)

        monkeypatch.setattr(ledger, "verify", verify_pausing)
        _, args, kwargs = held[0]

        def work():
            with live_server.app.app_context():
                reconciliation.run(*args, **kwargs)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        assert reached.wait(10), "the check reached its pause"
        expect(run.get_by_role("status")).to_have_text(f"running {PAUSE_AT}%")
        expect(run.get_by_role("progressbar", name="Check progress")).to_have_attribute(
            "value", str(PAUSE_AT)
        )
        shot(admin, "admin-ledger-running.png")
        resume.set()
        worker.join(20)
        expect(run.get_by_role("status")).to_have_text("clean: every invariant holds")
        expect(run.get_by_role("progressbar")).to_have_count(0)
        assert admin.evaluate("window.__notReloaded === true"), "the page was reloaded"
        expect(admin.locator(".check-run[hx-get]")).to_have_count(0)  # done: no more polling
        system = admin.locator("tr", has_text="payments_clearing")
        expect(system.locator("td.num")).to_have_text("-40")  # the credits sold
        shot(admin, "admin-ledger-clean.png")
    finally:
        resume.set()
        if worker is not None:
            worker.join(20)
        admin.context.close()
    assert not admin_errors, f"the admin's browser reported errors: {admin_errors}"


def test_an_admin_moves_a_fraud_alert_to_investigating_with_a_note(live_server, page):
    admin = page
    with live_server.app.app_context():
        alert = Alert(
            kind="risk_purchase",
            severity="high",
            score=85,
            summary="Purchase scored 85 (block): 5 purchases in an hour from a new device",
            detail={"ip": "203.0.113.9", "orders": [11, 12, 13, 14, 15]},
        )
        db.session.add(alert)
        db.session.commit()
        alert_id = alert.id
    log_in_admin_with_2fa(live_server, admin, "root@example.com", "Root")
    open_admin_tab(admin, "Alerts")
    row = admin.locator("tbody tr", has_text="risk_purchase")
    expect(row).to_contain_text("5 purchases in an hour")
    expect(row).to_contain_text("Open")
    row.get_by_role("link", name=str(alert_id), exact=True).click()
    expect(admin.get_by_role("heading", name=f"Alert {alert_id}: risk_purchase")).to_be_visible()
    expect(admin.locator("#alert-status")).to_have_text("Open")
    expect(admin.get_by_text("No notes yet.")).to_be_visible()

    # Resolving needs a note saying how.
    admin.get_by_label("Status").select_option(label="Resolved")
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("Say how it was resolved.")).to_be_visible()
    expect(admin.locator("#alert-status")).to_have_text("Open")

    note = "Card owner confirmed by phone; watching the next purchases."
    admin.get_by_label("Status").select_option(label="Investigating")
    admin.get_by_label("Note").fill(note)
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("Saved.", exact=True)).to_be_visible()
    expect(admin.locator("#alert-status")).to_have_text("Investigating")
    entry = admin.locator(".timeline li")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Root")
    expect(entry).to_contain_text("Open → Investigating")
    expect(entry).to_contain_text(note)
    shot(admin, "admin-alert-investigating.png")

    open_admin_tab(admin, "Alerts")
    expect(admin.locator("tbody tr", has_text="risk_purchase")).to_have_count(0)  # not open
    admin.get_by_role("navigation", name="Alert status").get_by_role(
        "link", name="Investigating"
    ).click()
    expect(admin.locator("tbody tr", has_text="risk_purchase")).to_contain_text("Investigating")
