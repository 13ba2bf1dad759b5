"""Two-factor authentication (docs/security.md#two-factor-authentication): TOTP with a frozen clock,
recovery codes, email codes, and the login's second step over HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from core import clock
from core.errors import ValidationFailed
from extensions import db
from models import AuditLog, RiskEvent
from services import accounts, twofactor
from tests.conftest import AuthActions, _cleanup, last_mail, make_app

T0 = dt.datetime(2026, 11, 25, 12, 0, 0)
HTMX = {"HX-Request": "true"}
PASSWORD = "plum-orbit-kettle-42"


def _user(email="ana@example.com"):
    return accounts.sign_up(email, PASSWORD, "Ana", dt.date(1990, 1, 1))


def _enabled(user, at=T0) -> tuple[str, list[str]]:
    secret = twofactor.new_secret()
    with clock.frozen(at):
        codes = twofactor.enable(user, secret, twofactor.code_for(secret, at))
    return secret, codes


def test_enrolment_needs_a_code_from_the_app(ctx):
    user = _user()
    secret = twofactor.new_secret()
    with clock.frozen(T0), pytest.raises(ValidationFailed):
        twofactor.enable(
            user, secret, "000000" if twofactor.code_for(secret, T0) != "000000" else "111111"
        )
    assert not user.has_2fa
    with clock.frozen(T0):
        codes = twofactor.enable(user, secret, twofactor.code_for(secret, T0))
    assert user.has_2fa and len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{5}-[0-9a-f]{5}", c) for c in codes)
    assert twofactor.qr_data_uri(twofactor.provisioning_uri(user, secret)).startswith(
        "data:image/svg+xml"
    )


# T0 starts a 30-second step; its code is good from the step before to the step after.
@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-31, False), (-30, True), (-1, True), (0, True), (29, True), (59, True), (60, False)],
)
def test_totp_window_edges(ctx, offset, accepted):
    user = _user()
    secret, _ = _enabled(user, at=T0 - dt.timedelta(minutes=5))
    code = twofactor.code_for(secret, T0)  # the code shown at T0 (step boundary)
    with clock.frozen(T0 + dt.timedelta(seconds=offset)):
        if accepted:
            assert twofactor.verify_login_code(user, code) == "totp"
        else:
            with pytest.raises(ValidationFailed):
                twofactor.verify_login_code(user, code)


def test_a_totp_code_is_never_accepted_twice(ctx):
    user = _user()
    secret, _ = _enabled(user, at=T0 - dt.timedelta(minutes=5))
    code = twofactor.code_for(secret, T0)
    with clock.frozen(T0):
        twofactor.verify_login_code(user, code)
        with pytest.raises(ValidationFailed, match="already used"):
            twofactor.verify_login_code(user, code)
        # An older code (previous step) is refused too once a newer one was used.
        with pytest.raises(ValidationFailed):
            twofactor.verify_login_code(
                user, twofactor.code_for(secret, T0 - dt.timedelta(seconds=30))
            )
    with clock.frozen(T0 + dt.timedelta(seconds=30)):
        assert (
            twofactor.verify_login_code(
                user, twofactor.code_for(secret, T0 + dt.timedelta(seconds=30))
            )
            == "totp"
        )


def test_recovery_codes_work_once_and_can_be_regenerated(ctx):
    user = _user()
    secret, codes = _enabled(user)
    assert twofactor.verify_login_code(user, codes[0].upper()) == "recovery_code"
    with pytest.raises(ValidationFailed):
        twofactor.verify_login_code(user, codes[0])
    assert twofactor.recovery_codes_left(user) == 9
    with clock.frozen(T0 + dt.timedelta(minutes=2)):
        fresh = twofactor.regenerate_recovery_codes(
            user, twofactor.code_for(secret, T0 + dt.timedelta(minutes=2))
        )
    with pytest.raises(ValidationFailed):
        twofactor.verify_login_code(user, codes[1])  # the old set is gone
    assert twofactor.verify_login_code(user, fresh[5]) == "recovery_code"


def test_emailed_codes_work_once_for_ten_minutes(ctx):
    user = _user()
    _enabled(user)
    with clock.frozen(T0):
        twofactor.send_login_code(user)
    code = re.search(r"\b(\d{6})\b", last_mail(ctx, user.email).body).group(1)
    with clock.frozen(T0 + dt.timedelta(minutes=11)), pytest.raises(ValidationFailed):
        twofactor.verify_login_code(user, code)
    with clock.frozen(T0 + dt.timedelta(minutes=12)):
        twofactor.send_login_code(user)
    second = re.search(r"\b(\d{6})\b", last_mail(ctx, user.email).body).group(1)
    with clock.frozen(T0 + dt.timedelta(minutes=13)):
        assert twofactor.verify_login_code(user, second) == "email_code"
        with pytest.raises(ValidationFailed):
            twofactor.verify_login_code(user, second)


def test_failures_are_audited(ctx):
    user = _user()
    _enabled(user)
    with pytest.raises(ValidationFailed):
        twofactor.verify_login_code(user, "123-nope")
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["account.created", "2fa.enabled", "2fa.failed"]


def test_disabling_needs_the_password_and_a_code(ctx):
    user = _user()
    secret, codes = _enabled(user)
    with pytest.raises(ValidationFailed):
        twofactor.disable(user, "wrong password", codes[0])
    twofactor.disable(user, PASSWORD, codes[0])
    assert not user.has_2fa and twofactor.recovery_codes_left(user) == 0


# --- over HTTP -----------------------------------------------------------------------------


def _with_2fa(app) -> tuple[AuthActions, str, list[str]]:
    auth = AuthActions(app.test_client())
    auth.signup(log_in=False)
    with app.app_context():
        user = accounts.find_by_email("ana@example.com")
        secret, codes = _enabled(user, at=clock.now() - dt.timedelta(minutes=3))
    return auth, secret, codes


def test_login_asks_for_the_second_factor(app):
    auth, secret, _ = _with_2fa(app)
    response = auth.login(headers=HTMX)
    assert response.headers["HX-Redirect"] == "/login/verify"
    assert auth.client.get("/settings").status_code == 302  # not logged in yet
    with app.app_context():  # the password step's risk assessment is stored already
        assert db.session.scalars(
            select(RiskEvent.decision).where(RiskEvent.kind == "login")
        ).all() == ["allow"]
    wrong = auth.post(
        "/login/verify",
        {"code": "000000" if twofactor.code_for(secret, clock.now()) != "000000" else "111111"},
        headers=HTMX,
    )
    assert wrong.status_code == 422 and b"not valid" in wrong.data
    right = auth.post("/login/verify", {"code": twofactor.code_for(secret, clock.now())})
    assert right.status_code == 303
    assert auth.client.get("/settings").status_code == 200


def test_wrong_codes_are_throttled_on_the_server_and_end_the_attempt(app):
    auth, secret, _ = _with_2fa(app)
    auth.login()
    with auth.client.session_transaction() as session:
        pending_cookie = dict(session)  # what an attacker would replay
    # The clock stands still: the wait after wrong codes lasts seconds, which a loaded machine
    # could otherwise spend between two requests.
    with clock.frozen(clock.now()):
        codes = [auth.post("/login/verify", {"code": "99999-99999"}).status_code for _ in range(5)]
        assert codes[:3] == [422, 422, 422] and 303 in codes  # slowed, then sent back to log in
        with auth.client.session_transaction() as session:
            session.update(pending_cookie)  # replaying the old cookie resets nothing on the server
        replayed = auth.post("/login/verify", {"code": "99999-99999"})
    assert replayed.status_code == 303 and replayed.headers["Location"] == "/login"


def test_the_second_step_expires(app):
    auth, secret, _ = _with_2fa(app)
    auth.login()
    with clock.frozen(clock.now() + dt.timedelta(minutes=11)):
        late = auth.post("/login/verify", {"code": twofactor.code_for(secret, clock.now())})
    assert late.headers["Location"] == "/login"


def test_login_with_an_emailed_code(app):
    auth, _, _ = _with_2fa(app)
    auth.login()
    assert auth.post("/login/verify/email").status_code == 303
    code = re.search(r"\b(\d{6})\b", last_mail(app, "ana@example.com").body).group(1)
    assert auth.post("/login/verify", {"code": code}).status_code == 303
    assert auth.client.get("/settings").status_code == 200


def test_enrolment_over_http_shows_the_codes_once(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    page = auth.post("/settings/security/2fa/setup").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert 'src="data:image/svg+xml' in page
    bad = auth.post("/settings/security/2fa/enable", {"code": "12"})
    assert bad.status_code == 422
    done = auth.post(
        "/settings/security/2fa/enable", {"code": twofactor.code_for(secret, clock.now())}
    )
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and html.count("<li><code>") == 10
    security = auth.client.get("/settings/security").get_data(as_text=True)
    assert "10 of 10 recovery codes left" in security and "<li><code>" not in security


def test_new_recovery_codes_over_http_need_a_right_code(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    page = auth.post("/settings/security/2fa/setup").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    enabled = auth.post(
        "/settings/security/2fa/enable", {"code": twofactor.code_for(secret, clock.now())}
    )
    codes = re.findall(r"<li><code>([^<]+)</code>", enabled.get_data(as_text=True))
    for data, message in (
        ({}, "Enter the code your app shows."),
        ({"code": "   "}, "Enter the code your app shows."),
        ({"code": "000000"}, "That code is not valid."),
        ({"code": "9" * 50}, "That code is not valid."),
    ):
        refused = auth.post("/settings/security/recovery-codes", data)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422, data
        assert f'id="regen-code-error">{message}' in html, data
        assert 'id="code-error"' not in html  # not on the "turn it off" form beside it
    done = auth.post("/settings/security/recovery-codes", {"code": codes[0]})
    fresh = re.findall(r"<li><code>([^<]+)</code>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(fresh) == 10 and codes[1] not in fresh


def test_admins_without_2fa_are_sent_to_enrol(database_url):
    from flask import Blueprint

    app = make_app(database_url)  # its own: a blueprint is added before its first request

    from blueprints.guards import admin_required

    probe = Blueprint("probe", __name__)

    @probe.get("/probe-admin")
    @admin_required
    def probe_admin():
        return "admin page"

    app.register_blueprint(probe)
    try:
        _enrol_probe(app)
    finally:
        _cleanup(app)


def _enrol_probe(app) -> None:
    auth = AuthActions(app.test_client())
    auth.signup()
    assert auth.client.get("/probe-admin").status_code == 403  # a fan
    with app.app_context():
        accounts.create_admin("ana@example.com", None)
    response = auth.client.get("/probe-admin")
    assert response.status_code == 303 and response.headers["Location"] == "/settings/security"
    with app.app_context():
        _enabled(accounts.find_by_email("ana@example.com"))
    assert auth.client.get("/probe-admin").data == b"admin page"
