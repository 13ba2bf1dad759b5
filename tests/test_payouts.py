"""Payouts (docs/payouts.md): the state machine, requests with 2FA against available earnings, admin
approval, exactly-once provider payouts on the worker, and claw-backs after chargebacks."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import DomainError, NotAllowed, ValidationFailed
from extensions import db
from models import Alert, Notification, Payout, PayoutEvent, User
from services import ledger, payouts, tips, twofactor
from testkit.ledger import paid_order
from tests.conftest import _cleanup, make_app
from tests.creator_helpers import creator, fan
from tests.provider_stub import ProviderStub

ROOT = Path(__file__).resolve().parent.parent
STRIPE_KEY = "sk_test_amora"
_later = itertools.count(1)


@pytest.fixture
def stub():
    server = ProviderStub()
    yield server
    server.close()


@pytest.fixture
def papp(database_url, stub):
    """An app whose Stripe and Razorpay APIs are the local stub."""
    app = make_app(
        database_url,
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_API_BASE=stub.url,
        RAZORPAY_KEY_ID="rzp_test_amora",
        RAZORPAY_KEY_SECRET="rzp_secret_amora",
        RAZORPAY_API_BASE=stub.url,
        RAZORPAYX_ACCOUNT_NUMBER="2323230000000000",
        PAYOUT_AUTO_APPROVE_CREDITS=0,  # every request waits for an admin unless a test says so
    )
    with app.app_context():
        yield app
    _cleanup(app)


def with_2fa(user: User) -> list[str]:
    secret = twofactor.new_secret()
    codes = twofactor.enable(user, secret, twofactor.code_for(secret, clock.now()))
    db.session.refresh(user)
    return codes


def earning_creator(available: int = 1000, name: str = "Luna") -> tuple[User, list[str]]:
    """A verified creator with 2FA and `available` credits of available earnings, earned as
    tips and released after the hold, as in real life."""
    luna = creator(name)
    codes = with_2fa(luna)
    gross = -(-available * 10000 // (10000 - 2000))  # tip so that tip − fee ≥ available
    while gross - ledger.fee_for(gross) > available:
        gross -= 1
    supporter = fan(f"Fan of {name}", credits=gross)
    tips.tip(supporter, luna.id, gross)
    ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8 + next(_later)))
    assert ledger.balances(luna.id)["earnings_available"] == available
    return luna, codes


def method(user: User, kind: str = "stripe"):
    details = {
        "stripe": {"account_ref": "acct_1TestAccount42"},
        "razorpayx": {"account_ref": "fa_00000000000042"},
        "manual": {
            "holder": "Luna Rivers",
            "account": "FR76 3000 6000 0112 3456 7890 189",
            "bank_code": "AGRIFRPP",
        },
    }
    return payouts.add_method(user, kind, **details[kind])


def requested(kind: str = "stripe", credits: int = 600) -> tuple[User, Payout]:
    luna, codes = earning_creator()
    payout = payouts.request(luna, credits, method(luna, kind).id, codes[0])
    return luna, payout


def events(payout: Payout) -> list[tuple[str | None, str]]:
    return [(e.from_status, e.to_status) for e in payouts.timeline(payout.id)]


# --- the state machine ------------------------------------------------------------------------

STATES = list(payouts.TRANSITIONS)


@pytest.mark.parametrize("to", STATES)
@pytest.mark.parametrize("start", STATES)
def test_every_transition_is_allowed_or_refused_as_the_table_says(ctx, start, to):
    _, payout = requested()
    payout.status = start
    db.session.commit()
    if to in payouts.TRANSITIONS[start]:
        payouts._move(payout, to, None, "test")
        db.session.commit()
        assert db.session.get(Payout, payout.id).status == to
        assert events(payout)[-1] == (start, to)
    else:
        with pytest.raises(payouts.InvalidTransition):
            payouts._move(payout, to, None, "test")
        db.session.rollback()
        assert db.session.get(Payout, payout.id).status == start


def test_a_request_moves_available_credits_to_payouts_clearing(ctx):
    luna, payout = requested(credits=600)
    assert payout.status == "requested" and payout.amount_minor == 6000
    assert payout.currency == "USD"
    assert ledger.balances(luna.id)["earnings_available"] == 400
    assert ledger.system_balance("payouts_clearing") == 600
    assert events(payout) == [(None, "requested")] and ledger.verify() == []


@pytest.mark.parametrize(
    ("credits", "message"),
    [(499, "minimum payout is 500"), (1001, "1,000 credits available"), (-5, "minimum")],
)
def test_bad_amounts_are_refused_and_nothing_moves(ctx, credits, message):
    luna, codes = earning_creator()
    with pytest.raises(ValidationFailed, match=message):
        payouts.request(luna, credits, method(luna).id, codes[0])
    assert db.session.scalar(select(func.count(Payout.id))) == 0
    assert ledger.balances(luna.id)["earnings_available"] == 1000


def test_a_request_needs_verification_2fa_a_valid_code_and_your_own_method(ctx):
    luna, codes = earning_creator()
    mine = method(luna)
    with pytest.raises(ValidationFailed, match="code"):
        payouts.request(luna, 600, mine.id, "000000")
    other, _ = earning_creator(name="Mia")
    with pytest.raises(ValidationFailed, match="payout methods"):
        payouts.request(luna, 600, method(other).id, codes[0])
    luna.creator_verified_at = None
    db.session.commit()
    with pytest.raises(NotAllowed, match="verified"):
        payouts.request(luna, 600, mine.id, codes[1])
    no_2fa = creator("Noa")
    with pytest.raises(NotAllowed, match="two-factor"):
        payouts.request(no_2fa, 600, mine.id, "")
    assert db.session.scalar(select(func.count(Payout.id))) == 0


def test_methods_are_checked_and_shown_masked(ctx):
    luna = creator()
    with pytest.raises(ValidationFailed) as caught:
        payouts.add_method(luna, "manual", holder="L", account="12", bank_code="")
    assert set(caught.value.errors) == {"holder", "account", "bank_code"}
    with pytest.raises(ValidationFailed, match="acct_"):
        payouts.add_method(luna, "stripe", account_ref="acct_x")
    with pytest.raises(ValidationFailed, match="how you want to be paid"):
        payouts.add_method(luna, "paypal", account_ref="me@example.com")
    bank = method(luna, "manual")
    assert payouts.mask(bank) == "Bank transfer to Luna Rivers, account ••••0189 (AGRIFRPP)"
    assert "3000 6000" not in payouts.mask(bank)
    assert payouts.mask(method(luna)) == "Stripe Connect acct_…nt42"


def test_rejecting_returns_the_credits_and_tells_the_creator_why(ctx):
    luna, payout = requested()
    admin = creator("Admin")
    payouts.reject(admin, payout.id, "Identity documents expired")
    assert ledger.balances(luna.id)["earnings_available"] == 1000
    assert ledger.system_balance("payouts_clearing") == 0
    note = db.session.scalar(select(Notification).where(Notification.kind == "payout"))
    assert "Identity documents expired" in note.text
    with pytest.raises(payouts.InvalidTransition):
        payouts.reject(admin, payout.id, "again")
    assert ledger.verify() == []


def test_approving_twice_and_rejecting_a_paid_payout_are_refused(papp, stub):
    _, payout = requested()
    admin = creator("Admin")
    payouts.approve(admin, payout.id)  # the job runs inline: the Stripe transfer is made
    assert db.session.get(Payout, payout.id).status == "paid"
    with pytest.raises(payouts.InvalidTransition):
        payouts.approve(admin, payout.id)
    with pytest.raises(payouts.InvalidTransition, match="paid payout cannot be rejected"):
        payouts.reject(admin, payout.id, "too late")
    assert len(stub.created) == 1 and ledger.verify() == []


# --- the worker and the providers ---------------------------------------------------------------


def test_an_approved_stripe_payout_is_one_transfer_with_the_payout_as_idempotency_key(papp, stub):
    _, payout = requested(credits=700)
    payouts.approve(creator("Admin"), payout.id)
    sent = [r for r in stub.requests if r.path == "/v1/transfers"]
    assert len(sent) == 1
    assert sent[0].headers["Idempotency-Key"] == f"amora-payout-{payout.id}"
    assert sent[0].form["amount"] == "7000" and sent[0].form["currency"] == "usd"
    assert sent[0].form["destination"] == "acct_1TestAccount42"
    assert sent[0].headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "paid" and payout.provider_ref == "tr_test_1"
    assert events(payout) == [
        (None, "requested"),
        ("requested", "approved"),
        ("approved", "processing"),
        ("processing", "paid"),
    ]
    assert ledger.verify() == []


def test_a_provider_outage_is_retried_with_backoff_then_paid_once(papp, stub):
    _, payout = requested()
    stub.fail_next = 2
    start = clock.now()
    with clock.frozen(start):
        payouts.approve(creator("Admin"), payout.id)
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "processing" and payout.attempts == 1
    assert payout.next_attempt_at == start + dt.timedelta(minutes=1)
    with clock.frozen(start + dt.timedelta(seconds=30)):
        assert payouts.retry_due() == {}  # not due yet
    with clock.frozen(start + dt.timedelta(minutes=1)):
        assert payouts.retry_due() == {"retry": 1}
    payout = db.session.get(Payout, payout.id)
    assert payout.next_attempt_at == start + dt.timedelta(minutes=1) + dt.timedelta(minutes=2)
    with clock.frozen(start + dt.timedelta(minutes=3)):
        assert payouts.retry_due() == {"paid": 1}
    assert db.session.get(Payout, payout.id).status == "paid" and len(stub.created) == 1


def test_a_permanent_provider_error_fails_the_payout_and_returns_the_credits(papp, stub):
    luna, payout = requested()
    stub.refuse_next = 1
    payouts.approve(creator("Admin"), payout.id)
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "failed" and "No such destination" in payout.reason
    assert ledger.balances(luna.id)["earnings_available"] == 1000
    assert ledger.system_balance("payouts_clearing") == 0 and ledger.verify() == []


def test_giving_up_after_the_last_attempt_returns_the_credits(papp, stub):
    papp.config["PAYOUT_MAX_ATTEMPTS"] = 2
    luna, payout = requested()
    stub.fail_next = 10
    start = clock.now()
    with clock.frozen(start):
        payouts.approve(creator("Admin"), payout.id)
    with clock.frozen(start + dt.timedelta(hours=1)):
        assert payouts.retry_due() == {"failed": 1}
    assert db.session.get(Payout, payout.id).status == "failed"
    assert ledger.balances(luna.id)["earnings_available"] == 1000 and ledger.verify() == []


def test_a_razorpayx_payout_is_sent_in_inr_and_paid_when_processed(papp, stub):
    papp.config["CREDIT_VALUE_MINOR_INR"] = 840
    _, payout = requested("razorpayx", credits=500)
    payouts.approve(creator("Admin"), payout.id)
    call = next(r for r in stub.requests if r.path == "/v1/payouts")
    assert call.headers["X-Payout-Idempotency"] == f"amora-payout-{payout.id}"
    assert call.json["amount"] == 420000 and call.json["currency"] == "INR"
    assert call.json["fund_account_id"] == "fa_00000000000042"
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "processing" and payout.provider_ref == "pout_test_1"
    stub.payout_status = "processed"
    with clock.frozen(clock.now() + payouts.POLL_EVERY):
        assert payouts.retry_due() == {"paid": 1}
    assert len([r for r in stub.requests if r.path == "/v1/payouts"]) == 1  # polled, not resent


def test_a_manual_payout_waits_for_an_admin_to_mark_it_paid(papp, stub):
    _, payout = requested("manual")
    admin = creator("Admin")
    payouts.approve(admin, payout.id)
    assert payouts.retry_due() == {} and stub.requests == []
    with pytest.raises(ValidationFailed):
        payouts.mark_paid(admin, payout.id, "")
    payouts.mark_paid(admin, payout.id, "SEPA-2026-0042")
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "paid" and payout.reference == "SEPA-2026-0042"
    assert events(payout)[-2:] == [("approved", "processing"), ("processing", "paid")]


def test_small_low_risk_requests_are_approved_automatically(papp, stub):
    papp.config["PAYOUT_AUTO_APPROVE_CREDITS"] = 2000
    luna = creator()
    codes = with_2fa(luna)
    for n in range(4):  # earnings from several fans, a payout method known for days
        tips.tip(fan(f"Fan{n}", credits=400), luna.id, 400)
    bank = method(luna)
    later = clock.now() + dt.timedelta(days=8)
    ledger.release_matured_earnings(later)
    with clock.frozen(later):
        small = payouts.request(luna, 600, bank.id, codes[0])
        assert db.session.get(Payout, small.id).status == "paid"  # scored, approved and sent
        assert db.session.get(Payout, small.id).risk_score < papp.config["RISK_STEP_UP"]
        papp.config["PAYOUT_AUTO_APPROVE_CREDITS"] = 500
        large = payouts.request(luna, 600, bank.id, codes[1])
        assert db.session.get(Payout, large.id).status == "requested"


def test_a_new_creator_paid_by_one_fan_to_a_new_method_waits_for_review(papp, stub):
    papp.config["PAYOUT_AUTO_APPROVE_CREDITS"] = 2000
    _, payout = requested(credits=600)
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "requested" and payout.risk_score >= 40


def test_a_creator_paid_by_their_own_second_account_waits_for_review(papp, stub):
    from models import Device, UserDevice

    papp.config["PAYOUT_AUTO_APPROVE_CREDITS"] = 2000
    luna, codes = earning_creator()
    supporter = db.session.scalar(select(User).where(User.display_name == "Fan of Luna"))
    device = Device(fingerprint="f" * 64)
    db.session.add(device)
    db.session.flush()
    for person in (luna, supporter):
        db.session.add(UserDevice(user_id=person.id, device_id=device.id))
    db.session.commit()
    payout = payouts.request(luna, 600, method(luna).id, codes[0])
    payout = db.session.get(Payout, payout.id)
    assert payout.status == "requested" and payout.risk_score >= 60
    alert = db.session.scalar(select(Alert).where(Alert.kind == "risk_payout"))
    assert "own device" in alert.summary


def test_an_admin_reads_why_a_payout_scored_what_it_did(papp, stub):
    from models import Device, UserDevice

    luna, codes = earning_creator()
    supporter = db.session.scalar(select(User).where(User.display_name == "Fan of Luna"))
    device = Device(fingerprint="e" * 64)
    db.session.add(device)
    db.session.flush()
    for person in (luna, supporter):
        db.session.add(UserDevice(user_id=person.id, device_id=device.id))
    db.session.commit()
    earlier = payouts.request(luna, 500, method(luna, "manual").id, codes[1])
    with clock.frozen(clock.now() + dt.timedelta(days=5)):  # the manual method is old now
        payout = payouts.request(luna, 500, method(luna).id, codes[0])
    payout_id, score = payout.id, db.session.get(Payout, payout.id).risk_score
    alert_id = db.session.scalar(
        select(Alert.id).where(Alert.detail["payout_id"].as_integer() == payout_id)
    )
    admin = _admin_client(papp)
    db.session.expire_all()  # the requests share this app context: the admin's new role

    page = admin.client.get(f"/admin/payouts/{payout_id}").get_data(as_text=True)
    reasons = page[page.index('id="risk-score"') :]
    reasons = reasons[: reasons.index("</dd>")]
    assert f">{score}" in reasons
    assert "+50</span> 1 paying fan(s) use the creator&#39;s own device" in reasons
    assert "+30</span> Payout to a method added less than 3 days ago" in reasons
    assert reasons.index("+50") < reasons.index("+30")  # the weightiest first
    # The earlier request by the same creator keeps its own reasons.
    earlier_page = admin.client.get(f"/admin/payouts/{earlier.id}").get_data(as_text=True)
    assert "own device" in earlier_page

    alert = admin.client.get(f"/admin/alerts/{alert_id}").get_data(as_text=True)
    assert f"Why it scored {score}" in alert
    assert "+50</span> 1 paying fan(s) use the creator&#39;s own device" in alert
    assert '"points":' not in alert and '"rule":' not in alert  # no raw JSON
    assert f'href="/admin/payouts/{payout_id}">Payout {payout_id}</a>' in alert


@pytest.mark.postgres
def test_ten_simultaneous_requests_for_the_whole_balance_pay_once(pg_app):
    with pg_app.app_context():
        luna, codes = earning_creator(available=800)
        method_id, luna_id = method(luna).id, luna.id
    outcomes = []
    barrier = threading.Barrier(10)

    def ask(code):
        with pg_app.app_context():
            user = db.session.get(User, luna_id)
            barrier.wait()
            try:
                payouts.request(user, 800, method_id, code)
                outcomes.append("ok")
            except (DomainError, ledger.InsufficientCredits) as exc:
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=ask, args=(code,)) for code in codes]  # 10 valid codes
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1, outcomes
    with pg_app.app_context():
        assert db.session.scalar(select(func.count(Payout.id))) == 1
        assert ledger.balances(luna_id)["earnings_available"] == 0
        assert ledger.system_balance("payouts_clearing") == 800 and ledger.verify() == []


@pytest.mark.postgres
def test_a_worker_killed_during_the_provider_call_pays_exactly_once(postgres_url, stub):
    app = make_app(
        postgres_url,
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_API_BASE=stub.url,
        PAYOUT_AUTO_APPROVE_CREDITS=0,
    )
    try:
        with app.app_context():
            _, payout = requested()
            payouts._move(payout, "approved", None, "approved for the test")
            db.session.commit()
            payout_id = payout.id
        stub.stall = threading.Event()
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                from app import create_app
                from services import payouts
                app = create_app({{"SQLALCHEMY_DATABASE_URI": {postgres_url!r},
                                  "STRIPE_SECRET_KEY": {STRIPE_KEY!r},
                                  "STRIPE_API_BASE": {stub.url!r}, "SECRET_KEY": "x" * 32}})
                with app.app_context():
                    payouts.execute({payout_id})
            """),
            ],
            cwd=ROOT,
            env={**os.environ, "APP_ENV": "test"},
        )
        deadline = time.monotonic() + 30
        while not any(r.path == "/v1/transfers" for r in stub.requests):
            assert time.monotonic() < deadline and worker.poll() is None, "the worker never called"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # mid-call: the provider has the request, we died
        worker.wait(10)
        stub.stall.set()  # the provider finishes the transfer it was asked for
        time.sleep(0.2)
        with app.app_context():
            assert db.session.get(Payout, payout_id).status == "processing"
            with clock.frozen(clock.now() + payouts.STALE_AFTER):
                assert payouts.retry_due() == {"paid": 1}
            payout = db.session.get(Payout, payout_id)
            assert payout.status == "paid" and payout.provider_ref == "tr_test_1"
            assert ledger.verify() == []
        calls = [r for r in stub.requests if r.path == "/v1/transfers"]
        assert len(calls) == 2  # the killed attempt and the rerun…
        assert {c.headers["Idempotency-Key"] for c in calls} == {f"amora-payout-{payout_id}"}
        assert len(stub.created) == 1  # …and one transfer really made
    finally:
        if stub.stall is not None:
            stub.stall.set()
        _cleanup(app)


