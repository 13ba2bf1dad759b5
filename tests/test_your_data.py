"""Your data (docs/security.md#your-data): export as JSON, and delete the account (personal data
erased, ledger rows kept, pseudonymised)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from core import clock
from extensions import db
from models import Profile, Transfer, User
from services import accounts, data_export, erasure, ledger, likes, messaging, profiles
from testkit.ledger import paid_order
from tests.conftest import AuthActions
from tests.dating_helpers import dater


def _fan(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        me = accounts.find_by_email("ana@example.com")
        me.email_verified_at = me.created_at
        db.session.commit()
        profiles.update_basics(
            me, gender="woman", seeking=["man"], age_min=25, age_max=40, bio="Secret bio"
        )
        paid_order(me, 100)
        other = dater("Bob", gender="man")
        likes.react(me, other.id, "like")
        likes.react(other, me.id, "like")
        messaging.send(me, other.id, "hello Bob")
        return auth, me.id


def test_export_contains_my_data(app):
    auth, user_id = _fan(app)
    started = auth.post("/settings/export")
    assert started.status_code == 303  # the worker builds it (inline here)
    with app.app_context():
        export = data_export.latest_export(db.session.get(User, user_id))
        assert export.status == "ready"
        export_id = export.id
    response = auth.client.get(f"/settings/export/{export_id}/download", follow_redirects=True)
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = json.loads(response.data)
    assert data["account"]["email"] == "ana@example.com"
    assert data["profile"]["bio"] == "Secret bio"
    assert data["balances"]["wallet"] == 100
    assert data["messages_sent"][0]["body"] == "hello Bob"
    assert data["orders"][0]["credits"] == 100 and len(data["matches"]) == 1


def test_deleting_erases_personal_data_and_keeps_the_ledger(app):
    auth, user_id = _fan(app)
    wrong = auth.post("/settings/delete", {"password": "not it"})
    assert wrong.status_code == 422
    with app.app_context():
        assert db.session.get(User, user_id).delete_after is None
    done = auth.post(
        "/settings/delete", {"password": "plum-orbit-kettle-42"}, follow_redirects=True
    )
    assert b"Your account will be deleted on" in done.data
    with app.app_context():
        deadline = db.session.get(User, user_id).delete_after
    with app.app_context(), clock.frozen(deadline + dt.timedelta(minutes=1)):
        assert erasure.erase_due_accounts() == 1
    assert auth.client.get("/settings").status_code == 302  # logged out
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.status == "deleted" and user.email == f"deleted-{user_id}@deleted.invalid"
        assert user.display_name == "Deleted member"
        assert db.session.get(Profile, user_id) is None
        assert db.session.scalars(select(Transfer)).all()  # money records stay
        assert ledger.verify() == []
    assert auth.login().status_code == 422  # the old address no longer logs in
