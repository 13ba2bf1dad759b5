"""PostgreSQL: plain reads run outside a transaction, and everything that needs one still has it
(core/connections.py, docs/architecture.md#transactions). A second connection of our own
watches the locks; the shared server is never touched."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import select, text

from core import sql
from extensions import db
from models import User
from services import dating_sql, ledger
from tests.conftest import PG_ADMIN_URL
from tests.creator_helpers import creator, fan

pytestmark = pytest.mark.postgres


def _other_connection(app) -> psycopg.Connection:
    database = app.config["SQLALCHEMY_DATABASE_URI"].rsplit("/", 1)[1]
    return psycopg.connect(
        PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}", autocommit=True, connect_timeout=3
    )


def _driver():
    return db.session.connection().connection.dbapi_connection


def test_a_request_that_has_only_read_holds_no_transaction_open(pg_app):
    """Nothing a page reads keeps a snapshot open on the server (VACUUM and DDL do not wait for
    it), and the member still sees what was committed a moment ago."""
    with pg_app.app_context():
        sam = fan("Sam", credits=30)
        db.session.commit()
        assert ledger.wallet_balance(sam.id) == 30
        assert db.session.get(User, sam.id).display_name == "Sam"
        assert _driver().info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with _other_connection(pg_app) as other:
            other.execute("UPDATE users SET display_name = 'Samuel' WHERE id = %s", (sam.id,))
        assert db.session.scalar(select(User.display_name).where(User.id == sam.id)) == "Samuel"


def test_a_row_lock_taken_after_reads_is_held_until_the_commit(pg_app):
    with pg_app.app_context():
        sam = fan("Sam")
        db.session.commit()
        assert ledger.wallet_balance(sam.id) == 0  # a plain read first
        db.session.scalars(select(User).where(User.id == sam.id).with_for_update()).one()
        with _other_connection(pg_app) as other:
            with pytest.raises(errors.LockNotAvailable):
                other.execute("SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT", (sam.id,))
            db.session.commit()
            assert other.execute(
                "SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT", (sam.id,)
            ).fetchone() == (sam.id,)


def test_an_advisory_lock_taken_after_reads_is_held_until_the_commit(pg_app):
    probe = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
    with pg_app.app_context():
        db.session.scalar(text("SELECT 1"))
        sql.lock_until_commit("order:7")
        with _other_connection(pg_app) as other:
            with other.transaction():
                assert other.execute(probe, ("order:7",)).fetchone() == (False,)
            db.session.commit()
            with other.transaction():
                assert other.execute(probe, ("order:7",)).fetchone() == (True,)


def test_discovers_plan_settings_hold_for_the_rest_of_its_transaction_only(pg_app):
    with pg_app.app_context():
        db.session.scalar(text("SELECT 1"))
        dating_sql.plan_each_search(db.session.connection())
        assert db.session.scalar(text("SHOW jit")) == "off"
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        db.session.rollback()
        assert db.session.scalar(text("SHOW plan_cache_mode")) == "auto"


def test_writes_after_reads_are_one_transaction_and_reads_after_a_commit_go_on(pg_app):
    with pg_app.app_context():
        sam, mia = fan("Sam", credits=50), creator("Mia")
        db.session.commit()
        assert ledger.wallet_balance(sam.id) == 50
        ledger.spend(sam.id, mia.id, 5, "tip", "tip:one")  # goes straight to the driver
        db.session.get(User, mia.id).display_name = "Mia R."
        db.session.rollback()  # the spend and the rename both undone
        assert ledger.wallet_balance(sam.id) == 50
        assert db.session.get(User, mia.id).display_name == "Mia"
        ledger.spend(sam.id, mia.id, 5, "tip", "tip:two")
        db.session.commit()
        assert ledger.wallet_balance(sam.id) == 45  # read outside a transaction again
        ledger.spend(sam.id, mia.id, 7, "tip", "tip:three")
        db.session.rollback()
        assert ledger.wallet_balance(sam.id) == 45
        assert ledger.verify() == []


def test_a_write_straight_to_the_driver_after_reads_is_in_the_transaction(pg_app):
    """`core.sql.driver_row` skips SQLAlchemy's events (the ledger's busiest statement): its
    write still waits for the commit, and a rollback undoes it."""
    rename = text("UPDATE users SET display_name = :name WHERE id = :id RETURNING id")
    with pg_app.app_context():
        sam = fan("Sam")
        db.session.commit()
        assert db.session.scalar(select(User.display_name).where(User.id == sam.id)) == "Sam"
        assert sql.driver_row(db.session.connection(), rename, {"name": "X", "id": sam.id})
        with _other_connection(pg_app) as other:
            seen = "SELECT display_name FROM users WHERE id = %s"
            assert other.execute(seen, (sam.id,)).fetchone() == ("Sam",)
            db.session.rollback()
            assert other.execute(seen, (sam.id,)).fetchone() == ("Sam",)


def test_a_caller_that_asks_for_autocommit_keeps_it(pg_app):
    """CREATE INDEX CONCURRENTLY cannot run in a transaction: a caller that asks for autocommit
    gets it for its writes too."""
    with pg_app.app_context(), db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("CREATE INDEX CONCURRENTLY ix_probe ON users (display_name)")
        connection.exec_driver_sql("DROP INDEX CONCURRENTLY ix_probe")


def test_column_descriptions_still_name_the_columns(pg_app):
    """psycopg's descriptions are built only when read; whoever reads them gets them whole."""
    with pg_app.app_context():
        result = db.session.connection().exec_driver_sql("SELECT 1 AS one, 'x'::text AS two")
        description = result.cursor.description
        assert [column.name for column in description] == ["one", "two"]
        assert [column[1] for column in description] == [23, 25]  # int4, text
        assert result.keys() == ["one", "two"] and result.one() == (1, "x")
