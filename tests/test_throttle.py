"""Login throttling (docs/security.md#throttling): growing delays, a temporary lock with an email,
per IP too."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from services import accounts, throttle
from tests.conftest import AuthActions, last_mail

T0 = dt.datetime(2026, 11, 25, 9, 0, 0)
PASSWORD = "plum-orbit-kettle-42"


def _fail(email="ana@example.com", ip="10.0.0.1", user=None):
    throttle.record(email, user, ip, False)


def test_a_few_failures_are_free_then_delays_grow(ctx):
    with clock.frozen(T0):
        for _ in range(throttle.ACCOUNT_FREE_FAILURES):
            throttle.check("ana@example.com", "10.0.0.1")
            _fail()
        with pytest.raises(throttle.Throttled) as first:
            throttle.check("ana@example.com", "10.0.0.2")  # another IP: still the account
        assert first.value.retry_after == 1
    with clock.frozen(T0 + dt.timedelta(seconds=1)):
        throttle.check("ana@example.com", "10.0.0.1")
        _fail()
        _fail()
    with clock.frozen(T0 + dt.timedelta(seconds=2)), pytest.raises(throttle.Throttled) as later:
        throttle.check("ana@example.com", "10.0.0.1")
    assert later.value.retry_after == 3  # 2 ** (5 - 3) = 4 s after the latest failure, 1 s ago
    throttle.check("someone-else@example.com", "10.0.0.9")  # others are not affected


def test_ten_failures_lock_the_account_and_mail_its_owner(ctx):
    user = accounts.sign_up("ana@example.com", PASSWORD, "Ana", dt.date(1990, 1, 1))
    with clock.frozen(T0):
        for _ in range(throttle.ACCOUNT_LOCK_AFTER):
            _fail(user=user)
        with pytest.raises(throttle.Throttled, match="locked for 15 minutes") as locked:
            throttle.check("ana@example.com", "10.0.0.1")
        assert locked.value.retry_after == 15 * 60
    mail = last_mail(ctx, "ana@example.com")
    assert mail.kind == "account_locked" and "10.0.0.1" in mail.body
    with clock.frozen(T0 + dt.timedelta(minutes=14)), pytest.raises(throttle.Throttled):
        throttle.check("ana@example.com", "10.0.0.1")
    with clock.frozen(T0 + dt.timedelta(minutes=15, seconds=1)):
        throttle.check("ana@example.com", "10.0.0.1")


def test_a_success_resets_the_account(ctx):
    with clock.frozen(T0):
        for _ in range(5):
            _fail()
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        throttle.record("ana@example.com", None, "10.0.0.1", True)
        throttle.check("ana@example.com", "10.0.0.1")


def test_an_ip_failing_against_many_accounts_is_slowed(ctx):
    with clock.frozen(T0):
        for i in range(throttle.IP_FREE_FAILURES):
            _fail(email=f"victim{i}@example.com", ip="203.0.113.7")
        with pytest.raises(throttle.Throttled):
            throttle.check("fresh@example.com", "203.0.113.7")
        throttle.check("fresh@example.com", "198.51.100.1")


def test_unknown_and_real_accounts_are_throttled_alike_over_http(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    auth.logout()
    for email in ("ana@example.com", "ghost@example.com"):
        for _ in range(throttle.ACCOUNT_FREE_FAILURES):
            assert auth.login(email=email, password="wrong-password-1").status_code == 422
        blocked = auth.login(email=email, password="wrong-password-1")
        assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.data
        assert int(blocked.headers["Retry-After"]) >= 1


def test_look_alike_spellings_share_the_account_counter(ctx):
    with clock.frozen(T0):
        for _ in range(throttle.ACCOUNT_FREE_FAILURES):
            _fail(email="alice@example.com")
        with pytest.raises(throttle.Throttled):
            throttle.check("ALICE@ｅxample.com", "10.9.9.9")  # full-width "e"


def test_logging_in_to_your_own_account_does_not_reset_an_ips_count(ctx):
    with clock.frozen(T0):
        for i in range(throttle.IP_FREE_FAILURES):
            _fail(email=f"victim{i}@example.com", ip="203.0.113.8")
        throttle.record("mine@example.com", None, "203.0.113.8", True)
        with pytest.raises(throttle.Throttled):
            throttle.check("victim99@example.com", "203.0.113.8")
