"""Reading the ledger (docs/ledger.md#transfers-and-entries): a member's history of one account,
newest first, with the kind, the counterparty and the running balance."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from extensions import db
from models import Entry, LedgerAccount, Transfer, User


@dataclass
class HistoryRow:
    entry_id: int
    transfer_id: int
    kind: str
    amount: int
    balance_after: int
    created_at: dt.datetime
    counterparty: str
    memo: str | None


def _describe(accounts: list[LedgerAccount], names: dict[int, str], user_id: int) -> str:
    others = [a for a in accounts if a.user_id != user_id]
    people = sorted({names.get(a.user_id, "a member") for a in others if a.user_id})
    if people:
        return ", ".join(people)
    labels = {
        "payments_clearing": "Payment",
        "platform_revenue": "Amora",
        "payouts_clearing": "Payout",
        "promotions": "Amora support",
        "holds": "Held",
    }
    systems = sorted({labels[a.kind] for a in others if a.kind in labels})
    if systems:
        return ", ".join(systems)
    return "Your other balance"


def history(
    user_id: int, kind: str = "wallet", before_entry_id: int | None = None, limit: int = 20
) -> list[HistoryRow]:
    """The newest entries of a user's account, with the kind, counterparty and running balance."""
    account = db.session.scalar(
        select(LedgerAccount).where(LedgerAccount.user_id == user_id, LedgerAccount.kind == kind)
    )
    if account is None:
        return []
    query = (
        select(Entry, Transfer)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == account.id)
        .order_by(Entry.id.desc())
        .limit(limit)
    )
    if before_entry_id is not None:
        query = query.where(Entry.id < before_entry_id)
    page = db.session.execute(query).all()
    transfer_ids = [transfer.id for _, transfer in page]
    legs: dict[int, list[LedgerAccount]] = defaultdict(list)
    if transfer_ids:
        for transfer_id, leg_account in db.session.execute(
            select(Entry.transfer_id, LedgerAccount)
            .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
            .where(Entry.transfer_id.in_(transfer_ids))
        ).all():
            legs[transfer_id].append(leg_account)
    user_ids = {a.user_id for accounts in legs.values() for a in accounts if a.user_id}
    names = (
        dict(
            db.session.execute(
                select(User.id, User.display_name).where(User.id.in_(user_ids))
            ).all()
        )
        if user_ids
        else {}
    )
    return [
        HistoryRow(
            entry_id=entry.id,
            transfer_id=transfer.id,
            kind=transfer.kind,
            amount=entry.amount,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            counterparty=_describe(legs[transfer.id], names, user_id),
            memo=transfer.memo if transfer.kind == "adjustment" else None,
        )
        for entry, transfer in page
    ]
