"""The shapes every area of `services.personal_data` shares: `Area`, the `Erasure` under way,
and small helpers to write an area's export and erasure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, or_
from sqlalchemy.orm import InstrumentedAttribute

from extensions import db
from models import User

# What a deleted member's messages and mass messages say instead of their text.
ERASED_MESSAGE = "(This message was deleted with its sender's account.)"


@dataclass
class Erasure:
    """One account being erased, inside `erasure.erase_account`'s transaction."""

    user: User  # already claimed (status 'deleted')
    email: str  # the address before erasure: login attempts and mail are found by it
    now: dt.datetime

    @property
    def user_id(self) -> int:
        return self.user.id

    def execute(self, statement) -> None:
        db.session.execute(statement, execution_options={"synchronize_session": False})


@dataclass(frozen=True)
class Area:
    """One part of what Amora holds about a member, and what becomes of it."""

    name: str
    models: tuple[type, ...]  # the tables this area owns
    export: Callable[[User], dict] | None = None  # the export file's keys for this area
    erase: Callable[[Erasure], None] | None = None  # deletes or anonymises the member's rows
    files: Callable[[int], Iterable[str]] | None = None  # storage keys to delete on erasure
    not_exported: str = ""  # why the export leaves this area out
    kept: str = ""  # what erasure leaves in place, and why
    tables: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", frozenset(m.__table__.name for m in self.models))
        if self.export is None and not self.not_exported:
            raise ValueError(f"{self.name}: export it, or say why not (not_exported)")
        if self.erase is None and not self.kept:
            raise ValueError(f"{self.name}: erase it, or say what is kept and why (kept)")


def plain(value: object) -> object:
    """A column value as JSON: dates and times in ISO 8601, the rest as is."""
    return value.isoformat() if isinstance(value, dt.date) else value


def rows(query, *fields: str, **renamed: str) -> list[dict]:
    """Each row of `query` as a dict of `fields` (and `renamed`: output name → attribute)."""
    pairs = [(f, f) for f in fields] + list(renamed.items())
    return [
        {name: plain(getattr(row, attr)) for name, attr in pairs}
        for row in db.session.scalars(query)
    ]


def deleting(*columns: InstrumentedAttribute) -> Callable[[Erasure], None]:
    """An erasure that deletes, table by table in this order, the rows where any of the given
    columns of that table is the member."""

    def erase(erasure: Erasure) -> None:
        conditions: dict[type, list] = {}
        for column in columns:
            conditions.setdefault(column.class_, []).append(column == erasure.user_id)
        for model, matches in conditions.items():
            erasure.execute(delete(model).where(or_(*matches)))

    return erase
