"""Creator mode (docs/creators.md#creator-mode): a fan switches it on in settings and sets their
prices.

A creator's public page shows their headline, prices, verification state and posts. Turning
creator mode off hides the page and stops new payments; existing subscriptions run to the end of
the period they paid for and are not renewed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, func, select, update
from sqlalchemy.orm import aliased

from core import clock, sql
from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, Profile, Subscription, User, UserStatus
from models.creator import MAX_PRICE
from services import audit, country_blocks, ledger, safety, sessions

MAX_HEADLINE = 140


def check_price(price: int, field: str, label: str, errors: dict[str, str]) -> None:
    """A price is a number of credits from 0 to MAX_PRICE; else a message in `errors[field]`."""
    if price < 0:
        errors[field] = f"{label} cannot be negative."
    elif price > MAX_PRICE:
        errors[field] = f"{label} can be at most {MAX_PRICE:,} credits."


def settings_of(user_id: int) -> CreatorSettings | None:
    return sql.get(CreatorSettings, user_id)


def update_settings(
    user: User,
    *,
    headline: str = "",
    subscription_price: int = 0,
    message_price: int = 0,
    call_price: int = 0,
    blocked_countries: str = "",
    watermark: bool | None = None,
    adult_content: bool | None = None,
) -> CreatorSettings:
    """Switch creator mode on (or keep it on) with a headline and prices. `blocked_countries` is
    the text typed in the form ("de, fr"); `watermark` and `adult_content` None leave those
    switches as they are. One transaction."""
    errors: dict[str, str] = {}
    headline = headline.strip()
    if len(headline) > MAX_HEADLINE:
        errors["headline"] = f"The headline can be up to {MAX_HEADLINE} characters."
    check_price(message_price, "message_price", "A message", errors)
    check_price(subscription_price, "subscription_price", "A subscription", errors)
    check_price(call_price, "call_price", "A call minute", errors)
    try:
        blocked = country_blocks.parse(blocked_countries)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        blocked = ""
    if adult_content is False and user.adult_by_staff:
        errors["adult"] = "Our team marked your content adult: ask them if that is wrong."
    if errors:
        raise ValidationFailed(errors)
    settings = db.session.get(CreatorSettings, user.id)
    if settings is None:
        settings = CreatorSettings(user_id=user.id)
        db.session.add(settings)
    settings.headline = headline
    settings.message_price = message_price
    settings.subscription_price = subscription_price
    settings.call_price = call_price
    settings.blocked_countries = blocked
    if watermark is not None:
        settings.watermark = watermark
    if adult_content is not None:
        user.adult_content = adult_content
    settings.updated_at = clock.now()
    turned_on = not user.is_creator
    user.is_creator = True
    db.session.execute(
        update(Profile).where(Profile.user_id == user.id).values(is_creator=True),
        execution_options={"synchronize_session": False},
    )
    if turned_on:
        # Their earnings account from the start: a first tip or message is then paid like
        # every later one (one statement on PostgreSQL) rather than creating it on the way.
        ledger.user_account(user.id, "earnings_pending")
        audit.record("creator.enabled", actor_id=user.id, target=("user", user.id))
        sessions.recheck_sockets(user.id)  # their open chats now write as a creator
    db.session.commit()
    return settings


def disable(user: User) -> int:
    """Creator mode off. Active subscriptions end with the period already paid; returns how
    many were set to end."""
    if not user.is_creator:
        return 0
    result = db.session.execute(
        update(Subscription)
        .where(Subscription.creator_id == user.id, Subscription.is_live)
        .values(cancel_at_period_end=True, updated_at=clock.now()),
        execution_options={"synchronize_session": False},
    )
    user.is_creator = False
    db.session.execute(
        update(Profile).where(Profile.user_id == user.id).values(is_creator=False),
        execution_options={"synchronize_session": False},
    )
    audit.record(
        "creator.disabled",
        actor_id=user.id,
        target=("user", user.id),
        subscriptions=result.rowcount,
    )
    sessions.recheck_sockets(user.id)  # their open chats now write as a member
    db.session.commit()
    return result.rowcount


def get_creator(creator_id: int) -> User:
    """A creator whose page can be shown (in creator mode, not banned or deleted)."""
    user = sql.get(User, creator_id)
    if user is None or not user.is_creator or user.is_gone:
        raise NotFound("There is no such creator.")
    return user


def visible_creator(viewer: User | None, creator_id: int) -> User:
    """A creator whose page `viewer` (None: a visitor) may open: `get_creator`, no block either
    way (docs/dating.md#blocks), and not blocked in the viewer's country
    (docs/creators.md#country-blocks). Hidden is "not found", as for no creator at all."""
    return _visible(_CREATOR, viewer, creator_id)[0]


@dataclass(frozen=True)
class CreatorPage:
    """What a creator's page shows above the posts."""

    creator: User
    settings: CreatorSettings | None
    subscription: Subscription | None  # the viewer's, live or not (None for a visitor)
    subscribers: int  # live subscriptions
    extra: tuple = ()  # the values of the caller's `extra` columns


def creator_page(
    viewer: User | None, creator_id: int, extra: tuple = (), values: dict | None = None
) -> CreatorPage:
    """`visible_creator`, its settings, the viewer's subscription and the number of live
    subscribers: one statement for the page's head. `extra`: more labelled columns of the
    `creator_id` and `viewer_id` parameters (and of `values`) to read in it, such as the first
    page of posts (`posts.CREATOR_FIRST_PAGE`)."""
    creator, settings, subscription, subscribers, *more = _visible(
        _creator_page_with(extra), viewer, creator_id, values
    )
    return CreatorPage(creator, settings, subscription, subscribers, tuple(more))


def _visible(statement, viewer: User | None, creator_id: int, values: dict | None = None) -> tuple:
    """The row of `statement` (User, CreatorSettings, …, blocked) for a creator `viewer` may
    see, without the block flag; NotFound otherwise."""
    found = sql.load(
        statement,
        {"creator_id": creator_id, "viewer_id": viewer.id if viewer else None, **(values or {})},
    )
    row = found[0] if found else None
    if row is None or not row[0].is_creator or row[0].is_gone:
        raise NotFound("There is no such creator.")
    # The settings are held here: the country check below finds them in the session.
    if (viewer is not None and row[-1]) or country_blocks.is_blocked(creator_id, viewer):
        raise NotFound("There is no such creator.")
    return tuple(row[:-1])


_CREATOR = (
    select(User, CreatorSettings, safety.BLOCKED_BY_VIEWER)
    .outerjoin(CreatorSettings, CreatorSettings.user_id == User.id)
    .where(User.id == bindparam("creator_id"))
)


def subscriber_count_query(creator_id):
    """The number of live subscriptions to a creator, as a statement, for an id, a bind
    parameter or a column: for a statement that reads it with other things. Its subscriptions
    are an alias: a statement that joins the viewer's own subscription keeps it."""
    counted = aliased(Subscription)
    return select(func.count(counted.id)).where(counted.creator_id == creator_id, counted.is_live)


@functools.cache
def _creator_page_with(extra: tuple) -> Select:
    return (
        select(
            User,
            CreatorSettings,
            Subscription,
            subscriber_count_query(User.id).scalar_subquery().label("subscribers"),
            *extra,
            safety.BLOCKED_BY_VIEWER,  # last: `_visible` reads it there
        )
        .outerjoin(CreatorSettings, CreatorSettings.user_id == User.id)
        .outerjoin(
            Subscription,
            and_(Subscription.creator_id == User.id, Subscription.fan_id == bindparam("viewer_id")),
        )
        .where(User.id == bindparam("creator_id"))
    )


def payee(fan: User, creator_id: int, doing: str) -> User:
    """The creator `fan` is about to pay (`doing`: "subscribe", "tip"…), after the checks every
    payment to a creator shares: a real, active creator who is not the fan and not blocked
    either way; a fan in good standing with a confirmed email. Someone hidden is "not found"."""

    if fan.id == creator_id:
        raise DomainError(f"You cannot {doing} yourself.")
    creator = db.session.get(User, creator_id)
    if (
        creator is None
        or not creator.is_creator
        or creator.is_gone
        or safety.blocked_between(fan.id, creator_id)
    ):
        raise NotFound("There is no such creator.")
    if fan.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot make payments right now.")
    if not fan.email_verified:
        raise NotAllowed(f"Confirm your email address before you {doing}.")
    return creator


def creators_list(limit: int = 60) -> list[tuple[User, CreatorSettings | None]]:
    """Creators to browse, verified first, then the most recently active."""
    rows = db.session.execute(
        select(User, CreatorSettings)
        .outerjoin(CreatorSettings, CreatorSettings.user_id == User.id)
        .where(User.is_creator.is_(True), User.status == UserStatus.ACTIVE)
        .order_by(
            User.creator_verified_at.is_(None),
            User.last_active_at.desc().nulls_last(),
            User.id,
        )
        .limit(limit)
    ).all()
    return [(user, settings) for user, settings in rows]
