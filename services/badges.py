"""The counts the navigation bar shows on every page: the wallet's credits, unread notifications
and unread messages. One statement, built once: three reads on every page view cost more in
statement building and round trips than in the database (BENCHMARKS.md, the pages entry)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from extensions import db
from models import LedgerAccount, Message, Notification

_USER = bindparam("user_id")
_COUNTS = select(
    select(LedgerAccount.balance)
    .where(LedgerAccount.user_id == _USER, LedgerAccount.kind == "wallet")
    .scalar_subquery(),
    select(func.count(Notification.id))
    .where(Notification.user_id == _USER, Notification.read_at.is_(None))
    .scalar_subquery(),
    select(func.count(Message.id))
    .where(Message.recipient_id == _USER, Message.read_at.is_(None))
    .scalar_subquery(),
)


@dataclass(frozen=True)
class Badges:
    credits: int
    unread_notifications: int
    unread_messages: int


def for_user(user_id: int) -> Badges:
    credits, notifications, messages = db.session.execute(_COUNTS, {"user_id": user_id}).one()
    return Badges(credits or 0, notifications, messages)
