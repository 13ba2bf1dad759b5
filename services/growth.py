"""Creator growth tools (docs/creators.md#growth-tools): free-trial links, bundles, promotions and
referrals.

* A trial link gives N days of subscription for free, to at most `max_uses` fans, until it
  expires; a fan gets one trial per creator, ever. When the trial ends the renewal job charges
  the normal monthly price (or the subscription ends if the fan cancelled meanwhile).
* A bundle pays 3, 6 or 12 months up front at the creator's discount, in one ledger transfer;
  bought while subscribed it extends the current period.
* A promotion discounts the first month for new subscribers, lapsed ones, or both, between two
  dates; renewals are at the normal price.
* A referral: a creator's link (`/join/<code>`) brings a new member; for `REFERRAL_MONTHS`
  the referrer earns `REFERRAL_BPS` of everything the referred creator earns, paid by the
  platform (`services.ledger.pay_referral`), never taken from the referred creator.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import clock
from core.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    CreatorSettings,
    Entry,
    Promotion,
    Referral,
    Subscription,
    SubscriptionStatus,
    Transfer,
    TrialLink,
    TrialUse,
    User,
    UserStatus,
)
from services import age_gate, creators, ledger, safety, subscriptions

REFERRAL_MONTHS = 12
BUNDLE_MONTHS = (3, 6, 12)
MAX_BUNDLE_BPS = 5000
MAX_TRIAL_DAYS = 90
MAX_TRIAL_USES = 100_000
MAX_TRIAL_LINK_DAYS = 365
MAX_PROMOTION_PERCENT = 90
PROMOTION_AUDIENCES = {
    "new": "New subscribers",
    "lapsed": "Lapsed subscribers",
    "both": "Both",
}


def _between(number: int, field: str, label: str, low: int, high: int, errors: dict) -> None:
    if not low <= number <= high:
        errors[field] = f"{label} is between {low} and {high}."


def _creator(user: User) -> None:
    if not user.is_creator:
        raise NotAllowed("Switch on creator mode first.")


# --- free-trial links --------------------------------------------------------------------------


def create_trial_link(creator: User, *, days: int, max_uses: int, valid_days: int) -> TrialLink:
    """A link giving `days` free days to at most `max_uses` fans, for `valid_days` days."""
    _creator(creator)
    errors: dict[str, str] = {}
    _between(days, "days", "Free days", 1, MAX_TRIAL_DAYS, errors)
    _between(max_uses, "max_uses", "Uses", 1, MAX_TRIAL_USES, errors)
    _between(valid_days, "valid_days", "Days the link works", 1, MAX_TRIAL_LINK_DAYS, errors)
    if errors:
        raise ValidationFailed(errors)
    link = TrialLink(
        creator_id=creator.id,
        code=secrets.token_urlsafe(9),
        days=days,
        max_uses=max_uses,
        expires_at=clock.now() + dt.timedelta(days=valid_days),
    )
    db.session.add(link)
    db.session.commit()
    return link


def trial_links(creator: User) -> list[TrialLink]:
    return list(
        db.session.scalars(
            select(TrialLink)
            .where(TrialLink.creator_id == creator.id)
            .order_by(TrialLink.id.desc())
        )
    )


def revoke_trial_link(creator: User, link_id: int) -> None:
    link = db.session.get(TrialLink, link_id)
    if link is None or link.creator_id != creator.id:
        raise NotFound("There is no such link.")
    link.revoked_at = link.revoked_at or clock.now()
    db.session.commit()


def find_trial(code: str) -> TrialLink:
    link = db.session.scalar(select(TrialLink).where(TrialLink.code == (code or "")))
    if link is None:
        raise NotFound("This trial link does not exist.")
    return link


@dataclass(frozen=True)
class TrialPage:
    link: TrialLink
    creator: User
    problem: str | None  # why the viewer cannot use it now, or None


def trial_page(code: str, viewer: User | None) -> TrialPage:
    """What a trial link's page shows `viewer` (None: a visitor); NotFound for an unknown code."""
    link = find_trial(code)
    return TrialPage(link, db.session.get(User, link.creator_id), trial_problem(link, viewer))