# --- chargebacks within the hold -------------------------------------------------------------


def test_a_chargeback_claws_back_from_the_creators_pending_earnings_first(ctx):
    luna, sam = creator(), fan()
    order = paid_order(sam, 100)
    tips.tip(sam, luna.id, 100)  # Luna: 80 pending, platform: 20
    from services.payments import orders

    assert ledger.balances(luna.id)["earnings_pending"] == 80
    event_key = f"dev:dispute:{order.id}"
    ledger.take_back_purchase(sam.id, 100, event_key, order.id, chargeback=True)
    taken = ledger.claw_back_spending(sam.id, event_key, order.id)
    assert taken == [(luna.id, 80)]
    assert ledger.balances(luna.id)["earnings_pending"] == 0
    assert ledger.wallet_balance(sam.id) == 0 and ledger.is_frozen(sam.id)
    order.credits_charged_back = 100
    order.status = "disputed"
    db.session.commit()
    assert ledger.verify() == []
    assert ledger.claw_back_spending(sam.id, event_key, order.id) == []  # nothing short now
    assert orders  # the pipeline calls the same two functions (test_payments covers the webhook)


def test_a_claw_back_never_touches_available_earnings(ctx):
    luna, sam = creator(), fan()
    order = paid_order(sam, 100)
    tips.tip(sam, luna.id, 100)
    ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
    ledger.take_back_purchase(sam.id, 100, "dev:dispute:x", order.id, chargeback=True)
    with clock.frozen(clock.now() + dt.timedelta(days=1)):
        assert ledger.claw_back_spending(sam.id, "dev:dispute:x", order.id) == []
    assert ledger.balances(luna.id)["earnings_available"] == 80
    assert ledger.wallet_balance(sam.id) == -100  # the platform carries it; the fan is frozen


