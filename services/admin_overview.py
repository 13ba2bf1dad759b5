"""Admin → Overview: today's key numbers (since midnight UTC) and what waits for an admin."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from core import clock
from extensions import db
from models import (
    Alert,
    Entry,
    LedgerAccount,
    LedgerCheck,
    LoginAttempt,
    Order,
    Payout,
    PayoutStatus,
    Report,
    ReportStatus,
    Transfer,
    User,
)
from services.ledger import SPEND_KINDS


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _wallet_credits(kinds, since: dt.datetime, sign: int) -> int:
    amount = Entry.amount if sign > 0 else -Entry.amount
    total = db.session.scalar(
        select(func.coalesce(func.sum(amount), 0))
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
        .where(
            LedgerAccount.kind == "wallet",
            Transfer.kind.in_(kinds),
            Transfer.created_at >= since,
            Entry.amount > 0 if sign > 0 else Entry.amount < 0,
        )
    )
    return int(total or 0)


def today(now: dt.datetime | None = None) -> dict:
    now = now or clock.now()
    midnight = dt.datetime.combine(now.date(), dt.time())
    return {
        "since": midnight,
        "signups": _count(User, User.created_at >= midnight),
        "logins": _count(
            LoginAttempt, LoginAttempt.created_at >= midnight, LoginAttempt.succeeded.is_(True)
        ),
        "failed_logins": _count(
            LoginAttempt, LoginAttempt.created_at >= midnight, LoginAttempt.succeeded.is_(False)
        ),
        "orders_paid": _count(Order, Order.paid_at >= midnight),
        "credits_bought": _wallet_credits(("purchase",), midnight, +1),
        "credits_spent": _wallet_credits(SPEND_KINDS, midnight, -1),
        "payouts_requested": _count(Payout, Payout.created_at >= midnight),
        "open_reports": _count(Report, Report.status == ReportStatus.OPEN),
        "open_alerts": _count(Alert, Alert.is_unresolved),
        "payouts_to_review": _count(Payout, Payout.status == PayoutStatus.REQUESTED),
        "bank_transfers_to_make": _count(
            Payout, Payout.status == PayoutStatus.APPROVED, Payout.method_kind == "manual"
        ),
        "last_check": db.session.scalar(select(LedgerCheck).order_by(LedgerCheck.id.desc())),
    }
