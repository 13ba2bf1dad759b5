"""Paid calls with a creator at their per-minute price (docs/dating.md#paid-calls), billed with
two-phase holds.

* A fan asks; the creator has `REQUEST_SECONDS` to accept (then the request expires).
* Accepting places a hold on the fan's wallet for the first minutes (up to `FIRST_HOLD_MINUTES`,
  at least one): wallet → holds, reference ("call", id). While the call runs, heartbeats from
  both sides keep the hold one minute ahead of the time used, one minute at a time.
* Each started minute is charged. The call ends when either side hangs up, when a side's
  heartbeats stop for `DROP_SECONDS` (billed up to its last heartbeat), or when the fan's held
  credits run out (a warning a minute before). Ending settles every hold: the charge to the
  creator (with the platform fee), the rest back to the fan.

Every hold and the settlement have idempotency keys built from the call id, so retries and two
sweeps at once bill a call once.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from sqlalchemy import select

from core import clock
from core.errors import Conflict, DomainError, NotAllowed, NotFound
from extensions import db
from models import Call, CallStatus, CreatorSettings, Notification, User, UserStatus
from services import age_gate, ledger, realtime, safety
from services.input import parse_id
from services.random_chat import _clean_signal

REQUEST_SECONDS = 60
FIRST_HOLD_MINUTES = 3
DROP_SECONDS = 30
log = logging.getLogger("amora.calls")


def _publish(call: Call, event: dict) -> None:
    for user_id in (call.fan_id, call.creator_id):
        realtime.broker().publish(user_id, {**event, "call": call.id})


def price_of(creator_id: int) -> int:
    settings = db.session.get(CreatorSettings, creator_id)
    return settings.call_price if settings else 0


def request(fan: User, creator_id: int) -> Call:
    creator = db.session.get(User, creator_id)
    if creator is None or not creator.is_creator or creator.status != UserStatus.ACTIVE:
        raise NotFound("There is no such creator.")
    if fan.id == creator_id:
        raise DomainError("You cannot call yourself.")
    if safety.blocked_between(fan.id, creator_id):
        raise NotFound("There is no such creator.")
    if fan.status != UserStatus.ACTIVE or not fan.email_verified:
        raise NotAllowed(
            "Confirm your email address (and keep your account in good standing) to call."
        )
    if creator.creator_verified_at is None:
        raise NotAllowed(
            f"{creator.display_name} is not verified yet: paid calls open once they are."
        )
    age_gate.check(fan, creator)
    price = price_of(creator_id)
    if price <= 0:
        raise DomainError(f"{creator.display_name} does not take calls.")
    if ledger.wallet_balance(fan.id) < price:
        raise ledger.InsufficientCredits(price, ledger.wallet_balance(fan.id))
    busy = db.session.scalar(select(Call.id).where(Call.fan_id == fan.id, Call.is_open))
    if busy is not None:
        raise Conflict("You already have a call going on.")
    call = Call(
        fan_id=fan.id, creator_id=creator_id, price_per_minute=price, requested_at=clock.now()
    )
    db.session.add(call)
    db.session.add(
        Notification(
            user_id=creator_id,
            kind="call",
            actor_id=fan.id,
            text=f"{fan.display_name} is calling you ({price} credits a minute).",
            link="/creator/calls",
        )
    )
    db.session.commit()
    realtime.broker().publish(
        creator_id,
        {"type": "call_request", "call": call.id, "from": fan.display_name, "price": price},
    )
    return call


def get_for(user: User, call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None or user.id not in (call.fan_id, call.creator_id):
        raise NotFound("There is no such call.")
    return call


def get_with_other(user: User, call_id: int) -> tuple[Call, User]:
    """A call `user` is in (NotFound otherwise), and the other person in it."""
    call = get_for(user, call_id)
    other_id = call.creator_id if user.id == call.fan_id else call.fan_id
    return call, db.session.get(User, other_id)


def incoming(creator: User) -> list[tuple[Call, User]]:
    expire_requests()
    rows = db.session.execute(
        select(Call, User)
        .join(User, User.id == Call.fan_id)
        .where(Call.creator_id == creator.id, Call.is_open)
        .order_by(Call.id.desc())
    ).all()
    return [(call, fan) for call, fan in rows]


def _expired(call: Call, now: dt.datetime) -> bool:
    return call.status == CallStatus.REQUESTED and now >= call.requested_at + dt.timedelta(
        seconds=REQUEST_SECONDS
    )


def expire_requests(now: dt.datetime | None = None) -> int:
    now = now or clock.now()
    due = db.session.scalars(select(Call).where(Call.status == CallStatus.REQUESTED)).all()
    count = 0
    for call in due:
        if _expired(call, now):
            call.status, call.end_reason, call.ended_at = CallStatus.EXPIRED, "not answered", now
            count += 1
            _publish(call, {"type": "call_ended", "reason": "not answered", "charged": 0})
    db.session.commit()
    return count


def accept(creator: User, call_id: int, now: dt.datetime | None = None) -> Call:
    now = now or clock.now()
    call = get_for(creator, call_id)
    if call.creator_id != creator.id:
        raise NotFound("There is no such call.")
    if _expired(call, now):
        expire_requests(now)
        raise Conflict("This call request has expired.")
    if call.status != CallStatus.REQUESTED:
        raise Conflict("This call is no longer waiting.")
    balance = ledger.wallet_balance(call.fan_id)
    minutes = min(FIRST_HOLD_MINUTES, balance // call.price_per_minute)
    if minutes < 1:
        call.status, call.end_reason = CallStatus.CANCELLED, "fan out of credits"
        call.ended_at = now
        db.session.commit()
        _publish(call, {"type": "call_ended", "reason": "out of credits", "charged": 0})
        raise DomainError("The fan no longer has enough credits for a minute.")
    ledger.hold(
        call.fan_id, minutes * call.price_per_minute, f"call:{call.id}:hold:1", ("call", call.id)
    )
    call.status = CallStatus.ACTIVE
    call.started_at = call.last_seen_fan = call.last_seen_creator = now
    call.held_minutes = minutes
    db.session.commit()
    _publish(
        call,
        {
            "type": "call_started",
            "price": call.price_per_minute,
            "started_at": now.isoformat(),
            "held_minutes": minutes,
        },
    )
    return call


def decline(creator: User, call_id: int) -> Call:
    call = get_for(creator, call_id)
    if call.creator_id != creator.id or call.status != CallStatus.REQUESTED:
        raise Conflict("This call is no longer waiting.")
    call.status, call.end_reason, call.ended_at = CallStatus.DECLINED, "declined", clock.now()
    db.session.commit()
    _publish(call, {"type": "call_ended", "reason": "declined", "charged": 0})
    return call


def _minutes_started(call: Call, until: dt.datetime) -> int:
    seconds = max((until - call.started_at).total_seconds(), 0.001)
    return math.ceil(seconds / 60)


def heartbeat(user: User, call_id: int, now: dt.datetime | None = None) -> Call:
    """Either side is still there. Keeps the hold a minute ahead; warns, or ends the call, when
    the fan's credits run out."""
    now = now or clock.now()
    call = get_for(user, call_id)
    if call.status != CallStatus.ACTIVE:
        return call
    if user.id == call.fan_id:
        call.last_seen_fan = now
    else:
        call.last_seen_creator = now
    db.session.commit()  # seen, whatever happens to the hold below
    used = _minutes_started(call, now)
    paid_until = call.started_at + dt.timedelta(minutes=call.held_minutes)
    if now >= paid_until:
        db.session.commit()
        return end(None, call.id, now, reason="out of credits", at=paid_until)
    if call.held_minutes <= used:  # the next minute starts soon: hold it now
        try:
            ledger.hold(
                call.fan_id,
                call.price_per_minute,
                f"call:{call.id}:hold:{call.held_minutes + 1}",
                ("call", call.id),
            )
        except ledger.InsufficientCredits:
            db.session.rollback()
            call = db.session.get(Call, call_id)
            if not call.detail.get("warned"):
                call.detail = {**call.detail, "warned": True}
                db.session.commit()
                _publish(
                    call,
                    {
                        "type": "call_warning",
                        "seconds_left": int((paid_until - now).total_seconds()),
                    },
                )
            return call
        call.held_minutes += 1
    db.session.commit()
    return call


