"""Stripe and Razorpay through their real SDKs against a local HTTP stand-in for their APIs;
webhooks signed with the providers' real schemes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time

import pytest
from sqlalchemy import select

from extensions import db
from models import Order, PaymentEvent
from services import accounts, ledger
from tests.conftest import AuthActions, make_app
from tests.provider_stub import ProviderStub, razorpay_signature, stripe_event, stripe_signature
from tests.test_payments import verified_fan, wallet_of

STRIPE_KEY = "sk_test_amora"
STRIPE_WHSEC = "whsec_test_amora"
RZP_KEY_ID = "rzp_test_amora"
RZP_SECRET = "rzp_secret_amora"
RZP_WHSEC = "rzp_webhook_amora"


@pytest.fixture
def stub():
    server = ProviderStub()
    yield server
    server.close()


@pytest.fixture
def paying_app(database_url, stub):
    from tests.conftest import _cleanup

    app = make_app(
        database_url,
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=STRIPE_WHSEC,
        STRIPE_API_BASE=stub.url,
        RAZORPAY_KEY_ID=RZP_KEY_ID,
        RAZORPAY_KEY_SECRET=RZP_SECRET,
        RAZORPAY_WEBHOOK_SECRET=RZP_WHSEC,
        RAZORPAY_API_BASE=stub.url,
    )
    yield app
    _cleanup(app)


def _order(app, order_id: int) -> Order:
    with app.app_context():
        order = db.session.get(Order, order_id)
        db.session.expunge(order)
        return order


def _only_order(app) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        db.session.expunge(order)
        return order


# --- Stripe ----------------------------------------------------------------------------------


def test_wallet_offers_each_configured_provider_in_its_currency(paying_app):
    auth = verified_fan(paying_app, paying_app.test_client())
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert "$11.99 · Card (Stripe)" in page
    assert "₹999.00 · UPI, cards, netbanking (Razorpay)" in page


def test_stripe_checkout_session_is_created_with_what_we_sell(paying_app, stub):
    auth = verified_fan(paying_app, paying_app.test_client())
    response = auth.post("/wallet/orders", {"pack_id": "pack-500", "provider": "stripe"})
    order = _only_order(paying_app)
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://checkout.stripe.com/c/pay/cs_test_{order.id}"
    sent = stub.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    assert sent.headers["Idempotency-Key"] == f"amora-order-{order.id}"
    assert sent.form["mode"] == "payment"
    assert sent.form["client_reference_id"] == str(order.id)
    assert sent.form["line_items[0][price_data][unit_amount]"] == "5499"
    assert sent.form["line_items[0][price_data][currency]"] == "usd"
    assert sent.form["metadata[order_id]"] == str(order.id)
    assert sent.form["metadata[credits]"] == "500"
    assert sent.form["customer_email"] == "ana@example.com"
    assert sent.form["success_url"].endswith(f"/wallet/orders/{order.id}")
    assert order.provider_order_id == f"cs_test_{order.id}" and order.status == "pending"


def test_stripe_being_down_fails_the_order_with_a_clear_message(paying_app, stub):
    stub.fail_next = 10  # more than the SDK's retries
    auth = verified_fan(paying_app, paying_app.test_client())
    response = auth.post(
        "/wallet/orders",
        {"pack_id": "pack-100", "provider": "stripe"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 502 and b"Stripe could not start the payment" in response.data
    assert _only_order(paying_app).status == "failed"


def _stripe_post(
    client, event_type: str, obj: dict, event_id: str, secret=STRIPE_WHSEC, timestamp=None
):
    body = stripe_event(event_type, obj, event_id)
    return client.post(
        "/webhooks/stripe",
        data=body,
        headers={
            "Stripe-Signature": stripe_signature(body, secret, timestamp),
            "Content-Type": "application/json",
        },
    )


def _stripe_paid_order(app) -> tuple[AuthActions, Order]:
    auth = verified_fan(app, app.test_client())
    auth.post("/wallet/orders", {"pack_id": "pack-100", "provider": "stripe"})
    order = _only_order(app)
    session = {
        "id": order.provider_order_id,
        "object": "checkout.session",
        "client_reference_id": str(order.id),
        "payment_status": "paid",
        "payment_intent": "pi_123",
        "amount_total": 1199,
        "currency": "usd",
    }
    response = _stripe_post(app.test_client(), "checkout.session.completed", session, "evt_paid")
    assert response.json == {"ok": True, "outcome": "granted"}
    return auth, order


def test_stripe_checkout_completed_grants_once(paying_app):
    auth, order = _stripe_paid_order(paying_app)
    assert wallet_of(paying_app) == 100
    session = {
        "id": order.provider_order_id,
        "client_reference_id": str(order.id),
        "payment_status": "paid",
        "payment_intent": "pi_123",
        "amount_total": 1199,
        "currency": "usd",
    }
    again = _stripe_post(
        paying_app.test_client(), "checkout.session.async_payment_succeeded", session, "evt_async"
    )
    assert again.json["outcome"] == "already_paid"
    assert wallet_of(paying_app) == 100
    assert _order(paying_app, order.id).provider_payment_id == "pi_123"


def test_stripe_unpaid_completion_waits_and_async_failure_fails(paying_app):
    auth = verified_fan(paying_app, paying_app.test_client())
    auth.post("/wallet/orders", {"pack_id": "pack-100", "provider": "stripe"})
    order = _only_order(paying_app)
    session = {
        "id": order.provider_order_id,
        "client_reference_id": str(order.id),
        "payment_status": "unpaid",
        "amount_total": 1199,
        "currency": "usd",
    }
    client = paying_app.test_client()
    assert _stripe_post(client, "checkout.session.completed", session, "e1").json["outcome"] == (
        "ignored"
    )
    assert (
        _stripe_post(client, "checkout.session.async_payment_failed", session, "e2").json["outcome"]
        == "failed"
    )
    assert _order(paying_app, order.id).status == "failed" and wallet_of(paying_app) == 0


def test_stripe_refund_and_dispute(paying_app):
    auth, order = _stripe_paid_order(paying_app)
    client = paying_app.test_client()
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "amount": 1199,
        "amount_refunded": 1199,
        "currency": "usd",
    }
    assert _stripe_post(client, "charge.refunded", charge, "evt_r").json["outcome"] == "refunded"
    assert wallet_of(paying_app) == 0
    assert _order(paying_app, order.id).status == "refunded"
    with paying_app.app_context():
        assert ledger.verify() == []


def test_stripe_dispute_claws_back(paying_app):
    _stripe_paid_order(paying_app)
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_1",
        "payment_intent": "pi_123",
        "amount": 1199,
        "reason": "fraudulent",
    }
    response = _stripe_post(paying_app.test_client(), "charge.dispute.created", dispute, "evt_d")
    assert response.json["outcome"] == "charged_back"
    with paying_app.app_context():
        fan = accounts.find_by_email("ana@example.com")
        assert ledger.is_frozen(fan.id) and ledger.verify() == []


@pytest.mark.parametrize("how", ["wrong secret", "old timestamp", "tampered body"])
def test_stripe_webhooks_with_bad_signatures_are_refused(paying_app, how):
    auth = verified_fan(paying_app, paying_app.test_client())
    auth.post("/wallet/orders", {"pack_id": "pack-100", "provider": "stripe"})
    order = _only_order(paying_app)
    session = {
        "id": order.provider_order_id,
        "client_reference_id": str(order.id),
        "payment_status": "paid",
        "payment_intent": "pi_9",
        "amount_total": 1199,
        "currency": "usd",
    }
    body = stripe_event("checkout.session.completed", session, "evt_x")
    secret, timestamp = STRIPE_WHSEC, None
    if how == "wrong secret":
        secret = "whsec_attacker"
    if how == "old timestamp":
        timestamp = int(time.time()) - 3600
    signature = stripe_signature(body, secret, timestamp)
    if how == "tampered body":
        body = body.replace(b"1199", b"9999")
    response = paying_app.test_client().post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": signature}
    )
    assert response.status_code == 400 and wallet_of(paying_app) == 0


# --- Razorpay --------------------------------------------------------------------------------


def _razorpay_order(app, stub) -> tuple[AuthActions, Order]:
    auth = verified_fan(app, app.test_client())
    response = auth.post("/wallet/orders", {"pack_id": "pack-1000", "provider": "razorpay"})
    order = _only_order(app)
    assert response.headers["Location"] == f"/wallet/orders/{order.id}/checkout"
    return auth, order


def test_razorpay_order_is_created_with_what_we_sell(paying_app, stub):
    auth, order = _razorpay_order(paying_app, stub)
    sent = stub.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/orders")
    assert sent.json == {
        "amount": 849900,
        "currency": "INR",
        "receipt": f"order-{order.id}",
        "notes": {"order_id": str(order.id), "user_id": str(order.user_id)},
    }
    assert sent.headers["Authorization"].startswith("Basic ")
    page = auth.client.get(f"/wallet/orders/{order.id}/checkout")
    html = page.get_data(as_text=True)
    assert f'data-order="order_rzp_{order.id}"' in html and f'data-key="{RZP_KEY_ID}"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "https://checkout.razorpay.com" in csp and "frame-src https://api.razorpay.com" in csp
    assert "razorpay" not in auth.client.get("/wallet").headers["Content-Security-Policy"]


def test_razorpay_return_with_a_valid_signature_grants_once(paying_app, stub):
    auth, order = _razorpay_order(paying_app, stub)
    stub.payments["pay_R1"] = {
        "id": "pay_R1",
        "entity": "payment",
        "status": "captured",
        "order_id": order.provider_order_id,
        "amount": 849900,
        "currency": "INR",
    }
    signature = razorpay_signature(f"{order.provider_order_id}|pay_R1", RZP_SECRET)
    response = auth.post(
        f"/wallet/orders/{order.id}/razorpay",
        {"razorpay_payment_id": "pay_R1", "razorpay_signature": signature},
    )
    assert response.status_code == 303 and wallet_of(paying_app) == 1000
    assert stub.requests[-1].path == "/v1/payments/pay_R1"
    # The webhook for the same payment arrives afterwards: nothing more.
    body = json.dumps(
        {
            "event": "payment.captured",
            "payload": {
                "payment": {
                    "entity": {
                        "id": "pay_R1",
                        "order_id": order.provider_order_id,
                        "amount": 849900,
                        "currency": "INR",
                        "notes": {"order_id": str(order.id)},
                    }
                }
            },
        }
    ).encode()
    hook = paying_app.test_client().post(
        "/webhooks/razorpay",
        data=body,
        headers={
            "X-Razorpay-Signature": razorpay_signature(body, RZP_WHSEC),
            "X-Razorpay-Event-Id": "evt_rzp_1",
        },
    )
    assert hook.json["outcome"] == "already_paid" and wallet_of(paying_app) == 1000


def test_razorpay_return_with_a_forged_signature_is_refused(paying_app, stub):
    auth, order = _razorpay_order(paying_app, stub)
    stub.payments["pay_R1"] = {
        "id": "pay_R1",
        "status": "captured",
        "amount": 849900,
        "order_id": order.provider_order_id,
        "currency": "INR",
    }
    response = auth.post(
        f"/wallet/orders/{order.id}/razorpay",
        {"razorpay_payment_id": "pay_R1", "razorpay_signature": "f" * 64},
    )
    assert response.status_code == 400 and wallet_of(paying_app) == 0


def _razorpay_post(client, event: str, payload: dict, event_id: str, secret=RZP_WHSEC):
    body = json.dumps({"entity": "event", "event": event, "payload": payload}).encode()
    return client.post(
        "/webhooks/razorpay",
        data=body,
        headers={
            "X-Razorpay-Signature": razorpay_signature(body, secret),
            "X-Razorpay-Event-Id": event_id,
            "Content-Type": "application/json",
        },
    )


def _razorpay_payment(order: Order, payment_id: str) -> dict:
    """The payment entity Razorpay sends for `order`, paid in full."""
    return {
        "id": payment_id,
        "order_id": order.provider_order_id,
        "amount": 849900,
        "currency": "INR",
        "notes": {"order_id": str(order.id)},
    }


def test_razorpay_webhooks_pay_refund_and_dispute(paying_app, stub):
    auth, order = _razorpay_order(paying_app, stub)
    client = paying_app.test_client()

    def post(event: str, payload: dict, event_id: str, secret=RZP_WHSEC):
        return _razorpay_post(client, event, payload, event_id, secret)

    payment = _razorpay_payment(order, "pay_R2")
    assert (
        post("payment.captured", {"payment": {"entity": payment}}, "e1", secret="wrong").status_code
        == 400
    )
    assert post("payment.captured", {"payment": {"entity": payment}}, "e1").json["outcome"] == (
        "granted"
    )
    assert post("payment.captured", {"payment": {"entity": payment}}, "e1").json["outcome"] == (
        "duplicate"
    )
    assert (
        post(
            "order.paid",
            {"payment": {"entity": payment}, "order": {"entity": {"id": order.provider_order_id}}},
            "e2",
        ).json["outcome"]
        == "already_paid"
    )
    assert wallet_of(paying_app) == 1000
    refund = {"id": "rfnd_1", "payment_id": "pay_R2", "amount": 424950, "currency": "INR"}
    assert (
        post(
            "refund.processed",
            {
                "refund": {"entity": refund},
                "payment": {"entity": {**payment, "amount_refunded": 424950}},
            },
            "e3",
        ).json["outcome"]
        == "refunded"
    )
    assert wallet_of(paying_app) == 500
    dispute = {"id": "disp_1", "payment_id": "pay_R2", "amount": 849900, "reason_code": "fraud"}
    assert (
        post(
            "payment.dispute.created",
            {"dispute": {"entity": dispute}, "payment": {"entity": payment}},
            "e4",
        ).json["outcome"]
        == "charged_back"
    )
    assert wallet_of(paying_app) == 0
    with paying_app.app_context():
        order_now = db.session.get(Order, order.id)
        assert (order_now.credits_refunded, order_now.credits_charged_back) == (500, 500)
        assert ledger.verify() == []


def test_providers_without_keys_are_hidden(app):
    auth = verified_fan(app, app.test_client())
    page = auth.client.get("/wallet").get_data(as_text=True)
    assert "Stripe" not in page and "Razorpay" not in page
    assert app.test_client().post("/webhooks/stripe", data=b"{}").status_code == 404
    assert app.test_client().post("/webhooks/razorpay", data=b"{}").status_code == 404


# --- events out of order ------------------------------------------------------------------------
# Providers do not order their events: a refund or a dispute may arrive before the payment it
# reverses. It is kept and applied when the payment lands, so the fan never keeps refunded
# credits; replays and any order of arrival give the same wallet.


def _stripe_order(app) -> Order:
    auth = verified_fan(app, app.test_client())
    auth.post("/wallet/orders", {"pack_id": "pack-100", "provider": "stripe"})
    return _only_order(app)


def _stripe_events(order: Order) -> dict[str, tuple[str, dict]]:
    session = {
        "id": order.provider_order_id,
        "object": "checkout.session",
        "client_reference_id": str(order.id),
        "payment_status": "paid",
        "payment_intent": "pi_early",
        "amount_total": 1199,
        "currency": "usd",
    }
    refund = {
        "id": "ch_early",
        "object": "charge",
        "payment_intent": "pi_early",
        "amount": 1199,
        "amount_refunded": 1199,
        "currency": "usd",
    }
    dispute = {
        "id": "dp_early",
        "object": "dispute",
        "payment_intent": "pi_early",
        "amount": 1199,
        "reason": "fraudulent",
    }
    return {
        "paid": ("checkout.session.completed", session),
        "refund": ("charge.refunded", refund),
        "dispute": ("charge.dispute.created", dispute),
    }


def _fan_state(app) -> tuple[int, bool]:
    with app.app_context():
        fan = accounts.find_by_email("ana@example.com")
        return wallet_of(app), ledger.is_frozen(fan.id)


def test_stripe_refund_before_the_payment_is_kept_and_applied_when_it_lands(paying_app):
    order = _stripe_order(paying_app)
    events = _stripe_events(order)
    client = paying_app.test_client()
    early = _stripe_post(client, *events["refund"], "evt_refund")
    assert early.status_code == 200 and early.json["outcome"] == "waiting_for_payment"
    assert _stripe_post(client, *events["refund"], "evt_refund").json["outcome"] == "duplicate"
    assert _stripe_post(client, *events["paid"], "evt_paid").json["outcome"] == "granted"
    assert _fan_state(paying_app) == (0, False)
    with paying_app.app_context():
        now = db.session.get(Order, order.id)
        assert now.status == "refunded" and now.credits_refunded == 100
        outcomes = db.session.scalars(select(PaymentEvent.outcome).order_by(PaymentEvent.id))
        assert list(outcomes) == ["refunded", "granted"]
        assert ledger.verify() == []


def test_stripe_dispute_before_the_payment_claws_back_and_freezes_when_it_lands(paying_app):
    order = _stripe_order(paying_app)
    events = _stripe_events(order)
    client = paying_app.test_client()
    assert _stripe_post(client, *events["dispute"], "evt_d").json["outcome"] == (
        "waiting_for_payment"
    )
    assert _fan_state(paying_app) == (0, False)
    assert _stripe_post(client, *events["paid"], "evt_paid").json["outcome"] == "granted"
    assert _fan_state(paying_app) == (0, True)
    with paying_app.app_context():
        assert db.session.get(Order, order.id).status == "disputed"
        assert ledger.verify() == []


@pytest.mark.parametrize("order_of_arrival", list(itertools.permutations(["paid", "refund"])))
def test_stripe_any_order_of_arrival_ends_with_the_same_wallet(paying_app, order_of_arrival):
    order = _stripe_order(paying_app)
    events = _stripe_events(order)
    client = paying_app.test_client()
    for name in [*order_of_arrival, *order_of_arrival]:  # and every event delivered twice
        assert _stripe_post(client, *events[name], f"evt_{name}").status_code == 200
    assert _fan_state(paying_app) == (0, False)
    with paying_app.app_context():
        assert ledger.verify() == []


def test_razorpay_refund_and_dispute_before_the_payment(paying_app, stub):
    _, order = _razorpay_order(paying_app, stub)
    client = paying_app.test_client()

    def post(event: str, payload: dict, event_id: str):
        return _razorpay_post(client, event, payload, event_id)

    payment = _razorpay_payment(order, "pay_early")
    refund = {"id": "rfnd_e", "payment_id": "pay_early", "amount": 424950, "currency": "INR"}
    half = {
        "refund": {"entity": refund},
        "payment": {"entity": {**payment, "amount_refunded": 424950}},
    }
    dispute = {"id": "disp_e", "payment_id": "pay_early", "amount": 849900, "reason_code": "fraud"}
    assert post("refund.processed", half, "e1").json["outcome"] == "waiting_for_payment"
    assert (
        post(
            "payment.dispute.created",
            {"dispute": {"entity": dispute}, "payment": {"entity": payment}},
            "e2",
        ).json["outcome"]
        == "waiting_for_payment"
    )
    assert post("payment.captured", {"payment": {"entity": payment}}, "e3").json["outcome"] == (
        "granted"
    )
    assert _fan_state(paying_app) == (0, True)
    with paying_app.app_context():
        now = db.session.get(Order, order.id)
        assert (now.credits_refunded, now.credits_charged_back) == (500, 500)
        assert now.status == "disputed"
        assert ledger.verify() == []


def test_a_refund_waiting_a_day_for_its_payment_alerts_an_admin_once(paying_app):
    from core import clock
    from models import Alert
    from services.payments import orders

    order = _stripe_order(paying_app)
    events = _stripe_events(order)
    client = paying_app.test_client()
    start = dt.datetime(2026, 3, 1, 12, 0)
    with clock.frozen(start):
        _stripe_post(client, *events["refund"], "evt_refund")
    with paying_app.app_context():
        with clock.frozen(start + dt.timedelta(hours=2)):
            assert orders.flag_long_waiting() == 0  # a payment a little late is normal
        with clock.frozen(start + dt.timedelta(hours=25)):
            assert orders.flag_long_waiting() == 1
            assert orders.flag_long_waiting() == 0  # once
        alert = db.session.scalars(
            select(Alert).where(Alert.kind == "payment_reversal_waiting")
        ).one()
        assert "charge.refunded" in alert.summary and alert.detail["payment_id"] == "pi_early"
    # The payment lands after all: the refund still applies.
    assert _stripe_post(client, *events["paid"], "evt_paid").json["outcome"] == "granted"
    assert _fan_state(paying_app) == (0, False)
