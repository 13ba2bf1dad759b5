"""Payouts in Chromium, with two browsers: a verified creator with 2FA adds a payout method and
requests a payout with a code from their app; an admin (logged in with 2FA) approves it from the
queue; the worker sends the Stripe transfer (to a local stand-in for the Stripe API) and the
creator's payout page turns to "Paid" by itself. A second test: an admin rejects a bank-transfer
payout with a reason and the credits come back."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core import clock
from extensions import db
from models import Alert, CreatorSettings, Payout, User
from services import accounts, ledger, tips, twofactor
from tests.conftest import ARTIFACTS, LiveServer, _cleanup, make_app, sign_up_in_browser
from tests.creator_helpers import fan
from tests.provider_stub import ProviderStub

pytestmark = pytest.mark.browser
PASSWORD = "cobalt-lantern-fig-58"
STRIPE_KEY = "sk_test_amora"
STRIPE_ACCOUNT = "acct_1TestAccount42"
POLL_WAIT_MS = 12_000  # the payout page polls every 5 s


@pytest.fixture
def stub():
    server = ProviderStub()
    yield server
    server.close()


@pytest.fixture
def stripe_server(sqlite_url, stub):
    """A live server whose Stripe API is the local stub; jobs run inline after each request."""
    app = make_app(
        sqlite_url, JOBS_RAISE=False, STRIPE_SECRET_KEY=STRIPE_KEY, STRIPE_API_BASE=stub.url
    )
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server
    _cleanup(app)


def new_page(browser, errors: list[str], **context_options) -> Page:
    """A page in its own browser context (its own cookies) that records page errors;
    `context_options` go to `browser.new_context` (a time zone, a geolocation, …)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, **context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message):
        expected = re.match(r"Failed to load resource: .* status of 4\d\d", message.text)
        if message.type == "error" and not expected:
            errors.append(f"{message.text} @ {message.location}")

    page.on("console", on_console)
    return page


def sign_up(live_server, page: Page, email: str, name: str) -> int:
    """Sign up through the form; the email address is confirmed in the database."""
    sign_up_in_browser(page, live_server.url, email, name, PASSWORD, "1991-04-04")
    with live_server.app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        db.session.commit()
        return user.id


def make_earning_creator(live_server, user_id: int, tip: int) -> tuple[str, list[str], int]:
    """Creator mode on, identity verified by our team, 2FA on, and a fan's tip released from
    the hold into available earnings. Returns (TOTP secret, recovery codes, available)."""
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        user.is_creator = True
        user.creator_verified_at = clock.now()
        db.session.add(CreatorSettings(user_id=user.id, subscription_price=50))
        db.session.commit()
        secret = twofactor.new_secret()
        codes = twofactor.enable(user, secret, twofactor.code_for(secret, clock.now()))
        supporter = fan("Sam", credits=tip)
        tips.tip(supporter, user_id, tip, "for the sunsets")
        ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
        available = ledger.balances(user_id)["earnings_available"]
        assert available == tip - ledger.fee_for(tip)
    return secret, codes, available


def log_in_admin_with_2fa(live_server, page: Page, email: str, name: str) -> None:
    """An admin signs up, gets the role and 2FA, and logs in again through the second step."""
    sign_up(live_server, page, email, name)
    with live_server.app.app_context():
        admin = accounts.find_by_email(email)
        admin.role = "admin"
        secret = twofactor.new_secret()
        twofactor.enable(admin, secret, twofactor.code_for(secret, clock.now()))  # commits
    page.get_by_role("button", name="Log out").click()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    # The next 30-second step: the current one was spent turning 2FA on.
    page.get_by_label("Code").fill(
        twofactor.code_for(secret, clock.now() + dt.timedelta(seconds=30))
    )
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()


def open_payouts_tab(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Creator").click()
    with page.expect_navigation() as navigation:
        page.get_by_role("navigation", name="Creator").get_by_role("link", name="Payouts").click()
    response = navigation.value
    assert response is not None and response.ok, f"/creator/payouts answered {response.status}"
    expect(page.get_by_role("heading", name="Payouts", exact=True)).to_be_visible()


def add_method(page: Page, kind: str, **fields: str) -> None:
    page.locator("summary", has_text="Add a payout method").click()
    form = page.locator("#method-form")
    form.get_by_role("group", name="How do you want to be paid?").get_by_label(kind).check()
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name="Add method").click()
    expect(page.get_by_text("Payout method added.")).to_be_visible()


