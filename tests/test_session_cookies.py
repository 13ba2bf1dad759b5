"""The session cookie (blueprints/session_cookies.py): verified once per process, each request
with its own copy, the age checked every time, re-signed once a day; and the session's last use,
touched once a minute (services/sessions.py)."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner

from tests.creator_helpers import signed_in

DAY = 24 * 60 * 60


def _cookie(app, data: dict, age_seconds: int = 0) -> str:
    signer = TimestampSigner.get_timestamp
    try:
        TimestampSigner.get_timestamp = lambda self: int(time.time()) - age_seconds
        return app.session_interface.get_signing_serializer(app).dumps(data)
    finally:
        TimestampSigner.get_timestamp = signer


def _open(app, cookie: str):
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}):
        return app.session_interface.open_session(app, __import__("flask").request)


def test_what_one_request_does_to_its_session_never_reaches_another(app):
    cookie = _cookie(app, {"csrf_token": "abc", "step": "one"})
    first = _open(app, cookie)
    first["step"] = "two"
    first["extra"] = "x"
    again = _open(app, cookie)
    assert dict(again) == {"csrf_token": "abc", "step": "one"} and not again.modified


def test_a_kept_cookie_still_expires_and_a_changed_one_is_refused(app, monkeypatch):
    cookie = _cookie(app, {"csrf_token": "abc"})
    assert dict(_open(app, cookie)) == {"csrf_token": "abc"}  # verified and kept
    assert dict(_open(app, cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))) == {}
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert dict(_open(app, cookie)) == {}


def test_an_old_cookie_is_refused_the_first_time_too(app):
    lifetime = int(app.permanent_session_lifetime.total_seconds())
    assert dict(_open(app, _cookie(app, {"csrf_token": "abc"}, lifetime + 60))) == {}


@pytest.mark.parametrize("age, signed_again", [(0, False), (2 * DAY, True)])
def test_a_members_cookie_is_signed_again_once_a_day(app, age, signed_again):
    """A logged-in member's cookie runs 30 days from their last day here, not from the login;
    signing it on every page would cost every page."""
    auth, _ = signed_in(app, "sam@example.com", "Sam")
    client = auth.client
    client.get("/settings")  # the first page after the login adds the form's secret
    data = app.session_interface.get_signing_serializer(app).loads(
        client.get_cookie("session").value
    )
    assert data.get("_permanent") is True
    client.set_cookie("session", _cookie(app, data, age))
    response = client.get("/settings")
    assert response.status_code == 200  # still logged in
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert bool(cookies) == signed_again
    if signed_again:
        assert "Expires=" in cookies[0]
        client.set_cookie("session", cookies[0].split(";")[0].split("=", 1)[1])
        assert client.get("/settings").status_code == 200


def test_a_session_is_touched_once_a_minute_and_not_again_by_a_request_that_lost_the_race(app):
    """The requests of one session that find it due together: the first writes, the others
    find it fresh and write nothing (they do not queue up to write it each in turn)."""
    import datetime as dt

    from sqlalchemy import event, select, update

    from core import clock
    from extensions import db
    from models import User, UserSession

    auth, sam_id = signed_in(app, "sam@example.com", "Sam")
    auth.client.get("/settings")
    long_ago = clock.now() - dt.timedelta(minutes=5)

    def set_stale() -> None:
        with app.app_context():
            db.session.execute(update(UserSession).values(last_seen_at=long_ago))
            db.session.execute(update(User).values(last_active_at=long_ago))
            db.session.commit()

    def seen() -> tuple:
        with app.app_context():
            return (
                db.session.scalar(select(UserSession.last_seen_at)),
                db.session.scalar(select(User.last_active_at).where(User.id == sam_id)),
            )

    set_stale()
    assert auth.client.get("/settings").status_code == 200
    session_seen, user_seen = seen()
    assert session_seen > long_ago and user_seen > long_ago  # touched

    set_stale()
    with app.app_context():
        engine = db.engine

    raced = []

    def another_request_touched_it_first(_conn, _cursor, statement, *_):
        if statement.startswith("UPDATE user_sessions") and not raced:
            raced.append(True)
            with engine.begin() as other:
                other.execute(update(UserSession).values(last_seen_at=clock.now()))

    event.listen(engine, "before_cursor_execute", another_request_touched_it_first)
    try:
        assert auth.client.get("/settings").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", another_request_touched_it_first)
    assert raced and seen()[1] == long_ago  # this request wrote nothing
