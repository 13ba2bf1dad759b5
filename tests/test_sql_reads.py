"""Reads straight through the driver (`core.sql.read` and `load`): the same rows, values and
objects as the ORM gives, on both databases."""

from __future__ import annotations

import datetime as dt
import gc

import psycopg
import pytest
from sqlalchemy import bindparam, event, exc, func, inspect, select, text
from sqlalchemy.orm import Session, SessionTransaction, aliased

from core import clock, sql
from extensions import db
from models import Alert, Profile, User, UserStatus
from tests.conftest import PG_ADMIN_URL
from tests.creator_helpers import creator, fan
from tests.dating_helpers import dater

_PEOPLE = select(User.id, User.display_name, User.created_at, User.is_creator).order_by(User.id)
_SOME = select(User.id).where(User.id.in_(bindparam("ids", expanding=True))).order_by(User.id)
_WITH_PROFILE = (
    select(User, Profile, func.length(User.display_name).label("letters"))
    .outerjoin(Profile, Profile.user_id == User.id)
    .where(User.id == bindparam("id"))
)
_ALERT = select(Alert).where(Alert.id == bindparam("id"))
_ANOTHER = aliased(User)
_PAIR = (
    select(User.id.label("first"), _ANOTHER, User)
    .join(_ANOTHER, _ANOTHER.id == bindparam("other"))
    .where(User.id == bindparam("one"))
)


def test_values_arrive_as_the_orm_gives_them(ctx):
    """Dates are dates and flags are flags on SQLite too (stored as text and integers there)."""
    luna, sam = creator("Luna"), fan("Sam")
    rows = sql.read(_PEOPLE)
    assert rows == db.session.execute(_PEOPLE).all()
    assert [(r.id, r.display_name, r.is_creator) for r in rows] == [
        (luna.id, "Luna", True),
        (sam.id, "Sam", False),
    ]
    assert isinstance(rows[0].created_at, dt.datetime)


_SOME_PRESENT = _SOME.where(User.status.in_((UserStatus.ACTIVE, UserStatus.SUSPENDED)))
_PRESENT = select(User.id).where(User.status.in_((UserStatus.ACTIVE, UserStatus.SUSPENDED)))


def test_a_list_parameter_of_any_length(ctx):
    """Lists given with each run, beside lists fixed in the statement (rendered once)."""
    people = [fan(f"P{n}") for n in range(4)]
    ids = [person.id for person in people]
    people[2].status = UserStatus.BANNED
    people[3].status = UserStatus.SUSPENDED
    db.session.commit()
    for statement, present in ((_SOME, ids), (_SOME_PRESENT, [ids[0], ids[1], ids[3]])):
        assert [row.id for row in sql.read(statement, {"ids": ids[1:3]})] == [
            i for i in ids[1:3] if i in present
        ]
        assert [row.id for row in sql.read(statement, {"ids": ids[0:2]})] == [
            i for i in ids[0:2] if i in present
        ]  # the same length, other values: the SQL kept for the length, these values in it
        assert [row.id for row in sql.read(statement, {"ids": ids})] == present
        assert sql.read(statement, {"ids": []}) == []
    for _ in range(2):
        assert sorted(row.id for row in sql.read(_PRESENT)) == [ids[0], ids[1], ids[3]]


def test_json_is_read_as_json(ctx):
    alert = Alert(kind="probe", summary="s", detail={"why": ["a", 1]}, created_at=clock.now())
    db.session.add(alert)
    db.session.commit()
    (row,) = sql.load(_ALERT, {"id": alert.id})
    assert row[0] is alert  # the session holds it: that object
    db.session.expunge_all()
    (row,) = sql.load(_ALERT, {"id": alert.id})
    assert row[0].detail == {"why": ["a", 1]} and row[0] is not alert


def test_loaded_objects_are_the_sessions_and_unchanged(ctx):
    sam = dater("Sam")
    sam_id = sam.id
    db.session.commit()
    db.session.expunge_all()
    ((user, profile, letters),) = sql.load(_WITH_PROFILE, {"id": sam_id})
    assert (user.display_name, profile.user_id, letters) == ("Sam", sam_id, 3)
    assert db.session.get(User, sam_id) is user  # no second statement, the same object
    assert inspect(user).persistent and not db.session.dirty
    assert user.date_of_birth == db.session.scalar(select(User.date_of_birth))
    latitude = profile.latitude
    assert latitude is not None
    # An attribute not read with it (a relationship) loads when used, as the ORM's would.
    assert [s.id for s in user.sessions] == []
    # A change to a loaded object is written at the commit, and only the change.
    user.display_name = "Samuel"
    db.session.commit()
    db.session.expunge_all()
    assert db.session.get(User, sam_id).display_name == "Samuel"
    assert db.session.get(Profile, sam_id).latitude == latitude


