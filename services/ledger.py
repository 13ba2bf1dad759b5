"""The ledger (docs/ledger.md): the only module that writes ledger tables.

Every movement of credits is a `Transfer` whose entries sum to zero. Balances are cached on the
account rows and changed by conditional updates in the same transaction as the entries:

    UPDATE ledger_accounts SET balance = balance + :delta
    WHERE id = :id AND (user_id IS NULL OR (frozen_at IS NULL AND balance + :delta >= 0))

so two concurrent spends can never take a wallet below zero, on SQLite or PostgreSQL, without
application locks. Accounts are updated in ascending id order, so concurrent transfers lock rows
in the same order and cannot deadlock each other.

On PostgreSQL a fan → creator spend whose accounts all exist is written by one statement
(`_SPEND`: lock in id order, check, insert, move, record) instead of ten round trips; it follows
the same rules and raises the same errors as `post`, and the ledger tests run both roads.

These functions do NOT commit: they join the caller's transaction, so that the business row
(message, order, unlock…) and its money are written together or not at all. A failed call rolls
the session back and raises; the caller's service call is then over.

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
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import BigInteger, String, and_, cast, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from core import clock, sql
from core.errors import Conflict, DomainError, NotAllowed, NotFound
from extensions import db
from models import Entry, LedgerAccount, Order, Referral, Transfer, User
from models.ledger import SYSTEM_KINDS, USER_KINDS

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


def _sum(expression):
    """SUM as a BIGINT, 0 when empty (PostgreSQL's SUM of bigint is numeric → Decimal)."""
    return cast(func.coalesce(func.sum(expression), 0), BigInteger)


# --- accounts ---------------------------------------------------------------------------


def _insert_ignore(values: dict, index_elements: list[str], where) -> None:
    sql.insert_ignore(LedgerAccount, values, index_elements, where)


def user_account(user_id: int, kind: str = "wallet") -> LedgerAccount:
    """The user's account of this kind, created on first use."""
    if kind not in USER_KINDS:
        raise ValueError(f"not a user account kind: {kind}")
    query = select(LedgerAccount).where(
        LedgerAccount.user_id == user_id, LedgerAccount.kind == kind
    )
    account = db.session.scalar(query)
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
        account = db.session.scalar(query)
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
        select(_sum(LedgerAccount.balance)).where(
            LedgerAccount.user_id.is_(None), LedgerAccount.kind == kind
        )
    )


def balances(user_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.user_id == user_id)
    )
    found = {kind: balance for kind, balance in rows}
    return {kind: found.get(kind, 0) for kind in USER_KINDS}


_WALLET_BALANCE = text(
    "SELECT balance FROM ledger_accounts WHERE user_id = :user_id AND kind = 'wallet'"
)


def wallet_balance(user_id: int) -> int:
    """Shown after every paid message: SQL text, no statement building per call."""
    return db.session.connection().execute(_WALLET_BALANCE, {"user_id": user_id}).scalar() or 0


def is_frozen(user_id: int) -> bool:
    return (
        db.session.scalar(
            select(LedgerAccount.frozen_at).where(
                LedgerAccount.user_id == user_id, LedgerAccount.kind == "wallet"
            )
        )
        is not None
    )


# --- the one primitive ---------------------------------------------------------------------