def end(
    user: User | None,
    call_id: int,
    now: dt.datetime | None = None,
    *,
    reason: str = "hung up",
    at: dt.datetime | None = None,
) -> Call:
    """Hang up (or the system ends it): charge each started minute, release the rest."""
    now = now or clock.now()
    call = get_for(user, call_id) if user is not None else db.session.get(Call, call_id)
    if call is None:
        raise NotFound("There is no such call.")
    if call.status == CallStatus.REQUESTED:
        call.status, call.end_reason, call.ended_at = CallStatus.CANCELLED, reason, now
        db.session.commit()
        _publish(call, {"type": "call_ended", "reason": reason, "charged": 0})
        return call
    if call.status != CallStatus.ACTIVE:
        return call  # ended already: hanging up twice bills once
    until = min(at or now, call.started_at + dt.timedelta(minutes=call.held_minutes))
    minutes = min(_minutes_started(call, until), call.held_minutes)
    charge = minutes * call.price_per_minute
    ledger.settle_holds(
        call.fan_id, call.creator_id, ("call", call.id), charge, f"call:{call.id}:settle"
    )
    call.status = CallStatus.ENDED
    call.ended_at = until
    call.charged_minutes = minutes
    call.end_reason = reason
    db.session.commit()
    _publish(call, {"type": "call_ended", "reason": reason, "charged": charge, "minutes": minutes})
    return call


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Periodic: expire unanswered requests, end calls whose side went quiet (billed to its last
    heartbeat) or whose credits ran out."""
    now = now or clock.now()
    outcomes = {"expired": expire_requests(now), "dropped": 0, "out_of_credits": 0}
    for call in db.session.scalars(select(Call).where(Call.status == CallStatus.ACTIVE)).all():
        last = min(call.last_seen_fan or call.started_at, call.last_seen_creator or call.started_at)
        paid_until = call.started_at + dt.timedelta(minutes=call.held_minutes)
        try:
            if now - last >= dt.timedelta(seconds=DROP_SECONDS):
                end(None, call.id, now, reason="connection lost", at=last)
                outcomes["dropped"] += 1
            elif now >= paid_until:
                end(None, call.id, now, reason="out of credits", at=paid_until)
                outcomes["out_of_credits"] += 1
        except ledger.DuplicateTransfer:
            db.session.rollback()  # another sweep is settling it
    return outcomes


def signal(user: User, call_id: object, data: object) -> None:
    row_id = parse_id(call_id)
    if row_id is None:
        raise NotFound("There is no such call.")
    call = get_for(user, row_id)
    if call.status != CallStatus.ACTIVE:
        raise DomainError("This call is not running.")
    other = call.creator_id if user.id == call.fan_id else call.fan_id
    realtime.broker().publish(
        other, {"type": "call_signal", "call": call.id, "data": _clean_signal(data)}
    )