def request_payout(page: Page, credits: int, method: str, code: str) -> int:
    form = page.locator("#payout-form")
    form.get_by_label("Credits to pay out").fill(str(credits))
    form.get_by_label("Pay to").select_option(label=method)
    form.get_by_label("Code from your authenticator app (or a recovery code)").fill(code)
    form.get_by_role("button", name="Request payout").click()
    expect(page).to_have_url(re.compile(r"/creator/payouts/\d+$"))
    expect(page.get_by_text(f"Payout of {credits:,} credits requested.")).to_be_visible()
    expect(page.locator("#payout-status")).to_have_text("Requested")
    return int(page.url.rsplit("/", 1)[1])


def spilled_timeline_entries(card) -> list[str]:
    """Timeline entries whose text overflows their own box (and is drawn over the next one)."""
    return card.locator(".timeline li").evaluate_all(
        """(items) => items
            .filter((li) => li.scrollHeight > li.clientHeight + 1
                         || li.scrollWidth > li.clientWidth + 1)
            .map((li) => `timeline entry "${li.innerText.replace(/\\s+/g, " ")}" spills out `
                       + `of its ${li.clientWidth}x${li.clientHeight} px box `
                       + `(its content is ${li.scrollWidth}x${li.scrollHeight})`)"""
    )