# --- over HTTP ---------------------------------------------------------------------------------


def _admin_client(app, email="root@example.com", with_two_factor=True):
    from tests.creator_helpers import signed_in

    auth, admin_id = signed_in(app, email, "Root")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        admin.role = "admin"
        db.session.commit()
        if with_two_factor:
            with_2fa(admin)
    return auth


def test_admin_pages_refuse_members_and_admins_without_2fa(app):
    from tests.creator_helpers import signed_in

    member, _ = signed_in(app, "sam@example.com", "Sam")
    for url in ("/admin", "/admin/payouts", "/admin/payouts/1"):
        assert member.client.get(url).status_code == 403
    assert member.post("/admin/payouts/1/approve").status_code == 403
    no_2fa = _admin_client(app, "new-admin@example.com", with_two_factor=False)
    response = no_2fa.client.get("/admin/payouts")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/settings/security"
    )
    assert no_2fa.post("/admin/payouts/1/approve").status_code == 403
    assert _admin_client(app).client.get("/admin/payouts").status_code == 200


def test_a_creator_requests_and_an_admin_bulk_approves_over_http(app):
    from tests.creator_helpers import signed_in

    creator_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        codes = with_2fa(luna)
        supporter = fan("Supporter", credits=1000)
        tips.tip(supporter, luna_id, 1000)
        ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
    page = creator_auth.client.get("/creator/payouts").get_data(as_text=True)
    assert 'id="payout-available">800<' in page and "Add a payout method first" in page
    bad = creator_auth.post("/creator/payouts/methods", {"kind": "stripe", "account_ref": "x"})
    assert bad.status_code == 422 and "acct_" in bad.get_data(as_text=True)
    creator_auth.post(
        "/creator/payouts/methods",
        {
            "kind": "manual",
            "holder": "Luna Rivers",
            "account": "GB29NWBK60161331926819",
            "bank_code": "NWBKGB2L",
        },
    )
    page = creator_auth.client.get("/creator/payouts").get_data(as_text=True)
    assert "••••6819" in page and "60161331926819" not in page
    with app.app_context():
        method_id = payouts.methods_of(luna_id)[0].id
    low = creator_auth.post(
        "/creator/payouts", {"credits": "100", "method_id": method_id, "code": codes[0]}
    )
    assert low.status_code == 422 and "minimum payout is 500" in low.get_data(as_text=True)
    ok = creator_auth.post(
        "/creator/payouts", {"credits": "600", "method_id": method_id, "code": codes[1]}
    )
    assert ok.status_code == 303
    payout_url = ok.headers["Location"]
    assert "Requested" in creator_auth.client.get(payout_url).get_data(as_text=True)
    admin = _admin_client(app)
    with app.app_context():
        payout_id = db.session.scalar(select(Payout.id))
    queue = admin.client.get("/admin/payouts").get_data(as_text=True)
    assert "GB29NWBK60161331926819" not in queue and f"Select payout {payout_id}" in queue
    admin.post("/admin/payouts/bulk-approve", {"payout_id": str(payout_id)})
    detail = admin.client.get(f"/admin/payouts/{payout_id}").get_data(as_text=True)
    assert "GB29NWBK60161331926819" in detail  # the admin needs it to make the transfer
    again = admin.post(f"/admin/payouts/{payout_id}/approve", follow_redirects=True)
    assert "cannot be approved" in again.get_data(as_text=True)
    admin.post(f"/admin/payouts/{payout_id}/mark-paid", {"reference": "BACS-778812"})
    assert "Paid" in creator_auth.client.get(payout_url).get_data(as_text=True)
    with app.app_context():
        assert ledger.balances(luna_id)["earnings_available"] == 200
        assert (
            db.session.scalar(
                select(func.count(PayoutEvent.id)).where(PayoutEvent.payout_id == payout_id)
            )
            == 4
        )
        assert ledger.verify() == []


def test_a_creator_cannot_see_or_touch_someone_elses_payout(app):
    from tests.creator_helpers import signed_in

    _, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    mia, _ = signed_in(app, "mia@example.com", "Mia", creator=True)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        codes = with_2fa(luna)
        tips.tip(fan("S", credits=1000), luna_id, 1000)
        ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
        lunas = payouts.request(luna, 600, method(luna).id, codes[0])
        method_id = lunas.method_id
    assert mia.client.get(f"/creator/payouts/{lunas.id}").status_code == 404
    assert mia.post(f"/creator/payouts/methods/{method_id}/remove").status_code == 404
