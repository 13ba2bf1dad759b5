"""Buying credits (docs/payments.md): orders, the dev provider, and the webhook pipeline's rules."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Alert, Order, PaymentEvent, User
from services import accounts, ledger
from services.payments.dev import SIGNATURE_HEADER, DevProvider, sign
from testkit.ledger import paid_order
from tests.conftest import AuthActions, make_app

HTMX = {"HX-Request": "true"}


def verified_fan(app, client, email="ana@example.com") -> AuthActions:
    auth = AuthActions(client)
    auth.signup(email=email)
    with app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        db.session.commit()
    return auth


def buy(auth: AuthActions, pack="pack-100", provider="dev"):
    return auth.post("/wallet/orders", {"pack_id": pack, "provider": provider})


def order_id_from(response) -> int:
    return int(response.headers["Location"].split("/orders/")[1].split("/")[0])


def dev_webhook(app, order_id: int, outcome: str, **extra) -> tuple[bytes, dict]:
    with app.test_request_context():
        order = db.session.get(Order, order_id)
        body = DevProvider().event_body(order, outcome, **extra)
        return body, {SIGNATURE_HEADER: sign(body), "Content-Type": "application/json"}


def wallet_of(app, email="ana@example.com") -> int:
    with app.app_context():
        return ledger.wallet_balance(accounts.find_by_email(email).id)


def clean_ledger(app) -> None:
    with app.app_context():
        assert ledger.verify() == []


def test_wallet_shows_the_dev_packs_when_no_provider_keys_are_set(app, client):
    auth = verified_fan(app, client)
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert "Test payment (dev)" in page and "Stripe" not in page and "Razorpay" not in page
    assert "$11.99" in page and "0 <small>credits</small>" in page


def test_the_wallet_page_says_when_the_wallet_is_frozen_and_when_it_is_not(app, client):
    """The balances and the freeze come from one read (ledger.balances_and_frozen)."""
    auth = verified_fan(app, client)
    with app.app_context():
        ana = accounts.find_by_email("ana@example.com")
        paid_order(ana, 100)
        ledger.freeze(ana.id, "dispute")
        db.session.commit()
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert "Your wallet is frozen" in page and "100 <small>credits</small>" in page
    with app.app_context():
        ledger.unfreeze(accounts.find_by_email("ana@example.com").id)
        db.session.commit()
    assert "Your wallet is frozen" not in auth.client.get("/wallet").get_data(as_text=True)


def test_buying_with_the_dev_checkout_grants_credits_once(app, client):
    auth = verified_fan(app, client)
    started = buy(auth)
    assert started.status_code == 303 and started.headers["Location"].endswith("/dev")
    order_id = order_id_from(started)
    assert b"Waiting for the payment" in client.get(f"/wallet/orders/{order_id}").data
    paid = auth.post(f"/wallet/orders/{order_id}/dev", {"outcome": "pay"})
    assert paid.status_code == 303
    status = client.get(f"/wallet/orders/{order_id}/status").get_data(as_text=True)
    assert "Paid." in status and "100 credits" in status and "hx-trigger" not in status
    assert wallet_of(app) == 100
    again = auth.post(f"/wallet/orders/{order_id}/dev", {"outcome": "pay"})
    assert again.status_code == 400 and b"already settled" in again.data
    assert wallet_of(app) == 100
    clean_ledger(app)


def test_declining_fails_the_order_and_grants_nothing(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    auth.post(f"/wallet/orders/{order_id}/dev", {"outcome": "decline"})
    status = client.get(f"/wallet/orders/{order_id}/status").get_data(as_text=True)
    assert "Payment failed." in status and wallet_of(app) == 0


def test_an_unverified_fan_cannot_buy(app, client):
    auth = AuthActions(client)
    auth.signup()
    response = buy(auth)
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize(
    ("pack", "provider", "message"),
    [
        ("pack-7", "dev", b"pack does not exist"),
        ("pack-100", "paypal", b"not available"),
        ("pack-100", "stripe", b"not available"),  # no keys here: hidden, not broken
    ],
)
def test_bad_order_requests_are_clear_errors(app, client, pack, provider, message):
    auth = verified_fan(app, client)
    response = auth.post("/wallet/orders", {"pack_id": pack, "provider": provider}, headers=HTMX)
    assert response.status_code == 400 and message in response.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_someone_elses_order_is_not_found(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    other = verified_fan(app, app.test_client(), "bob@example.com")
    assert other.client.get(f"/wallet/orders/{order_id}").status_code == 404
    assert other.client.get(f"/wallet/orders/{order_id}/status").status_code == 404
    assert other.post(f"/wallet/orders/{order_id}/dev", {"outcome": "pay"}).status_code == 404
    assert wallet_of(app) == 0


def test_a_replayed_webhook_grants_once(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    body, headers = dev_webhook(app, order_id, "succeeded")
    first = client.post("/webhooks/dev", data=body, headers=headers)
    second = client.post("/webhooks/dev", data=body, headers=headers)
    assert first.json == {"ok": True, "outcome": "granted"}
    assert second.json == {"ok": True, "outcome": "duplicate"}
    # A different event about the same payment (a provider's retry with a new id): still once.
    body2, headers2 = dev_webhook(app, order_id, "succeeded")
    assert client.post("/webhooks/dev", data=body2, headers=headers2).json["outcome"] == (
        "already_paid"
    )
    assert wallet_of(app) == 100
    clean_ledger(app)


def test_a_forged_webhook_is_refused_and_logged(app, client, caplog):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    body, _ = dev_webhook(app, order_id, "succeeded")
    response = client.post("/webhooks/dev", data=body, headers={SIGNATURE_HEADER: "0" * 64})
    assert response.status_code == 400 and response.json["error"] == "Bad signature."
    assert wallet_of(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 0


def test_an_amount_mismatch_grants_nothing_and_alerts_admins(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    body, headers = dev_webhook(app, order_id, "succeeded", amount_minor=1)
    assert client.post("/webhooks/dev", data=body, headers=headers).json["outcome"] == (
        "amount_mismatch"
    )
    body, headers = dev_webhook(app, order_id, "succeeded", currency="INR")
    assert client.post("/webhooks/dev", data=body, headers=headers).json["outcome"] == (
        "amount_mismatch"
    )
    assert wallet_of(app) == 0
    with app.app_context():
        alerts = db.session.scalars(select(Alert)).all()
        assert {a.kind for a in alerts} == {"payment_amount_mismatch"} and len(alerts) == 2
        assert db.session.get(Order, order_id).status == "pending"


def test_unknown_events_are_acknowledged_and_ignored(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    body, headers = dev_webhook(app, order_id, "weird_new_thing")
    response = client.post("/webhooks/dev", data=body, headers=headers)
    assert response.status_code == 200 and response.json["outcome"] == "ignored"


def _paid_order(app, client) -> tuple[AuthActions, int]:
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    auth.post(f"/wallet/orders/{order_id}/dev", {"outcome": "pay"})
    assert wallet_of(app) == 100
    return auth, order_id


def test_a_refund_takes_the_credits_back(app, client):
    auth, order_id = _paid_order(app, client)
    with app.app_context():
        amount = db.session.get(Order, order_id).amount_minor
    body, headers = dev_webhook(
        app, order_id, "refunded", refunded_minor=amount // 2, refund_id="rf_1"
    )
    assert client.post("/webhooks/dev", data=body, headers=headers).json["outcome"] == "refunded"
    # Credits follow the share refunded, rounded down in the fan's favour: 599/1199 → 49.
    assert wallet_of(app) == 100 - (100 * (amount // 2)) // amount == 51
    body, headers = dev_webhook(app, order_id, "refunded", refunded_minor=amount, refund_id="rf_2")
    client.post("/webhooks/dev", data=body, headers=headers)
    assert wallet_of(app) == 0
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "refunded" and order.credits_refunded == 100
    clean_ledger(app)


def test_a_refund_after_spending_takes_what_is_left_and_alerts(app, client):
    auth, order_id = _paid_order(app, client)
    with app.app_context():
        fan = accounts.find_by_email("ana@example.com")
        creator = User(
            email="c@example.com",
            password_hash="x",
            display_name="C",
            date_of_birth=fan.date_of_birth,
            is_creator=True,
        )
        db.session.add(creator)
        db.session.commit()
        ledger.spend(fan.id, creator.id, 70, "tip", "tip:before-refund")
        db.session.commit()
        amount = db.session.get(Order, order_id).amount_minor
    body, headers = dev_webhook(app, order_id, "refunded", refunded_minor=amount)
    client.post("/webhooks/dev", data=body, headers=headers)
    assert wallet_of(app) == 0
    with app.app_context():
        alert = db.session.scalars(select(Alert)).one()
        assert alert.kind == "refund_shortfall" and alert.detail["credits_short"] == 70
    clean_ledger(app)


def test_a_chargeback_claws_back_freezes_and_blocks_purchases(app, client):
    auth, order_id = _paid_order(app, client)
    body, headers = dev_webhook(app, order_id, "disputed", dispute_id="dp_1")
    assert client.post("/webhooks/dev", data=body, headers=headers).json["outcome"] == (
        "charged_back"
    )
    client.post("/webhooks/dev", data=body, headers=headers)  # delivered twice
    assert wallet_of(app) == 0
    with app.app_context():
        assert ledger.is_frozen(accounts.find_by_email("ana@example.com").id)
        alert = db.session.scalars(select(Alert)).one()
        assert alert.kind == "chargeback" and alert.severity == "high"
    blocked = buy(auth)
    assert blocked.status_code == 303  # back to the wallet with the reason
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert "blocked while a payment dispute" in page and "frozen" in page
    clean_ledger(app)


def test_a_chargeback_after_spending_takes_the_credits_back_from_the_creator(app, client):
    auth, order_id = _paid_order(app, client)
    with app.app_context():
        from models import Notification
        from services import tips
        from tests.creator_helpers import creator

        fan = accounts.find_by_email("ana@example.com")
        luna = creator("Luna")
        luna_id, spent = luna.id, ledger.wallet_balance(fan.id)
        tips.tip(fan, luna.id, spent)  # the fan spends every credit, then disputes the payment
        pending = ledger.balances(luna_id)["earnings_pending"]
    body, headers = dev_webhook(app, order_id, "disputed", dispute_id="dp_2")
    assert client.post("/webhooks/dev", data=body, headers=headers).json["outcome"] == (
        "charged_back"
    )
    client.post("/webhooks/dev", data=body, headers=headers)  # delivered twice: taken once
    with app.app_context():
        assert ledger.balances(luna_id)["earnings_pending"] == 0 < pending
        assert wallet_of(app) == 0  # the shortfall came back from the creator
        note = db.session.scalars(select(Notification).where(Notification.user_id == luna_id))
        assert any("disputed" in n.text for n in note)
        alert = db.session.scalars(select(Alert)).one()
        assert alert.detail["clawed_back_from_creators"] == [[luna_id, pending]]
    clean_ledger(app)


def test_the_dev_provider_is_refused_in_production(database_url):
    app = make_app(database_url, APP_ENV="production", DEV_PAYMENTS=True)
    client = app.test_client()
    assert client.post("/webhooks/dev", data=b"{}").status_code == 404
    from services.payments import providers

    with app.app_context():
        assert [p.name for p in providers()] == []
        db.engine.dispose()


def test_history_pages_with_htmx(app, client):
    auth, _ = _paid_order(app, client)
    with app.app_context():
        fan = accounts.find_by_email("ana@example.com")
        creator = User(
            email="c@example.com",
            password_hash="x",
            display_name="Luna",
            date_of_birth=fan.date_of_birth,
            is_creator=True,
        )
        db.session.add(creator)
        db.session.commit()
        for i in range(25):
            ledger.spend(fan.id, creator.id, 1, "message", f"msg:{i}")
        db.session.commit()
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert page.count("<td>Message</td>") == 20 and "Load more" in page
    before = int(page.split("before=")[1].split('"')[0])
    more = auth.client.get(f"/wallet/history?before={before}", headers=HTMX)
    html = more.get_data(as_text=True)
    assert html.count("<td>Message</td>") == 5 and "Bought credits" in html
    assert "Load more" not in html and "<html" not in html
    assert ">100</td>" in html  # running balance after the purchase
    assert auth.client.get("/wallet/history?before=-3").status_code == 400


@pytest.mark.postgres
def test_the_same_webhook_50_times_at_once_grants_once(pg_app):
    client = pg_app.test_client()
    auth = verified_fan(pg_app, client)
    order_id = order_id_from(buy(auth))
    body, headers = dev_webhook(pg_app, order_id, "succeeded")
    outcomes: list = []
    barrier = threading.Barrier(50)

    def deliver():
        barrier.wait()
        response = pg_app.test_client().post("/webhooks/dev", data=body, headers=headers)
        outcomes.append((response.status_code, response.json["outcome"]))

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(code == 200 for code, _ in outcomes)
    assert [o for _, o in outcomes].count("granted") == 1
    assert wallet_of(pg_app) == 100
    clean_ledger(pg_app)


def test_ledger_cli(app, runner):
    from services.demo import DEMO_DOMAIN

    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    verified = runner.invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0 and "Ledger OK" in verified.output
    email = f"fan3@{DEMO_DOMAIN}"
    before = wallet_of(app, email)
    assert before > 0  # the demo fans have bought credits and tipped creators
    added = runner.invoke(args=["ledger", "adjust", email, "250", "--reason", "outage goodwill"])
    assert added.exit_code == 0, added.output
    too_much = before + 251
    refused = runner.invoke(args=["ledger", "adjust", email, f"-{too_much}", "--reason", "oops"])
    assert refused.exit_code != 0
    assert f"You need {too_much} credits but have {before + 250}" in refused.output
    no_reason = runner.invoke(args=["ledger", "adjust", email, "5", "--reason", " "])
    assert no_reason.exit_code != 0
    balance = runner.invoke(args=["ledger", "balance", email])
    assert f"wallet {before + 250:>12,}".replace(" ", "") in balance.output.replace(" ", "")
    with app.app_context():
        from models import AuditLog

        row = db.session.scalars(select(AuditLog)).one()
        assert row.action == "ledger.adjust" and row.note == "outage goodwill"
        assert row.detail["amount"] == 250
    assert runner.invoke(args=["ledger", "verify"]).exit_code == 0


def test_ledger_verify_exits_1_on_a_violation(app, runner):
    from testkit.ledger import paid_order
    from testkit.people import person

    with app.app_context():
        fan = person()
        paid_order(fan, 100)
        ledger.user_account(fan.id).balance = 99
        db.session.commit()
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "cached 99, entries sum to 100" in result.output


def test_support_can_unfreeze_a_charged_back_wallet(app, client, runner):
    auth, order_id = _paid_order(app, client)
    body, headers = dev_webhook(app, order_id, "disputed", dispute_id="dp_9")
    client.post("/webhooks/dev", data=body, headers=headers)
    not_yet = runner.invoke(args=["ledger", "unfreeze", "ana@example.com", "--reason", " "])
    assert not_yet.exit_code != 0
    done = runner.invoke(args=["ledger", "unfreeze", "ana@example.com", "--reason", "won"])
    assert done.exit_code == 0, done.output
    again = runner.invoke(args=["ledger", "unfreeze", "ana@example.com", "--reason", "x"])
    assert again.exit_code != 0 and "not frozen" in again.output
    assert buy(auth).headers["Location"].endswith("/dev")  # can buy again
