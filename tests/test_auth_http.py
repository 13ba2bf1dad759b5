"""Accounts through HTTP, as a browser or htmx sends them."""

from __future__ import annotations

import re
import time

from sqlalchemy import func, select

from extensions import db
from models import User
from services import accounts
from tests.conftest import AuthActions, csrf_token, hold_jobs, last_mail, last_mail_link

HTMX = {"HX-Request": "true"}


def users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_landing_page_invites_to_sign_up(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b"Create a free account" in page.data and b"Log in" in page.data


def test_sign_up_asks_to_check_the_inbox_and_leaves_the_visitor_logged_out(app, client, auth):
    response = auth.signup(log_in=False, follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Check your inbox" in html and "ana@example.com" in html
    assert "Log out" not in html
    assert "/verify/" in last_mail_link(app, "ana@example.com")
    page = auth.login(follow_redirects=True).get_data(as_text=True)  # the first login
    assert "Hi, Ana" in page and "Confirm your email address" in page


def test_sign_up_errors_come_back_as_the_form_partial_for_htmx(app, client, auth):
    response = auth.signup(email="nope", password="123456789", dob="2015-01-01", headers=HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html  # a partial, swapped in place
    assert "Enter a valid email address" in html
    assert "Use at least 10 characters" in html
    assert "18 or older" in html
    assert 'aria-invalid="true"' in html
    assert users(app) == 0


def test_sign_up_without_javascript_gets_the_whole_page_with_errors(app, auth):
    response = auth.signup(password="password123")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "too common" in html
    assert users(app) == 0


def sign_up_as_a_stranger(app, email: str, headers: dict):
    """A visitor in a fresh browser signs up with `email`; returns (redirect, page after it)."""
    stranger = AuthActions(app.test_client())
    response = stranger.signup(
        email=email, password="walnut-cipher-moon-88", name="Snoop", log_in=False, headers=headers
    )
    target = response.headers.get("HX-Redirect") or response.headers.get("Location")
    return response, stranger.client.get(target)


def without_token(response) -> str:
    """The page with its per-visitor CSRF token (a signed value, in two places) blanked out."""
    return re.sub(r"\bI[\w-]+\.[\w-]+\.[\w-]+", "TOKEN", response.get_data(as_text=True))


def test_a_taken_address_answers_like_a_new_one_and_mails_its_owner(app, auth):
    auth.signup()
    for headers in (HTMX, {}):
        new, new_page = sign_up_as_a_stranger(app, f"new{len(headers)}@example.com", headers)
        taken, taken_page = sign_up_as_a_stranger(app, "ANA@example.com", headers)
        assert taken.status_code == new.status_code
        assert dict(taken.headers).keys() == dict(new.headers).keys()
        assert taken.headers.get("HX-Redirect") == new.headers.get("HX-Redirect")
        assert taken.headers.get("Location") == new.headers.get("Location")
        assert taken_page.status_code == new_page.status_code == 200
        assert without_token(taken_page) == without_token(new_page).replace(
            f"new{len(headers)}@example.com", "ana@example.com"
        )
        assert "Log out" not in taken_page.get_data(as_text=True)
    with app.app_context():
        assert accounts.find_by_email("ana@example.com").display_name == "Ana"
    assert users(app) == 3
    mail = last_mail(app, "ana@example.com")
    assert mail.kind == "sign_up_attempt" and "nothing was changed" in mail.body
    assert "http://localhost/login" in mail.body and "http://localhost/forgot" in mail.body
    # The stranger's password opens nothing.
    stranger = AuthActions(app.test_client())
    response = stranger.login(password="walnut-cipher-moon-88", headers=HTMX)
    assert response.status_code == 422 and b"Email or password is incorrect" in response.data


def test_a_taken_address_costs_the_same_password_hash_as_a_new_one(app, monkeypatch):
    from services import passwords

    hashes: list[str] = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda pw: hashes.append(pw) or real_hash(pw))
    AuthActions(app.test_client()).signup(log_in=False)
    assert len(hashes) == 1
    sign_up_as_a_stranger(app, "ana@example.com", HTMX)
    assert len(hashes) == 2


def test_a_bad_date_is_a_field_error_not_a_crash(app, auth):
    response = auth.signup(dob="31/31/1990", headers=HTMX)
    assert response.status_code == 422
    assert b"date" in response.data.lower()


def test_login_and_logout(app, client, auth):
    auth.signup()
    auth.logout()
    assert b"Log in" in client.get("/").data
    response = auth.login(headers=HTMX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/"
    assert b"Hi, Ana" in client.get("/").data
    assert auth.logout().status_code == 303
    assert b"Create a free account" in client.get("/").data
    assert client.get("/settings").status_code == 302  # to the login page


def test_login_error_does_not_reveal_whether_the_email_exists(app, client, auth):
    auth.signup()
    auth.logout()
    wrong_password = auth.login(password="not-the-password-1", headers=HTMX)
    unknown_email = auth.login(email="ghost@example.com", headers=HTMX)
    assert wrong_password.status_code == unknown_email.status_code == 422
    assert b"Email or password is incorrect." in wrong_password.data

    # Identical apart from the address typed (and the CSRF token's timestamp).
    def normalized(response) -> str:
        html = response.get_data(as_text=True).replace("ana@example.com", "ghost@example.com")
        return re.sub(r'name="csrf_token" value="[^"]+"', "", html)

    assert normalized(wrong_password) == normalized(unknown_email)


def test_login_follows_only_same_site_next_links(app, client, auth):
    auth.signup()
    auth.logout()
    inside = auth.post(
        "/login?next=/settings", {"email": "ana@example.com", "password": "plum-orbit-kettle-42"}
    )
    assert inside.headers["Location"] == "/settings"
    auth.logout()
    outside = auth.post(
        "/login?next=//evil.example/steal",
        {"email": "ana@example.com", "password": "plum-orbit-kettle-42"},
    )
    assert outside.headers["Location"] == "/"


def test_the_verification_link_confirms_the_email_once(app, client, auth):
    auth.signup()
    link = last_mail_link(app, "ana@example.com").replace("http://localhost", "")
    first = client.get(link, follow_redirects=True)
    assert b"is confirmed" in first.data
    assert b"Confirm your email address" not in first.data
    again = client.get(link)
    assert again.status_code == 400 and b"already been used" in again.data


def test_a_made_up_verification_link_is_a_clear_400(client):
    response = client.get("/verify/not-a-real-token")
    assert response.status_code == 400 and b"not valid" in response.data


def test_password_reset_over_http(app, client, auth):
    auth.signup()
    auth.logout()
    sent = auth.post("/forgot", {"email": "ana@example.com"}, headers=HTMX)
    assert b"If an account exists" in sent.data
    link = last_mail_link(app, "ana@example.com").replace("http://localhost", "")
    assert "/reset/" in link
    assert client.get(link).status_code == 200
    mismatch = auth.post(
        link, {"password": "new-granite-meadow-7", "confirm": "other"}, headers=HTMX
    )
    assert mismatch.status_code == 422 and b"do not match" in mismatch.data
    done = auth.post(
        link,
        {"password": "new-granite-meadow-7", "confirm": "new-granite-meadow-7"},
        follow_redirects=True,
    )
    assert b"Log in again" in done.data
    assert client.get(link).status_code == 400  # used
    assert auth.login(password="new-granite-meadow-7").status_code == 303


def test_forgot_password_answers_the_same_for_unknown_emails(client, auth):
    response = auth.post("/forgot", {"email": "ghost@example.com"}, headers=HTMX)
    assert response.status_code == 200 and b"If an account exists" in response.data


def test_forgot_password_does_the_same_work_for_known_and_unknown_emails(app, auth, monkeypatch):
    from services.accounts import send_password_reset

    auth.signup()
    auth.logout()
    held = hold_jobs(monkeypatch, send_password_reset)
    mails_before = outbox_size(app)
    for email in ("ana@example.com", "ghost@example.com"):
        response = auth.post("/forgot", {"email": email}, headers=HTMX)
        assert response.status_code == 200 and b"If an account exists" in response.data
    # Neither request looked the address up or wrote a mail: each queued the same job.
    assert [job[0] for job in held] == ["services.accounts:send_password_reset"] * 2
    assert outbox_size(app) == mails_before
    with app.app_context():
        for _, args, kwargs in held:
            send_password_reset(*args, **kwargs)
    assert outbox_size(app) == mails_before + 1
    assert last_mail(app, "ana@example.com").kind == "reset_password"


def outbox_size(app) -> int:
    from models import Outbox

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Outbox))


def test_a_post_without_the_csrf_token_is_refused_with_a_clear_page(app, client):
    response = client.post("/signup", data={"email": "ana@example.com"})
    assert response.status_code == 400
    assert b"security token" in response.data
    assert users(app) == 0


def test_an_oversized_body_is_a_413_not_a_crash(app, client, auth):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = auth.post("/signup", {"display_name": "x" * 5000})
    assert response.status_code == 413 and b"too large" in response.data
    assert users(app) == 0


def test_a_suspended_user_can_read_but_not_write(app, client, auth):
    auth.signup()
    with app.app_context():
        accounts.set_status(accounts.find_by_email("ana@example.com"), "suspended", "spam reports")
    page = client.get("/settings")
    assert page.status_code == 200 and b"spam reports" in page.data
    response = auth.post(
        "/settings/password",
        {
            "current_password": "plum-orbit-kettle-42",
            "new_password": "new-granite-meadow-7",
            "confirm": "new-granite-meadow-7",
        },
    )
    assert response.status_code == 403 and b"spam reports" in response.data
    assert auth.logout().status_code == 303


def test_a_banned_user_is_logged_out_on_the_next_request(app, client, auth):
    auth.signup()
    with app.app_context():
        accounts.set_status(accounts.find_by_email("ana@example.com"), "banned", "fraud")
    assert client.get("/settings").status_code == 302
    response = auth.login(headers=HTMX)
    assert response.status_code == 422 and b"banned: fraud" in response.data


def test_changing_the_password_logs_out_other_devices(app, auth):
    other = app.test_client()
    auth.signup()
    AuthOther = type(auth)(other)
    AuthOther.login()
    assert other.get("/settings").status_code == 200
    response = auth.post(
        "/settings/password",
        {
            "current_password": "plum-orbit-kettle-42",
            "new_password": "new-granite-meadow-7",
            "confirm": "new-granite-meadow-7",
        },
        headers=HTMX,
    )
    assert response.status_code == 200 and b"1 other device was logged out" in response.data
    assert other.get("/settings").status_code == 302


def test_settings_lists_devices_and_revokes_the_others(app, auth):
    other = app.test_client()
    AuthOther = type(auth)(other)  # noqa: E702
    auth.signup()
    AuthOther.login(headers={"User-Agent": "PhoneBrowser/1.0"})
    page = auth.client.get("/settings/security").get_data(as_text=True)
    assert "PhoneBrowser/1.0" in page and "this device" in page
    response = auth.post("/settings/sessions/revoke-others", headers=HTMX)
    assert b"Logged out 1 other device" in response.data
    assert other.get("/settings").status_code == 302
    assert auth.client.get("/settings").status_code == 200


def test_settings_shows_where_each_device_logged_in_from_a_geoip_database(app, auth, tmp_path):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    writer.insert_network(
        IPSet(["127.0.0.0/8"]),
        {
            "city": {"names": {"en": "Berlin"}},
            "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        },
    )
    writer.insert_network(
        IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "FR", "names": {"en": "France"}}}
    )
    path = tmp_path / "cities.mmdb"
    writer.to_db_file(str(path))
    auth.signup()
    phone = type(auth)(app.test_client())
    phone.login(environ_base={"REMOTE_ADDR": "198.51.100.7"})
    before = auth.client.get("/settings/security").get_data(as_text=True)
    assert "Berlin" not in before and "France" not in before  # no database: place unknown
    app.config["GEOIP_DB"] = str(path)
    page = auth.client.get("/settings/security").get_data(as_text=True)
    assert "<td>Berlin, Germany</td>" in page and "<td>France</td>" in page