def test_an_object_let_expire_at_a_commit_is_refreshed_from_the_row(ctx):
    """The session's own object, changes kept; what a commit let expire is taken from the row
    rather than read again when used."""
    sam = fan("Sam")
    sam_id = sam.id
    db.session.commit()  # everything of sam has expired
    reads = []

    def count(_connection, _cursor, statement, *_rest):
        reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        ((user, _profile, letters),) = sql.load(_WITH_PROFILE, {"id": sam_id})
        assert user is sam and letters == 3
        assert (sam.display_name, sam.email) == ("Sam", db.session.scalar(select(User.email)))
        assert len(reads) == 1  # only the scalar above: nothing was read again
        sam.display_name = "Samuel"  # changed and not flushed: load flushes it first
        ((user, _profile, letters),) = sql.load(_WITH_PROFILE, {"id": sam_id})
        assert user is sam and user.display_name == "Samuel" and letters == 6
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_an_outer_join_that_finds_nothing_is_none(ctx):
    sam = fan("Sam")
    db.session.commit()
    ((user, profile, _letters),) = sql.load(_WITH_PROFILE, {"id": sam.id})
    assert user is sam and profile is None


def test_an_aliased_entity_and_columns_of_the_same_names(ctx):
    luna, sam = creator("Luna").id, fan("Sam").id
    db.session.commit()
    db.session.expunge_all()
    ((first, other, one),) = sql.load(_PAIR, {"one": luna, "other": sam})
    assert (first, other.display_name, one.display_name) == (luna, "Sam", "Luna")
    assert other.id == sam and one.id == luna and other.email != one.email


def test_pending_changes_are_read(ctx):
    sam = fan("Sam")
    db.session.commit()
    sam.display_name = "Sammy"  # not flushed yet
    assert [row.display_name for row in sql.read(_PEOPLE)] == ["Sammy"]


def test_a_failing_statement_raises_sqlalchemys_error_and_the_session_goes_on(ctx):
    broken = select(text("no_such_column FROM users"))
    with pytest.raises(exc.DBAPIError):
        sql.read(broken)
    db.session.rollback()
    fan("Sam")
    assert len(sql.read(_PEOPLE)) == 1


@pytest.mark.postgres
def test_a_read_after_a_commit_opens_no_transaction(pg_app):
    """After a write was committed, a read straight to the driver runs outside a transaction
    again (docs/architecture.md#transactions), as one through SQLAlchemy does: the session
    gave its connection back at the commit, and the pool hands it out for reads."""
    with pg_app.app_context():
        sam = fan("Sam")
        db.session.commit()
        connection = db.session.connection()
        driver = connection.connection.dbapi_connection
        rename = text("UPDATE users SET display_name = 'S' WHERE id = :id")
        connection.execute(rename, {"id": sam.id})
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        db.session.commit()
        db.session.connection()
        assert sql.read(_PEOPLE)[0].display_name == "S"
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


@pytest.mark.postgres
def test_a_row_lock_read_straight_to_the_driver_is_held_until_the_commit(pg_app):
    locking = select(User.id).where(User.id == bindparam("id")).with_for_update()
    with pg_app.app_context():
        sam = fan("Sam")
        db.session.commit()
        assert sql.read(locking, {"id": sam.id}) == [(sam.id,)]
        database = pg_app.config["SQLALCHEMY_DATABASE_URI"].rsplit("/", 1)[1]
        with psycopg.connect(
            PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}", autocommit=True
        ) as other:
            nowait = "SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT"
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(nowait, (sam.id,))
            db.session.commit()
            assert other.execute(nowait, (sam.id,)).fetchone() == (sam.id,)


def test_a_page_leaves_its_session_to_go_when_the_request_ends(app):
    """A request's session, connection and loaded objects go when it ends, not at some later
    garbage collection: a reference cycle through them kept a million objects waiting under
    load, and the collection that freed them stalled the process for over a second."""
    from tests.creator_helpers import signed_in

    auth, _ = signed_in(app, "sam@example.com", "Sam", credits=20)
    auth.client.get("/wallet", headers={"Accept": "text/html"})
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for page in ("/wallet", "/messages", "/settings"):
            assert auth.client.get(page, headers={"Accept": "text/html"}).status_code == 200
        gc.collect()
        left = {type(o) for o in gc.garbage}
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
    found = left & {Session, SessionTransaction, User}
    assert not found, found


_PROFILES_JSON = (
    select(sql.json_rows(*Profile.__table__.columns, User.email))
    .select_from(Profile)
    .join(User, User.id == Profile.user_id)
)


def test_objects_from_json_rows_hold_the_values_the_orm_loads(ctx):
    """`entities_of_json`: dates, times, numbers and flags come back as the ORM gives them
    (JSON holds times as text, and SQLite's flags as numbers), with the row's other values."""
    ana, ben = dater("Ana"), dater("Ben", lat=45.764, lon=4.8357)
    expected = {
        p.user_id: {c.key: getattr(p, c.key) for c in Profile.__table__.columns}
        for p in db.session.scalars(select(Profile))
    }
    emails = {ana.id: ana.email, ben.id: ben.email}
    db.session.commit()
    db.session.expunge_all()
    rows = sql.entities_of_json(Profile, db.session.scalar(_PROFILES_JSON))
    assert len(rows) == 2
    for profile, email in rows:
        assert inspect(profile).persistent and email == emails[profile.user_id]
        got = {c.key: getattr(profile, c.key) for c in Profile.__table__.columns}
        assert got == expected[profile.user_id]
        assert isinstance(profile.date_of_birth, dt.date)
        assert isinstance(profile.discoverable, bool)
    assert sql.entities_of_json(Profile, None) == []
    assert not db.session.dirty