def trial_problem(link: TrialLink, fan: User | None, now: dt.datetime | None = None) -> str | None:
    """Why `fan` cannot use `link` now, or None."""
    now = now or clock.now()
    creator = db.session.get(User, link.creator_id)
    if creator is None or not creator.is_creator or creator.status != UserStatus.ACTIVE:
        return "This creator is not here any more."
    if fan is not None:
        if fan.id == link.creator_id:
            return "This is your own trial link."
        if safety.blocked_between(fan.id, link.creator_id):
            return "This trial link does not exist."
        if db.session.scalar(
            select(TrialUse.id).where(
                TrialUse.fan_id == fan.id, TrialUse.creator_id == link.creator_id
            )
        ):
            return "You already had a free trial with this creator."
        if subscriptions.is_subscriber(fan.id, link.creator_id):
            return "You are already subscribed."
    if link.revoked_at is not None:
        return "This trial link was switched off by the creator."
    if now >= link.expires_at:
        return "This trial link has expired."
    if link.uses >= link.max_uses:
        return "This trial link has been used up."
    return None


def start_trial(fan: User, code: str) -> Subscription:
    """Use a trial link: free access for N days, then the renewal job charges the price."""
    link = find_trial(code)
    if fan.status != UserStatus.ACTIVE or not fan.email_verified:
        raise NotAllowed("Confirm your email address to start a trial.")
    problem = trial_problem(link, fan)
    if problem:
        raise Conflict(problem)
    owner = db.session.get(User, link.creator_id)
    if owner is not None:
        age_gate.check(fan, owner)
    now = clock.now()
    used = db.session.execute(
        TrialLink.__table__.update()
        .where(TrialLink.id == link.id, TrialLink.uses < TrialLink.max_uses)
        .values(uses=TrialLink.uses + 1)
    )
    if used.rowcount != 1:
        db.session.rollback()
        raise Conflict("This trial link has been used up.")
    db.session.add(TrialUse(link_id=link.id, fan_id=fan.id, creator_id=link.creator_id))
    settings = db.session.get(CreatorSettings, link.creator_id)
    subscription = subscriptions.get(fan.id, link.creator_id)
    if subscription is None:
        subscription = Subscription(fan_id=fan.id, creator_id=link.creator_id, started_at=now)
        db.session.add(subscription)
    subscription.price = settings.subscription_price if settings else 0
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.current_period_start = now
    subscription.current_period_end = now + dt.timedelta(days=link.days)
    subscription.trial_until = subscription.current_period_end
    subscription.cancel_at_period_end = False
    subscription.grace_until = None
    subscription.updated_at = now
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same fan's other click
        db.session.rollback()
        raise Conflict("You already had a free trial with this creator.") from exc
    return subscription


# --- bundles -------------------------------------------------------------------------------------


def bundle_offers(creator_id: int) -> list[dict]:
    settings = db.session.get(CreatorSettings, creator_id)
    if settings is None or settings.subscription_price <= 0:
        return []
    offers = []
    for months in BUNDLE_MONTHS:
        bps = getattr(settings, f"bundle_{months}_bps")
        if bps:
            full = months * settings.subscription_price
            offers.append(
                {
                    "months": months,
                    "bps": bps,
                    "price": bundle_price(settings.subscription_price, months, bps),
                    "full": full,
                }
            )
    return offers


def bundle_price(monthly: int, months: int, bps: int) -> int:
    """Months at the monthly price, less the discount, rounded half up."""
    return (monthly * months * (10000 - bps) + 5000) // 10000


