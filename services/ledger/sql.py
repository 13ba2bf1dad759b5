"""The ledger's hand-written SQL (docs/ledger.md#conditional-updates), both dialects in one place:
the statements the busiest paths run as SQL text, so that SQLAlchemy builds, caches and compiles
nothing per call, and the helpers that make a sum read the same on SQLite and PostgreSQL. The rest
of the package builds its statements with SQLAlchemy and never asks which database it is on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Connection, Engine, cast, func, text

from core.sql import driver_row


def total(expression):
    """SUM as a BIGINT, 0 when empty (PostgreSQL's SUM of bigint is numeric → Decimal)."""
    return cast(func.coalesce(func.sum(expression), 0), BigInteger)


_WALLET_BALANCE = text(
    "SELECT balance FROM ledger_accounts WHERE user_id = :user_id AND kind = 'wallet'"
)


def wallet_balance(connection: Connection, user_id: int) -> int:
    """The user's wallet balance, 0 before their first credit."""
    return connection.execute(_WALLET_BALANCE, {"user_id": user_id}).scalar() or 0


def spends_in_one_statement(bind: Connection | Engine) -> bool:
    """Whether `spend_in_one_statement` runs here: PostgreSQL only (it needs data-modifying
    WITH clauses, FOR UPDATE and bool_and). On SQLite a spend takes `post`, the general path."""
    return bind.dialect.name == "postgresql"


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


def spend_in_one_statement(
    connection: Connection,
    *,
    fan_id: int,
    creator_id: int,
    amount: int,
    share: int,
    fee: int,
    bucket: int,
    legs: int,
    key: str,
    kind: str,
    reference_type: str | None,
    reference_id: str | None,
    memo: str | None,
    now: dt.datetime,
):
    """Run `_SPEND` (PostgreSQL): `legs` is how many accounts move (the fan's wallet, the
    creator's pending earnings when `share` > 0, the platform_revenue `bucket` when `fee` > 0).
    The row says what happened: `transfer_id` (None when nothing was written), `found`, `ok`,
    `frozen`, `available`, `existing_id` and `existing_kind` (the key was used before),
    `moved_ids`, `payer_balance` (the fan's wallet after it) and `referred` (the creator was
    referred: a commission is due)."""
    return driver_row(  # straight to the driver: the busiest statement of the ledger
        connection,
        _SPEND,
        {
            "fan": fan_id,
            "creator": creator_id,
            "amount": amount,
            "share": share,
            "fee": fee,
            "bucket": bucket,
            "legs": legs,
            "key": key,
            "kind": kind,
            "reference_type": reference_type,
            "reference_id": reference_id,
            "memo": memo,
            "now": now,
        },
    )
