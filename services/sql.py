"""SQL helpers shared by services."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from extensions import db


def insert_ignore(model, values: dict, index_elements: list[str], index_where=None) -> None:
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike: for rows that two
    requests may create at the same moment (the loser simply reads the winner's row)."""
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(model).values(**values)
    db.session.execute(
        statement.on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    )