def _check_amount(amount: object, *, allow_zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError("Amounts are whole numbers of credits.")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise DomainError("The amount must be a positive number of credits.")
    if amount > MAX_AMOUNT:
        raise DomainError("That amount is too large.")
    return amount


def _check_key(key: str) -> None:
    if not key or len(key) > 200:
        raise ValueError("an idempotency key of 1 to 200 characters is required")


def _expire_balances(account_ids) -> None:
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
    _check_key(key)
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
    _expire_balances(merged)
    return transfer, True


# --- what the rest of Amora calls -------------------------------------------------------------


def fee_for(amount: int) -> int:
    """The platform's fee on a fan → creator payment (docs/ledger.md#fees), rounded half up."""
    bps = current_app.config["PLATFORM_FEE_BPS"]
    return (amount * bps + 5000) // 10000


def grant_purchase(user_id: int, credits: int, key: str, order_id: int) -> tuple[Transfer, bool]:
    """Credits bought with real money arrive in the wallet (payments_clearing → wallet)."""
    credits = _check_amount(credits)
    return post(
        "purchase",
        key,
        [(system_account("payments_clearing"), -credits), (user_account(user_id), credits)],
        reference=("order", order_id),
    )


def spend(
    fan_id: int,
    creator_id: int,
    amount: int,
    kind: str,
    key: str,
    *,
    reference: tuple[str, object] | None = None,
    memo: str | None = None,
) -> tuple[Transfer, bool]:
    """A fan pays a creator: the fee to platform_revenue, the rest to the creator's pending
    earnings. Raises InsufficientCredits (nothing written) when the wallet is short. On
    PostgreSQL a new transfer carries `payer_balance`, the fan's wallet after it."""
    if kind not in SPEND_KINDS:
        raise ValueError(f"not a spending kind: {kind}")
    amount = _check_amount(amount)
    if fan_id == creator_id:
        raise DomainError("You cannot pay yourself.")
    fee = fee_for(amount)
    if db.session.get_bind().dialect.name == "postgresql":
        done = _spend_in_one_statement(fan_id, creator_id, amount, fee, kind, key, reference, memo)
        if done is not None:
            return done
    legs = [
        (user_account(fan_id), -amount),
        (user_account(creator_id, "earnings_pending"), amount - fee),
    ]
    if fee:
        legs.append((system_account("platform_revenue"), fee))
    transfer, created = post(kind, key, legs, reference=reference, memo=memo)
    if created:
        pay_referral(creator_id, amount - fee, transfer)
    return transfer, created


# The whole of `post` for a spend, as one PostgreSQL statement (one round trip instead of ten):
# lock the two or three accounts in id order, check the fan's wallet, insert the transfer unless
# its key exists, move the balances and write the entries. Same rules and outcomes as `post`.
_SPEND = text(
    """
WITH present AS (
    -- Lock nothing unless every account exists: the general path that creates a missing one
    -- must not hold row locks while it waits on another transaction's insert (a deadlock).
    SELECT count(*) AS n FROM ledger_accounts
    WHERE (user_id = :fan AND kind = 'wallet')
       OR (user_id = :creator AND kind = 'earnings_pending' AND CAST(:share AS bigint) > 0)
       OR (user_id IS NULL AND kind = 'platform_revenue' AND bucket = :bucket
           AND CAST(:fee AS bigint) > 0)
),
acct AS (
    SELECT id, balance, frozen_at,
           CASE WHEN user_id = :fan THEN -CAST(:amount AS bigint)
                WHEN user_id = :creator THEN CAST(:share AS bigint)
                ELSE CAST(:fee AS bigint) END AS delta
    FROM ledger_accounts
    WHERE ((user_id = :fan AND kind = 'wallet')
        OR (user_id = :creator AND kind = 'earnings_pending' AND CAST(:share AS bigint) > 0)
        OR (user_id IS NULL AND kind = 'platform_revenue' AND bucket = :bucket
            AND CAST(:fee AS bigint) > 0))
      AND (SELECT n FROM present) = :legs
    ORDER BY id
    FOR UPDATE
),
status AS (
    SELECT count(*) AS found,
           coalesce(bool_and(delta >= 0 OR (frozen_at IS NULL AND balance + delta >= 0)), false)
               AS ok,
           coalesce(bool_or(delta < 0 AND frozen_at IS NOT NULL), false) AS frozen,
           max(CASE WHEN delta < 0 THEN balance END) AS available
    FROM acct
),
existing AS (
    SELECT id, kind FROM ledger_transfers WHERE idempotency_key = :key
),
new_transfer AS (
    INSERT INTO ledger_transfers (kind, idempotency_key, reference_type, reference_id, memo,
                                  created_at)
    SELECT :kind, :key, :reference_type, :reference_id, :memo, :now
    FROM status
    WHERE status.found = :legs AND status.ok AND NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
),
moved AS (
    UPDATE ledger_accounts AS a SET balance = a.balance + acct.delta
    FROM acct, new_transfer
    WHERE a.id = acct.id
    RETURNING a.id, a.balance, acct.delta
),
entries AS (
    INSERT INTO ledger_entries (transfer_id, account_id, amount, balance_after, created_at)
    SELECT new_transfer.id, moved.id, moved.delta, moved.balance, :now
    FROM new_transfer, moved
    ORDER BY moved.id
)
SELECT (SELECT id FROM new_transfer) AS transfer_id,
       status.found, status.ok, status.frozen, status.available,
       (SELECT id FROM existing) AS existing_id,
       (SELECT kind FROM existing) AS existing_kind,
       (SELECT array_agg(id) FROM moved) AS moved_ids,
       (SELECT balance FROM moved WHERE delta < 0) AS payer_balance,
       EXISTS (SELECT 1 FROM referrals WHERE referred_id = :creator
               AND started_at <= :now AND ends_at > :now) AS referred
FROM status
"""
)


def _spend_in_one_statement(
    fan_id: int,
    creator_id: int,
    amount: int,
    fee: int,
    kind: str,
    key: str,
    reference: tuple[str, object] | None,
    memo: str | None,
) -> tuple[Transfer, bool] | None:
    """`spend` on PostgreSQL. None when an account does not exist yet (a creator's first
    earnings, a new bucket): the caller then takes the general path, which creates it."""
    _check_key(key)
    buckets = current_app.config["LEDGER_HOT_BUCKETS"]
    now = clock.now()
    share = amount - fee
    legs = 1 + (share > 0) + (fee > 0)
    row = (
        db.session.connection()
        .execute(  # SQL text: no autoflush either way
            _SPEND,
            {
                "fan": fan_id,
                "creator": creator_id,
                "amount": amount,
                "share": share,
                "fee": fee,
                "bucket": random.randrange(buckets),
                "legs": legs,
                "key": key,
                "kind": kind,
                "reference_type": reference[0] if reference else None,
                "reference_id": str(reference[1]) if reference else None,
                "memo": memo,
                "now": now,
            },
        )
        .one()
    )
    if row.existing_id is not None:
        if row.existing_kind != kind:
            raise Conflict(f"Idempotency key {key!r} was used for a {row.existing_kind} transfer.")
        return db.session.get(Transfer, row.existing_id), False
    if row.transfer_id is None:
        if row.frozen:
            db.session.rollback()
            raise AccountFrozen(
                "This wallet is frozen while a payment dispute is reviewed. Contact support."
            )
        if row.found and row.available is not None and not row.ok:
            available = row.available
            db.session.rollback()
            raise InsufficientCredits(amount, available)
        if row.ok and row.found == legs:
            # Every check passed but the key was inserted by a transaction that committed
            # while we waited for it: that one did the work.
            db.session.rollback()
            raise DuplicateTransfer("This operation is already being processed.")
        # An account does not exist yet (nothing was locked): a fan who never bought, a
        # creator's first earnings, a new bucket. The general path creates it and goes on.
        return None
    transfer = Transfer(
        id=row.transfer_id,
        kind=kind,
        idempotency_key=key,
        reference_type=reference[0] if reference else None,
        reference_id=str(reference[1]) if reference else None,
        memo=memo,
        actor_id=None,
        reverses_id=None,
        created_at=now,
    )
    make_transient_to_detached(transfer)
    db.session.add(transfer)
    transfer.payer_balance = row.payer_balance
    _expire_balances(set(row.moved_ids or ()))
    if row.referred:
        pay_referral(creator_id, share, transfer)
    return transfer, True


def pay_referral(creator_id: int, share: int, transfer: Transfer) -> Transfer | None:
    """If `creator_id` was referred less than 12 months ago, the referrer earns REFERRAL_BPS of
    this `share` — paid by the platform (platform_revenue → the referrer's pending earnings), in
    the same transaction, never taken from the referred creator (docs/ledger.md#referrals)."""

    if share <= 0:
        return None
    now = clock.now()
    referral = db.session.scalar(
        select(Referral).where(
            Referral.referred_id == creator_id,
            Referral.started_at <= now,
            Referral.ends_at > now,
        )
    )
    if referral is None:
        return None
    cut = (share * current_app.config["REFERRAL_BPS"] + 5000) // 10000
    if cut <= 0:
        return None
    paid, _ = post(
        "referral",
        f"referral:{transfer.id}",
        [
            (system_account("platform_revenue"), -cut),
            (user_account(referral.referrer_id, "earnings_pending"), cut),
        ],
        reference=("referral", referral.id),
        memo=f"from transfer {transfer.id}",
    )
    return paid


def pay_platform(
    user_id: int, amount: int, kind: str, key: str, *, reference: tuple[str, object] | None = None
) -> tuple[Transfer, bool]:
    """A fan pays Amora itself (an intro to someone who is not a creator): wallet → revenue."""
    if kind not in SPEND_KINDS:
        raise ValueError(f"not a spending kind: {kind}")
    amount = _check_amount(amount)
    return post(
        kind,
        key,
        [(user_account(user_id), -amount), (system_account("platform_revenue"), amount)],
        reference=reference,
    )


def hold(fan_id: int, amount: int, key: str, reference: tuple[str, object]) -> Transfer:
    """Reserve credits (two-phase): wallet → holds, until `settle_holds` closes them."""
    amount = _check_amount(amount)
    transfer, _ = post(
        "call_hold",
        key,
        [(user_account(fan_id), -amount), (system_account("holds"), amount)],
        reference=reference,
    )
    return transfer


def open_hold_amount(fan_id: int, reference: tuple[str, object]) -> int:
    """Credits still held for `reference` (holds placed minus holds settled or released)."""
    wallet = user_account(fan_id)
    total = db.session.scalar(
        select(_sum(-Entry.amount))
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(
            Entry.account_id == wallet.id,
            Transfer.kind.in_(("call_hold", "call_settle")),
            Transfer.reference_type == reference[0],
            Transfer.reference_id == str(reference[1]),
        )
    )
    settled_to_creator = db.session.scalar(
        select(_sum(Entry.amount))
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
        .where(
            Transfer.kind == "call_settle",
            Transfer.reference_type == reference[0],
            Transfer.reference_id == str(reference[1]),
            or_(LedgerAccount.kind == "earnings_pending", LedgerAccount.kind == "platform_revenue"),
        )
    )
    return total - settled_to_creator


def settle_holds(
    fan_id: int, creator_id: int, reference: tuple[str, object], charge: int, key: str
) -> tuple[Transfer | None, bool]:
    """Close every open hold for `reference`: `charge` goes to the creator (split with the fee),
    the rest returns to the fan's wallet. `charge=0` releases everything."""
    charge = _check_amount(charge, allow_zero=True)
    held = open_hold_amount(fan_id, reference)
    if charge > held:
        raise DomainError(f"Cannot charge {charge} credits: only {held} are held.")
    if held == 0:
        return None, False
    fee = fee_for(charge)
    legs = [(system_account("holds"), -held)]
    if held - charge:
        legs.append((user_account(fan_id), held - charge))
    if charge - fee:
        legs.append((user_account(creator_id, "earnings_pending"), charge - fee))
    if fee:
        legs.append((system_account("platform_revenue"), fee))
    transfer, created = post("call_settle", key, legs, reference=reference)
    if created:
        pay_referral(creator_id, charge - fee, transfer)
    return transfer, created


def request_payout(creator_id: int, credits: int, payout_id: int) -> Transfer:
    """Available earnings → payouts_clearing when a creator asks for a payout
    (docs/payouts.md#in-the-ledger). The conditional debit makes racing requests for the same
    credits fail but one."""
    credits = _check_amount(credits)
    transfer, _ = post(
        "payout",
        f"payout:{payout_id}:request",
        [
            (user_account(creator_id, "earnings_available"), -credits),
            (system_account("payouts_clearing"), credits),
        ],
        reference=("payout", payout_id),
    )
    return transfer


def return_payout(creator_id: int, credits: int, payout_id: int) -> Transfer:
    """A rejected or failed payout gives the credits back to the creator, once."""
    credits = _check_amount(credits)
    transfer, _ = post(
        "payout_reversal",
        f"payout:{payout_id}:return",
        [
            (system_account("payouts_clearing"), -credits),
            (user_account(creator_id, "earnings_available"), credits),
        ],
        reference=("payout", payout_id),
    )
    return transfer


def reverse(
    transfer_id: int,
    key: str,
    *,
    kind: str = "adjustment",
    memo: str | None = None,
    actor_id: int | None = None,
) -> tuple[Transfer, bool]:
    """A new transfer with every leg of `transfer_id` negated: a correction is a new
    reversing transfer (docs/ledger.md#corrections-and-adjustments). Conditional debits apply: a
    wallet cannot go below zero."""
    original = db.session.get(Transfer, transfer_id)
    if original is None:
        raise NotFound("No such transfer.")
    if original.reverses_id is not None:
        raise DomainError("A reversal cannot itself be reversed; make an adjustment instead.")
    already = db.session.scalar(select(Transfer).where(Transfer.reverses_id == original.id))
    if already is not None and already.idempotency_key != key:
        raise Conflict(f"Transfer {original.id} was already reversed by transfer {already.id}.")
    legs = [(entry.account, -entry.amount) for entry in original.entries]
    return post(
        kind,
        key,
        legs,
        reference=(original.reference_type or "transfer", original.reference_id or original.id),
        memo=memo or f"reverses transfer {original.id}",
        actor_id=actor_id,
        reverses_id=original.id,
    )


def take_back_purchase(
    user_id: int, credits: int, key: str, order_id: int, *, chargeback: bool
) -> tuple[int, Transfer | None]:
    """Refund (kind refund) or chargeback (kind chargeback): credits leave the wallet back to
    payments_clearing. A refund takes at most what the wallet holds; a chargeback takes it all,
    may leave the wallet below zero, and freezes it. Returns (credits taken, transfer)."""
    credits = _check_amount(credits, allow_zero=True)
    existing = db.session.scalar(select(Transfer).where(Transfer.idempotency_key == key))
    if existing is not None:
        return 0, existing  # applied before: nothing more is taken
    wallet = user_account(user_id)
    db.session.refresh(wallet)
    taken = credits if chargeback else min(credits, max(wallet.balance, 0))
    if chargeback:
        freeze(user_id, "chargeback")  # first: the database refuses a negative unfrozen wallet
    if taken == 0:
        return 0, None
    transfer, _ = post(
        "chargeback" if chargeback else "refund",
        key,
        [(wallet, -taken), (system_account("payments_clearing"), taken)],
        reference=("order", order_id),
        overdraw=[wallet.id] if chargeback else [],
        despite_freeze=[wallet.id],
    )
    return taken, transfer


def claw_back_spending(fan_id: int, key: str, order_id: int) -> list[tuple[int, int]]:
    """After a chargeback left the fan's wallet below zero: take the shortfall back from what the
    fan paid creators within the earnings hold, newest first, out of their still-pending
    earnings (pending first; available earnings are never touched: docs/ledger.md#clawbacks). Each
    claw-back is a `chargeback` transfer undoing part of one payment, creator share and platform fee
    in proportion. Returns [(creator id, credits taken from them)]."""
    wallet = user_account(fan_id)
    db.session.refresh(wallet)
    shortfall = -wallet.balance
    if shortfall <= 0:
        return []
    since = clock.now() - dt.timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    spends = db.session.scalars(
        select(Transfer)
        .join(Entry, Entry.transfer_id == Transfer.id)
        .where(
            Entry.account_id == wallet.id,
            Entry.amount < 0,
            Transfer.kind.in_(SPEND_KINDS),
            Transfer.created_at >= since,
            Transfer.reverses_id.is_(None),
        )
        .order_by(Transfer.id.desc())
    ).all()
    taken: list[tuple[int, int]] = []
    for spend in spends:
        if shortfall <= 0:
            break
        paid = -sum(e.amount for e in spend.entries if e.account_id == wallet.id)
        pending = next((e for e in spend.entries if e.account.kind == "earnings_pending"), None)
        fee_entry = next((e for e in spend.entries if e.account.kind == "platform_revenue"), None)
        if pending is None or paid <= 0:
            continue
        creator_pending = db.session.get(LedgerAccount, pending.account_id)
        db.session.refresh(creator_pending)
        share, fee = pending.amount, fee_entry.amount if fee_entry else 0
        amount = min(shortfall, paid)
        creator_part = amount - (amount * fee) // paid
        if creator_part > creator_pending.balance:  # released or paid out meanwhile
            amount = (creator_pending.balance * paid) // share if share else 0
            creator_part = amount - (amount * fee) // paid
        if amount <= 0 or creator_part < 0:
            continue
        legs = [(wallet, amount), (creator_pending, -creator_part)]
        if amount - creator_part:
            legs.append((fee_entry.account, -(amount - creator_part)))
        post(
            "chargeback",
            f"{key}:clawback:{spend.id}",
            legs,
            reference=("transfer", spend.id),
            memo=f"taken back after a chargeback on order {order_id}",
        )
        shortfall -= amount
        taken.append((creator_pending.user_id, creator_part))
    return taken


def freeze(user_id: int, reason: str) -> None:
    wallet = user_account(user_id)
    if wallet.frozen_at is None:
        wallet.frozen_at = clock.now()
        wallet.frozen_reason = reason
        db.session.flush()


def unfreeze(user_id: int) -> None:
    """An admin clears a frozen wallet (it keeps any negative balance, which purchases repay)."""
    wallet = user_account(user_id)
    wallet.frozen_at = None
    wallet.frozen_reason = None
    db.session.flush()


def adjust(user_id: int, amount: int, reason: str, actor_id: int | None, key: str) -> Transfer:
    """Support credits or debits a wallet against `promotions`, with a reason (audited by the
    caller). A debit cannot take the wallet below zero."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise DomainError("The adjustment must be a non-zero whole number of credits.")
    _check_amount(abs(amount))
    if not (reason or "").strip():
        raise DomainError("Give a reason for the adjustment.")
    transfer, _ = post(
        "adjustment",
        key,
        [(user_account(user_id), amount), (system_account("promotions"), -amount)],
        reference=("user", user_id),
        memo=reason.strip(),
        actor_id=actor_id,
    )
    return transfer


def release_matured_earnings(now: dt.datetime | None = None) -> int:
    """Move creators' pending earnings older than `EARNINGS_HOLD_DAYS` to available.

    Matured = credits that entered pending before the cutoff, minus what was already released
    and what reversals/chargebacks took out of pending (those are taken from pending first).
    Idempotent per creator and cutoff hour (the job runs hourly, so credits become available
    within the hour they mature). Returns how many creators got a release."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(days=current_app.config["EARNINGS_HOLD_DAYS"])
    pending = LedgerAccount
    rows = db.session.execute(
        select(
            pending.id,
            pending.user_id,
            pending.balance,
            cast(
                func.coalesce(
                    func.sum(Entry.amount).filter(Entry.amount > 0, Entry.created_at <= cutoff), 0
                ),
                BigInteger,
            ),
            cast(func.coalesce(func.sum(-Entry.amount).filter(Entry.amount < 0), 0), BigInteger),
        )
        .join(Entry, Entry.account_id == pending.id)
        .where(pending.kind == "earnings_pending", pending.balance > 0)
        .group_by(pending.id, pending.user_id, pending.balance)
    ).all()
    released = 0
    for account_id, user_id, balance, matured, taken_out in rows:
        amount = min(balance, matured - taken_out)
        if amount <= 0:
            continue
        _, created = post(
            "earnings_release",
            f"earnings_release:{account_id}:{cutoff:%Y-%m-%dT%H}",
            [
                (db.session.get(LedgerAccount, account_id), -amount),
                (user_account(user_id, "earnings_available"), amount),
            ],
            reference=("user", user_id),
        )
        released += created
    db.session.commit()
    return released


# --- reading ------------------------------------------------------------------------------


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


# --- verification (`flask ledger verify`) ----------------------------------------------------


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
        select(Transfer.id, _sum(Entry.amount), func.count(Entry.id))
        .outerjoin(Entry, Entry.transfer_id == Transfer.id)
        .group_by(Transfer.id)
        .having(or_(_sum(Entry.amount) != 0, func.count(Entry.id) < 2))
    ):
        found.append(
            Violation(
                "1 balanced", f"transfer {transfer_id}: entries sum to {total} over {count} entries"
            )
        )
    grand_total = db.session.scalar(select(_sum(LedgerAccount.balance)))
    if grand_total != 0:
        found.append(Violation("1 balanced", f"all account balances sum to {grand_total}, not 0"))

    step(20, "invariant 1 checked")
    # 2. Cached balances equal the sum of entries, and each entry's balance_after chains.
    sums = (
        select(Entry.account_id, _sum(Entry.amount).label("total"))
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
    ordered = db.session.scalar(select(_sum(Order.credits)).where(Order.paid_at.is_not(None)))
    refunded = db.session.scalar(select(_sum(Order.credits_refunded)))
    charged_back = db.session.scalar(select(_sum(Order.credits_charged_back)))
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
        select(Order.id, Order.credits, _sum(Entry.amount))
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
        .having(_sum(Entry.amount) != Order.credits)
    ):
        found.append(
            Violation(
                "5 credits issued",
                f"order {order_id} is for {credits} credits but {granted} were granted",
            )
        )
    step(100, "done")
    return found
