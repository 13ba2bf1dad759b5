"""Reading the ledger (docs/ledger.md#transfers-and-entries): a member's history of one account,
newest first, with the kind, the counterparty and the running balance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from core import sql
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


def _describe(accounts: list, names: dict[int, str], user_id: int) -> str:
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


# Built once (a wallet page reads them on every view): a page of one account's entries, newest
# first, each with every leg of its transfer and the name of the member it belongs to (JSON:
# [[user id, account kind, name], …], one statement for the page).
_LEG = aliased(Entry)
_LEG_ACCOUNT = aliased(LedgerAccount)
_LEG_USER = aliased(User)
_LEGS = (
    select(sql.json_rows(_LEG_ACCOUNT.user_id, _LEG_ACCOUNT.kind, _LEG_USER.display_name))
    .select_from(_LEG)
    .join(_LEG_ACCOUNT, _LEG_ACCOUNT.id == _LEG.account_id)
    .outerjoin(_LEG_USER, _LEG_USER.id == _LEG_ACCOUNT.user_id)
    .where(_LEG.transfer_id == Entry.transfer_id)
    .scalar_subquery()
    .label("legs")
)
_PAGE = (
    select(
        Entry.id,
        Entry.transfer_id,
        Entry.amount,
        Entry.balance_after,
        Entry.created_at,
        Transfer.kind,
        Transfer.memo,
        _LEGS,
    )
    .join(Transfer, Transfer.id == Entry.transfer_id)
    .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
    .where(LedgerAccount.user_id == bindparam("user_id"), LedgerAccount.kind == bindparam("kind"))
    .order_by(Entry.id.desc())
    .limit(bindparam("limit"))
)
_PAGE_BEFORE = _PAGE.where(Entry.id < bindparam("before"))


class _Leg(NamedTuple):
    user_id: int | None
    kind: str
    display_name: str | None


def history(
    user_id: int, kind: str = "wallet", before_entry_id: int | None = None, limit: int = 20
) -> list[HistoryRow]:
    """The newest entries of a user's account, with the kind, counterparty and running balance."""
    values = {"user_id": user_id, "kind": kind, "limit": limit, "before": before_entry_id}
    statement = _PAGE if before_entry_id is None else _PAGE_BEFORE
    page = sql.read(statement, values)
    legs: dict[int, list] = {}
    names: dict[int, str] = {}
    for row in page:
        legs[row.transfer_id] = [_Leg(*leg) for leg in sql.json_rows_of(row.legs)]
        for leg in legs[row.transfer_id]:
            if leg.user_id and leg.display_name is not None:
                names[leg.user_id] = leg.display_name
    return [
        HistoryRow(
            entry_id=row.id,
            transfer_id=row.transfer_id,
            kind=row.kind,
            amount=row.amount,
            balance_after=row.balance_after,
            created_at=row.created_at,
            counterparty=_describe(legs[row.transfer_id], names, user_id),
            memo=row.memo if row.kind == "adjustment" else None,
        )
        for row in page
    ]