def shown_as_written(locator, text: str) -> list[str]:
    """`text` must be displayed as written (innerText applies CSS text-transform)."""
    shown = " ".join(locator.inner_text().split())
    return [] if text in shown else [f"{text!r} is displayed altered: {shown!r}"]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_creator_is_paid_to_stripe_after_an_admin_bulk_approves(stripe_server, browser, stub):
    creator_errors: list[str] = []
    admin_errors: list[str] = []
    creator = new_page(browser, creator_errors)
    admin = new_page(browser, admin_errors)
    looks: list[str] = []  # what renders wrong although the flow works, checked at the end
    try:
        creator_id = sign_up(stripe_server, creator, "luna@example.com", "Luna")
        secret, _, available = make_earning_creator(stripe_server, creator_id, tip=1000)
        assert available == 800  # a 1,000-credit tip less the 20 % platform fee

        creator.reload()
        open_payouts_tab(creator)
        expect(creator.locator("#payout-available")).to_have_text("800")
        expect(creator.get_by_text("Add a payout method first.")).to_be_visible()
        add_method(
            creator,
            "Stripe Connect",
            **{
                "Stripe Connect account id (acct_…) or RazorpayX fund account id (fa_…)": (
                    STRIPE_ACCOUNT
                )
            },
        )
        masked = "Stripe Connect acct_…nt42"
        expect(creator.get_by_role("listitem").filter(has_text=masked)).to_be_visible()
        code = twofactor.code_for(secret, clock.now() + dt.timedelta(seconds=30))
        payout_id = request_payout(creator, 600, masked, code)
        expect(creator.locator("#payout-card")).to_contain_text("60.00 USD")
        expect(creator.locator("#payout-card")).to_contain_text("Stripe Connect")
        # Nothing was sent yet: the request waits for an admin.
        assert [r for r in stub.requests if r.path == "/v1/transfers"] == []

        # The admin, in another browser, approves it from the queue.
        log_in_admin_with_2fa(stripe_server, admin, "root@example.com", "Root")
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        expect(admin.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
        review = admin.get_by_role("link", name=re.compile("Payouts to review"))
        expect(review).to_contain_text("1")
        admin.get_by_role("navigation", name="Admin").get_by_role("link", name="Payouts").click()
        expect(admin).to_have_url(re.compile(r"/admin/payouts"))
        row = admin.locator("tbody tr", has_text="luna@example.com")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("600")
        expect(row).to_contain_text("60.00 USD")
        expect(row).to_contain_text("Stripe Connect")
        expect(row).to_contain_text("Requested")
        shot(admin, "payouts-admin-queue.png")
        # Marks the creator's page: a reload or a navigation would lose it.
        creator.evaluate("window.__notReloaded = true")
        admin.get_by_role("checkbox", name=f"Select payout {payout_id}").check()
        admin.get_by_role("button", name="Approve selected").click()
        expect(admin.get_by_text("1 payout(s) approved.")).to_be_visible()
        expect(admin.get_by_text("No payouts here.")).to_be_visible()
        admin.get_by_role("navigation", name="Payout status").get_by_role(
            "link", name="Paid"
        ).click()
        expect(admin.locator("tbody tr", has_text="luna@example.com")).to_contain_text("Paid")

        # The worker sent exactly one transfer, keyed by the payout.
        transfers = [r for r in stub.requests if r.method == "POST" and r.path == "/v1/transfers"]
        assert len(transfers) == 1
        assert transfers[0].headers.get("Idempotency-Key") == f"amora-payout-{payout_id}"
        assert transfers[0].form["destination"] == STRIPE_ACCOUNT
        assert transfers[0].form["amount"] == "6000"
        assert transfers[0].form["currency"] == "usd"

        # The creator's page turns to "Paid" on its own (htmx polls every 5 s).
        expect(creator.locator("#payout-status")).to_have_text("Paid", timeout=POLL_WAIT_MS)
        assert creator.evaluate("window.__notReloaded === true"), "the page was reloaded"
        card = creator.locator("#payout-card")
        expect(card).to_contain_text("tr_test_1")
        timeline = card.locator(".timeline li strong")
        expect(timeline).to_have_text(["Requested", "Approved", "Being sent", "Paid"])
        expect(card).to_contain_text("bulk approval")
        shot(creator, "payouts-detail-paid.png")
        looks += spilled_timeline_entries(card)
        looks += shown_as_written(card.locator(".timeline"), "provider reference tr_test_1")
        assert creator.locator("#payout-card[hx-get]").count() == 0, "a paid payout stops polling"

        creator.get_by_role("link", name="← All payouts").click()
        expect(creator).to_have_url(re.compile(r"/creator/payouts$"))
        expect(creator.locator("#payout-available")).to_have_text("200")
        payout_row = creator.locator("#earnings-ledger tbody tr", has_text="Payout")
        expect(payout_row).to_have_count(1)
        expect(payout_row.locator("td.amount")).to_have_text("-600")
        expect(payout_row.locator("td").last).to_have_text("200")
        history = creator.locator(
            "section", has=creator.get_by_role("heading", name="Your payouts")
        )
        expect(history.locator("tbody tr")).to_have_count(1)
        expect(history.locator("tbody tr")).to_contain_text("Paid")
        shot(creator, "payouts-creator-index.png")
        if creator.title() != "Payouts · Amora":
            looks.append(f"the tab title of /creator/payouts is {creator.title()!r}")
    finally:
        creator.context.close()
        admin.context.close()
    assert not creator_errors, f"the creator's browser reported errors: {creator_errors}"
    assert not admin_errors, f"the admin's browser reported errors: {admin_errors}"
    assert len([r for r in stub.requests if r.path == "/v1/transfers"]) == 1
    assert not looks, "the payout flow works but renders wrong:\n" + "\n".join(looks)


def test_an_admin_rejects_a_bank_transfer_payout_and_the_credits_come_back(
    live_server, browser, page
):
    admin_errors: list[str] = []
    admin = new_page(browser, admin_errors)
    looks: list[str] = []
    try:
        creator_id = sign_up(live_server, page, "mira@example.com", "Mira")
        _, codes, available = make_earning_creator(live_server, creator_id, tip=700)
        assert available == 560

        page.reload()
        open_payouts_tab(page)
        add_method(
            page,
            "Bank transfer (manual)",
            **{
                "Account holder (bank transfer)": "Mira Kovač",
                "Account number or IBAN (bank transfer)": "DE89 3704 0044 0532 0130 00",
                "SWIFT/BIC, IFSC or sort code (bank transfer)": "cobadeffxxx",
            },
        )
        masked = "Bank transfer to Mira Kovač, account ••••3000 (COBADEFFXXX)"
        payout_id = request_payout(page, 500, masked, codes[0])
        page.get_by_role("link", name="← All payouts").click()
        expect(page.locator("#payout-available")).to_have_text("60")
        page.go_back()
        expect(page.locator("#payout-status")).to_have_text("Requested")
        page.evaluate("window.__notReloaded = true")

        log_in_admin_with_2fa(live_server, admin, "root@example.com", "Root")
        admin.goto(live_server.url + "/admin/payouts")
        admin.get_by_role("link", name=str(payout_id), exact=True).click()
        expect(admin.get_by_role("heading", name=f"Payout {payout_id}")).to_be_visible()
        expect(admin.locator("dl.facts")).to_contain_text("DE89370400440532013000")
        reason = "The account holder does not match your verified name."
        admin.get_by_label("Reason (the creator sees it)").fill(reason)
        admin.get_by_role("button", name="Reject and return the credits").click()
        expect(
            admin.get_by_text(f"Payout {payout_id} rejected; the credits went back to the creator.")
        ).to_be_visible()
        expect(admin.get_by_text("Nothing to do: rejected, credits returned.")).to_be_visible()

        expect(page.locator("#payout-status")).to_have_text(
            "Rejected, credits returned", timeout=POLL_WAIT_MS
        )
        assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
        card = page.locator("#payout-card")
        expect(card.locator("dl.facts dd", has_text=reason)).to_be_visible()
        expect(card.locator(".timeline li strong")).to_have_text(
            ["Requested", "Rejected, credits returned"]
        )
        shot(page, "payouts-detail-rejected.png")
        looks += shown_as_written(card.locator(".timeline"), reason)
        page.get_by_role("link", name="← All payouts").click()
        expect(page.locator("#payout-available")).to_have_text("560")
        returned = page.locator("#earnings-ledger tbody tr", has_text="Payout returned")
        expect(returned.locator("td.amount")).to_have_text("+500")
    finally:
        admin.context.close()
    assert not admin_errors, f"the admin's browser reported errors: {admin_errors}"
    assert not looks, "the payout flow works but renders wrong:\n" + "\n".join(looks)


SHOTS = Path("/tmp/amora-shots")


def shots_at_both_widths(page: Page, name: str) -> None:
    """Full-page screenshots at a laptop's width and a phone's, for a person to look at."""
    SHOTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1200, "height": 900})


