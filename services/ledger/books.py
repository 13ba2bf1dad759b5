"""The books (docs/ledger.md#accounts): accounts, balances, and `post`, the one primitive that
writes a transfer.

Every movement of credits is a `Transfer` whose entries sum to zero. Balances are cached on the
account rows and changed by conditional updates in the same transaction as the entries:

    UPDATE ledger_accounts SET balance = balance + :delta
    WHERE id = :id AND (user_id IS NULL OR (frozen_at IS NULL AND balance + :delta >= 0))

so two concurrent spends can never take a wallet below zero, on SQLite or PostgreSQL, without
application locks. Accounts are updated in ascending id order, so concurrent transfers lock rows
in the same order and cannot deadlock each other.

Idempotency: every transfer has a unique key. Asking again with a key that already exists returns
the existing transfer (`created=False`). If another transaction is inserting the same key at the
same moment, the database makes us wait for it, and we roll back and raise `DuplicateTransfer`:
the other one did the work.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from flask import current_app
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from core import clock
from core.errors import Conflict, DomainError, NotAllowed
from core.sql import insert_ignore, read
from extensions import db
from models import Entry, LedgerAccount, Transfer
from models.ledger import SYSTEM_KINDS, USER_KINDS
from services.ledger import sql

HOT_KINDS = ("payments_clearing", "platform_revenue", "holds")
SPEND_KINDS = ("message", "tip", "unlock", "subscription", "intro")
MAX_AMOUNT = 10**12  # far above any real amount; refuses absurd input before the database does


class InsufficientCredits(DomainError):
    status = 402

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"You need {needed} credits but have {available}. Buy credits to continue."
        )
        self.needed = needed
        self.available = available


class AccountFrozen(NotAllowed):
    pass


class DuplicateTransfer(Conflict):
    """The same idempotency key was being written by another transaction; it did the work."""


# --- accounts ---------------------------------------------------------------------------


def _insert_ignore(values: dict, index_elements: list[str], where) -> None:
    insert_ignore(LedgerAccount, values, index_elements, where)


_USER_ACCOUNT = select(LedgerAccount).where(
    LedgerAccount.user_id == bindparam("user_id"), LedgerAccount.kind == bindparam("kind")
)  # every spend and dashboard reads one: built once


def user_account(user_id: int, kind: str = "wallet") -> LedgerAccount:
    """The user's account of this kind, created on first use."""
    if kind not in USER_KINDS:
        raise ValueError(f"not a user account kind: {kind}")
    values = {"user_id": user_id, "kind": kind}
    account = db.session.scalar(_USER_ACCOUNT, values)
    if account is None:
        _insert_ignore(
            {
                "kind": kind,
                "user_id": user_id,
                "bucket": 0,
                "balance": 0,
                "created_at": clock.now(),
            },
            ["user_id", "kind"],
            LedgerAccount.user_id.is_not(None),
        )
        account = db.session.scalar(_USER_ACCOUNT, values)
    return account


def system_account(kind: str, bucket: int | None = None) -> LedgerAccount:
    """A system account; hot kinds are spread over `LEDGER_HOT_BUCKETS` rows picked at random."""
    if kind not in SYSTEM_KINDS:
        raise ValueError(f"not a system account kind: {kind}")
    if bucket is None:
        buckets = current_app.config["LEDGER_HOT_BUCKETS"] if kind in HOT_KINDS else 1
        bucket = random.randrange(buckets)
    query = select(LedgerAccount).where(
        LedgerAccount.user_id.is_(None), LedgerAccount.kind == kind, LedgerAccount.bucket == bucket
    )
    account = db.session.scalar(query)
    if account is None:
        _insert_ignore(
            {
                "kind": kind,
                "user_id": None,
                "bucket": bucket,
                "balance": 0,
                "created_at": clock.now(),
            },
            ["kind", "bucket"],
            LedgerAccount.user_id.is_(None),
        )
        account = db.session.scalar(query)
    return account


def system_balance(kind: str) -> int:
    """A system account's balance, summed over its buckets."""
    return db.session.scalar(
        select(sql.total(LedgerAccount.balance)).where(
            LedgerAccount.user_id.is_(None), LedgerAccount.kind == kind
        )
    )


# Read on the wallet and dashboard pages at every view: built once.
_WALLET_FROZEN_AT = select(LedgerAccount.frozen_at).where(
    LedgerAccount.user_id == bindparam("user_id"), LedgerAccount.kind == "wallet"
)


def balances(user_id: int) -> dict[str, int]:
    return balances_and_frozen(user_id)[0]


def _every_kind(found: dict[str, int]) -> dict[str, int]:
    """A balance for every user kind: 0 for an account not created yet."""
    return {kind: found.get(kind, 0) for kind in USER_KINDS}


_ACCOUNTS = select(
    LedgerAccount.kind, LedgerAccount.id, LedgerAccount.balance, LedgerAccount.frozen_at
).where(LedgerAccount.user_id == bindparam("user_id"))


class AccountRow(NamedTuple):
    id: int
    balance: int
    frozen_at: dt.datetime | None


def accounts_of(user_id: int) -> dict[str, AccountRow]:
    """The user's accounts that exist, by kind (id, balance, frozen_at), in one statement;
    none is created. A page that shows balances reads them here."""
    rows = read(_ACCOUNTS, {"user_id": user_id})
    return {kind: AccountRow(*values) for kind, *values in rows}


