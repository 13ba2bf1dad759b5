"""Movements (docs/ledger.md): what the rest of Amora calls to move credits — purchases, spends,
holds, payouts, refunds and chargebacks, claw-backs, reversals, adjustments, freezes and the
release of matured earnings. Each one builds its legs and writes them with `books.post`.

On PostgreSQL a fan → creator spend whose accounts all exist is written by one statement
(`sql.spend_in_one_statement`: lock in id order, check, insert, move, record) instead of ten round
trips; it follows the same rules and raises the same errors as `post`, and the ledger tests run
both roads.
"""

from __future__ import annotations

import datetime as dt
import random

from flask import current_app
from sqlalchemy import BigInteger, cast, func, or_, select

from core import clock
from core.errors import Conflict, DomainError, NotFound
from core.sql import written
from extensions import db
from models import Entry, LedgerAccount, Referral, Transfer
from services.ledger import sql
from services.ledger.books import (
    SPEND_KINDS,
    AccountFrozen,
    DuplicateTransfer,
    InsufficientCredits,
    check_amount,
    check_key,
    expire_balances,
    post,
    system_account,
    user_account,
)


def fee_for(amount: int) -> int:
    """The platform's fee on a fan → creator payment (docs/ledger.md#fees), rounded half up."""
    bps = current_app.config["PLATFORM_FEE_BPS"]
    return (amount * bps + 5000) // 10000


def grant_purchase(user_id: int, credits: int, key: str, order_id: int) -> tuple[Transfer, bool]:
    """Credits bought with real money arrive in the wallet (payments_clearing → wallet)."""
    credits = check_amount(credits)
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
    amount = check_amount(amount)
    if fan_id == creator_id:
        raise DomainError("You cannot pay yourself.")
    fee = fee_for(amount)
    bucket = random.randrange(current_app.config["LEDGER_HOT_BUCKETS"])
    if sql.spends_in_one_statement(db.session.get_bind()):
        done = _spend_in_one_statement(
            fan_id, creator_id, amount, fee, kind, key, reference, memo, bucket
        )
        if done is not None:
            return done
    legs = [
        (user_account(fan_id), -amount),
        (user_account(creator_id, "earnings_pending"), amount - fee),
    ]
    if fee:  # the bucket the one statement missed is created here: next time it is found
        legs.append((system_account("platform_revenue", bucket), fee))
    transfer, created = post(kind, key, legs, reference=reference, memo=memo)
    if created:
        pay_referral(creator_id, amount - fee, transfer)
    return transfer, created


def _spend_in_one_statement(
    fan_id: int,
    creator_id: int,
    amount: int,
    fee: int,
    kind: str,
    key: str,
    reference: tuple[str, object] | None,
    memo: str | None,
    bucket: int,
) -> tuple[Transfer, bool] | None:
    """`spend` on PostgreSQL. None when an account does not exist yet (a creator's first
    earnings, a new bucket): the caller then takes the general path, which creates it."""
    check_key(key)
    now = clock.now()
    share = amount - fee
    legs = 1 + (share > 0) + (fee > 0)
    row = sql.spend_in_one_statement(
        db.session.connection(),
        fan_id=fan_id,
        creator_id=creator_id,
        amount=amount,
        share=share,
        fee=fee,
        bucket=bucket,
        legs=legs,
        key=key,
        kind=kind,
        reference_type=reference[0] if reference else None,
        reference_id=str(reference[1]) if reference else None,
        memo=memo,
        now=now,
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
    transfer = written(
        Transfer,
        {
            "id": row.transfer_id,
            "kind": kind,
            "idempotency_key": key,
            "reference_type": reference[0] if reference else None,
            "reference_id": str(reference[1]) if reference else None,
            "memo": memo,
            "actor_id": None,
            "reverses_id": None,
            "created_at": now,
        },
    )
    transfer.payer_balance = row.payer_balance
    expire_balances(set(row.moved_ids or ()))
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
    amount = check_amount(amount)
    return post(
        kind,
        key,
        [(user_account(user_id), -amount), (system_account("platform_revenue"), amount)],
        reference=reference,
    )


def hold(fan_id: int, amount: int, key: str, reference: tuple[str, object]) -> Transfer:
    """Reserve credits (two-phase): wallet → holds, until `settle_holds` closes them."""
    amount = check_amount(amount)
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
        select(sql.total(-Entry.amount))
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(
            Entry.account_id == wallet.id,
            Transfer.kind.in_(("call_hold", "call_settle")),
            Transfer.reference_type == reference[0],
            Transfer.reference_id == str(reference[1]),
        )
    )
    settled_to_creator = db.session.scalar(
        select(sql.total(Entry.amount))
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
    charge = check_amount(charge, allow_zero=True)
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
    credits = check_amount(credits)
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
    credits = check_amount(credits)
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
    credits = check_amount(credits, allow_zero=True)
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
    check_amount(abs(amount))
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
