"""The ledger's rules (docs/ledger.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core import clock
from core.errors import DomainError
from extensions import db
from models import Entry, LedgerAccount, Transfer
from services import ledger
from testkit.ledger import paid_order
from testkit.people import person


def wallet(user) -> int:
    return ledger.wallet_balance(user.id)


def test_a_purchase_puts_credits_in_the_wallet(ctx):
    fan = person()
    paid_order(fan, 500)
    assert wallet(fan) == 500
    assert ledger.system_balance("payments_clearing") == -500
    assert ledger.verify() == []


def test_a_spend_splits_between_creator_and_platform(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 100)
    transfer, created = ledger.spend(fan.id, creator.id, 33, "tip", "tip:1")
    db.session.commit()
    assert created and transfer.kind == "tip"
    fee = (33 * 2000 + 5000) // 10000  # 7 (6.6 rounded half up)
    assert fee == 7
    assert wallet(fan) == 67
    assert ledger.balances(creator.id)["earnings_pending"] == 26
    assert ledger.system_balance("platform_revenue") == 7
    assert sum(e.amount for e in transfer.entries) == 0
    assert ledger.verify() == []


def test_the_same_key_moves_money_once(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 100)
    first, created_first = ledger.spend(fan.id, creator.id, 10, "tip", "tip:same")
    db.session.commit()
    again, created_again = ledger.spend(fan.id, creator.id, 10, "tip", "tip:same")
    db.session.commit()
    assert created_first and not created_again and again.id == first.id
    assert wallet(fan) == 90


def test_insufficient_credits_writes_nothing(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 10)
    with pytest.raises(ledger.InsufficientCredits) as failure:
        ledger.spend(fan.id, creator.id, 11, "message", "msg:1")
    assert failure.value.needed == 11 and failure.value.available == 10
    assert "Buy credits" in failure.value.message
    assert db.session.scalar(select(Transfer).where(Transfer.idempotency_key == "msg:1")) is None
    assert wallet(fan) == 10 and ledger.verify() == []


def test_paying_a_creator_who_has_earned_before_follows_the_same_rules(ctx):
    """Once every account exists a spend takes a shorter road on PostgreSQL (one statement):
    the split, the running balances, the refusals and their messages are the same."""
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 50)
    ledger.spend(fan.id, creator.id, 10, "tip", "tip:first")  # creates the creator's account
    db.session.commit()
    transfer, created = ledger.spend(fan.id, creator.id, 33, "message", "msg:known")
    db.session.commit()
    assert created and transfer.kind == "message"
    entries = {e.account.kind: (e.amount, e.balance_after) for e in transfer.entries}
    assert entries["wallet"] == (-33, 7)
    assert entries["earnings_pending"] == (26, 8 + 26)
    assert entries["platform_revenue"][0] == 7
    ids = [e.account_id for e in transfer.entries]
    assert ids == sorted(ids)

    with pytest.raises(ledger.InsufficientCredits) as failure:
        ledger.spend(fan.id, creator.id, 8, "tip", "tip:short")
    assert (failure.value.needed, failure.value.available) == (8, 7)
    short = select(Transfer).where(Transfer.idempotency_key == "tip:short")
    assert db.session.scalar(short) is None

    with pytest.raises(DomainError, match="was used for a message transfer"):
        ledger.spend(fan.id, creator.id, 1, "tip", "msg:known")

    ledger.freeze(fan.id, "dispute")
    db.session.commit()
    with pytest.raises(ledger.AccountFrozen):
        ledger.spend(fan.id, creator.id, 1, "tip", "tip:frozen")
    assert wallet(fan) == 7 and ledger.balances(creator.id)["earnings_pending"] == 34
    assert ledger.verify() == []


def test_a_spend_returns_the_transfer_it_wrote(ctx):
    """The transfer a spend returns is the session's own object, with what was written — on
    PostgreSQL's one statement too, where it is built from the statement's answer."""
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 50)
    ledger.spend(fan.id, creator.id, 10, "tip", "tip:before")
    db.session.commit()
    transfer, created = ledger.spend(
        fan.id, creator.id, 12, "unlock", "unlock:9", reference=("post", 9), memo="a post"
    )
    assert created and db.session.get(Transfer, transfer.id) is transfer
    written = (transfer.kind, transfer.reference_type, transfer.reference_id, transfer.memo)
    assert written == ("unlock", "post", "9", "a post")
    db.session.commit()
    stored = db.session.execute(
        select(Transfer.kind, Transfer.reference_id, Transfer.memo, Transfer.created_at).where(
            Transfer.id == transfer.id
        )
    ).one()
    assert tuple(stored) == ("unlock", "9", "a post", transfer.created_at)
    assert [e.amount for e in transfer.entries if e.amount < 0] == [-12]


@pytest.mark.parametrize("amount", [0, -5, 2.5, "10", True, 10**13])
def test_bad_amounts_are_refused(ctx, amount):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 100)
    with pytest.raises(DomainError):
        ledger.spend(fan.id, creator.id, amount, "tip", f"tip:{amount!r}")
    assert wallet(fan) == 100


def test_paying_yourself_is_refused(ctx):
    fan = person()
    paid_order(fan, 100)
    with pytest.raises(DomainError, match="yourself"):
        ledger.spend(fan.id, fan.id, 10, "tip", "tip:self")


def test_unbalanced_transfers_are_impossible(ctx):
    fan = person()
    with pytest.raises(ValueError):
        ledger.post(
            "adjustment",
            "bad",
            [(ledger.user_account(fan.id), 5), (ledger.system_account("promotions"), -4)],
        )


def test_holds_settle_per_started_minute_and_release_the_rest(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 100)
    call = ("call", 7)
    ledger.hold(fan.id, 30, "call:7:hold:1", call)
    ledger.hold(fan.id, 30, "call:7:hold:2", call)
    db.session.commit()
    assert wallet(fan) == 40 and ledger.open_hold_amount(fan.id, call) == 60
    with pytest.raises(DomainError):
        ledger.settle_holds(fan.id, creator.id, call, 61, "call:7:settle")
    ledger.settle_holds(fan.id, creator.id, call, 45, "call:7:settle")
    db.session.commit()
    assert wallet(fan) == 55
    assert ledger.balances(creator.id)["earnings_pending"] == 45 - 9
    assert ledger.open_hold_amount(fan.id, call) == 0
    assert ledger.system_balance("holds") == 0
    assert ledger.verify() == []


def test_a_reversal_restores_every_balance_once(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 100)
    tip, _ = ledger.spend(fan.id, creator.id, 50, "tip", "tip:r")
    db.session.commit()
    ledger.reverse(tip.id, "reverse:tip:r", memo="tip sent by mistake")
    db.session.commit()
    assert wallet(fan) == 100 and ledger.balances(creator.id)["earnings_pending"] == 0
    with pytest.raises(DomainError):
        ledger.reverse(tip.id, "reverse:tip:r:again")
    assert ledger.verify() == []


def test_a_chargeback_can_overdraw_and_freezes_the_wallet(ctx):
    fan, creator = person(), person("Creator", creator=True)
    order = paid_order(fan, 100)
    ledger.spend(fan.id, creator.id, 80, "unlock", "unlock:1")
    taken, _ = ledger.take_back_purchase(fan.id, 100, "dev:dispute:1", order.id, chargeback=True)
    order.credits_charged_back = taken
    order.status = "disputed"
    db.session.commit()
    assert wallet(fan) == -80 and ledger.is_frozen(fan.id)
    with pytest.raises(ledger.AccountFrozen):
        ledger.spend(fan.id, creator.id, 1, "tip", "tip:frozen")
    assert ledger.verify() == []


def test_a_refund_takes_back_at_most_what_is_left(ctx):
    fan, creator = person(), person("Creator", creator=True)
    order = paid_order(fan, 100)
    ledger.spend(fan.id, creator.id, 70, "tip", "tip:spent")
    taken, _ = ledger.take_back_purchase(fan.id, 100, "dev:refund:1", order.id, chargeback=False)
    order.credits_refunded = taken
    db.session.commit()
    assert taken == 30 and wallet(fan) == 0
    assert ledger.verify() == []


def test_adjustments_need_a_reason_and_cannot_overdraw(ctx):
    fan = person()
    with pytest.raises(DomainError, match="reason"):
        ledger.adjust(fan.id, 50, " ", None, "adj:1")
    ledger.adjust(fan.id, 50, "goodwill for an outage", None, "adj:2")
    db.session.commit()
    with pytest.raises(ledger.InsufficientCredits):
        ledger.adjust(fan.id, -51, "correction", None, "adj:3")
    ledger.adjust(fan.id, -50, "correction", None, "adj:4")
    db.session.commit()
    assert wallet(fan) == 0 and ledger.verify() == []


def test_pending_earnings_become_available_after_the_hold(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 1000)
    start = dt.datetime(2026, 6, 1, 12)
    with clock.frozen(start):
        ledger.spend(fan.id, creator.id, 100, "subscription", "sub:1")
        db.session.commit()
    with clock.frozen(start + dt.timedelta(days=3)):
        ledger.spend(fan.id, creator.id, 50, "tip", "tip:later")
        db.session.commit()
    with clock.frozen(start + dt.timedelta(days=6)):
        assert ledger.release_matured_earnings() == 0
    with clock.frozen(start + dt.timedelta(days=7, hours=1)):
        assert ledger.release_matured_earnings() == 1
        assert ledger.release_matured_earnings() == 0  # same hour: idempotent
    assert ledger.balances(creator.id) == {
        "wallet": 0,
        "earnings_pending": 40,
        "earnings_available": 80,
    }
    with clock.frozen(start + dt.timedelta(days=11)):
        ledger.release_matured_earnings()
    assert ledger.balances(creator.id)["earnings_available"] == 120
    assert ledger.verify() == []


def test_history_shows_kind_counterparty_and_running_balance(ctx):
    fan, creator = person(), person("Luna", creator=True)
    paid_order(fan, 100)
    ledger.spend(fan.id, creator.id, 10, "tip", "tip:h1")
    ledger.spend(fan.id, creator.id, 5, "message", "msg:h2")
    db.session.commit()
    rows = ledger.history(fan.id)
    assert [(r.kind, r.amount, r.balance_after, r.counterparty) for r in rows] == [
        ("message", -5, 85, "Luna"),
        ("tip", -10, 90, "Luna"),
        ("purchase", 100, 100, "Payment"),
    ]
    older = ledger.history(fan.id, before_entry_id=rows[0].entry_id, limit=1)
    assert [r.kind for r in older] == ["tip"]


def test_hot_system_accounts_are_spread_over_buckets(ctx):
    fan, creator = person(), person("Creator", creator=True)
    paid_order(fan, 1000)
    for i in range(40):
        ledger.spend(fan.id, creator.id, 10, "tip", f"tip:b{i}")
    db.session.commit()
    buckets = db.session.scalars(
        select(LedgerAccount.bucket).where(LedgerAccount.kind == "platform_revenue")
    ).all()
    assert len(buckets) > 1 and ledger.system_balance("platform_revenue") == 80


def test_verify_reports_tampering(ctx):
    fan = person()
    paid_order(fan, 100)
    account = ledger.user_account(fan.id)
    account.balance = 150  # someone edited the table by hand
    entry = db.session.scalars(select(Entry).where(Entry.account_id == account.id)).one()
    db.session.commit()
    problems = [str(v) for v in ledger.verify()]
    assert any(f"account {account.id}: cached 150, entries sum to 100" in p for p in problems)
    assert any("all account balances sum to 50" in p for p in problems)
    assert entry.id
