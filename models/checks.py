"""CHECK constraints built from the values a column may hold, so that the values are written
once: in the column's enum (a `StrEnum` beside the model)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import CheckConstraint


def one_of(column: str, values: Iterable[str], *, name: str | None = None) -> CheckConstraint:
    """`CHECK (column IN ('a', 'b', …))`, named after the column unless told otherwise."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name or column)