def set_bundles(creator: User, percent_off: Mapping[int, int]) -> CreatorSettings:
    """The discount (whole percent, 0 = not offered) of each bundle, by its months; a bundle
    left out is not offered."""
    _creator(creator)
    settings = db.session.get(CreatorSettings, creator.id)
    errors: dict[str, str] = {}
    for months, percent in percent_off.items():
        if months not in BUNDLE_MONTHS:
            errors[f"bundle_{months}"] = "Bundles are of 3, 6 or 12 months."
        else:
            label = f"The {months}-month discount (%)"
            _between(percent, f"bundle_{months}", label, 0, MAX_BUNDLE_BPS // 100, errors)
    if errors:
        raise ValidationFailed(errors)
    for months in BUNDLE_MONTHS:
        setattr(settings, f"bundle_{months}_bps", percent_off.get(months, 0) * 100)
    db.session.commit()
    return settings


def buy_bundle(fan: User, creator_id: int, months: int) -> Subscription:
    """Pay `months` up front; extends a running subscription instead of double-charging."""
    offer = next((o for o in bundle_offers(creator_id) if o["months"] == months), None)
    owner = db.session.get(User, creator_id)
    if offer is not None and owner is not None and owner.creator_verified_at is None:
        raise NotAllowed("Paid subscriptions open once this creator is verified.")
    if offer is None:
        raise ValidationFailed({"months": "That bundle is not offered."})

    creator = creators.payee(fan, creator_id, "subscribe to")
    age_gate.check(fan, creator)
    now = clock.now()
    subscription = subscriptions.get(fan.id, creator_id)
    settings = db.session.get(CreatorSettings, creator_id)
    if subscription is None:
        subscription = Subscription(
            fan_id=fan.id,
            creator_id=creator_id,
            price=settings.subscription_price,
            current_period_start=now,
            current_period_end=now,
            started_at=now,
        )
        db.session.add(subscription)
        try:
            db.session.flush()
        except IntegrityError as exc:
            db.session.rollback()
            raise Conflict("Try again: your subscription was just changed.") from exc
    running = subscriptions.has_access(subscription, now) and subscription.trial_until is None
    # The whole bundle is one transfer; the key makes a second click (or a race) charge once.
    ledger.spend(
        fan.id,
        creator_id,
        offer["price"],
        "subscription",
        f"subscription:{subscription.id}:{subscription.periods + 1}",
        reference=("subscription", subscription.id),
        memo=f"{months}-month bundle",
    )
    if running:
        start = subscription.current_period_end
    else:
        start = now
        subscription.current_period_start = now
    subscription.current_period_end = start + subscriptions.PERIOD * months
    subscription.periods += months
    subscription.price = settings.subscription_price
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.cancel_at_period_end = False
    subscription.grace_until = None
    subscription.trial_until = None
    subscription.updated_at = now
    db.session.commit()
    return subscription


# --- promotions ----------------------------------------------------------------------------------


def create_promotion(
    creator: User, *, audience: str, discount: int, starts: dt.date, ends: dt.date
) -> Promotion:
    """`discount` percent off the first month for `audience` (a key of PROMOTION_AUDIENCES),
    from the start of day `starts` to the start of day `ends` (UTC)."""
    _creator(creator)
    errors: dict[str, str] = {}
    if audience not in PROMOTION_AUDIENCES:
        errors["audience"] = "Choose who gets the discount."
    _between(discount, "discount", "The discount (%)", 1, MAX_PROMOTION_PERCENT, errors)
    starts_at = dt.datetime.combine(starts, dt.time())
    ends_at = dt.datetime.combine(ends, dt.time())
    if ends_at <= starts_at:
        errors["ends"] = "The end comes after the start."
    elif ends_at <= clock.now():
        errors["ends"] = "The end is in the past."
    if errors:
        raise ValidationFailed(errors)
    promotion = Promotion(
        creator_id=creator.id,
        audience=audience,
        discount_bps=discount * 100,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    db.session.add(promotion)
    db.session.commit()
    return promotion


def promotions_of(creator: User) -> list[Promotion]:
    return list(
        db.session.scalars(
            select(Promotion)
            .where(Promotion.creator_id == creator.id)
            .order_by(Promotion.id.desc())
        )
    )


def end_promotion(creator: User, promotion_id: int) -> None:
    promotion = db.session.get(Promotion, promotion_id)
    if promotion is None or promotion.creator_id != creator.id:
        raise NotFound("There is no such promotion.")
    now = clock.now()
    if promotion.ends_at > now:
        promotion.ends_at = max(now, promotion.starts_at + dt.timedelta(seconds=1))
    db.session.commit()


# --- referrals -----------------------------------------------------------------------------------


def referral_code(creator: User) -> str:
    settings = db.session.get(CreatorSettings, creator.id)
    if settings is None:
        raise NotAllowed("Switch on creator mode first.")
    if not settings.referral_code:
        settings.referral_code = secrets.token_urlsafe(8)[:10]
        db.session.commit()
    return settings.referral_code


def attach_referral(referred: User, code: str) -> Referral:
    """`referred` was brought by the creator whose code this is. Refuses yourself, a second
    referrer, and loops (someone you brought, directly or not, cannot have brought you)."""
    settings = db.session.scalar(
        select(CreatorSettings).where(CreatorSettings.referral_code == (code or "").strip())
    )
    if settings is None:
        raise ValidationFailed({"referral": "That referral code does not exist."})
    referrer = db.session.get(User, settings.user_id)
    if referrer is None or not referrer.is_creator or referrer.status != UserStatus.ACTIVE:
        raise ValidationFailed({"referral": "That referral code does not work any more."})
    if referrer.id == referred.id:
        raise ValidationFailed({"referral": "You cannot refer yourself."})
    if db.session.scalar(select(Referral.id).where(Referral.referred_id == referred.id)):
        raise Conflict("You were already referred by someone.")
    ancestor = referrer.id
    for _ in range(100):  # walk up the referrer's own chain
        above = db.session.scalar(
            select(Referral.referrer_id).where(Referral.referred_id == ancestor)
        )
        if above is None:
            break
        if above == referred.id:
            raise ValidationFailed({"referral": "That would make a referral loop."})
        ancestor = above
    now = clock.now()
    row = Referral(
        referrer_id=referrer.id,
        referred_id=referred.id,
        started_at=now,
        ends_at=now + dt.timedelta(days=365),
    )
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("You were already referred by someone.") from exc
    return row


def referred_by(creator_id: int) -> tuple[Referral, User] | None:
    row = db.session.execute(
        select(Referral, User)
        .join(User, User.id == Referral.referrer_id)
        .where(Referral.referred_id == creator_id)
    ).first()
    return (row[0], row[1]) if row else None


def referrals_of(referrer: User) -> list[dict]:
    """The people `referrer` brought, with what each brought in so far."""
    rows = db.session.execute(
        select(Referral, User)
        .join(User, User.id == Referral.referred_id)
        .where(Referral.referrer_id == referrer.id)
        .order_by(Referral.id.desc())
    ).all()
    pending = ledger.user_account(referrer.id, "earnings_pending")
    earned = {
        int(referral_id): int(total)
        for referral_id, total in db.session.execute(
            select(Transfer.reference_id, func.sum(Entry.amount))
            .join(Entry, Entry.transfer_id == Transfer.id)
            .where(Transfer.kind == "referral", Entry.account_id == pending.id)
            .group_by(Transfer.reference_id)
        ).all()
    }
    return [
        {"referral": referral, "user": user, "earned": earned.get(referral.id, 0)}
        for referral, user in rows
    ]


def referral_total(referrer_id: int) -> int:
    pending = ledger.user_account(referrer_id, "earnings_pending")
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Entry.amount), 0))
            .join(Transfer, Transfer.id == Entry.transfer_id)
            .where(Transfer.kind == "referral", Entry.account_id == pending.id)
        )
        or 0
    )