def balances_and_frozen(user_id: int) -> tuple[dict[str, int], bool]:
    """`balances` and `is_frozen` together, in one statement (the wallet page)."""
    accounts = accounts_of(user_id)
    found = _every_kind({kind: account.balance for kind, account in accounts.items()})
    return found, "wallet" in accounts and accounts["wallet"].frozen_at is not None


def wallet_balance(user_id: int) -> int:
    """Shown after every paid message: SQL text, no statement building per call."""
    return sql.wallet_balance(db.session.connection(), user_id)


def wallet_balance_query(user_id):
    """`wallet_balance` as a statement (NULL before the first credit), for an id or a bind
    parameter: for a statement that reads it with other things (services/badges.py)."""
    return select(LedgerAccount.balance).where(
        LedgerAccount.user_id == user_id, LedgerAccount.kind == "wallet"
    )


def is_frozen(user_id: int) -> bool:
    return db.session.scalar(_WALLET_FROZEN_AT, {"user_id": user_id}) is not None


# --- the one primitive ---------------------------------------------------------------------


def check_amount(amount: object, *, allow_zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError("Amounts are whole numbers of credits.")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise DomainError("The amount must be a positive number of credits.")
    if amount > MAX_AMOUNT:
        raise DomainError("That amount is too large.")
    return amount


def check_key(key: str) -> None:
    if not key or len(key) > 200:
        raise ValueError("an idempotency key of 1 to 200 characters is required")


def expire_balances(account_ids) -> None:
    """Cached Python objects of these accounts are stale now; reload them on next access.
    (Keys, not attributes: an object from a rolled-back transaction must not be touched.)"""
    for identity in list(db.session.identity_map.keys()):
        if identity[0] is LedgerAccount and identity[1][0] in account_ids:
            db.session.expire(db.session.identity_map[identity], ["balance"])


def post(
    kind: str,
    key: str,
    legs: Sequence[tuple[LedgerAccount, int]],
    *,
    reference: tuple[str, object] | None = None,
    memo: str | None = None,
    actor_id: int | None = None,
    reverses_id: int | None = None,
    overdraw: Iterable[int] = (),
    despite_freeze: Iterable[int] = (),
) -> tuple[Transfer, bool]:
    """Write one balanced transfer. Returns (transfer, created).

    `overdraw`: ids of user accounts allowed below zero in this transfer (a chargeback only).
    `despite_freeze`: ids of frozen accounts that may still be debited, never below zero (a
    refund must go through even while a chargeback is reviewed).
    """
    check_key(key)
    existing = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == key))
    if existing is not None:
        if existing.kind != kind:
            raise Conflict(f"Idempotency key {key!r} was used for a {existing.kind} transfer.")
        return existing, False

    merged: dict[int, int] = defaultdict(int)
    for account, amount in legs:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("ledger amounts are integers")
        merged[account.id] += amount
    merged = {account_id: amount for account_id, amount in merged.items() if amount}
    if len(merged) < 2 or sum(merged.values()) != 0:
        raise ValueError(f"a transfer needs two or more legs that sum to zero, got {legs!r}")

    transfer = Transfer(
        kind=kind,
        idempotency_key=key,
        reference_type=reference[0] if reference else None,
        reference_id=str(reference[1]) if reference else None,
        memo=memo,
        actor_id=actor_id,
        reverses_id=reverses_id,
        created_at=clock.now(),
    )
    db.session.add(transfer)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DuplicateTransfer("This operation is already being processed.") from exc

    overdraw = set(overdraw)
    despite_freeze = set(despite_freeze)
    balances_after: dict[int, int] = {}
    for account_id in sorted(merged):  # one lock order for everyone: no deadlocks
        delta = merged[account_id]
        stmt = update(LedgerAccount).where(LedgerAccount.id == account_id)
        if delta >= 0 or account_id in overdraw:
            pass  # credits, or a chargeback's claw-back: no condition
        elif account_id in despite_freeze:
            stmt = stmt.where(LedgerAccount.balance + delta >= 0)
        else:
            stmt = stmt.where(
                or_(
                    LedgerAccount.user_id.is_(None),
                    and_(LedgerAccount.frozen_at.is_(None), LedgerAccount.balance + delta >= 0),
                )
            )
        row = db.session.execute(
            stmt.values(balance=LedgerAccount.balance + delta).returning(LedgerAccount.balance),
            execution_options={"synchronize_session": False},
        ).first()
        if row is None:
            account = db.session.get(LedgerAccount, account_id)
            db.session.refresh(account)
            frozen, available = account.frozen_at is not None, account.balance
            db.session.rollback()
            if frozen:
                raise AccountFrozen(
                    "This wallet is frozen while a payment dispute is reviewed. Contact support."
                )
            raise InsufficientCredits(-delta, available)
        balances_after[account_id] = row[0]

    now = clock.now()
    for account_id in sorted(merged):
        db.session.add(
            Entry(
                transfer_id=transfer.id,
                account_id=account_id,
                amount=merged[account_id],
                balance_after=balances_after[account_id],
                created_at=now,
            )
        )
    db.session.flush()
    expire_balances(merged)
    return transfer, True
