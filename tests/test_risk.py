"""The risk engine (docs/security.md#risk-engine): each rule on its own, the combined score and the
decisions, and devices linked to accounts."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import event, func, select

from core import clock
from extensions import db
from models import Alert, Device, LoginAttempt, Order, RiskEvent, User, UserSession
from services import accounts, risk, sessions
from testkit.ledger import paid_order
from testkit.people import person
from tests.conftest import AuthActions, last_mail

NOW = dt.datetime(2026, 11, 25, 12, 0)


def fp(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def signals(kind="login", user=None, **kw) -> risk.Signals:
    return risk.Signals(kind, user, now=kw.pop("now", NOW), **kw)


def test_new_device_only_counts_after_a_first_device(ctx):
    user = person()
    assert risk.new_device(signals(user=user, fingerprint=fp("laptop"))) is None
    sessions.link_device(user, fp("laptop"), "10.0.0.1", "Firefox", notify=False)
    db.session.commit()
    assert risk.new_device(signals(user=user, fingerprint=fp("laptop"))) is None
    points, reason = risk.new_device(signals(user=user, fingerprint=fp("phone")))
    assert points == 15 and "never used" in reason
    assert risk.new_device(signals(user=user, fingerprint=None))[0] == 10


def test_shared_device(ctx):
    owner = person()
    for i in range(2):
        sessions.link_device(person(f"Other{i}"), fp("kiosk"), None, None, notify=False)
    db.session.commit()
    points, reason = risk.shared_device(signals(user=owner, fingerprint=fp("kiosk")))
    assert points == 20 and "2 other accounts" in reason
    for i in range(3):
        sessions.link_device(person(f"More{i}"), fp("kiosk"), None, None, notify=False)
    db.session.commit()
    assert risk.shared_device(signals(user=owner, fingerprint=fp("kiosk")))[0] == 35


def test_shared_ip(ctx):
    me = person()
    for i in range(4):
        sessions.start_session(person(f"P{i}"), "203.0.113.9", "UA")
    assert risk.shared_ip(signals(user=me, ip="203.0.113.9", now=clock.now()))[0] == 10
    assert risk.shared_ip(signals(user=me, ip="198.51.100.1", now=clock.now())) is None


def test_failed_login_velocity(ctx):
    user = person()
    for _ in range(3):
        db.session.add(
            LoginAttempt(
                email=user.email,
                ip="1.2.3.4",
                succeeded=False,
                created_at=NOW - dt.timedelta(minutes=5),
            )
        )
    db.session.commit()
    assert risk.failed_login_velocity(signals(user=user))[0] == 15
    assert risk.failed_login_velocity(signals(user=user, now=NOW + dt.timedelta(hours=1))) is None


def test_account_age_and_purchase_velocity(ctx):
    with clock.frozen(NOW):
        user = person()
    assert risk.account_age(signals("purchase", user, now=NOW + dt.timedelta(minutes=10)))[0] == 15
    assert risk.account_age(signals("purchase", user, now=NOW + dt.timedelta(hours=5)))[0] == 5
    assert risk.account_age(signals("purchase", user, now=NOW + dt.timedelta(days=3))) is None
    with clock.frozen(NOW):
        for _ in range(3):
            db.session.add(
                Order(
                    user_id=user.id,
                    provider="dev",
                    pack_id="pack-100",
                    credits=100,
                    amount_minor=1199,
                    currency="USD",
                )
            )
        db.session.commit()
    assert risk.purchase_velocity(signals("purchase", user, now=NOW))[0] == 10


def test_chargebacks_weigh_most(ctx):
    user = person()
    order = paid_order(user, 100)
    order.status = "disputed"
    db.session.commit()
    points, reason = risk.refunds_and_chargebacks(signals("purchase", user))
    assert points == 60 and "chargeback" in reason


def test_a_login_reads_every_fact_its_rules_need_in_one_statement(ctx):
    """Login scoring runs inline: on PostgreSQL every statement is a round trip."""
    user = person()
    for i in range(2):
        sessions.link_device(person(f"Flat{i}"), fp("tablet"), None, None, notify=False)
    sessions.link_device(user, fp("laptop"), None, None, notify=False)
    db.session.commit()
    user_id = user.id  # loaded now, not inside the count below
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assessment = risk.evaluate(
            signals(user=user, ip="203.0.113.7", fingerprint=fp("tablet"), now=clock.now())
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert {r["rule"]: r["points"] for r in assessment.reasons} == {
        "new_device": 15,
        "shared_device": 20,
    }
    risk.assess_login(db.session.get(User, user_id), "203.0.113.7", fp("tablet"))
    db.session.commit()
    event_row = db.session.scalars(select(RiskEvent)).one()
    tablet = db.session.scalar(select(Device.id).where(Device.fingerprint == fp("tablet")))
    assert event_row.device_id == tablet and event_row.score == 35


@pytest.mark.parametrize(
    ("score", "decision"),
    [
        (0, "allow"),
        (39, "allow"),
        (40, "step_up"),
        (59, "step_up"),
        (60, "review"),
        (84, "review"),
        (85, "block"),
        (100, "block"),
    ],
)
def test_thresholds(ctx, score, decision):
    assert risk.decide(score) == decision


def test_combined_score_is_capped_and_stored_with_reasons(ctx):
    user = person()
    order = paid_order(user, 100)
    order.status = "disputed"
    sessions.link_device(user, fp("home"), None, None, notify=False)
    for i in range(5):
        sessions.link_device(person(f"Ring{i}"), fp("burner"), None, None, notify=False)
    db.session.commit()
    assessment = risk.assess(signals(user=user, fingerprint=fp("burner"), now=clock.now()))
    db.session.commit()
    # chargeback 60 + device shared by 5 others 35 + new device 15 = 110 → 100
    assert assessment.score == 100 and assessment.decision == "block"
    assert {r["rule"] for r in assessment.reasons} == {
        "refunds_and_chargebacks",
        "shared_device",
        "new_device",
    }
    event = db.session.scalars(select(RiskEvent)).one()
    assert event.score == 100 and len(event.reasons) == 3
    alert = db.session.scalars(select(Alert).where(Alert.kind == "risk_login")).one()
    assert alert.severity == "high" and alert.score == 100


def test_the_sweep_raises_one_alert_per_crowded_device(ctx):
    for i in range(3):
        sessions.link_device(person(f"Farm{i}"), fp("farm"), None, None, notify=False)
    db.session.commit()
    assert risk.sweep() == 1
    assert risk.sweep() == 0
    alert = db.session.scalars(select(Alert).where(Alert.kind == "multi_account_device")).one()
    assert len(alert.detail["user_ids"]) == 3


# --- through the login form ------------------------------------------------------------------


def test_a_malformed_fingerprint_is_refused(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    auth.logout()
    response = auth.post(
        "/login",
        {"email": "ana@example.com", "password": "plum-orbit-kettle-42", "device_fp": "<script>"},
    )
    assert response.status_code == 400 and b"invalid device check" in response.data
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1


def test_logins_link_devices_and_mail_about_new_ones(app):
    auth = AuthActions(app.test_client())
    auth.post(
        "/signup",
        {
            "email": "ana@example.com",
            "password": "plum-orbit-kettle-42",
            "display_name": "Ana",
            "date_of_birth": "1990-01-01",
            "device_fp": fp("laptop"),
        },
    )
    auth.logout()
    auth.post(
        "/login",
        {"email": "ana@example.com", "password": "plum-orbit-kettle-42", "device_fp": fp("laptop")},
    )
    assert last_mail(app, "ana@example.com").kind == "verify_email"  # a known device: no mail
    auth.logout()
    response = auth.post(
        "/login",
        {"email": "ana@example.com", "password": "plum-orbit-kettle-42", "device_fp": fp("phone")},
    )
    assert response.status_code == 303
    mail = last_mail(app, "ana@example.com")
    assert mail.kind == "new_device" and "New sign-in" in mail.subject
    with app.app_context():
        user = accounts.find_by_email("ana@example.com")
        assert (
            db.session.scalar(
                select(func.count()).select_from(RiskEvent).where(RiskEvent.user_id == user.id)
            )
            == 3
        )  # sign-up + two logins


def test_a_risky_login_without_2fa_steps_up_to_an_emailed_code(app):
    auth = AuthActions(app.test_client())
    auth.signup(log_in=False)
    with app.app_context():
        for i in range(3):
            sessions.link_device(person(f"Shared{i}"), fp("cafe"), None, None, notify=False)
        user = accounts.find_by_email("ana@example.com")
        sessions.link_device(user, fp("home"), None, None, notify=False)
        db.session.commit()
        user_id = user.id
    # shared by 3 others (20) + new device (15) + 3 recent failures (15) = 50 → step up
    for _ in range(3):
        auth.login(password="wrong-password-x")
    with clock.frozen(clock.now() + dt.timedelta(seconds=10)):
        response = auth.post(
            "/login",
            {
                "email": "ana@example.com",
                "password": "plum-orbit-kettle-42",
                "device_fp": fp("cafe"),
            },
        )
    assert response.headers["Location"] == "/login/verify"
    with app.app_context():
        assert login_decisions(user_id) == ["step_up"]
    page = auth.client.get("/login/verify").get_data(as_text=True)
    assert "looks different from your usual ones" in page
    code = last_mail(app, "ana@example.com")
    assert code.kind == "login_code"
    import re

    digits = re.search(r"\b(\d{6})\b", code.body).group(1)
    with clock.frozen(clock.now() + dt.timedelta(seconds=10)):  # past the failures' delay
        assert auth.post("/login/verify", {"code": digits}).status_code == 303
    assert auth.client.get("/settings").status_code == 200


def test_a_blocked_login_is_refused(app):
    auth = AuthActions(app.test_client())
    auth.signup(log_in=False)
    with app.app_context():
        user = accounts.find_by_email("ana@example.com")
        order = paid_order(user, 100)
        order.status = "disputed"
        for i in range(5):
            sessions.link_device(person(f"Bot{i}"), fp("botnet"), None, None, notify=False)
        sessions.link_device(user, fp("home"), None, None, notify=False)
        db.session.commit()
        user_id = user.id
    response = auth.post(
        "/login",
        {"email": "ana@example.com", "password": "plum-orbit-kettle-42", "device_fp": fp("botnet")},
    )
    assert response.status_code == 403 and b"blocked" in response.data
    assert auth.client.get("/settings").status_code == 302
    with app.app_context():  # the refusal is on record, for the admins too
        assert login_decisions(user_id) == ["block"]
        alert = db.session.scalars(select(Alert).where(Alert.kind == "risk_login")).one()
        assert alert.severity == "high" and alert.user_id == user_id
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


def login_decisions(user_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(RiskEvent.decision)
            .where(RiskEvent.user_id == user_id, RiskEvent.kind == "login")
            .order_by(RiskEvent.id)
        )
    )


def test_a_login_is_one_transaction(ctx):
    """Scoring pays no commit (a flush to disk) of its own: the RiskEvent is committed with the
    successful attempt and the session."""
    user = person()
    commits = []

    def count(conn):
        commits.append(conn)

    event.listen(db.engine, "commit", count)
    try:
        step = accounts.log_in(user, "10.0.0.1", "Firefox", fp("laptop"))
    finally:
        event.remove(db.engine, "commit", count)
    assert step.decision == "allow" and step.session_token is not None
    assert len(commits) == 1
    assert login_decisions(user.id) == ["allow"]
    assert db.session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.user_id == user.id, LoginAttempt.succeeded.is_(True))
    )
    assert sessions.load_session_user(user.id, step.session_token) == user


def test_a_login_that_cannot_start_its_session_leaves_nothing_written(ctx, monkeypatch):
    user = person()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(sessions, "start_session", broken)
    with pytest.raises(RuntimeError):
        accounts.log_in(user, "10.0.0.1", "Firefox", fp("laptop"))
    db.session.rollback()  # what the end of the request does
    assert login_decisions(user.id) == []
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
