"""Creator growth (docs/creators.md#growth-tools): referrals paid by the platform for 12 months,
free-trial links that convert through the renewal job, bundles and promotions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import Conflict, ValidationFailed
from extensions import db
from models import CreatorSettings, Promotion, Subscription, Transfer, TrialLink
from services import growth, ledger, subscriptions, tips
from tests.creator_helpers import creator, fan, signed_in

T0 = dt.datetime(2026, 1, 5, 12, 0)


def days(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


# --- referrals -----------------------------------------------------------------------------------


def test_a_referrer_earns_five_percent_of_the_referred_creators_earnings_for_12_months(ctx):
    ada, bea, sam = creator("Ada"), creator("Bea"), fan(credits=10_000)
    with clock.frozen(T0):
        growth.attach_referral(bea, growth.referral_code(ada))
    for month in range(12):
        with clock.frozen(days(30 * month + 1)):
            tips.tip(sam, bea.id, 100)  # Bea earns 80 each time
    with clock.frozen(days(366)):  # month 13: the referral is over
        tips.tip(sam, bea.id, 100)
    assert ledger.balances(bea.id)["earnings_pending"] == 13 * 80  # never reduced
    assert ledger.balances(ada.id)["earnings_pending"] == 12 * 4  # (80·500 + 5000) // 10000
    assert ledger.system_balance("platform_revenue") == 13 * 20 - 12 * 4
    referral_transfers = db.session.scalar(
        select(func.count(Transfer.id)).where(Transfer.kind == "referral")
    )
    assert referral_transfers == 12 and ledger.verify() == []
    assert growth.referral_total(ada.id) == 48
    assert growth.referrals_of(ada)[0]["earned"] == 48


def test_referrals_cover_calls_and_every_paid_kind(ctx):
    from services import calls

    ada, bea, sam = creator("Ada"), creator("Bea"), fan(credits=1000)
    growth.attach_referral(bea, growth.referral_code(ada))
    db.session.get(CreatorSettings, bea.id).call_price = 50
    db.session.commit()
    call = calls.request(sam, bea.id)
    calls.accept(bea, call.id)
    calls.end(sam, call.id)  # one minute: 50 → Bea 40, Ada 2
    assert ledger.balances(ada.id)["earnings_pending"] == 2 and ledger.verify() == []


def test_self_referral_loops_and_second_referrers_are_refused(ctx):
    ada, bea, cyd = creator("Ada"), creator("Bea"), creator("Cyd")
    with pytest.raises(ValidationFailed, match="yourself"):
        growth.attach_referral(ada, growth.referral_code(ada))
    growth.attach_referral(bea, growth.referral_code(ada))  # Ada → Bea
    growth.attach_referral(cyd, growth.referral_code(bea))  # Bea → Cyd
    with pytest.raises(ValidationFailed, match="loop"):
        growth.attach_referral(ada, growth.referral_code(cyd))  # Cyd → Ada would close a circle
    with pytest.raises(Conflict, match="already referred"):
        growth.attach_referral(bea, growth.referral_code(cyd))
    with pytest.raises(ValidationFailed, match="does not exist"):
        growth.attach_referral(fan("New"), "nope")


def test_the_referral_link_carries_through_sign_up(app):
    _, ada_id = signed_in(app, "ada@example.com", "Ada", creator=True)
    with app.app_context():
        from models import User

        code = growth.referral_code(db.session.get(User, ada_id))
    from tests.conftest import AuthActions

    visitor = AuthActions(app.test_client())
    assert visitor.client.get(f"/join/{code}").headers["Location"].endswith("/signup")
    visitor.signup(email="new@example.com", name="Newbie")
    with app.app_context():
        from services import accounts

        newbie = accounts.find_by_email("new@example.com")
        referral = growth.referred_by(newbie.id)
        assert referral is not None and referral[1].id == ada_id


# --- trials --------------------------------------------------------------------------------------


def trial_link(owner, **values) -> TrialLink:
    return growth.create_trial_link(
        owner, **{"days": 7, "max_uses": 10, "valid_days": 30, **values}
    )


def test_a_trial_converts_to_paid_through_the_renewal_job(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=100)
    with clock.frozen(T0):
        link = trial_link(luna)
        subscription = growth.start_trial(sam, link.code)
        assert subscriptions.is_subscriber(sam.id, luna.id)
    assert ledger.wallet_balance(sam.id) == 100  # free for now
    with clock.frozen(days(6.9)):
        assert subscriptions.renew_due() == {}
    with clock.frozen(days(7)):
        assert subscriptions.renew_due() == {"converted": 1}
    db.session.refresh(subscription)
    assert subscription.trial_until is None and subscription.periods == 1
    assert subscription.current_period_end == days(7) + subscriptions.PERIOD
    assert ledger.wallet_balance(sam.id) == 50 and ledger.verify() == []


def test_cancelling_during_the_trial_costs_nothing(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=100)
    with clock.frozen(T0):
        subscription = growth.start_trial(sam, trial_link(luna).code)
        subscriptions.cancel(sam, luna.id)
    with clock.frozen(days(7)):
        assert subscriptions.renew_due() == {"ended": 1}
    assert db.session.get(Subscription, subscription.id).status == "ended"
    assert ledger.wallet_balance(sam.id) == 100


def test_trial_links_are_once_per_fan_limited_expiring_and_revocable(ctx):
    luna = creator(subscription_price=50)
    with clock.frozen(T0):
        link = trial_link(luna, max_uses=1, valid_days=10)
        sam = fan("Sam")
        growth.start_trial(sam, link.code)
        with pytest.raises(Conflict, match="already had a free trial|already subscribed"):
            growth.start_trial(sam, link.code)
        with pytest.raises(Conflict, match="used up"):
            growth.start_trial(fan("Eve"), link.code)
        second = trial_link(luna, valid_days=1)
        with pytest.raises(Conflict, match="already had a free trial|already subscribed"):
            growth.start_trial(sam, second.code)  # one trial per creator, whatever the link
        growth.revoke_trial_link(luna, second.id)
        with pytest.raises(Conflict, match="switched off"):
            growth.start_trial(fan("Ivy"), second.code)
        third = trial_link(luna, valid_days=1)
    with clock.frozen(days(2)), pytest.raises(Conflict, match="expired"):
        growth.start_trial(fan("Joe"), third.code)
    with pytest.raises(ValidationFailed):
        growth.create_trial_link(luna, days=0, max_uses=5, valid_days=5)


# --- bundles and promotions ----------------------------------------------------------------------


def test_a_bundle_is_paid_up_front_and_extends_a_running_subscription(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=500)
    growth.set_bundles(luna, {3: 20, 6: 0, 12: 30})
    assert [(o["months"], o["price"]) for o in growth.bundle_offers(luna.id)] == [
        (3, 120),
        (12, 420),
    ]
    with clock.frozen(T0):
        subscriptions.subscribe(sam, luna.id)  # 50, until day 30
    with clock.frozen(days(10)):
        subscription = growth.buy_bundle(sam, luna.id, 3)
    assert subscription.current_period_end == days(30) + subscriptions.PERIOD * 3
    assert ledger.wallet_balance(sam.id) == 500 - 50 - 120
    with pytest.raises(ValidationFailed):
        growth.buy_bundle(sam, luna.id, 6)  # not offered
    with clock.frozen(days(120)):
        assert subscriptions.renew_due() == {"renewed": 1}  # then monthly again, at 50
    assert ledger.wallet_balance(sam.id) == 500 - 50 - 120 - 50 and ledger.verify() == []
    with pytest.raises(ValidationFailed):
        growth.set_bundles(luna, {3: 60})


def test_promotions_discount_the_first_month_for_their_audience_only(ctx):
    luna = creator(subscription_price=50)
    growth.create_promotion(
        luna, audience="new", discount=40, starts=dt.date(2026, 1, 1), ends=dt.date(2026, 12, 31)
    )
    newcomer = fan("New", credits=200)
    with clock.frozen(T0):
        assert subscriptions.first_period_price(newcomer, luna.id, 50)[0] == 30
        subscriptions.subscribe(newcomer, luna.id)
    assert ledger.wallet_balance(newcomer.id) == 170
    with clock.frozen(days(30)):
        subscriptions.renew_due()  # renewals at the full price
    assert ledger.wallet_balance(newcomer.id) == 120
    lapsed = fan("Old", credits=200)
    with clock.frozen(T0):
        subscriptions.subscribe(lapsed, luna.id)
    db.session.get(Subscription, subscriptions.get(lapsed.id, luna.id).id).status = "lapsed"
    db.session.commit()
    with clock.frozen(days(40)):
        assert subscriptions.first_period_price(lapsed, luna.id, 50)[0] == 50  # "new" only
    with pytest.raises(ValidationFailed):
        growth.create_promotion(
            luna, audience="new", discount=95, starts=dt.date(2026, 1, 1), ends=dt.date(2026, 2, 1)
        )
    assert ledger.verify() == []


def test_the_growth_page_and_the_trial_page(app):
    creator_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    page = creator_auth.client.get("/creator/growth").get_data(as_text=True)
    assert "Free-trial links" in page and "/join/" in page
    creator_auth.post("/creator/growth/trials", {"days": "5", "max_uses": "3", "valid_days": "9"})
    with app.app_context():
        code = db.session.scalar(select(TrialLink.code))
    sam_auth, sam_id = signed_in(app, "sam@example.com", "Sam")
    assert "5 days of Luna, free" in sam_auth.client.get(f"/trial/{code}").get_data(as_text=True)
    sam_auth.post(f"/trial/{code}")
    page = sam_auth.client.get(f"/creators/{luna_id}").get_data(as_text=True)
    assert "free trial" in page
    again = sam_auth.client.get(f"/trial/{code}").get_data(as_text=True)
    assert "already" in again
    assert app.test_client().get("/trial/nope").status_code == 404


def test_the_growth_forms_refuse_junk_with_a_message_on_the_field(app):
    auth, _ = signed_in(app, "luna@example.com", "Luna", creator=True)
    trial = {"days": "7", "max_uses": "10", "valid_days": "30"}
    promotion = {"audience": "new", "discount": "20", "starts": "2030-01-01", "ends": "2030-02-01"}
    cases = [
        (
            "trials",
            {**trial, "days": "abc"},
            "days",
            "Enter how many days are free as a whole number.",
        ),
        ("trials", {**trial, "days": "9" * 15}, "days", "Free days is between 1 and 90."),
        (
            "trials",
            {**trial, "valid_days": "0"},
            "valid_days",
            "Days the link works is between 1 and 365.",
        ),
        ("trials", {"max_uses": "10", "valid_days": "30"}, "days", "Enter how many days are free."),
        ("bundles", {"bundle_3": "abc"}, "bundle_3", "The 3-month discount is a whole number (%)."),
        (
            "bundles",
            {"bundle_12": "60"},
            "bundle_12",
            "The 12-month discount (%) is between 0 and 50.",
        ),
        (
            "promotions",
            {**promotion, "audience": "everyone"},
            "audience",
            "Choose who gets the discount.",
        ),
        (
            "promotions",
            {**promotion, "discount": "1.5"},
            "discount",
            "The discount is a whole number (%).",
        ),
        (
            "promotions",
            {**promotion, "discount": "95"},
            "discount",
            "The discount (%) is between 1 and 90.",
        ),
        (
            "promotions",
            {**promotion, "starts": "soon"},
            "starts",
            "Give a start date, like 2026-05-01.",
        ),
        ("promotions", {**promotion, "ends": ""}, "ends", "Give an end date."),
        (
            "promotions",
            {**promotion, "ends": "2029-12-01"},
            "ends",
            "The end comes after the start.",
        ),
    ]
    for form, data, field, message in cases:
        response = auth.post(f"/creator/growth/{form}", data)
        page = response.get_data(as_text=True)
        assert response.status_code == 422, data
        assert f'id="{field}-error">{message}' in page, data
        assert "Free-trial links" in page and "/join/" in page  # the whole page, re-rendered
    with app.app_context():
        assert db.session.scalar(select(func.count(TrialLink.id))) == 0
        assert db.session.scalar(select(func.count(Promotion.id))) == 0
        assert db.session.scalar(select(CreatorSettings.bundle_3_bps)) == 0


def test_buying_a_bundle_refuses_months_no_button_offers(app):
    _, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam, sam_id = signed_in(app, "sam@example.com", "Sam", credits=500)
    for months in ("abc", "9" * 20, "", "5"):
        response = sam.post(f"/creators/{luna_id}/bundle", {"months": months})
        assert response.status_code == 422
        assert "That bundle is not offered." in response.get_data(as_text=True)
    not_offered = sam.post(f"/creators/{luna_id}/bundle", {"months": "6"}, follow_redirects=True)
    assert "That bundle is not offered." in not_offered.get_data(as_text=True)
    with app.app_context():
        assert ledger.wallet_balance(sam_id) == 500
