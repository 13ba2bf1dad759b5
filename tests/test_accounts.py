"""Accounts (docs/security.md) at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from core import clock
from core.errors import DomainError, NotAllowed, ValidationFailed
from extensions import db
from models import EmailToken, Outbox, User, UserSession
from services import accounts, sessions
from tests.conftest import last_mail_link

GOOD = "plum-orbit-kettle-42"


def adult_dob(years: int = 30) -> dt.date:
    today = clock.today()
    return today.replace(year=today.year - years)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def sign_up(email="ana@example.com", password=GOOD, name="Ana", dob=None) -> User | None:
    return accounts.sign_up(email, password, name, dob or adult_dob())


def token_from_link(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def test_sign_up_creates_an_unverified_fan_and_mails_a_link(ctx):
    user = sign_up(email="  Ana@Example.COM ")
    assert user.email == "ana@example.com"
    assert user.role == "fan" and user.status == "active" and not user.email_verified
    assert user.password_hash.startswith("$argon2id$")
    mail = db.session.scalars(select(Outbox)).one()
    assert mail.to_email == "ana@example.com" and mail.kind == "verify_email"
    assert "/verify/" in mail.body and "24 hours" in mail.body
    assert mail.status == "logged"  # embedded default: printed to the log


def test_under_18_is_refused_and_nothing_is_kept(ctx):
    seventeen = clock.today().replace(year=clock.today().year - 18) + dt.timedelta(days=1)
    with pytest.raises(ValidationFailed) as failure:
        sign_up(dob=seventeen)
    assert "18" in failure.value.errors["date_of_birth"]
    assert count(User) == 0 and count(Outbox) == 0 and count(EmailToken) == 0


def test_exactly_18_today_may_join(ctx):
    with clock.frozen(dt.datetime(2026, 3, 1, 12)):
        user = sign_up(dob=dt.date(2008, 2, 29))  # a leap-day birthday counts on 1 March
    assert user.id is not None


def test_field_errors_are_collected_together(ctx):
    with pytest.raises(ValidationFailed) as failure:
        accounts.sign_up("not-an-email", "123456789", "", None)
    assert set(failure.value.errors) == {"email", "password", "display_name", "date_of_birth"}
    assert count(User) == 0


def test_a_taken_email_creates_nothing_and_mails_its_owner_whatever_the_case(ctx):
    ana = sign_up()
    assert sign_up(email="ANA@example.com", password="walnut-cipher-moon-88", name="Snoop") is None
    assert count(User) == 1 and count(EmailToken) == 1  # the first sign-up's link only
    db.session.refresh(ana)
    assert ana.display_name == "Ana" and accounts.authenticate("ana@example.com", GOOD)
    mail = db.session.scalars(select(Outbox).order_by(Outbox.id.desc())).first()
    assert (mail.to_email, mail.kind) == ("ana@example.com", "sign_up_attempt")
    assert "/login" in mail.body and "/forgot" in mail.body


def test_verification_link_works_once(ctx):
    sign_up()
    token = token_from_link(last_mail_link(ctx, "ana@example.com"))
    user = accounts.verify_email(token)
    assert user.email_verified
    with pytest.raises(DomainError, match="already been used"):
        accounts.verify_email(token)


def test_verification_link_expires_after_24_hours(ctx):
    start = dt.datetime(2026, 5, 1, 9)
    with clock.frozen(start):
        sign_up()
    token = token_from_link(last_mail_link(ctx, "ana@example.com"))
    expired = clock.frozen(start + dt.timedelta(hours=24, seconds=1))
    with expired, pytest.raises(DomainError, match="expired"):
        accounts.verify_email(token)
    assert not accounts.find_by_email("ana@example.com").email_verified


def test_login_error_is_the_same_for_unknown_email_and_wrong_password(ctx):
    sign_up()
    with pytest.raises(accounts.LoginFailed) as unknown:
        accounts.authenticate("nobody@example.com", GOOD)
    with pytest.raises(accounts.LoginFailed) as wrong:
        accounts.authenticate("ana@example.com", GOOD + "x")
    assert unknown.value.message == wrong.value.message == "Email or password is incorrect."
    assert accounts.authenticate("ANA@example.com", GOOD).email == "ana@example.com"


def test_banned_users_cannot_log_in_and_lose_every_session(ctx):
    user = sign_up()
    raw = sessions.start_session(user, "10.0.0.1", "Firefox")
    assert sessions.load_session_user(user.id, raw) == user
    accounts.set_status(user, "banned", "spam")
    assert sessions.load_session_user(user.id, raw) is None
    with pytest.raises(NotAllowed, match="spam"):
        accounts.authenticate("ana@example.com", GOOD)


def test_suspended_users_can_log_in_and_see_why(ctx):
    user = sign_up()
    accounts.set_status(user, "suspended", "chargeback under review")
    logged_in = accounts.authenticate("ana@example.com", GOOD)
    assert logged_in.is_suspended and logged_in.status_reason == "chargeback under review"


def test_suspending_or_banning_needs_a_reason(ctx):
    user = sign_up()
    with pytest.raises(ValidationFailed):
        accounts.set_status(user, "suspended", "  ")
    db.session.refresh(user)
    assert user.status == "active"


def test_password_reset_revokes_every_session_and_works_once(ctx):
    user = sign_up()
    laptop = sessions.start_session(user, None, "laptop")
    phone = sessions.start_session(user, None, "phone")
    accounts.request_password_reset("ana@example.com")
    token = token_from_link(last_mail_link(ctx, "ana@example.com"))
    accounts.reset_password(token, "new-granite-meadow-7")
    assert sessions.load_session_user(user.id, laptop) is None
    assert sessions.load_session_user(user.id, phone) is None
    assert accounts.authenticate("ana@example.com", "new-granite-meadow-7")
    with pytest.raises(DomainError, match="already been used"):
        accounts.reset_password(token, "another-granite-meadow-8")


def test_a_weak_new_password_keeps_the_reset_link_usable(ctx):
    sign_up()
    accounts.request_password_reset("ana@example.com")
    token = token_from_link(last_mail_link(ctx, "ana@example.com"))
    with pytest.raises(ValidationFailed):
        accounts.reset_password(token, "password1")
    accounts.reset_password(token, "new-granite-meadow-7")


def test_reset_link_expires_after_an_hour(ctx):
    start = dt.datetime(2026, 5, 1, 9)
    with clock.frozen(start):
        sign_up()
        accounts.request_password_reset("ana@example.com")
    token = token_from_link(last_mail_link(ctx, "ana@example.com"))
    with clock.frozen(start + dt.timedelta(minutes=61)):
        with pytest.raises(DomainError):
            accounts.check_reset_token(token)
        with pytest.raises(DomainError, match="expired"):
            accounts.reset_password(token, "new-granite-meadow-7")


def test_reset_for_an_unknown_email_sends_nothing_and_says_nothing(ctx):
    assert accounts.request_password_reset("ghost@example.com") is None
    assert count(Outbox) == 0


def test_change_password_keeps_this_device_and_logs_out_the_others(ctx):
    user = sign_up()
    here = sessions.start_session(user, None, "here")
    there = sessions.start_session(user, None, "there")
    with pytest.raises(ValidationFailed) as failure:
        accounts.change_password(user, "wrong", "new-granite-meadow-7", here)
    assert "current_password" in failure.value.errors
    assert accounts.change_password(user, GOOD, "new-granite-meadow-7", here) == 1
    assert sessions.load_session_user(user.id, here) == user
    assert sessions.load_session_user(user.id, there) is None


def test_a_user_cannot_revoke_someone_elses_session(ctx):
    ana = sign_up()
    bob = sign_up(email="bob@example.com", name="Bob")
    sessions.start_session(bob, None, "bob's phone")
    bob_session = db.session.scalars(select(UserSession).where(UserSession.user_id == bob.id)).one()
    with pytest.raises(DomainError):
        sessions.revoke_session(ana, bob_session.id)
    db.session.refresh(bob_session)
    assert bob_session.revoked_at is None


def test_create_admin_promotes_or_creates_a_verified_admin(ctx):
    fan = sign_up()
    promoted, created = accounts.create_admin("ana@example.com", None)
    assert not created and promoted.id == fan.id and promoted.is_admin
    admin, created = accounts.create_admin("root@example.com", "quartz-lantern-echo-5")
    assert created and admin.is_admin and admin.email_verified
    with pytest.raises(ValidationFailed):
        accounts.create_admin("weak@example.com", "password")


# --- races, on the real PostgreSQL server --------------------------------------------------


def _in_threads(app, n: int, target) -> list:
    results: list = []
    barrier = threading.Barrier(n)

    def run():
        with app.app_context():
            barrier.wait()
            try:
                results.append(target())
            except DomainError as exc:
                results.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
def test_concurrent_sign_ups_with_one_email_create_one_account(pg_app):
    results = _in_threads(pg_app, 8, lambda: getattr(sign_up(email="race@example.com"), "id", 0))
    with pg_app.app_context():
        assert count(User) == 1
        owner_mails = db.session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.kind == "sign_up_attempt")
        )
    assert sorted(results)[:7] == [0] * 7 and sorted(results)[7] > 0
    assert owner_mails == 7  # the losers answered as a taken address does


@pytest.mark.postgres
def test_a_reset_link_clicked_twice_at_once_works_once(pg_app):
    with pg_app.app_context():
        sign_up()
        accounts.request_password_reset("ana@example.com")
    token = token_from_link(last_mail_link(pg_app, "ana@example.com"))
    results = _in_threads(
        pg_app, 6, lambda: accounts.reset_password(token, "new-granite-meadow-7").id
    )
    assert sum(1 for r in results if isinstance(r, int)) == 1
