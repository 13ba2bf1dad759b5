"""The double-entry ledger (docs/ledger.md). Only `services/ledger/` writes these tables.

* `LedgerAccount`: one row per (kind, owner, bucket). Users have a `wallet`; creators have
  `earnings_pending` and `earnings_available`. System accounts have no owner; the hot ones
  (`payments_clearing`, `platform_revenue`, `holds`) are split into N bucket rows so that
  concurrent transfers do not queue behind one row lock. `balance` is a cache of the sum of the
  account's entries, kept in the same transaction as the entries.
* `Transfer`: immutable; its entries sum to zero; `idempotency_key` is unique.
* `Entry`: one signed amount on one account; `balance_after` is the account's balance right after
  this entry (exact: the row was locked by the conditional update that produced it).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from extensions import db
from models.checks import one_of

USER_KINDS = ("wallet", "earnings_pending", "earnings_available")
SYSTEM_KINDS = ("payments_clearing", "platform_revenue", "payouts_clearing", "promotions", "holds")
ACCOUNT_KINDS = USER_KINDS + SYSTEM_KINDS

TRANSFER_KINDS = (
    "purchase",
    "message",
    "tip",
    "unlock",
    "subscription",
    "intro",
    "call_hold",
    "call_settle",
    "earnings_release",
    "payout",
    "payout_reversal",
    "refund",
    "chargeback",
    "adjustment",
    "referral",
)


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        one_of("kind", ACCOUNT_KINDS),
        CheckConstraint(
            "(user_id IS NULL) = (kind IN ('payments_clearing', 'platform_revenue', "
            "'payouts_clearing', 'promotions', 'holds'))",
            name="owner",
        ),
        # Invariant 3, enforced by the database too: only system accounts go below zero, and a
        # user account only after a chargeback, which freezes it.
        CheckConstraint("balance >= 0 OR user_id IS NULL OR frozen_at IS NOT NULL", name="balance"),
        # One account per (kind, user); system accounts are unique per (kind, bucket).
        Index(
            "uq_ledger_accounts_user_kind",
            "user_id",
            "kind",
            unique=True,
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "uq_ledger_accounts_system_kind",
            "kind",
            "bucket",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    bucket: Mapped[int] = mapped_column(default=0)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    frozen_at: Mapped[dt.datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def __repr__(self) -> str:
        owner = f"user {self.user_id}" if self.user_id else f"bucket {self.bucket}"
        return f"<LedgerAccount {self.id} {self.kind} {owner} balance={self.balance}>"


class Transfer(db.Model):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        one_of("kind", TRANSFER_KINDS),
        Index("ix_ledger_transfers_reference", "reference_type", "reference_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[str | None] = mapped_column(String(100))
    memo: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A transfer is fully reversed at most once (the database says so too).
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transfers.id", ondelete="RESTRICT"), unique=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now, index=True)

    entries: Mapped[list[Entry]] = relationship(back_populates="transfer", order_by="Entry.id")

    # Not stored: the paying wallet's balance right after this transfer, where the statement
    # that wrote it returned it (a spend on PostgreSQL); None where it did not.
    payer_balance = None


class Entry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transfers.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)

    transfer: Mapped[Transfer] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()
