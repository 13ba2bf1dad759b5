"""The invariants check (docs/ledger.md#invariants): `flask ledger verify` and the admin's ledger
check read the whole ledger and list every invariant that does not hold."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, and_, cast, func, or_, select

from extensions import db
from models import Entry, LedgerAccount, Order, Transfer
from services.ledger import sql
from services.ledger.books import system_balance


@dataclass
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.detail}"


def verify(progress=None) -> list[Violation]:
    """Check every invariant (docs/ledger.md#invariants) against the whole ledger; [] when all hold.
    `progress(percent, step)` is told as each invariant is done (the admin's check job)."""
    found: list[Violation] = []
    step = progress or (lambda percent, label: None)

    # 1. Each transfer balances and has at least two entries; all balances sum to zero.
    for transfer_id, total, count in db.session.execute(
        select(Transfer.id, sql.total(Entry.amount), func.count(Entry.id))
        .outerjoin(Entry, Entry.transfer_id == Transfer.id)
        .group_by(Transfer.id)
        .having(or_(sql.total(Entry.amount) != 0, func.count(Entry.id) < 2))
    ):
        found.append(
            Violation(
                "1 balanced", f"transfer {transfer_id}: entries sum to {total} over {count} entries"
            )
        )
    grand_total = db.session.scalar(select(sql.total(LedgerAccount.balance)))
    if grand_total != 0:
        found.append(Violation("1 balanced", f"all account balances sum to {grand_total}, not 0"))

    step(20, "invariant 1 checked")
    # 2. Cached balances equal the sum of entries, and each entry's balance_after chains.
    sums = (
        select(Entry.account_id, sql.total(Entry.amount).label("total"))
        .group_by(Entry.account_id)
        .subquery()
    )
    for account_id, cached, total in db.session.execute(
        select(LedgerAccount.id, LedgerAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance != func.coalesce(sums.c.total, 0))
    ):
        found.append(
            Violation(
                "2 cached balance", f"account {account_id}: cached {cached}, entries sum to {total}"
            )
        )
    previous = func.lag(Entry.balance_after).over(partition_by=Entry.account_id, order_by=Entry.id)
    chained = select(
        Entry.id,
        Entry.account_id,
        Entry.amount,
        Entry.balance_after,
        func.coalesce(previous, 0).label("before"),
    ).subquery()
    for entry_id, account_id, amount, after, before in db.session.execute(
        select(chained).where(chained.c.before + chained.c.amount != chained.c.balance_after)
    ):
        found.append(
            Violation(
                "2 cached balance",
                f"entry {entry_id} on account {account_id}: {before} + {amount} != {after}",
            )
        )

    step(45, "invariant 2 checked")
    # 3. No user account below zero, except a frozen wallet after a chargeback.
    for account_id, user_id, kind, balance, frozen in db.session.execute(
        select(
            LedgerAccount.id,
            LedgerAccount.user_id,
            LedgerAccount.kind,
            LedgerAccount.balance,
            LedgerAccount.frozen_at,
        ).where(LedgerAccount.user_id.is_not(None), LedgerAccount.balance < 0)
    ):
        charged_back = db.session.scalar(
            select(func.count(Entry.id))
            .join(Transfer, Transfer.id == Entry.transfer_id)
            .where(Entry.account_id == account_id, Transfer.kind == "chargeback")
        )
        if frozen is None or not charged_back:
            found.append(
                Violation(
                    "3 no negative balance",
                    f"account {account_id} ({kind} of "
                    f"user {user_id}) is at {balance} without a frozen chargeback",
                )
            )

    step(60, "invariant 3 checked")
    # 4. One idempotency key never moved money twice: one purchase per order, one reversal per
    #    transfer (keys and reversals are also unique in the schema).
    for order_id, count in db.session.execute(
        select(Transfer.reference_id, func.count(Transfer.id))
        .where(Transfer.kind == "purchase")
        .group_by(Transfer.reference_id)
        .having(func.count(Transfer.id) > 1)
    ):
        found.append(Violation("4 idempotency", f"order {order_id} was granted {count} times"))
    for key, count in db.session.execute(
        select(Transfer.idempotency_key, func.count())
        .group_by(Transfer.idempotency_key)
        .having(func.count() > 1)
    ):
        found.append(Violation("4 idempotency", f"key {key!r} used by {count} transfers"))

    step(80, "invariant 4 checked")
    # 5. Credits issued = Σ paid orders − refunds − chargebacks + adjustments.
    issued = -system_balance("payments_clearing") - system_balance("promotions")
    ordered = db.session.scalar(select(sql.total(Order.credits)).where(Order.paid_at.is_not(None)))
    refunded = db.session.scalar(select(sql.total(Order.credits_refunded)))
    charged_back = db.session.scalar(select(sql.total(Order.credits_charged_back)))
    adjustments = -system_balance("promotions")
    expected = ordered - refunded - charged_back + adjustments
    if issued != expected:
        found.append(
            Violation(
                "5 credits issued",
                f"ledger says {issued} credits issued; orders say {ordered} paid − {refunded} "
                f"refunded − {charged_back} charged back + {adjustments} adjusted = {expected}",
            )
        )
    for order_id, credits, granted in db.session.execute(
        select(Order.id, Order.credits, sql.total(Entry.amount))
        .join(
            Transfer,
            and_(
                Transfer.reference_type == "order",
                Transfer.reference_id == cast(Order.id, String),
                Transfer.kind == "purchase",
            ),
        )
        .join(Entry, and_(Entry.transfer_id == Transfer.id, Entry.amount > 0))
        .group_by(Order.id, Order.credits)
        .having(sql.total(Entry.amount) != Order.credits)
    ):
        found.append(
            Violation(
                "5 credits issued",
                f"order {order_id} is for {credits} credits but {granted} were granted",
            )
        )
    step(100, "done")
    return found
