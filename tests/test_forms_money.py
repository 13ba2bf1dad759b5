"""Junk in the money forms (blueprints/forms/money.py): buying credits, the test and Razorpay
checkouts, the wallet's query string, payout methods and payout requests. Every bad value is a
4xx whose message is on the page (on its field where the page has one), never a 500; nothing
moves in the ledger."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from core import clock
from extensions import db
from models import Order, Payout, PayoutMethod, User
from services import ledger, payouts, tips
from tests.conftest import csrf_token
from tests.creator_helpers import fan, signed_in
from tests.test_payments import HTMX, buy, order_id_from, verified_fan
from tests.test_payouts import method, with_2fa

# Typed where a whole number belongs: none is one.
NOT_WHOLE = ["abc", "1.5", "1e3", "NaN", "-", "1_000", "١٢٣", "0x10", "12 34", "1" * 1001]


def post(client, url: str, fields, **kwargs):
    """A form post with the CSRF token; `fields` may repeat a key (a list of pairs)."""
    pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
    data = MultiDict([("csrf_token", csrf_token(client)), *pairs])
    return client.post(url, data=data, **kwargs)


def error_on(page: str, field_id: str) -> str | None:
    """The message the `field` macro shows under the field `field_id`, or None."""
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    return found.group(1) if found else None


def orders_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


# --- the wallet ---------------------------------------------------------------------------------


def test_a_pack_button_with_junk_is_a_clear_refusal(app, client):
    auth = verified_fan(app, client)
    for fields in (
        {},
        {"pack_id": "pack-100"},
        {"provider": "dev"},
        {"pack_id": "", "provider": "dev"},
        {"pack_id": "pack-100", "provider": "x" * 5000},
        {"pack_id": "ünï\u202ecødé", "provider": "dev"},
    ):
        answer = post(client, "/wallet/orders", fields, headers=HTMX)
        assert answer.status_code == 400, fields
        text = answer.get_data(as_text=True)
        assert "pack does not exist" in text or "payment method is not available" in text, fields
        plain = post(client, "/wallet/orders", fields, follow_redirects=True)
        assert plain.status_code == 200, fields
        assert any(m in plain.get_data(as_text=True) for m in ("not exist", "not available"))
    assert orders_count(app) == 0
    # A repeated key: the first value counts, once.
    twice = post(
        client,
        "/wallet/orders",
        [("pack_id", "pack-100"), ("pack_id", "pack-7"), ("provider", "dev")],
    )
    assert twice.status_code == 303 and orders_count(app) == 1
    assert auth.client.get("/wallet").status_code == 200


def test_the_test_checkout_refuses_anything_but_pay_or_decline(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    url = f"/wallet/orders/{order_id}/dev"
    for fields in ({}, {"outcome": "maybe"}, {"outcome": ""}, {"outcome": "PAY"}):
        answer = post(client, url, fields)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, fields
        assert error_on(page, "outcome") == "Choose Pay or Decline.", fields
        assert 'name="outcome" value="pay"' in page  # the page, with its buttons, again
    other = verified_fan(app, app.test_client(), "bob@example.com")
    assert post(other.client, url, {"outcome": "maybe"}).status_code == 404
    with app.app_context():
        assert db.session.get(Order, order_id).status == "pending"
    assert post(client, url, {"outcome": "pay"}).status_code == 303


def test_a_razorpay_return_without_its_fields_is_refused(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    url = f"/wallet/orders/{order_id}/razorpay"
    for fields in (
        {},
        {"razorpay_payment_id": "pay_1"},
        {"razorpay_payment_id": "pay_1", "razorpay_signature": "f" * 5000},
    ):
        answer = post(client, url, fields)
        assert answer.status_code == 400, fields
        assert "Razorpay did not send the payment back" in answer.get_data(as_text=True)
    other = verified_fan(app, app.test_client(), "bob@example.com")
    assert post(other.client, url, {}).status_code == 404


def test_the_wallets_query_string_is_checked(app, client):
    auth = verified_fan(app, client)
    order_id = order_id_from(buy(auth))
    for before in ("abc", "0", "-1", "1.5", "2147483648", "9" * 30):
        answer = client.get("/wallet/history", query_string={"before": before})
        assert answer.status_code == 400, before
        assert "`before` must be a whole number from 1 to 2147483647" in answer.get_data(
            as_text=True
        )
    assert client.get("/wallet/history?before=5").status_code == 200
    assert client.get("/wallet/history?before=").status_code == 200
    for cancelled, shown in (("1", True), ("0", False), ("", False), ("x" * 300, True)):
        page = client.get(f"/wallet/orders/{order_id}", query_string={"cancelled": cancelled})
        assert page.status_code == 200
        assert ("You left the checkout" in page.get_data(as_text=True)) is shown, cancelled


# --- payouts ------------------------------------------------------------------------------------


@pytest.fixture
def payout_creator(app):
    """A verified creator with 2FA, 800 credits available and a bank account to be paid to."""
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        codes = with_2fa(luna)
        tips.tip(fan("Supporter", credits=1000), luna_id, 1000)
        ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
        method_id = method(luna, "manual").id
    return auth, luna_id, method_id, codes


def no_payouts(app, luna_id: int) -> bool:
    with app.app_context():
        count = db.session.scalar(select(func.count(Payout.id)))
        return count == 0 and ledger.balances(luna_id)["earnings_available"] == 800


def test_a_payout_request_with_a_bad_amount_says_so_on_the_field(app, payout_creator):
    auth, luna_id, method_id, codes = payout_creator
    client = auth.client
    for credits in NOT_WHOLE:
        answer = post(
            client, "/creator/payouts", {"credits": credits, "method_id": method_id, "code": "1"}
        )
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, credits
        assert error_on(page, "credits") == "Ask for a whole number of credits.", credits
        assert re.search(r'<input[^>]*id="code"[^>]*value=""', page), "the code is typed again"
    for credits, message in (
        ("", "Ask for a whole number of credits."),
        ("100", "The minimum payout is 500 credits."),
        ("-600", "The minimum payout is 500 credits."),
        ("999999999999999", "You have 800 credits available to pay out."),
        ("9" * 400, "You have 800 credits available to pay out."),
    ):
        answer = post(
            client,
            "/creator/payouts",
            {"credits": credits, "method_id": method_id, "code": codes[0]},
        )
        assert answer.status_code == 422, credits
        assert error_on(answer.get_data(as_text=True), "credits") == message, credits
    assert no_payouts(app, luna_id)


def test_a_payout_request_needs_one_of_your_methods_and_a_code(app, payout_creator):
    auth, luna_id, method_id, codes = payout_creator
    client = auth.client
    other = signed_in(app, "mia@example.com", "Mia", creator=True)[1]
    with app.app_context():
        theirs = payouts.add_method(
            db.session.get(User, other), "stripe", account_ref="acct_1TestAccount42"
        ).id
    for method_value in ("", "abc", "2147483648", "9" * 5000, str(theirs), "1.5"):
        fields = {"credits": "600", "code": codes[0]}
        if method_value != "":
            fields["method_id"] = method_value
        answer = post(client, "/creator/payouts", fields)
        assert answer.status_code == 422, method_value
        page = answer.get_data(as_text=True)
        assert error_on(page, "method_id") == "Choose one of your payout methods.", method_value
    for code, message in (
        ("", "Enter the code from your authenticator app, or a recovery code."),
        ("1" * 21, "That code is too long: check it and try again."),
        ("000000", "That code is not valid. Check it and try again."),
    ):
        answer = post(
            client, "/creator/payouts", {"credits": "600", "method_id": method_id, "code": code}
        )
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, code
        assert error_on(page, "code") == message, code
        assert f'value="{code}"' not in page or code == ""  # never typed back into the page
    assert no_payouts(app, luna_id)
    # Repeated keys: the first of each counts.
    done = post(
        client,
        "/creator/payouts",
        [
            ("credits", "600"),
            ("credits", "800"),
            ("method_id", str(method_id)),
            ("method_id", "abc"),
            ("code", codes[1]),
        ],
    )
    assert done.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Payout.credits)) == 600


def test_a_payout_method_with_junk_shows_each_fields_message(app, payout_creator):
    auth, luna_id, _, _ = payout_creator
    client = auth.client
    for kind in (None, "", "paypal", "x" * 5000):
        fields = {"account_ref": "acct_1TestAccount42"}
        if kind is not None:
            fields["kind"] = kind
        answer = post(client, "/creator/payouts/methods", fields)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422, kind
        assert error_on(page, "kind") == "Choose how you want to be paid.", kind
        assert re.search(r"<details\s+open>\s*<summary>Add a payout method", page), kind
    answer = post(
        client,
        "/creator/payouts/methods",
        {"kind": "manual", "holder": "L", "account": "x" * 5000, "bank_code": "\u202e"},
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert error_on(page, "holder") == "The account holder&#39;s name, as the bank knows it."
    assert error_on(page, "account") == "An account number or IBAN: 6 to 34 letters and digits."
    assert error_on(page, "bank_code") == "The bank&#39;s SWIFT/BIC, IFSC or sort code."
    assert 'value="L"' in page and 'name="kind" value="manual" checked' in page
    stripe = post(client, "/creator/payouts/methods", {"kind": "stripe", "account_ref": "acct_"})
    assert stripe.status_code == 422
    assert "acct_1A2b3C4d5E6f7G8h" in error_on(stripe.get_data(as_text=True), "account_ref")
    with app.app_context():
        assert len(payouts.methods_of(luna_id)) == 1
        assert db.session.scalar(select(func.count(PayoutMethod.id))) == 1
