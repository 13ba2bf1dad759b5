"""Subscriptions and tips (docs/creators.md#subscriptions, docs/creators.md#tips): monthly price
through the ledger, renewal job with a 3-day grace and lapse, cancel to period end, tips with a
note, no money moved twice."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from extensions import db
from models import Notification, Subscription, Tip, Transfer, User
from services import creators, ledger, posts, subscriptions, tips
from testkit.ledger import paid_order
from tests.creator_helpers import creator, fan, signed_in

START = dt.datetime(2026, 1, 10, 12, 0)


def charges(kind="subscription") -> int:
    return db.session.scalar(select(func.count(Transfer.id)).where(Transfer.kind == kind))


def test_subscribing_charges_one_period_and_opens_subscriber_posts(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=120)
    post = posts.create(luna, body="for subscribers", visibility="subscribers")
    assert not posts.view(sam, post.id).entitled
    with clock.frozen(START):
        sub = subscriptions.subscribe(sam, luna.id)
    assert sub.status == "active" and sub.current_period_end == START + subscriptions.PERIOD
    assert ledger.wallet_balance(sam.id) == 70
    assert ledger.balances(luna.id)["earnings_pending"] == 40
    with clock.frozen(START + dt.timedelta(days=1)):
        assert posts.view(sam, post.id).entitled
        assert subscriptions.subscriber_count(luna.id) == 1
    assert ledger.verify() == []


def test_a_creators_page_shows_every_live_subscriber_and_the_viewers_own_subscription(ctx):
    luna, sam, ana, leo = creator(), fan("Sam", credits=120), fan("Ana", credits=120), fan("Leo")
    subscriptions.subscribe(sam, luna.id)
    subscriptions.subscribe(ana, luna.id)
    for viewer, own in ((sam, sam), (ana, ana), (leo, None), (None, None)):
        page = creators.creator_page(viewer, luna.id)
        assert page.creator.id == luna.id and page.subscribers == 2
        assert (page.subscription.fan_id if page.subscription else None) == (own and own.id)
    subscriptions.cancel(sam, luna.id)
    assert creators.creator_page(leo, luna.id).subscribers == 2  # live to the period's end


def test_subscribing_twice_is_refused_and_charges_once(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=120)
    subscriptions.subscribe(sam, luna.id)
    with pytest.raises(Conflict, match="already subscribed"):
        subscriptions.subscribe(sam, luna.id)
    assert charges() == 1 and ledger.wallet_balance(sam.id) == 70


def test_subscribing_without_credits_writes_nothing(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=20)
    with pytest.raises(ledger.InsufficientCredits):
        subscriptions.subscribe(sam, luna.id)
    assert db.session.scalar(select(func.count(Subscription.id))) == 0
    assert ledger.wallet_balance(sam.id) == 20 and ledger.verify() == []


def test_you_cannot_subscribe_to_yourself_or_to_a_non_creator(ctx):
    luna, sam = creator(), fan(credits=100)
    with pytest.raises(DomainError, match="yourself"):
        subscriptions.subscribe(luna, luna.id)
    with pytest.raises(NotFound):
        subscriptions.subscribe(luna, sam.id)


def test_renewal_charges_each_period_once(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=200)
    with clock.frozen(START):
        sub = subscriptions.subscribe(sam, luna.id)
    end = START + subscriptions.PERIOD
    with clock.frozen(end - dt.timedelta(minutes=1)):
        assert subscriptions.renew_due() == {}
    with clock.frozen(end):
        assert subscriptions.renew_due() == {"renewed": 1}
        assert subscriptions.renew_due() == {}  # the job running twice charges nothing more
    db.session.refresh(sub)
    assert sub.periods == 2 and sub.current_period_start == end
    assert sub.current_period_end == end + subscriptions.PERIOD
    assert ledger.wallet_balance(sam.id) == 100 and charges() == 2
    assert ledger.verify() == []


def test_short_of_credits_means_three_days_of_grace_then_a_lapse(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=60)
    post = posts.create(luna, body="subs", visibility="subscribers")
    with clock.frozen(START):
        sub = subscriptions.subscribe(sam, luna.id)
    end = START + subscriptions.PERIOD
    with clock.frozen(end):
        assert subscriptions.renew_due() == {"grace": 1}
    db.session.refresh(sub)
    assert sub.status == "grace" and sub.grace_until == end + subscriptions.GRACE
    assert db.session.scalar(
        select(Notification).where(
            Notification.user_id == sam.id, Notification.kind == "subscription"
        )
    )
    with clock.frozen(end + dt.timedelta(days=2)):
        assert subscriptions.renew_due() == {"still in grace": 1}
        assert posts.view(sam, post.id).entitled  # access continues during the grace days
    with clock.frozen(end + subscriptions.GRACE):
        assert subscriptions.renew_due() == {"lapsed": 1}
        assert not posts.view(sam, post.id).entitled
        assert subscriptions.subscriber_count(luna.id) == 0
    db.session.refresh(sub)
    assert sub.status == "lapsed" and charges() == 1 and ledger.wallet_balance(sam.id) == 10
    assert ledger.verify() == []


def test_topping_up_during_grace_renews_and_keeps_the_cycle(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=60)
    with clock.frozen(START):
        sub = subscriptions.subscribe(sam, luna.id)
    end = START + subscriptions.PERIOD
    with clock.frozen(end):
        subscriptions.renew_due()
    paid_order(sam, 100)
    with clock.frozen(end + dt.timedelta(days=1)):
        assert subscriptions.renew_due() == {"renewed": 1}
    db.session.refresh(sub)
    assert sub.status == "active" and sub.current_period_end == end + subscriptions.PERIOD
    assert charges() == 2 and ledger.wallet_balance(sam.id) == 60


def test_a_lapsed_fan_can_subscribe_again_and_pays_a_fresh_period(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=60)
    with clock.frozen(START):
        subscriptions.subscribe(sam, luna.id)
    end = START + subscriptions.PERIOD
    for at in (end, end + subscriptions.GRACE):
        with clock.frozen(at):
            subscriptions.renew_due()
    paid_order(sam, 50)
    later = end + dt.timedelta(days=10)
    with clock.frozen(later):
        sub = subscriptions.subscribe(sam, luna.id)
    assert sub.status == "active" and sub.current_period_end == later + subscriptions.PERIOD
    assert sub.periods == 2 and charges() == 2 and ledger.verify() == []


def test_cancel_keeps_access_to_the_period_end_and_never_renews(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=200)
    post = posts.create(luna, body="subs", visibility="subscribers")
    with clock.frozen(START):
        subscriptions.subscribe(sam, luna.id)
    with clock.frozen(START + dt.timedelta(days=5)):
        sub = subscriptions.cancel(sam, luna.id)
        assert sub.cancel_at_period_end and posts.view(sam, post.id).entitled
    end = START + subscriptions.PERIOD
    with clock.frozen(end):
        assert subscriptions.renew_due() == {"ended": 1}
        assert not posts.view(sam, post.id).entitled
    assert charges() == 1 and ledger.wallet_balance(sam.id) == 150


def test_resuming_a_cancelled_subscription_before_its_end_charges_nothing(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=200)
    with clock.frozen(START):
        subscriptions.subscribe(sam, luna.id)
        subscriptions.cancel(sam, luna.id)
        sub = subscriptions.subscribe(sam, luna.id)
    assert not sub.cancel_at_period_end and charges() == 1


def test_a_creator_leaving_ends_subscriptions_at_their_paid_end(ctx):
    luna, sam = creator(subscription_price=50), fan(credits=200)
    with clock.frozen(START):
        subscriptions.subscribe(sam, luna.id)
        assert creators.disable(luna) == 1
    with clock.frozen(START + subscriptions.PERIOD):
        assert subscriptions.renew_due() == {"ended": 1}
    assert charges() == 1


def test_a_free_subscription_moves_no_money(ctx):
    luna, sam = creator(subscription_price=0), fan()
    with clock.frozen(START):
        subscriptions.subscribe(sam, luna.id)
    with clock.frozen(START + subscriptions.PERIOD):
        assert subscriptions.renew_due() == {"renewed": 1}
        assert subscriptions.is_subscriber(sam.id, luna.id)
    assert charges() == 0


@pytest.mark.postgres
def test_racing_renewal_jobs_charge_a_period_once(pg_app):
    with pg_app.app_context():
        luna, sam = creator(subscription_price=50), fan(credits=500)
        with clock.frozen(START):
            subscriptions.subscribe(sam, luna.id)
        sam_id = sam.id
    results = []

    def job():
        with pg_app.app_context(), clock.frozen(START + subscriptions.PERIOD):
            results.append(subscriptions.renew_due())

    threads = [threading.Thread(target=job) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pg_app.app_context():
        assert charges() == 2 and ledger.wallet_balance(sam_id) == 400
        assert ledger.verify() == []


@pytest.mark.postgres
def test_racing_subscribe_clicks_charge_once(pg_app):
    with pg_app.app_context():
        luna, sam = creator(subscription_price=50), fan(credits=500)
        luna_id, sam_id = luna.id, sam.id
    outcomes = []

    def click():
        with pg_app.app_context():
            try:
                subscriptions.subscribe(db.session.get(User, sam_id), luna_id)
                outcomes.append("ok")
            except DomainError as exc:
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pg_app.app_context():
        assert charges() == 1 and ledger.wallet_balance(sam_id) == 450
        assert ledger.verify() == []
    assert outcomes.count("ok") >= 1


# --- tips --------------------------------------------------------------------------------------


def test_a_tip_with_a_note_reaches_the_creator_once_per_form(ctx):
    luna, sam = creator(), fan(credits=100)
    token = tips.new_token()
    first = tips.tip(sam, luna.id, 25, "  Loved the sunset set  ", token=token)
    again = tips.tip(sam, luna.id, 25, "Loved the sunset set", token=token)  # double submit
    assert first.id == again.id and first.note == "Loved the sunset set"
    assert ledger.wallet_balance(sam.id) == 75
    assert ledger.balances(luna.id)["earnings_pending"] == 20
    tips.tip(sam, luna.id, 10, token=tips.new_token())
    assert db.session.scalar(select(func.count(Tip.id))) == 2 and ledger.verify() == []
    note = db.session.scalar(select(Notification).where(Notification.user_id == luna.id))
    assert "25 credits" in note.text and "sunset" in note.text


@pytest.mark.parametrize(
    ("amount", "note", "field"),
    [
        (0, "", "amount"),
        (-3, "", "amount"),
        (50001, "", "amount"),
        (10**40, "", "amount"),
        (5, "x" * 201, "note"),
    ],
)
def test_bad_tips_are_refused(ctx, amount, note, field):
    luna, sam = creator(), fan(credits=100)
    with pytest.raises(ValidationFailed) as caught:
        tips.tip(sam, luna.id, amount, note)
    assert field in caught.value.errors
    assert ledger.wallet_balance(sam.id) == 100


def test_tips_on_posts_must_be_the_creators_posts(ctx):
    luna, mia, sam = creator("Luna"), creator("Mia"), fan(credits=100)
    mias = posts.create(mia, body="mia", visibility="public")
    with pytest.raises(NotFound):
        tips.tip(sam, luna.id, 5, target_type="post", target_id=mias.id)
    lunas = posts.create(luna, body="luna", visibility="public")
    row = tips.tip(sam, luna.id, 5, target_type="post", target_id=lunas.id)
    assert row.target_type == "post" and row.target_id == lunas.id


def test_you_cannot_tip_yourself_or_without_credits(ctx):
    luna, sam = creator(), fan(credits=3)
    with pytest.raises(DomainError, match="yourself"):
        tips.tip(luna, luna.id, 5)
    with pytest.raises(ledger.InsufficientCredits):
        tips.tip(sam, luna.id, 5)
    assert db.session.scalar(select(func.count(Tip.id))) == 0


def test_the_feed_page_shows_subscriber_posts_only_while_access_lasts(app):
    """The feed page reads the member's subscriptions with the member (as JSON: times as text,
    flags as numbers on SQLite): grace lasts to its end, a cancelled subscription to the end of
    its period, and not a minute longer."""
    luna_auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    sam_auth, sam_id = signed_in(app, "sam@example.com", "Sam", credits=60)
    eve_auth, eve_id = signed_in(app, "eve@example.com", "Eve", credits=200)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        posts.create(luna, body="only for subscribers", visibility="subscribers")
        with clock.frozen(START):
            subscriptions.subscribe(db.session.get(User, sam_id), luna_id)
            subscriptions.subscribe(db.session.get(User, eve_id), luna_id)
            subscriptions.cancel(db.session.get(User, eve_id), luna_id)

    def sees(auth) -> bool:
        page = auth.client.get("/feed")
        assert page.status_code == 200
        return "only for subscribers" in page.get_data(as_text=True)

    end, minute = START + subscriptions.PERIOD, dt.timedelta(minutes=1)
    with clock.frozen(end - minute):
        assert sees(sam_auth) and sees(eve_auth)
    with clock.frozen(end + minute):  # due, the renewal job not run yet
        assert sees(sam_auth) and not sees(eve_auth)
    with app.app_context(), clock.frozen(end):
        assert subscriptions.renew_due() == {"grace": 1, "ended": 1}  # Sam is short of credits
    with clock.frozen(end + subscriptions.GRACE - minute):
        assert sees(sam_auth)
    with clock.frozen(end + subscriptions.GRACE + minute):  # the job has not run yet
        assert not sees(sam_auth)
