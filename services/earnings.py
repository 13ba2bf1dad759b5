"""A creator's earnings dashboard (docs/creators.md#earnings-dashboard): pending and available,
earnings per day by source, top fans, subscriber count. Everything is read from the ledger: what a
creator earned is what reached their `earnings_pending` account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from core import clock, sql
from models import Entry, LedgerAccount, Transfer, User
from services import creators

# Transfer kind → the source shown on the dashboard, in chart order.
SOURCES = {
    "subscription": "Subscriptions",
    "message": "Messages",
    "tip": "Tips",
    "unlock": "PPV",
    "call_settle": "Calls",
    "referral": "Referrals",
}
COLORS = {
    "subscription": "#7c3aed",
    "message": "#2563eb",
    "tip": "#db2777",
    "unlock": "#ea580c",
    "call_settle": "#059669",
    "referral": "#0891b2",
}


@dataclass
class Day:
    date: dt.date
    by_source: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass
class Bar:
    x: int
    y: int
    width: int
    height: int
    color: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_value: int
    labels: list[tuple[int, str]]  # (x, text) under the axis


def _first_day(days: int, now: dt.datetime | None) -> dt.date:
    return ((now or clock.now()) - dt.timedelta(days=days - 1)).date()


def per_day(rows, days: int, now: dt.datetime | None = None) -> list[Day]:
    """Credits earned (after the platform fee) per day and source, oldest day first, from
    (created_at, kind, amount) of what reached the pending account."""
    first = _first_day(days, now)
    result = {first + dt.timedelta(days=i): dict.fromkeys(SOURCES, 0) for i in range(days)}
    for created_at, kind, amount in rows:
        day = result.get(created_at.date())
        if day is not None:
            day[kind] += amount
    return [Day(date=date, by_source=values) for date, values in result.items()]


def totals_by_source(days: list[Day]) -> dict[str, int]:
    return {kind: sum(day.by_source[kind] for day in days) for kind in SOURCES}


def chart(days: list[Day], width: int = 720, height: int = 200) -> Chart:
    """Stacked bars, one per day, for a server-rendered SVG."""
    max_value = max((day.total for day in days), default=0) or 1
    slot = width // max(len(days), 1)
    bars: list[Bar] = []
    labels: list[tuple[int, str]] = []
    for index, day in enumerate(days):
        x = index * slot + 2
        y_bottom = height
        for kind in SOURCES:
            value = day.by_source[kind]
            if not value:
                continue
            bar_height = max(1, round(value * height / max_value))
            y_bottom -= bar_height
            bars.append(
                Bar(
                    x=x,
                    y=y_bottom,
                    width=max(slot - 4, 1),
                    height=bar_height,
                    color=COLORS[kind],
                    title=f"{day.date:%b} {day.date.day}: {SOURCES[kind]} {value:,} credits",
                )
            )
        if index % 7 == 0 and len(days) - index > 3:  # keep clear of the last label
            labels.append((x, f"{day.date:%b} {day.date.day}"))
        elif index == len(days) - 1:
            labels.append((max(x - 24, 0), f"{day.date:%b} {day.date.day}"))
    return Chart(width=width, height=height, bars=bars, max_value=max_value, labels=labels)


class Fan(NamedTuple):
    id: int
    display_name: str


def _account(kind: str, column):
    return (
        select(column)
        .where(LedgerAccount.user_id == bindparam("creator_id"), LedgerAccount.kind == kind)
        .scalar_subquery()
    )


# The dashboard in one statement (built once: building it cost more than running it,
# BENCHMARKS.md): the balances, the subscribers, and as JSON what reached the pending account
# since :since and the top fans. An account not created yet reads NULL, and no rows.
_PENDING_ID = _account("earnings_pending", LedgerAccount.id)
_EARNED_COLUMNS = (Entry.created_at, Transfer.kind, Entry.amount)
_EARNED = (
    select(sql.json_rows(*_EARNED_COLUMNS))
    .join(Transfer, Transfer.id == Entry.transfer_id)
    .where(
        Entry.account_id == _PENDING_ID,
        Entry.amount > 0,
        Transfer.kind.in_(list(SOURCES)),
        Entry.created_at >= bindparam("since"),
    )
    .scalar_subquery()
)
_creator_entry, _fan_entry = aliased(Entry, name="creator_entry"), aliased(Entry, name="fan_entry")
_wallet = aliased(LedgerAccount, name="wallet")
_PAID = func.sum(-_fan_entry.amount)
_FANS = (
    select(User.id, User.display_name, _PAID.label("paid"))
    .select_from(_creator_entry)
    .join(_fan_entry, _fan_entry.transfer_id == _creator_entry.transfer_id)
    .join(_wallet, _wallet.id == _fan_entry.account_id)
    .join(User, User.id == _wallet.user_id)
    .where(
        _creator_entry.account_id == _PENDING_ID,
        _creator_entry.amount > 0,
        _wallet.kind == "wallet",
        _fan_entry.amount < 0,
    )
    .group_by(User.id, User.display_name)
    .order_by(_PAID.desc(), User.id)
    .limit(bindparam("fans"))
    .subquery()
)
_FIGURES = select(
    _account("earnings_pending", LedgerAccount.balance),
    _account("earnings_available", LedgerAccount.balance),
    creators.subscriber_count_query(bindparam("creator_id")).scalar_subquery(),
    _EARNED,
    select(sql.json_rows(_FANS.c.id, _FANS.c.display_name, _FANS.c.paid)).scalar_subquery(),
)
TOP_FANS = 10


def dashboard(creator: User, days: int = 30) -> dict:
    now = clock.now()
    values = {
        "creator_id": creator.id,
        "since": dt.datetime.combine(_first_day(days, now), dt.time()),
        "fans": TOP_FANS,
    }
    ((pending_balance, available, subscribers, earned, fans),) = sql.read(_FIGURES, values)
    pending_balance, available = pending_balance or 0, available or 0
    series = per_day(sql.columns_of_json(_EARNED_COLUMNS, earned), days, now)
    fans = [  # the database's order is lost in the JSON
        (Fan(user_id, name), int(paid))
        for user_id, name, paid in sorted(sql.json_rows_of(fans), key=lambda f: (-f[2], f[0]))
    ]
    return {
        "pending": pending_balance,
        "available": available,
        "days": series,
        "totals": totals_by_source(series),
        "total": sum(day.total for day in series),
        "chart": chart(series),
        "top_fans": fans,
        "subscribers": subscribers,
        "sources": SOURCES,
        "colors": COLORS,
    }