def test_revoking_someone_elses_session_is_not_found(app, auth, client):
    bob = type(auth)(app.test_client())
    bob.signup(email="bob@example.com", name="Bob")
    auth.signup()
    from models import UserSession

    with app.app_context():
        bob_id = accounts.find_by_email("bob@example.com").id
        bob_session = db.session.scalars(
            select(UserSession.id).where(UserSession.user_id == bob_id)
        ).one()
    response = auth.post(f"/settings/sessions/{bob_session}/revoke", headers=HTMX)
    assert response.status_code == 404
    assert bob.client.get("/settings").status_code == 200


def test_csrf_token_is_in_the_page_for_htmx(client):
    html = client.get("/login").get_data(as_text=True)
    sent = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert sent, "htmx requests carry the CSRF token in a header"
    # A token is signed with a timestamp, so compare its payload: the session's secret.
    assert sent.group(1).split(".")[0] == csrf_token(client).split(".")[0]


def test_a_session_keeps_one_signed_token_and_another_session_cannot_use_it(app, auth):
    """blueprints/page_tokens.py: the token a session's pages carry is signed once; it still
    passes Flask-WTF's check, and a token of one session is refused in another."""
    first = csrf_token(auth.client)
    time.sleep(1.1)  # Flask-WTF would sign it anew with the next second's timestamp
    assert csrf_token(auth.client) == first == csrf_token(auth.client)
    assert auth.signup().status_code == 303  # posts with that token
    stranger = AuthActions(app.test_client())
    theirs = csrf_token(stranger.client)
    assert theirs != first
    refused = stranger.client.post(
        "/signup",
        data={
            "csrf_token": first,
            "email": "eve@example.com",
            "display_name": "Eve",
            "password": "plum-orbit-kettle-42",
            "date_of_birth": "1990-01-01",
            "accept_terms": "y",
        },
    )
    assert refused.status_code == 400 and b"security token" in refused.data


def test_security_relevant_actions_are_audited(app, auth):
    from models import AuditLog

    auth.signup()
    auth.post(
        "/settings/password",
        {
            "current_password": "plum-orbit-kettle-42",
            "new_password": "new-granite-meadow-7",
            "confirm": "new-granite-meadow-7",
        },
    )
    auth.logout()
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        user_id = accounts.find_by_email("ana@example.com").id
    assert [r.action for r in rows] == [
        "account.created",
        "login.succeeded",
        "password.changed",
        "logout",
    ]
    assert all(r.actor_id == user_id and r.target_id == str(user_id) for r in rows)
    assert rows[2].ip == "127.0.0.1"
