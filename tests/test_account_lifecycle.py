"""Account lifecycle (docs/security.md#your-data): "export my data" built by the worker with
progress, and "delete my account" with a 7-day undo window, then personal data erased and the ledger
kept."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import DomainError, ValidationFailed
from extensions import db
from models import (
    DataExport,
    MediaObject,
    Message,
    Order,
    Payout,
    PayoutMethod,
    Post,
    Profile,
    Subscription,
    Tip,
    Transfer,
    User,
    UserSession,
)
from services import (
    data_export,
    erasure,
    ledger,
    likes,
    media,
    messaging,
    passwords,
    payouts,
    personal_data,
    posts,
    profiles,
    subscriptions,
    tips,
)
from testkit.people import person
from tests.conftest import AuthActions, hold_jobs, last_mail
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.dating_helpers import dater
from tests.test_payouts import method, with_2fa

PASSWORD = "plum-orbit-kettle-42"
HTMX = {"HX-Request": "true"}


def with_password(user: User) -> User:
    user.password_hash = passwords.hash_password(PASSWORD)
    db.session.commit()
    return user


def busy_creator() -> tuple[User, User]:
    """A creator with a profile, answers, a post with a vault photo, a subscriber who tipped and
    wrote, a manual payout method; returns (creator, fan)."""
    luna = with_password(creator("Luna"))
    profiles.update_basics(
        luna, gender="woman", seeking=["man"], age_min=25, age_max=40, bio="Luna's secret bio"
    )
    profiles.set_interests(luna, ["hiking", "jazz"])
    photo = vault_photo(luna)
    posts.create(luna, body="Hello fans", visibility="public", media_ids=[photo.id])
    sam = fan("Sam", credits=500)
    subscriptions.subscribe(sam, luna.id)
    tips.tip(sam, luna.id, 30, note="for Luna")
    messaging.send(sam, luna.id, "hi Luna")
    messaging.send(luna, sam.id, "hi Sam, from Luna")
    method(luna, "manual")
    return luna, sam


# --- export ---------------------------------------------------------------------------------


def test_the_job_builds_an_export_with_every_section_and_commits_its_progress(ctx, monkeypatch):
    luna, sam = busy_creator()
    other = dater("Bob", gender="man")
    likes.react(luna, other.id, "like")
    committed: list[int] = []
    real_export_data = data_export.export_data

    def watching(user, progress=None):
        def report(percent):
            progress(percent)
            with db.engine.connect() as connection:  # what another request would read
                committed.append(
                    connection.scalar(select(DataExport.progress).order_by(DataExport.id.desc()))
                )

        return real_export_data(user, report)

    monkeypatch.setattr(data_export, "export_data", watching)
    export = data_export.request_export(luna)  # the job runs inline once this commits
    db.session.refresh(export)

    assert export.status == "ready" and export.progress == 100
    assert committed == sorted(committed) and committed[-1] == 99 and len(committed) >= 5
    assert export.storage_key.startswith(f"u/{luna.id}/exports/")
    assert export.expires_at == export.finished_at + dt.timedelta(days=7)
    raw = media.storage().read(export.storage_key)
    assert export.size == len(raw)
    data = json.loads(raw)
    for section in (
        "account",
        "profile",
        "photos",
        "match_answers",
        "likes",
        "matches",
        "messages_sent",
        "messages_received",
        "posts",
        "media",
        "subscribers",
        "tips_received",
        "orders",
        "payouts",
        "payout_methods",
        "balances",
        "ledger_history",
        "sessions",
        "notifications",
    ):
        assert section in data, section
    assert data["profile"]["bio"] == "Luna's secret bio"
    assert data["profile"]["interests"] == ["hiking", "jazz"]
    assert data["posts"][0]["body"] == "Hello fans" and data["posts"][0]["media"]
    assert data["media"][0]["purpose"] == "vault" and "key" not in data["media"][0]
    assert data["messages_sent"][0]["body"] == "hi Sam, from Luna"
    assert data["messages_received"][0]["body"] == "hi Luna"
    assert data["tips_received"][0]["note"] == "for Luna"
    assert data["subscribers"][0]["fan"] == sam.id
    assert data["likes"][0]["user"] == other.id
    assert {"wallet", "earnings_pending", "earnings_available"} <= set(data["ledger_history"])
    assert [r["kind"] for r in data["ledger_history"]["earnings_pending"]] == [
        "tip",
        "subscription",
    ]
    assert "FR7630006000011234567890189" not in raw.decode()  # payout details are masked
    assert "••••0189" in data["payout_methods"][0]["method"]

    fan_export = json.loads(media.storage().read(data_export.request_export(sam).storage_key))
    assert fan_export["subscriptions"][0]["creator"] == luna.id
    assert fan_export["tips_sent"][0]["amount"] == 30
    assert fan_export["orders"][0]["credits"] == 500
    assert fan_export["ledger_history"]["wallet"][0]["kind"] == "tip"


def test_the_export_box_polls_while_building_and_ends_with_a_download_link(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    with app.app_context():
        export = DataExport(user_id=user_id, status="running", progress=40)
        db.session.add(export)
        db.session.commit()
        export_id = export.id
    building = auth.client.get(f"/settings/export/{export_id}", headers=HTMX).get_data(True)
    assert 'hx-trigger="every 1s"' in building and "40%" in building
    assert "Download" not in building
    with app.app_context():
        data_export.build_export(export_id)
    ready = auth.client.get(f"/settings/export/{export_id}", headers=HTMX).get_data(True)
    assert "every 1s" not in ready
    assert f'href="/settings/export/{export_id}/download"' in ready and "Download" in ready
    assert "every 1s" not in auth.client.get("/settings/export", headers=HTMX).get_data(True)
    page = auth.client.get("/settings").get_data(True)
    assert 'hx-get="/settings/export"' in page and 'hx-trigger="load"' in page


def test_the_download_link_works_only_for_its_owner_and_expires(app):
    ana, ana_id = signed_in(app, "ana@example.com", "Ana")
    bob, _ = signed_in(app, "bob@example.com", "Bob")
    started = ana.post("/settings/export", headers=HTMX)
    assert started.status_code == 200 and "Download" in started.get_data(True)
    with app.app_context():
        export = data_export.latest_export(db.session.get(User, ana_id))
        export_id, key = export.id, export.storage_key

    link = ana.client.get(f"/settings/export/{export_id}/download")
    assert link.status_code == 303 and link.location.startswith("/media/file/u/")
    download = ana.client.get(link.location)
    assert download.status_code == 200
    assert json.loads(download.data)["account"]["email"] == "ana@example.com"

    assert bob.client.get(f"/settings/export/{export_id}/download").status_code == 404
    assert bob.client.get(f"/settings/export/{export_id}", headers=HTMX).status_code == 404
    assert bob.client.get(link.location.replace("sig=", "sig=0")).status_code == 403

    with clock.frozen(clock.now() + dt.timedelta(days=7, minutes=1)):
        assert ana.client.get(f"/settings/export/{export_id}/download").status_code == 410
        with app.app_context():
            assert data_export.expire_exports() == 1
            assert media.storage().head(key) is None
            assert db.session.get(DataExport, export_id).status == "expired"
        box = ana.client.get(f"/settings/export/{export_id}", headers=HTMX).get_data(True)
        assert "has expired" in box and "Prepare my data export" in box
    assert ana.client.get(link.location).status_code == 404  # the file is gone


def test_one_export_at_a_time_and_three_a_day(app, monkeypatch):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    hold_jobs(monkeypatch, data_export.build_export)  # no worker: the test builds them
    start = dt.datetime(2026, 5, 1, 9)
    with clock.frozen(start):
        with app.app_context():
            user = db.session.get(User, user_id)
            first = data_export.request_export(user)
            assert data_export.request_export(user).id == first.id  # still under way: the same one
            data_export.build_export(first.id)
            second = data_export.request_export(user)
            data_export.build_export(second.id)
            failed = data_export.request_export(user)
            failed.status = "failed"  # a failed export does not count
            db.session.commit()
            third = data_export.request_export(user)
            data_export.build_export(third.id)
        refused = auth.post("/settings/export", headers=HTMX)
        assert refused.status_code == 429
        assert "3 times a day" in refused.get_data(True)
        assert "Try again after 02 May 09:00 UTC" in refused.get_data(True)
        with app.app_context():
            assert db.session.scalar(select(func.count(DataExport.id))) == 4
    with clock.frozen(start + dt.timedelta(days=1, minutes=1)), app.app_context():
        assert data_export.request_export(db.session.get(User, user_id)).status == "queued"


def test_an_export_whose_job_was_lost_does_not_block_the_next(ctx, monkeypatch):
    hold_jobs(monkeypatch, data_export.build_export)  # queued, and never run
    user = person("Ana")
    start = dt.datetime(2026, 5, 1, 9)
    with clock.frozen(start):
        lost = data_export.request_export(user)
    with clock.frozen(start + dt.timedelta(hours=2)):
        fresh = data_export.request_export(user)
    assert fresh.id != lost.id
    assert db.session.get(DataExport, lost.id).status == "failed"


def test_a_failing_export_is_marked_failed_with_its_error(ctx, monkeypatch):
    def broken(user, progress=None):
        progress(50)
        raise RuntimeError("disk full")

    monkeypatch.setattr(data_export, "export_data", broken)
    export = data_export.request_export(person("Ana"))
    db.session.refresh(export)
    assert export.status == "failed" and export.error == "RuntimeError: disk full"
    assert export.storage_key is None and export.finished_at is not None


# --- deletion -------------------------------------------------------------------------------


def test_deletion_needs_the_password_and_with_2fa_a_valid_code(ctx):
    ana = with_password(person("Ana"))
    codes = with_2fa(ana)
    with pytest.raises(ValidationFailed) as wrong_password:
        erasure.request_deletion(ana, "not it", codes[0])
    assert "password" in wrong_password.value.errors
    with pytest.raises(ValidationFailed) as no_code:
        erasure.request_deletion(ana, PASSWORD, "")
    assert "code" in no_code.value.errors
    with pytest.raises(ValidationFailed):
        erasure.request_deletion(ana, PASSWORD, "000000")
    assert db.session.get(User, ana.id).delete_after is None

    now = dt.datetime(2026, 5, 1, 9)
    with clock.frozen(now):
        deadline = erasure.request_deletion(ana, PASSWORD, codes[0])
    assert deadline == now + dt.timedelta(days=7) == ana.delete_after
    assert ana.status == "active"  # nothing changes during the window
    notice = last_mail(ctx, ana.email)
    assert notice.kind == "account_deletion" and "08 May 2026 at 09:00 UTC" in notice.body
    assert "http://localhost/settings" in notice.body
    with pytest.raises(DomainError):
        erasure.request_deletion(ana, PASSWORD, codes[1])  # already scheduled


def test_an_admin_account_cannot_be_deleted_from_settings(ctx):
    ada = with_password(person("Ada"))
    ada.role = "admin"
    db.session.commit()
    with pytest.raises(DomainError):
        erasure.request_deletion(ada, PASSWORD)
    assert ada.delete_after is None


def test_deleting_over_http_asks_for_the_code_when_2fa_is_on(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    with app.app_context():
        codes = with_2fa(db.session.get(User, user_id))
    page = auth.client.get("/settings/delete").get_data(True)
    assert 'name="password"' in page and 'name="code"' in page
    wrong = auth.post("/settings/delete", {"password": PASSWORD, "code": "123456"})
    assert wrong.status_code == 422 and "That code is not valid" in wrong.get_data(True)
    done = auth.post(
        "/settings/delete", {"password": PASSWORD, "code": codes[0]}, follow_redirects=True
    )
    assert "Your account will be deleted on" in done.get_data(True)


def test_the_deletion_form_asks_for_the_password_in_place(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana")
    for data, message in (
        ({}, "Enter your password."),
        ({"password": ""}, "Enter your password."),
        ({"password": "not it"}, "Your password is not correct."),
    ):
        refused = auth.post("/settings/delete", data)
        assert refused.status_code == 422, data
        assert f'id="delete-password-error">{message}' in refused.get_data(True), data
    with app.app_context():
        assert db.session.get(User, user_id).delete_after is None


def test_undo_within_the_window_keeps_everything(app):
    auth, user_id = signed_in(app, "ana@example.com", "Ana", credits=100)
    with app.app_context():
        profiles.update_basics(
            db.session.get(User, user_id),
            gender="woman",
            seeking=["man"],
            age_min=25,
            age_max=40,
            bio="Still here",
        )
    asked = auth.post("/settings/delete", {"password": PASSWORD}, follow_redirects=True)
    page = asked.get_data(True)
    assert "Your account will be deleted on" in page  # the flash and the banner
    assert 'action="/settings/delete/cancel"' in page and "Undo: keep my account" in page

    undone = auth.post("/settings/delete/cancel", follow_redirects=True).get_data(True)
    assert "will not be deleted" in undone and "/settings/delete/cancel" not in undone
    with app.app_context(), clock.frozen(clock.now() + dt.timedelta(days=8)):
        assert erasure.erase_due_accounts() == 0
        user = db.session.get(User, user_id)
        assert user.status == "active" and user.delete_after is None
        assert user.email == "ana@example.com"
        assert db.session.get(Profile, user_id).bio == "Still here"
        assert ledger.wallet_balance(user_id) == 100
    assert auth.client.get("/settings").status_code == 200  # still logged in
    assert AuthActions(app.test_client()).login().status_code == 303


def test_after_the_deadline_the_job_erases_personal_data_and_keeps_the_ledger(app):
    with app.app_context():
        luna, sam = busy_creator()
        luna_id, sam_id, email = luna.id, sam.id, luna.email
        keys = [
            key
            for obj in db.session.scalars(select(MediaObject).where(MediaObject.user_id == luna_id))
            for key in obj.variants.values()
        ]
        assert keys and all(media.storage().head(k) for k in keys)
    auth = AuthActions(app.test_client())
    auth.login(email=email, password=PASSWORD)
    AuthActions(app.test_client()).login(email=email, password=PASSWORD)  # a second device
    assert auth.post("/settings/export").status_code == 303
    with app.app_context():
        transfers = db.session.scalar(select(func.count(Transfer.id)))
        export_key = data_export.latest_export(db.session.get(User, luna_id)).storage_key
    assert auth.post("/settings/delete", {"password": PASSWORD}).status_code == 303

    with app.app_context():
        deadline = db.session.get(User, luna_id).delete_after
        with clock.frozen(deadline - dt.timedelta(minutes=1)):
            assert erasure.erase_due_accounts() == 0  # not yet
        with clock.frozen(deadline + dt.timedelta(minutes=1)):
            assert erasure.erase_due_accounts() == 1
            assert erasure.erase_due_accounts() == 0  # once

        user = db.session.get(User, luna_id)
        assert user.status == "deleted" and not user.is_creator
        assert user.email == f"deleted-{luna_id}@deleted.invalid"
        assert user.display_name == "Deleted member" and user.date_of_birth == dt.date(1970, 1, 1)
        assert db.session.get(Profile, luna_id) is None
        sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == luna_id))
        assert all(s.revoked_at and s.ip is None and s.user_agent is None for s in sessions)
        assert [p.status for p in db.session.scalars(select(Post))] == ["deleted"]
        assert db.session.scalar(select(Post.body)) == ""
        assert db.session.scalars(select(MediaObject)).all() == []
        assert not any(media.storage().head(k) for k in [*keys, export_key])
        assert db.session.scalars(select(DataExport)).all() == []
        bodies = dict(db.session.execute(select(Message.sender_id, Message.body)).all())
        assert bodies == {sam_id: "hi Luna", luna_id: personal_data.ERASED_MESSAGE}
        assert db.session.scalar(select(Subscription.status)) == "ended"
        assert db.session.scalar(select(Tip.note)) == "for Luna"  # the fan's words stay
        method_row = db.session.scalar(select(PayoutMethod))
        assert method_row.removed_at and method_row.details == {}
        # The books: nothing removed, still balanced.
        assert db.session.scalar(select(func.count(Transfer.id))) == transfers
        assert db.session.scalar(select(func.count(Order.id))) == 1
        assert ledger.balances(luna_id)["earnings_pending"] > 0  # kept, forfeited
        assert ledger.verify() == []

    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0
    assert auth.client.get("/settings").status_code == 302  # logged out
    assert auth.login(email=email, password=PASSWORD).status_code == 422


# --- creators' money ------------------------------------------------------------------------


def test_a_creator_with_a_pending_payout_is_told_what_happens_to_it(app):
    auth, luna_id = signed_in(app, "luna@example.com", "Luna", creator=True)
    with app.app_context():
        luna = db.session.get(User, luna_id)
        codes = with_2fa(luna)
        sam = fan("Sam", credits=2000)
        tips.tip(sam, luna_id, 1000)
        ledger.release_matured_earnings(clock.now() + dt.timedelta(days=8))
        tips.tip(sam, luna_id, 100)  # still pending
        bank_id = method(luna, "manual").id
        payout_id = payouts.request(luna, 600, bank_id, codes[0]).id

    page = auth.client.get("/settings/delete").get_data(True)
    assert "still under way" in page and "600 credits (requested)" in page
    assert "Bank transfer to Luna Rivers, account ••••0189" in page
    assert "<strong>200</strong> credits of\n          earnings available" in page
    assert "<strong>80</strong> still" in page and "forfeited" in page

    done = auth.post("/settings/delete", {"password": PASSWORD, "code": codes[1]})
    assert done.status_code == 303
    notice = last_mail(app, "luna@example.com")
    assert "600 credits (requested) to Bank transfer" in notice.body
    assert "forfeited" in notice.body

    with app.app_context():
        deadline = db.session.get(User, luna_id).delete_after
        with clock.frozen(deadline + dt.timedelta(minutes=1)):
            assert erasure.erase_due_accounts() == 1
        # The open payout is still paid to the method on file, which keeps its details...
        assert db.session.get(PayoutMethod, bank_id).details["account"].endswith("0189")
        admin = person("Ada")
        admin.role = "admin"
        db.session.commit()
        payouts.approve(admin, payout_id)
        payouts.mark_paid(admin, payout_id, "BANK-REF-42")
        assert db.session.get(Payout, payout_id).status == "paid"
        # ...until it is done: the next run wipes them.
        erasure.erase_due_accounts()
        assert db.session.get(PayoutMethod, bank_id).details == {}
        assert ledger.verify() == []


def test_a_fan_sees_no_payout_warning(app):
    auth, _ = signed_in(app, "ana@example.com", "Ana", credits=50)
    page = auth.client.get("/settings/delete").get_data(True)
    assert "Delete my account in 7 days" in page and "payout-warning" not in page
