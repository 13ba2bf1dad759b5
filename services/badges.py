"""The counts the navigation bar shows on every page: the wallet's credits, unread notifications
and unread messages. One statement, built once: three reads on every page view cost more in
statement building and round trips than in the database (BENCHMARKS.md, the pages entry)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from extensions import db
from services import ledger, likes, messaging

_USER = bindparam("user_id")
# Each area's own query (the same that its badge endpoint runs), read together. Also added to
# the statement that loads a page's member (`COLUMNS`, `sessions.load_session_user`): a whole
# page then reads them in no statement of their own.
COLUMNS = (
    ledger.wallet_balance_query(_USER).scalar_subquery().label("nav_credits"),
    likes.unread_count_query(_USER).scalar_subquery().label("nav_unread"),
    messaging.unread_total_query(_USER).scalar_subquery().label("nav_unread_messages"),
)
_COUNTS = select(*COLUMNS)


@dataclass(frozen=True)
class Badges:
    credits: int
    unread_notifications: int
    unread_messages: int


def for_user(user_id: int) -> Badges:
    # Through the connection: plain values need none of the ORM's result handling. (The page
    # is being rendered: its changes, if any, are committed.)
    return from_values(*db.session.connection().execute(_COUNTS, {"user_id": user_id}).one())


def from_values(credits, notifications, messages) -> Badges:
    """Badges from the values of `COLUMNS`, in their order."""
    return Badges(credits or 0, notifications, messages)
