"""Paid calls (docs/dating.md#paid-calls) on a frozen clock: a hold for the first minutes, extended
as the call goes, each started minute charged at hang-up or at a dropped connection, the rest
released."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import Conflict, DomainError
from extensions import db
from models import Call, CreatorSettings, Transfer
from services import calls, ledger
from tests.creator_helpers import creator, fan

T0 = dt.datetime(2026, 6, 1, 20, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def caller(credits: int, price: int = 10):
    luna, sam = creator(), fan(credits=credits)
    settings = db.session.get(CreatorSettings, luna.id)
    settings.call_price = price
    db.session.commit()
    return luna, sam


def started(credits=1000, price=10):
    luna, sam = caller(credits, price)
    with clock.frozen(T0):
        call = calls.request(sam, luna.id)
        calls.accept(luna, call.id, T0)
    return luna, sam, call


def test_accepting_holds_the_first_three_minutes(ctx):
    luna, sam, call = started()
    assert call.status == "active" and call.held_minutes == 3
    assert ledger.wallet_balance(sam.id) == 970
    assert ledger.open_hold_amount(sam.id, ("call", call.id)) == 30
    assert ledger.verify() == []


def test_a_call_is_charged_per_started_minute_and_the_rest_released(ctx):
    luna, sam, call = started()
    for second in range(10, 150, 10):  # both sides send heartbeats every 10 s
        calls.heartbeat(sam, call.id, at(second))
        calls.heartbeat(luna, call.id, at(second))
    calls.end(sam, call.id, at(150))  # 2 min 30 s: three started minutes
    call = db.session.get(Call, call.id)
    assert (call.status, call.charged_minutes) == ("ended", 3)
    assert ledger.wallet_balance(sam.id) == 970
    assert ledger.balances(luna.id)["earnings_pending"] == 24  # 30 − 20% fee
    assert ledger.open_hold_amount(sam.id, ("call", call.id)) == 0
    assert ledger.system_balance("holds") == 0 and ledger.verify() == []


def test_the_hold_grows_a_minute_at_a_time_as_the_call_goes(ctx):
    luna, sam, call = started()
    calls.heartbeat(sam, call.id, at(170))  # in the third minute: hold the fourth
    assert db.session.get(Call, call.id).held_minutes == 4
    assert ledger.open_hold_amount(sam.id, ("call", call.id)) == 40
    calls.heartbeat(sam, call.id, at(175))  # nothing more yet
    assert db.session.get(Call, call.id).held_minutes == 4
    calls.end(luna, call.id, at(200))
    assert db.session.get(Call, call.id).charged_minutes == 4
    assert ledger.wallet_balance(sam.id) == 960 and ledger.verify() == []


def test_a_short_call_still_costs_its_first_minute_and_hanging_up_twice_bills_once(ctx):
    luna, sam, call = started()
    calls.end(luna, call.id, at(5))
    calls.end(sam, call.id, at(9))
    assert db.session.get(Call, call.id).charged_minutes == 1
    assert ledger.wallet_balance(sam.id) == 990
    kinds = db.session.scalars(select(Transfer.kind).order_by(Transfer.id)).all()
    assert kinds.count("call_settle") == 1


def test_a_dropped_connection_is_settled_thirty_seconds_later_up_to_its_last_heartbeat(ctx):
    luna, sam, call = started()
    for second in (10, 20, 30, 40, 50, 60, 70):
        calls.heartbeat(luna, call.id, at(second))
        calls.heartbeat(sam, call.id, at(second))
    calls.heartbeat(luna, call.id, at(95))  # the fan's browser went away after 70 s
    assert calls.sweep(at(99))["dropped"] == 0
    assert calls.sweep(at(100))["dropped"] == 1
    call = db.session.get(Call, call.id)
    assert call.end_reason == "connection lost" and call.charged_minutes == 2  # up to 70 s
    assert call.ended_at == at(70)
    assert ledger.wallet_balance(sam.id) == 980 and ledger.verify() == []


def test_the_call_ends_itself_when_the_credits_run_out_with_a_warning_first(ctx):
    from services import realtime

    events = []
    luna, sam = caller(credits=25, price=10)  # two minutes and a half
    fan_inbox = realtime.broker().subscribe(sam.id)
    with clock.frozen(T0):
        call = calls.request(sam, luna.id)
        calls.accept(luna, call.id, T0)
    assert call.held_minutes == 2 and ledger.wallet_balance(sam.id) == 5
    calls.heartbeat(sam, call.id, at(65))  # in the last held minute: no credits for a third
    while (event := fan_inbox.get(timeout=0.05)) is not None:
        events.append(event)
    warning = [e for e in events if e["type"] == "call_warning"]
    assert len(warning) == 1 and 0 < warning[0]["seconds_left"] <= 60
    for side in (luna, sam):
        calls.heartbeat(side, call.id, at(110))
    assert calls.sweep(at(121))["out_of_credits"] == 1
    call = db.session.get(Call, call.id)
    assert call.charged_minutes == 2 and call.ended_at == at(120)
    assert ledger.wallet_balance(sam.id) == 5 and ledger.verify() == []
    fan_inbox.close()


def test_requests_expire_and_expired_requests_cannot_be_accepted(ctx):
    luna, sam = caller(credits=100)
    with clock.frozen(T0):
        call = calls.request(sam, luna.id)
    with pytest.raises(Conflict, match="expired"):
        calls.accept(luna, call.id, at(61))
    assert db.session.get(Call, call.id).status == "expired"
    assert ledger.wallet_balance(sam.id) == 100
    assert (
        db.session.scalar(select(func.count(Transfer.id)).where(Transfer.kind == "call_hold")) == 0
    )


def test_calls_need_a_price_credits_and_no_block(ctx):
    luna, sam = caller(credits=5, price=10)
    with pytest.raises(ledger.InsufficientCredits):
        calls.request(sam, luna.id)
    free = creator("Free")
    with pytest.raises(DomainError, match="does not take calls"):
        calls.request(fan(credits=100), free.id)
    rich = fan("Rich", credits=500)
    from services import safety

    safety.block(luna, rich.id)
    with pytest.raises(Exception, match="no such creator"):
        calls.request(rich, luna.id)


def test_only_the_two_people_can_touch_a_call(ctx):
    luna, sam, call = started()
    eve = fan("Eve")
    with pytest.raises(Exception, match="no such call"):
        calls.end(eve, call.id, at(30))
    with pytest.raises(Exception, match="no such call"):
        calls.signal(eve, call.id, {"candidate": None})
    assert db.session.get(Call, call.id).status == "active"
