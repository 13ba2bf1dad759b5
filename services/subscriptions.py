"""Subscriptions (docs/creators.md#subscriptions): pay the monthly price → access until the period
end.

* Subscribing charges the creator's current price for one period (`PERIOD`), through the ledger.
* The renewal job charges each subscription whose period has ended; a fan short of credits gets
  `GRACE` days (access continues, the job retries), then the subscription lapses.
* Cancelling keeps access to the period end; nothing more is charged.
* Each period's charge has the idempotency key `subscription:<id>:<period number>`, so retries,
  a job run twice and two clicks at once all charge a period once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from core import clock, sql
from core.errors import Conflict, NotAllowed, NotFound
from extensions import db
from models import (
    CreatorSettings,
    Notification,
    Promotion,
    Subscription,
    SubscriptionStatus,
    User,
)
from models.creator import LIVE_SUBSCRIPTION
from services import age_gate, creators, ledger, safety

PERIOD = dt.timedelta(days=30)
GRACE = dt.timedelta(days=3)
log = logging.getLogger("amora.subscriptions")


# A fan's subscriptions are read on every creator page and feed view: built once.
_ONE = select(Subscription).where(
    Subscription.fan_id == bindparam("fan_id"), Subscription.creator_id == bindparam("creator_id")
)
_LIVE_OF_FAN = (  # the columns `has_access` reads: no objects for a list read on every feed
    select(
        Subscription.creator_id,
        Subscription.status,
        Subscription.grace_until,
        Subscription.cancel_at_period_end,
        Subscription.current_period_end,
        CreatorSettings.blocked_countries,
    )
    .outerjoin(CreatorSettings, CreatorSettings.user_id == Subscription.creator_id)
    .where(Subscription.fan_id == bindparam("fan_id"), Subscription.is_live)
)


def get(fan_id: int, creator_id: int) -> Subscription | None:
    return db.session.scalar(_ONE, {"fan_id": fan_id, "creator_id": creator_id})


def has_access(subscription: Subscription | None, now: dt.datetime | None = None) -> bool:
    """Whether the subscription shows subscribers-only content now (a Subscription, or a row
    of its columns)."""
    if subscription is None or subscription.status not in LIVE_SUBSCRIPTION:
        return False
    now = now or clock.now()
    if subscription.status == SubscriptionStatus.GRACE:
        return subscription.grace_until is not None and now < subscription.grace_until
    if subscription.cancel_at_period_end:
        return now < subscription.current_period_end
    # Active and due: access holds while the renewal job gets to it (at most the grace days).
    return now < subscription.current_period_end + GRACE


def is_subscriber(fan_id: int, creator_id: int) -> bool:
    return has_access(get(fan_id, creator_id))


def subscribed_creator_ids(fan_id: int) -> list[int]:
    return list(subscribed_creators(fan_id))


def subscribed_creators(fan_id: int, known=None) -> dict[int, str]:
    """The creators whose subscribers-only posts `fan_id` sees now, each with the countries they
    block ("DE,FR", or ""): one statement for the feed (`country_blocks.keeping_out`).
    `known`: the value of `SUBSCRIBED_JSON` when the caller read it with the fan (the feed)."""
    if known is None:
        rows = sql.read(_LIVE_OF_FAN, {"fan_id": fan_id})
    else:
        rows = [_LiveRow(*row) for row in sql.columns_of_json(_LIVE_COLUMNS, known)]
    now = clock.now()
    return {row.creator_id: row.blocked_countries or "" for row in rows if has_access(row, now)}


# `_LIVE_OF_FAN` as JSON, for the statement that reads the fan (the feed reads it with its
# member: blueprints/navigation.py, with_member_columns).
_LIVE_COLUMNS = tuple(_LIVE_OF_FAN.selected_columns)
SUBSCRIBED_JSON = (
    select(sql.json_rows(*_LIVE_COLUMNS))
    .select_from(Subscription)
    .outerjoin(CreatorSettings, CreatorSettings.user_id == Subscription.creator_id)
    .where(Subscription.fan_id == bindparam("user_id"), Subscription.is_live)
    .scalar_subquery()
    .label("subscribed")
)


class _LiveRow(NamedTuple):
    creator_id: int
    status: str
    grace_until: dt.datetime | None
    cancel_at_period_end: bool
    current_period_end: dt.datetime
    blocked_countries: str | None


_SUBSCRIBERS = creators.subscriber_count_query(bindparam("creator_id"))  # built once


def subscriber_count(creator_id: int) -> int:
    return sql.read(_SUBSCRIBERS, {"creator_id": creator_id})[0][0]


_OF_FAN = (
    select(Subscription, User)
    .join(User, User.id == Subscription.creator_id)
    .where(Subscription.fan_id == bindparam("fan_id"))
    .order_by(Subscription.status, Subscription.current_period_end.desc())
)  # the feed lists them on every view: built once


def subscriptions_of(fan_id: int) -> list[tuple[Subscription, User]]:
    rows = db.session.execute(_OF_FAN, {"fan_id": fan_id}).all()
    return [(sub, user) for sub, user in rows]


def _charge(
    subscription: Subscription, fan_id: int, creator_id: int, amount: int | None = None
) -> int | None:
    """Charge the next period (in the caller's transaction). Returns the transfer id."""
    amount = subscription.price if amount is None else amount
    if amount == 0:
        return None
    transfer, _ = ledger.spend(
        fan_id,
        creator_id,
        amount,
        "subscription",
        f"subscription:{subscription.id}:{subscription.periods + 1}",
        reference=("subscription", subscription.id),
        memo=f"period {subscription.periods + 1}",
    )
    return transfer.id


def subscribe(fan: User, creator_id: int) -> Subscription:
    """Subscribe (or subscribe again after a lapse), paying the first period now. A
    cancelled subscription that still runs is simply resumed, without a charge."""

    creator = creators.payee(fan, creator_id, "subscribe to")
    settings = db.session.get(CreatorSettings, creator_id)
    price = settings.subscription_price if settings else 0
    if price and creator.creator_verified_at is None:
        raise NotAllowed("Paid subscriptions open once this creator is verified.")
    age_gate.check(fan, creator)
    first_price, promotion = first_period_price(fan, creator_id, price)
    now = clock.now()
    subscription = get(fan.id, creator_id)
    in_grace = subscription is not None and subscription.status == SubscriptionStatus.GRACE
    if in_grace and has_access(subscription):
        # Topped up during the grace days: pay the overdue period now, keeping the cycle.
        _charge(subscription, fan.id, creator_id)
        subscription.periods += 1
        subscription.current_period_start = subscription.current_period_end
        subscription.current_period_end = subscription.current_period_end + PERIOD
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.grace_until = None
        subscription.updated_at = now
        db.session.commit()
        return subscription
    if subscription is not None and has_access(subscription, now):
        if subscription.cancel_at_period_end:
            subscription.cancel_at_period_end = False
            subscription.updated_at = now
            db.session.commit()
            return subscription
        raise Conflict("You are already subscribed.")
    if subscription is None:
        subscription = Subscription(
            fan_id=fan.id,
            creator_id=creator_id,
            price=price,
            current_period_start=now,
            current_period_end=now,
            started_at=now,
        )
        db.session.add(subscription)
        try:
            db.session.flush()
        except IntegrityError as exc:  # a second click at the same moment
            db.session.rollback()
            raise Conflict("You are already subscribed.") from exc
    subscription.price = price
    # Raises InsufficientCredits (nothing written) or DuplicateTransfer (another click won).
    _charge(subscription, fan.id, creator_id, first_price)
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.periods += 1
    subscription.current_period_start = now
    subscription.current_period_end = now + PERIOD
    subscription.cancel_at_period_end = False
    subscription.grace_until = None
    subscription.updated_at = now
    _notify(
        creator_id,
        "subscriber",
        f"{fan.display_name} subscribed to you" + (f" ({price} credits)." if price else " (free)."),
        f"/people/{fan.id}",
        actor_id=fan.id,
    )
    db.session.commit()
    return subscription


def cancel(fan: User, creator_id: int) -> Subscription:
    """Stop renewing; access lasts to the end of the paid period."""
    subscription = get(fan.id, creator_id)
    if subscription is None or not has_access(subscription):
        raise NotFound("You are not subscribed to this creator.")
    if subscription.status == SubscriptionStatus.GRACE:
        subscription.status = SubscriptionStatus.LAPSED  # nothing paid for this period: it ends now
        subscription.grace_until = None
    subscription.cancel_at_period_end = True
    subscription.updated_at = clock.now()
    db.session.commit()
    return subscription


def _notify(user_id: int, kind: str, text: str, link: str, actor_id: int | None = None) -> None:
    db.session.add(
        Notification(user_id=user_id, kind=kind, text=text, link=link, actor_id=actor_id)
    )


# --- the renewal job --------------------------------------------------------------------------


def due_ids(now: dt.datetime) -> list[int]:
    return list(
        db.session.scalars(
            select(Subscription.id)
            .where(
                Subscription.is_live,
                Subscription.current_period_end <= now,
            )
            .order_by(Subscription.current_period_end, Subscription.id)
        )
    )


def renew_one(subscription_id: int, now: dt.datetime | None = None) -> str:
    """Renew, start or continue the grace, lapse or end one subscription. One transaction;
    safe to run twice. Returns what happened."""
    now = now or clock.now()
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or not subscription.is_live or subscription.current_period_end > now:
        db.session.rollback()
        return "not due"
    creator = db.session.get(User, subscription.creator_id)
    fan = db.session.get(User, subscription.fan_id)
    creator_gone = (
        creator is None
        or not creator.is_creator
        or creator.is_gone
        or creator.delete_requested_at is not None  # leaving: nothing renews
        or fan is None
        or fan.is_gone
        or safety.blocked_between(subscription.fan_id, subscription.creator_id)
    )
    if subscription.cancel_at_period_end or creator_gone:
        subscription.status = SubscriptionStatus.ENDED
        subscription.updated_at = now
        db.session.commit()
        return "ended"
    try:
        _charge(subscription, subscription.fan_id, subscription.creator_id)
    except (ledger.InsufficientCredits, ledger.AccountFrozen):
        # post() rolled the session back: load the row again before changing it.
        subscription = db.session.get(Subscription, subscription_id)
        return _short_of_credits(subscription, creator, now)
    converted = subscription.trial_until is not None
    subscription.periods += 1
    subscription.current_period_start = subscription.current_period_end
    subscription.current_period_end = subscription.current_period_end + PERIOD
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.grace_until = None
    subscription.trial_until = None
    subscription.updated_at = now
    db.session.commit()
    return "converted" if converted else "renewed"


def _short_of_credits(subscription: Subscription, creator: User, now: dt.datetime) -> str:
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.GRACE
        subscription.grace_until = subscription.current_period_end + GRACE
        subscription.updated_at = now
        _notify(
            subscription.fan_id,
            "subscription",
            f"Your subscription to {creator.display_name} could not renew: you need "
            f"{subscription.price} credits. Top up within {GRACE.days} days to keep it.",
            "/wallet",
        )
        db.session.commit()
        return "grace"
    if subscription.grace_until is not None and now >= subscription.grace_until:
        subscription.status = SubscriptionStatus.LAPSED
        subscription.updated_at = now
        _notify(
            subscription.fan_id,
            "subscription",
            f"Your subscription to {creator.display_name} has lapsed.",
            f"/creators/{creator.id}",
        )
        db.session.commit()
        return "lapsed"
    db.session.rollback()
    return "still in grace"


def renew_due(now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic job: every due subscription, each in its own transaction."""
    now = now or clock.now()
    outcomes: dict[str, int] = {}
    for subscription_id in due_ids(now):
        try:
            outcome = renew_one(subscription_id, now)
        except ledger.DuplicateTransfer:
            db.session.rollback()
            outcome = "raced"  # another worker is renewing it right now
        except Exception:
            db.session.rollback()
            log.exception("renewing subscription %s failed", subscription_id)
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


_NOT_READ = object()
_BEST_PROMOTION = (
    select(Promotion)
    .where(
        Promotion.creator_id == bindparam("creator_id"),
        Promotion.audience.in_(bindparam("audiences", expanding=True)),
        Promotion.starts_at <= bindparam("now"),
        Promotion.ends_at > bindparam("now"),
    )
    .order_by(Promotion.discount_bps.desc())
)  # a creator's page asks on every view: built once


def first_period_price(
    fan: User | None, creator_id: int, price: int, previous: object = _NOT_READ
) -> tuple[int, Promotion | None]:
    """The first month's price for `fan` now: the best running promotion they qualify for.
    `previous`: their subscription to this creator (None: never), when the caller has read it."""
    if price <= 0:
        return price, None
    now = clock.now()
    if previous is _NOT_READ:
        previous = get(fan.id, creator_id) if fan is not None else None
    if previous is not None and previous.is_live:
        return price, None
    audiences = ["new", "both"] if previous is None else ["lapsed", "both"]
    values = {"creator_id": creator_id, "audiences": audiences, "now": now}
    promotion = db.session.scalar(_BEST_PROMOTION, values)
    if promotion is None:
        return price, None
    return max(price - (price * promotion.discount_bps + 5000) // 10000, 1), promotion
