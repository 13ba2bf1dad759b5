"""The ledger under real concurrency (docs/ledger.md): threads with their own sessions and
connections spend from one wallet, replay one idempotency key, pay the same creators, and run
transfers whose legs list the same rows in opposite orders, on PostgreSQL.

Each thread pushes its own app context (its own session), waits at a barrier so that all start
together, and commits its own transactions. Any exception a thread did not expect is collected
and fails the test.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select, text

from extensions import db
from models import Entry, Order, Transfer, User
from services import ledger
from testkit.ledger import paid_order
from testkit.people import person

pytestmark = pytest.mark.postgres

THREADS = 16


def run_together(app: Flask, work: Callable[[int], None], threads: int = THREADS) -> None:
    """Run `work(i)` in `threads` threads at once; fail with every unexpected exception."""
    barrier = threading.Barrier(threads)
    errors: list[str] = []
    lock = threading.Lock()

    def body(i: int) -> None:
        try:
            with app.app_context():
                try:
                    # Connect first, so that the threads really start their work together.
                    db.session.execute(text("SELECT 1"))
                    db.session.commit()
                    barrier.wait(timeout=30)
                    work(i)
                finally:
                    db.session.remove()
        except BaseException:  # every failure, assertions included, must reach the test
            with lock:
                errors.append(f"thread {i}:\n{traceback.format_exc()}")

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    stuck = [i for i, worker in enumerate(workers) if worker.is_alive()]
    assert not stuck, f"threads {stuck} still running after 120 s (deadlock?)"
    assert not errors, "\n".join(errors)


def fee(app: Flask, amount: int) -> int:
    return (amount * app.config["PLATFORM_FEE_BPS"] + 5000) // 10000


def open_accounts(app: Flask, creator_id: int) -> None:
    """Create the creator's earnings account and every revenue bucket ahead, so that the threads
    race on the transfer itself instead of queueing behind the first one to create them."""
    ledger.user_account(creator_id, "earnings_pending")
    for bucket in range(app.config["LEDGER_HOT_BUCKETS"]):
        ledger.system_account("platform_revenue", bucket)
    db.session.commit()


def test_concurrent_spends_never_overdraw_a_wallet(pg_app):
    price, attempts = 7, 3  # 16 × 3 × 7 = 336 credits asked of a wallet holding 100
    with pg_app.app_context():
        fan, creator = person(), person("Creator", creator=True)
        paid_order(fan, 100)
        fan_id, creator_id = fan.id, creator.id
        open_accounts(pg_app, creator_id)
    spent: list[str] = []
    refused: list[int] = []

    def work(i: int) -> None:
        for attempt in range(attempts):
            key = f"unlock:{i}:{attempt}"
            try:
                transfer, created = ledger.spend(fan_id, creator_id, price, "unlock", key)
                db.session.commit()
            except ledger.InsufficientCredits as refusal:
                refused.append(refusal.available)
            else:
                assert created and transfer.idempotency_key == key
                spent.append(key)

    run_together(pg_app, work)

    succeeded = 100 // price
    assert len(spent) == succeeded == 14
    assert len(refused) == THREADS * attempts - succeeded
    assert set(refused) == {100 - succeeded * price}  # refused only once the wallet was short
    with pg_app.app_context():
        assert ledger.balances(fan_id) == {
            "wallet": 100 - succeeded * price,
            "earnings_pending": 0,
            "earnings_available": 0,
        }
        assert ledger.balances(creator_id)["earnings_pending"] == succeeded * (
            price - fee(pg_app, price)
        )
        assert ledger.system_balance("platform_revenue") == succeeded * fee(pg_app, price)
        # Every debit saw the balance left by the one before it: the running balances are
        # 93, 86, …, 2, each once, never below zero.
        wallet = ledger.user_account(fan_id)
        debits = db.session.scalars(
            select(Entry.balance_after).where(Entry.account_id == wallet.id, Entry.amount < 0)
        ).all()
        assert sorted(debits, reverse=True) == [100 - price * n for n in range(1, 15)]
        assert ledger.verify() == []


@pytest.mark.parametrize("accounts_exist", [True, False], ids=["accounts-exist", "first-use"])
def test_one_idempotency_key_moves_money_once_under_concurrency(pg_app, accounts_exist):
    with pg_app.app_context():
        fan, creator = person(), person("Creator", creator=True)
        paid_order(fan, 100)
        fan_id, creator_id = fan.id, creator.id
        if accounts_exist:
            open_accounts(pg_app, creator_id)  # the threads race on the key itself
    outcomes: list[tuple[str, int | None]] = []

    def work(i: int) -> None:
        try:
            transfer, created = ledger.spend(fan_id, creator_id, 7, "tip", "tip:same-key")
            db.session.commit()
        except ledger.DuplicateTransfer:
            outcomes.append(("duplicate", None))  # another thread was writing it: it did
        else:
            outcomes.append(("created" if created else "existing", transfer.id))

    run_together(pg_app, work)

    assert len(outcomes) == THREADS
    assert [kind for kind, _ in outcomes].count("created") == 1
    assert len({transfer_id for _, transfer_id in outcomes if transfer_id is not None}) == 1
    with pg_app.app_context():
        transfers = db.session.scalars(
            select(Transfer).where(Transfer.idempotency_key == "tip:same-key")
        ).all()
        assert len(transfers) == 1
        assert ledger.wallet_balance(fan_id) == 93
        assert ledger.balances(creator_id)["earnings_pending"] == 7 - fee(pg_app, 7)
        assert ledger.system_balance("platform_revenue") == fee(pg_app, 7)
        assert ledger.verify() == []


@pytest.mark.parametrize("buckets", [1, 8], ids=["one-revenue-row", "eight-revenue-buckets"])
def test_many_fans_paying_the_same_creators_at_once(pg_app, buckets):
    pg_app.config["LEDGER_HOT_BUCKETS"] = buckets
    amounts = [3, 7, 11, 13, 17, 19]  # 70 of each fan's 100 credits
    kinds = ledger.SPEND_KINDS
    with pg_app.app_context():
        fans = [person() for _ in range(THREADS)]
        for fan in fans:
            paid_order(fan, 100)
        fan_ids = [fan.id for fan in fans]
        # The creators' earnings accounts do not exist yet: the threads create them.
        creators = [person("Luna", creator=True).id, person("Sol", creator=True).id]

    def payments(i: int) -> list[tuple[int, int, str]]:
        """(creator, amount, kind) for thread i, in an order that differs between threads."""
        shift = i % len(amounts)
        return [
            (creators[(i + n) % 2], amounts[(n + shift) % len(amounts)], kinds[(i + n) % 5])
            for n in range(len(amounts))
        ]

    def work(i: int) -> None:
        for n, (creator_id, amount, kind) in enumerate(payments(i)):
            transfer, created = ledger.spend(fan_ids[i], creator_id, amount, kind, f"{i}:{n}")
            db.session.commit()
            assert created

    run_together(pg_app, work)

    earned = dict.fromkeys(creators, 0)
    fees = 0
    for i in range(THREADS):
        for creator_id, amount, _ in payments(i):
            earned[creator_id] += amount - fee(pg_app, amount)
            fees += fee(pg_app, amount)
    with pg_app.app_context():
        for fan_id in fan_ids:
            assert ledger.wallet_balance(fan_id) == 100 - sum(amounts)
        for creator_id, total in earned.items():
            assert ledger.balances(creator_id)["earnings_pending"] == total
        assert ledger.system_balance("platform_revenue") == fees
        assert db.session.scalar(
            select(db.func.count()).select_from(Transfer).where(Transfer.kind.in_(kinds))
        ) == THREADS * len(amounts)
        assert ledger.verify() == []


def test_transfers_with_opposite_leg_orders_do_not_deadlock(pg_app):
    """A purchase lists clearing before the wallet and a refund the wallet before clearing; a
    hold lists the wallet before holds and a settlement holds before the wallet. With one row
    per system account and four threads per wallet, only the one lock order (ascending account
    id) keeps these from deadlocking."""
    pg_app.config["LEDGER_HOT_BUCKETS"] = 1
    rounds, wallets = 3, 4
    with pg_app.app_context():
        fan_ids = [person().id for _ in range(wallets)]
        creator_id = person("Creator", creator=True).id

    def work(i: int) -> None:
        fan_id = fan_ids[i % wallets]
        for n in range(rounds):
            # This thread's own net credits stay >= 0 at every step, so no debit can be short
            # whatever the others do: the outcome is exact.
            order = paid_order(db.session.get(User, fan_id), 20)  # clearing → wallet
            call = ("call", i * rounds + n + 1)
            ledger.hold(fan_id, 10, f"hold:{i}:{n}", call)  # wallet → holds
            db.session.commit()
            transfer, created = ledger.settle_holds(fan_id, creator_id, call, 4, f"settle:{i}:{n}")
            db.session.commit()  # holds → wallet 6, creator 3, platform 1
            assert created
            order = db.session.get(Order, order.id)
            taken, _ = ledger.take_back_purchase(
                fan_id, 5, f"refund:{i}:{n}", order.id, chargeback=False
            )
            order.credits_refunded += taken  # wallet → clearing
            db.session.commit()
            assert taken == 5

    run_together(pg_app, work)

    per_wallet = THREADS // wallets * rounds
    with pg_app.app_context():
        for fan_id in fan_ids:
            assert ledger.wallet_balance(fan_id) == per_wallet * (20 - 10 + 6 - 5)
        assert ledger.balances(creator_id)["earnings_pending"] == THREADS * rounds * (
            4 - fee(pg_app, 4)
        )
        assert ledger.system_balance("holds") == 0
        assert ledger.system_balance("payments_clearing") == -THREADS * rounds * (20 - 5)
        assert ledger.verify() == []