def test_an_admin_reads_the_reasons_behind_a_payout_risk_score(live_server, browser, page):
    from models import Device, UserDevice
    from services import payouts

    admin_errors: list[str] = []
    admin = new_page(browser, admin_errors)
    try:
        creator_id = sign_up(live_server, page, "nora@example.com", "Nora")
        _, codes, _ = make_earning_creator(live_server, creator_id, tip=700)
        with live_server.app.app_context():
            nora = db.session.get(User, creator_id)
            sam = db.session.scalar(select(User).where(User.display_name == "Sam"))
            device = Device(fingerprint="d" * 64)
            db.session.add(device)
            db.session.flush()
            for person in (nora, sam):  # Sam pays Nora from Nora's own device
                db.session.add(UserDevice(user_id=person.id, device_id=device.id))
            db.session.commit()
            bank = payouts.add_method(
                nora,
                "manual",
                holder="Nora",
                account="GB29NWBK60161331926819",
                bank_code="NWBKGB2L",
            )
            payout_id = payouts.request(nora, 500, bank.id, codes[0]).id
            score = db.session.get(Payout, payout_id).risk_score
            alert_id = db.session.scalar(
                select(Alert.id).where(Alert.detail["payout_id"].as_integer() == payout_id)
            )

        log_in_admin_with_2fa(live_server, admin, "root@example.com", "Root")
        admin.goto(f"{live_server.url}/admin/payouts/{payout_id}")
        risk = admin.locator("#risk-score")
        expect(risk).to_contain_text(str(score))
        expect(risk.get_by_role("list", name=f"Why the risk score is {score}")).to_be_visible()
        expect(risk.get_by_role("listitem")).to_have_text(
            [
                "+50 1 paying fan(s) use the creator's own device",
                "+30 Payout to a method added less than 3 days ago",
                "+20 100% of the last 30 days' earnings come from one fan",
                "+15 Account less than an hour old",
            ]
        )
        expect(risk.get_by_text("The points add up to 115; a score stops at 100.")).to_be_visible()
        shots_at_both_widths(admin, "admin-payout")

        admin.goto(f"{live_server.url}/admin/alerts/{alert_id}")
        expect(admin.get_by_role("heading", name=f"Why it scored {score}")).to_be_visible()
        expect(admin.get_by_role("listitem").filter(has_text="+50")).to_have_text(
            "+50 1 paying fan(s) use the creator's own device"
        )
        expect(admin.get_by_text('"points"')).to_have_count(0)
        shots_at_both_widths(admin, "admin-alert")
        admin.get_by_role("link", name=f"Payout {payout_id}").click()
        expect(admin.get_by_role("heading", name=f"Payout {payout_id}")).to_be_visible()
    finally:
        admin.context.close()
    assert not admin_errors, f"the admin's browser reported errors: {admin_errors}"
