"""The admin console: only admins with 2FA get in; every action changes what it
says and leaves an audit row; moderation, alerts, orders, the ledger check and the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from core import clock
from extensions import db
from models import (
    Alert,
    Appeal,
    AuditLog,
    LedgerCheck,
    Message,
    Notification,
    Post,
    RecoveryCode,
    Report,
    User,
    UserSession,
)
from services import co_performers, identity, ledger, messaging, posts, safety, tips
from testkit import people
from testkit.ledger import paid_order
from tests.creator_helpers import creator, fan, signed_in, vault_photo
from tests.identity_helpers import picture, submitted
from tests.test_payouts import earning_creator, method, with_2fa

ROLES = ("anonymous", "fan", "creator", "admin without 2FA", "moderator", "admin")
# What a moderator may not do or see: money (payouts, orders, the ledger, credit adjustments,
# unfreezing), roles and 2FA resets, the audit log and analytics (docs/security.md#roles).
ADMIN_ONLY = (
    "/admin",
    "/admin/orders",
    "/admin/ledger",
    "/admin/ledger/checks",
    "/admin/audit",
    "/admin/analytics",
    "/admin/payouts",
    "/admin/users/{user_id}/adjust",
    "/admin/users/{user_id}/unfreeze",
    "/admin/users/{user_id}/reset-2fa",
    "/admin/users/{user_id}/role",
    "/admin/users/{user_id}/identity-records.csv",
)


def make_admin(app, email="root@example.com", two_factor=True, role="admin"):
    auth, admin_id = signed_in(app, email, "Root")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        admin.role = role
        db.session.commit()
        if two_factor:
            with_2fa(admin)
    return auth, admin_id


def audit_count(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == action))


@pytest.fixture
def world(app):
    """One of everything an admin route can point at, and a client per role."""
    clients = {
        "anonymous": None,
        "fan": signed_in(app, "fan@example.com", "Fan")[0],
        "creator": signed_in(app, "luna@example.com", "Luna", creator=True)[0],
        "admin without 2FA": make_admin(app, "half@example.com", two_factor=False)[0],
        "moderator": make_admin(app, "mod@example.com", role="moderator")[0],
        "admin": make_admin(app)[0],
    }
    with app.app_context():
        luna, codes = earning_creator(name="Mia")
        payout = __import__("services.payouts", fromlist=["x"]).request(
            luna, 600, method(luna).id, codes[0]
        )
        reporter = fan("Reporter")
        safety.report(reporter, luna.id, "profile", str(luna.id), "spam", "sells followers")
        db.session.add(Alert(kind="chargeback", severity="high", summary="test alert"))
        db.session.add(LedgerCheck(status="done", progress=100))
        post = posts.create(luna, body="to review", visibility="public")
        post.status = "review"
        from models import Takedown

        db.session.add(
            Takedown(
                claimant_name="Ann Lee",
                claimant_email="ann@example.org",
                content_url=f"http://localhost/posts/{post.id}",
                original_work="My photo series, published in 2024.",
                good_faith=True,
                signature="Ann Lee",
                subject_type="post",
                subject_id=str(post.id),
            )
        )
        db.session.commit()
        check = submitted(people.person("Nova", creator=True))
        release = co_performers.add_release(
            luna,
            vault_photo(luna).id,
            legal_name="Alex Doe",
            id_document=identity.Upload(picture(text="ID")),
            release_form=identity.Upload(picture(text="FORM")),
        )
        db.session.add(
            Appeal(
                user_id=reporter.id,
                subject="account",
                subject_ref=1,
                decision="Your account was suspended.",
                message="Please.",
            )
        )
        db.session.commit()
        ids = {
            "appeal_id": db.session.scalar(select(Appeal.id)),
            "co_performer_id": release.id,
            "request_id": check.id,
            "file_id": check.files[0].id,
            "user_id": luna.id,
            "payout_id": payout.id,
            "report_id": db.session.scalar(select(Report.id)),
            "alert_id": db.session.scalar(select(Alert.id)),
            "check_id": db.session.scalar(select(LedgerCheck.id)),
            "post_id": post.id,
            "takedown_id": db.session.scalar(select(Takedown.id)),
        }
    return clients, ids


def admin_routes(app, ids):
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        url = rule.rule
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value))
        assert "<" not in url, f"no fixture id for {rule.rule}"
        for method_name in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method_name, url))
    return routes


def test_every_admin_route_lets_in_only_admins_with_2fa(app, world):
    clients, ids = world
    routes = admin_routes(app, ids)
    assert len(routes) >= 25
    for role in ROLES:
        auth = clients[role]
        client = auth.client if auth else app.test_client()
        token = None
        if auth:
            from tests.conftest import csrf_token

            token = csrf_token(client)
        for method_name, url in routes:
            if method_name == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": token} if token else {})
            where = f"{role} {method_name} {url} → {response.status_code}"
            if role == "anonymous":
                assert response.status_code in (302, 400), where  # to login (or CSRF refusal)
                if response.status_code == 302:
                    assert "/login" in response.headers["Location"], where
            elif role in ("fan", "creator"):
                assert response.status_code == 403, where
            elif role == "admin without 2FA":
                if method_name == "GET":
                    assert response.status_code == 303, where
                    assert response.headers["Location"].endswith("/settings/security"), where
                else:
                    assert response.status_code == 403, where
            elif role == "moderator" and admin_only(url, ids):
                assert response.status_code == 403, where
            else:
                assert response.status_code not in (302, 401, 403), where
                if method_name == "GET":
                    assert response.status_code == 200, where


def admin_only(url: str, ids: dict) -> bool:
    paths = {path.format(**ids) for path in ADMIN_ONLY}
    return url in paths or url.startswith(("/admin/payouts/", "/admin/ledger/"))


# --- user actions ------------------------------------------------------------------------------


@pytest.fixture
def admin_and_member(app):
    admin_auth, admin_id = make_admin(app)
    member_auth, member_id = signed_in(app, "sam@example.com", "Sam")
    return admin_auth, member_auth, member_id


def test_suspend_ban_and_reactivate_with_a_reason_the_member_sees(app, admin_and_member):
    admin, member, member_id = admin_and_member
    missing = admin.post(f"/admin/users/{member_id}/status", {"status": "suspended"})
    assert missing.status_code == 422
    assert re.search(
        r'<p class="error" id="status-reason-error">Say why: the user will see it\.</p>',
        missing.get_data(as_text=True),
    )
    with app.app_context():
        assert db.session.get(User, member_id).status == "active"  # no reason: refused
    admin.post(f"/admin/users/{member_id}/status", {"status": "suspended", "reason": "spam"})
    with app.app_context():
        user = db.session.get(User, member_id)
        assert (user.status, user.status_reason) == ("suspended", "spam")
    assert audit_count(app, "account.suspended") == 1
    refused = member.post("/settings/creator", {"headline": "x"})
    assert refused.status_code == 403 and "suspended (spam)" in refused.get_data(as_text=True)
    admin.post(f"/admin/users/{member_id}/status", {"status": "banned", "reason": "scam"})
    assert member.client.get("/settings").status_code == 302  # the session ended at once
    admin.post(f"/admin/users/{member_id}/status", {"status": "active"})
    with app.app_context():
        assert db.session.get(User, member_id).status == "active"
    assert audit_count(app, "account.banned") == 1 and audit_count(app, "account.active") == 1


def test_force_logout_and_2fa_reset(app, admin_and_member):
    admin, member, member_id = admin_and_member
    with app.app_context():
        with_2fa(db.session.get(User, member_id))
    admin.post(f"/admin/users/{member_id}/reset-2fa")
    with app.app_context():
        user = db.session.get(User, member_id)
        assert not user.has_2fa and user.totp_secret is None
        assert (
            db.session.scalar(
                select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == member_id)
            )
            == 0
        )
    assert audit_count(app, "2fa.reset") == 1
    assert member.client.get("/settings").status_code == 302
    member.login(email="sam@example.com")
    assert member.client.get("/settings").status_code == 200
    admin.post(f"/admin/users/{member_id}/logout")
    assert member.client.get("/settings").status_code == 302
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count(UserSession.id)).where(
                    UserSession.user_id == member_id, UserSession.revoked_at.is_(None)
                )
            )
            == 0
        )
    assert audit_count(app, "account.force_logout") == 1


def test_credit_adjustment_goes_through_the_ledger(app, admin_and_member):
    admin, _, member_id = admin_and_member
    page = admin.post(
        f"/admin/users/{member_id}/adjust", {"amount": "0", "reason": "x"}, follow_redirects=True
    )
    assert "Between 1 and" in page.get_data(as_text=True)
    admin.post(f"/admin/users/{member_id}/adjust", {"amount": "150", "reason": "goodwill"})
    with app.app_context():
        assert ledger.wallet_balance(member_id) == 150 and ledger.verify() == []
    assert audit_count(app, "ledger.adjust") == 1
    page = admin.client.get(f"/admin/users/{member_id}").get_data(as_text=True)
    assert "goodwill" in page and "Adjustment by support" in page


def test_an_admin_makes_a_member_a_moderator_and_back(app):
    admin, _ = make_admin(app)
    member, member_id = signed_in(app, "mo@example.com", "Mo")
    with app.app_context():
        with_2fa(db.session.get(User, member_id))
    assert member.client.get("/admin/reports").status_code == 403
    admin.post(f"/admin/users/{member_id}/role", {"role": "moderator"})
    assert member.client.get("/admin/reports").status_code == 200
    assert member.client.get("/admin/payouts").status_code == 403
    page = member.client.get("/admin/reports").get_data(as_text=True)
    assert "Verification" in page and "Payouts" not in page  # the tabs a moderator has
    refused = admin.post(f"/admin/users/{member_id}/role", {"role": "admin"})
    assert refused.status_code == 422
    admin.post(f"/admin/users/{member_id}/role", {"role": "fan"})
    assert member.client.get("/admin/reports").status_code == 403
    assert audit_count(app, "user.role") == 2


def test_search_finds_people_by_email_name_id_ip_and_device(app):
    admin, _ = make_admin(app)
    _, sam_id = signed_in(app, "sam@example.com", "Samantha")
    with app.app_context():
        from models import Device, UserDevice

        device = Device(fingerprint="ab12cd34" + "0" * 56)
        db.session.add(device)
        db.session.flush()
        db.session.add(UserDevice(user_id=sam_id, device_id=device.id, last_ip="203.0.113.7"))
        db.session.commit()
    for query in ("sam@", "Samanth", str(sam_id), "203.0.113.7", "ab12cd34"):
        page = admin.client.get("/admin/users", query_string={"q": query}).get_data(as_text=True)
        assert f"/admin/users/{sam_id}" in page, query
    page = admin.client.get("/admin/users", query_string={"q": "nobody-here"}).get_data(
        as_text=True
    )
    assert "Nobody matches" in page


def test_the_dossier_links_accounts_sharing_a_device(ctx):
    from models import Device, UserDevice
    from services import admin_users

    ana, bob, cy = fan("Ana"), fan("Bob"), fan("Cy")
    device = Device(fingerprint="f" * 64)
    db.session.add(device)
    db.session.flush()
    for person in (ana, bob):
        db.session.add(UserDevice(user_id=person.id, device_id=device.id))
    db.session.commit()
    linked = admin_users.dossier(ana.id).linked
    assert [(user.id, how) for user, how in linked] == [(bob.id, "device")]
    assert cy.id not in [user.id for user, _ in linked]


# --- moderation ----------------------------------------------------------------------------------


def test_a_report_is_shown_in_place_and_the_ban_logs_the_member_out(app):
    admin, _ = make_admin(app)
    reporter_auth, reporter_id = signed_in(app, "rita@example.com", "Rita")
    member, member_id = signed_in(app, "spam@example.com", "Spammy", creator=True)
    with app.app_context():
        spammer = db.session.get(User, member_id)
        post = posts.create(
            spammer,
            body="Buy followers at example.biz",
            visibility="public",
            media_ids=[vault_photo(spammer).id],
        )
        safety.report(
            db.session.get(User, reporter_id), member_id, "post", str(post.id), "spam", "scam link"
        )
        post_id = post.id
    page = admin.client.get("/admin/reports").get_data(as_text=True)
    assert "Buy followers at example.biz" in page and "scam link" in page
    assert ".display." in page  # the moderator sees the media itself
    with app.app_context():
        report_id = db.session.scalar(select(Report.id))
    no_reason = admin.post(
        f"/admin/reports/{report_id}/decide", {"outcome": "ban"}, follow_redirects=True
    )
    assert "Say why" in no_reason.get_data(as_text=True)
    assert member.client.get("/creator").status_code == 200
    admin.post(f"/admin/reports/{report_id}/decide", {"outcome": "ban", "note": "scam links"})
    assert member.client.get("/creator").status_code == 302  # logged out
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert (report.status, report.outcome) == ("actioned", "ban")
        assert db.session.get(User, member_id).status == "banned"
        told = db.session.scalar(select(Notification).where(Notification.user_id == reporter_id))
        assert "banned" in told.text
        assert db.session.get(Post, post_id).status == "published"  # a ban alone keeps it
    assert audit_count(app, "report.ban") == 1
    again = admin.post(
        f"/admin/reports/{report_id}/decide", {"outcome": "dismiss"}, follow_redirects=True
    )
    assert "already handled" in again.get_data(as_text=True)


@pytest.mark.parametrize("kind", ["post", "message", "profile"])
def test_remove_content_takes_the_reported_thing_down(ctx, kind):
    from services import moderation

    admin, luna, sam = fan("Admin"), creator(), fan("Sam")
    if kind == "post":
        thing = posts.create(luna, body="bad", visibility="public")
        subject_id = thing.id
    elif kind == "message":
        thing = messaging.send(luna, sam.id, "bad words")
        subject_id = thing.id
    else:
        from services import profiles

        profiles.ensure(luna).bio = "bad bio"
        db.session.commit()
        subject_id = luna.id
    safety.report(sam, luna.id, kind, str(subject_id), "harassment", "")
    report = db.session.scalar(select(Report))
    moderation.decide(admin, report.id, "remove")
    if kind == "post":
        assert db.session.get(Post, subject_id).status == "deleted"
    elif kind == "message":
        assert db.session.get(Message, subject_id).body == moderation.REMOVED_TEXT
    else:
        from models import Profile

        assert db.session.get(Profile, luna.id).bio == ""
    assert db.session.get(User, luna.id).status == "active"


def test_warn_notifies_the_member(ctx):
    from services import moderation

    admin, luna, sam = fan("Admin"), creator(), fan("Sam")
    safety.report(sam, luna.id, "profile", str(luna.id), "fake", "")
    moderation.decide(admin, db.session.scalar(select(Report.id)), "warn", "Use your own photos")
    warning = db.session.scalar(select(Notification).where(Notification.user_id == luna.id))
    assert warning.kind == "warning" and "Use your own photos" in warning.text


# --- alerts, orders, ledger, audit ---------------------------------------------------------------


def test_alert_triage_changes_status_with_notes(app):
    admin, admin_id = make_admin(app)
    with app.app_context():
        alert = Alert(kind="chargeback", severity="high", summary="Chargeback on order 7")
        db.session.add(alert)
        db.session.commit()
        alert_id = alert.id
    empty = admin.post(
        f"/admin/alerts/{alert_id}", {"status": "open", "body": ""}, follow_redirects=True
    )
    assert "Write a note or change the status" in empty.get_data(as_text=True)
    admin.post(f"/admin/alerts/{alert_id}", {"status": "investigating", "body": "Asked the bank"})
    silent = admin.post(
        f"/admin/alerts/{alert_id}", {"status": "resolved", "body": ""}, follow_redirects=True
    )
    assert "Say how it was resolved" in silent.get_data(as_text=True)
    admin.post(f"/admin/alerts/{alert_id}", {"status": "resolved", "body": "Refund agreed"})
    page = admin.client.get(f"/admin/alerts/{alert_id}").get_data(as_text=True)
    assert "Asked the bank" in page and "Refund agreed" in page
    assert "Open → Investigating" in page and "Investigating → Resolved" in page
    with app.app_context():
        assert db.session.get(Alert, alert_id).status == "resolved"
    assert audit_count(app, "alert.triaged") == 2
    listing = admin.client.get("/admin/alerts?status=resolved").get_data(as_text=True)
    assert "Chargeback on order 7" in listing
    assert "Chargeback on order 7" not in admin.client.get("/admin/alerts").get_data(as_text=True)


def test_orders_list_shows_provider_references_and_filters(app):
    admin, _ = make_admin(app)
    _, sam_id = signed_in(app, "sam@example.com", "Sam")
    with app.app_context():
        order = paid_order(db.session.get(User, sam_id), 500, provider="stripe")
        reference = order.provider_payment_id
    page = admin.client.get("/admin/orders?status=paid").get_data(as_text=True)
    assert reference in page and "sam@example.com" in page
    assert reference not in admin.client.get("/admin/orders?status=disputed").get_data(as_text=True)
    found = admin.client.get("/admin/orders", query_string={"q": reference})
    assert "sam@example.com" in found.get_data(as_text=True)
    assert admin.client.get("/admin/orders?status=nope").status_code == 400


def test_a_ledger_check_runs_on_the_worker_with_progress(app):
    admin, _ = make_admin(app)
    with app.app_context():
        tips.tip(fan("A", credits=100), creator().id, 40)
    admin.post("/admin/ledger/checks")  # the job runs inline in tests
    with app.app_context():
        check = db.session.scalar(select(LedgerCheck))
        assert (check.status, check.progress, check.violations) == ("done", 100, [])
    assert audit_count(app, "ledger.check_started") == 1
    page = admin.client.get("/admin/ledger").get_data(as_text=True)
    assert "clean: every invariant holds" in page
    assert re.search(r"platform_revenue</td><td class=\"num\">8<", page)
    with app.app_context():  # break an invariant by hand: the check must say so
        from models import LedgerAccount

        account = db.session.scalar(select(LedgerAccount).where(LedgerAccount.kind == "wallet"))
        account.balance += 5
        db.session.commit()
    admin.post("/admin/ledger/checks")
    page = admin.client.get("/admin/ledger").get_data(as_text=True)
    assert "violation(s)" in page and "2 cached balance" in page


def test_the_audit_log_filters_by_action_actor_target_and_date(app):
    admin, admin_id = make_admin(app)
    _, sam_id = signed_in(app, "sam@example.com", "Sam")
    admin.post(f"/admin/users/{sam_id}/status", {"status": "suspended", "reason": "spam"})
    admin.post(f"/admin/users/{sam_id}/logout")
    page = admin.client.get("/admin/audit?action=account.").get_data(as_text=True)
    assert "account.suspended" in page and "account.force_logout" in page
    assert "2fa.enabled" not in page
    by_target = admin.client.get(f"/admin/audit?target=user:{sam_id}&actor=root@").get_data(
        as_text=True
    )
    assert "account.suspended" in by_target and "account.signup" not in by_target
    tomorrow = (clock.now() + dt.timedelta(days=1)).date().isoformat()
    later = admin.client.get(f"/admin/audit?since={tomorrow}").get_data(as_text=True)
    assert "Nothing matches" in later
    assert admin.client.get("/admin/audit?since=yesterday").status_code == 400


def test_the_overview_counts_today(app):
    admin, _ = make_admin(app)
    with app.app_context():
        sam = fan("Sam")
        paid_order(sam, 300)
        tips.tip(sam, creator().id, 120)
        safety.report(sam, fan("X").id, "profile", "1", "spam", "")
    page = admin.client.get("/admin").get_data(as_text=True)
    assert 'id="stat-bought">300<' in page and 'id="stat-spent">120<' in page
    assert 'id="stat-reports">1<' in page
    signups = re.search(r'id="stat-signups">(\d+)<', page).group(1)
    assert int(signups) >= 4  # the admin, Sam, the creator and X joined today
