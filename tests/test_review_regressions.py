"""Regressions for bugs found in review: each once answered 500 or did the wrong thing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from core.errors import ValidationFailed
from extensions import db
from models import Alert, Order
from services import discover, ledger, likes, profiles, risk
from services.payments import orders
from services.payments.base import ProviderEvent
from testkit.people import person
from tests.conftest import AuthActions
from tests.dating_helpers import dater

HTMX = {"HX-Request": "true"}


def test_saving_interests_again_keeps_the_common_ones(ctx):
    me = dater("Me")
    profiles.set_interests(me, ["hiking", "jazz"])
    profiles.set_interests(me, ["hiking", "jazz", "chess"])
    profiles.set_interests(me, ["chess"])
    assert profiles.interests_of(me.id) == ["chess"]


def test_a_cursor_with_a_text_sort_value_is_a_clear_error(ctx):
    me = dater("Me")
    bad = base64.urlsafe_b64encode(json.dumps(["x", 1]).encode()).decode()
    filters = discover.filters_for(profiles.get(me.id))
    with pytest.raises(ValidationFailed):
        discover.search(me, filters, bad)


def test_discover_keeps_odd_parameter_names_out_of_url_building(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        from services import accounts

        me = accounts.find_by_email("ana@example.com")
        profiles.update_basics(
            me,
            gender="woman",
            seeking=["woman", "man", "nonbinary"],
            age_min=18,
            age_max=99,
            bio="",
        )
        profiles.set_location_coordinates(me, 48.85, 2.35)
        for i in range(25):
            dater(f"P{i}")
    page = auth.client.get("/discover/results?_anchor=x&_method=GET&radius=50", headers=HTMX)
    assert page.status_code == 200 and b"_anchor=x" in page.data


def test_non_ascii_codes_and_signatures_are_refused_not_crashes(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    webhook = app.test_client().post(
        "/webhooks/dev", data=b"{}", headers={"X-Amora-Signature": "é"}
    )
    assert webhook.status_code == 400
    media = app.test_client().get("/media/file/u/1/x.jpg?expires=99999999999&sig=%C3%A9")
    assert media.status_code == 403


def test_money_for_a_declined_purchase_is_held_for_review(ctx):
    fan = person()
    order = Order(
        user_id=fan.id,
        provider="dev",
        pack_id="pack-100",
        credits=100,
        amount_minor=1199,
        currency="USD",
        status="failed",
        failure_reason=risk.DECLINED_REASON,
    )
    db.session.add(order)
    db.session.commit()
    outcome = orders.apply_event(
        "dev",
        ProviderEvent(
            event_id="evt_late",
            type="paid",
            raw_type="payment.succeeded",
            order_id=order.id,
            payment_id="devpay_late",
            amount_minor=1199,
            currency="USD",
        ),
    )
    assert outcome == "held_for_review" and ledger.wallet_balance(fan.id) == 0
    assert db.session.scalars(select(Alert.kind)).all() == ["payment_held_for_review"]


def test_likes_at_the_same_moment_still_match(ctx):
    ana, bob = dater("Ana"), dater("Bob")
    from models import Like

    db.session.add(Like(liker_id=bob.id, liked_id=ana.id, kind="like"))
    db.session.commit()  # Bob's like landed while Ana's request could not see it yet
    assert likes._match_if_mutual(ana, bob) is False  # Ana has not liked yet
    assert likes.react(ana, bob.id, "like") is True
