"""Passwords: argon2id, at least 10 characters, not common, not the user's own details."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import passwords

ROOT = Path(__file__).resolve().parent.parent


def test_hashes_are_argon2id_and_verify():
    hashed = passwords.hash_password("plum-orbit-kettle-42")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "plum-orbit-kettle-42")
    assert not passwords.verify_password(hashed, "plum-orbit-kettle-43")
    assert not passwords.verify_password(None, "anything at all")


@pytest.mark.parametrize(
    "weak",
    [
        "short",
        "123456789",
        "password123",
        "Password2024!",
        "qwertyuiop",
        "aaaaaaaaaaaa",
        "abcdefghijk",
        "iloveyou12",
        "1234567890",
    ],
)
def test_common_or_short_passwords_are_refused(weak):
    assert passwords.password_problem(weak) is not None


def test_a_long_unusual_password_is_accepted():
    assert passwords.password_problem("plum-orbit-kettle-42") is None


def test_a_password_built_from_the_email_is_refused():
    problem = passwords.password_problem("marguerite1990", email="marguerite1990@example.com")
    assert problem is not None


def test_absurdly_long_passwords_are_refused():
    assert passwords.password_problem("x7-" * 100) is not None


def test_a_wrong_password_under_gevent_leaves_no_traceback_in_the_log():
    """The gevent web worker hashes on gevent's thread pool, which prints every exception a
    task raises, traceback and all, to the process's log: a wrong password must be an answer
    (False), not an exception, or each failed login (an attacker's thousands) adds ten lines."""
    script = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from services import passwords\n"
        "stored = passwords.hash_password('plum-orbit-kettle-42')\n"
        "print(passwords.verify_password(stored, 'not-the-password-1'),"
        " passwords.verify_password(None, 'not-the-password-1'),"
        " passwords.verify_password('not-a-hash', 'not-the-password-1'),"
        " passwords.verify_password(stored, 'plum-orbit-kettle-42'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False", "True"]
    assert "Traceback" not in done.stderr, done.stderr


def test_the_hashing_cost_comes_from_the_config_and_old_hashes_are_replaced_at_login(app):
    """Raising the cost reaches an account at its next login: its hash is made again."""
    from extensions import db
    from models import User
    from services import accounts
    from tests.conftest import AuthActions

    auth = AuthActions(app.test_client())
    auth.signup()
    auth.logout()
    with app.app_context():
        cheap = accounts.find_by_email("ana@example.com").password_hash
    assert "$m=8,t=1,p=1$" in cheap  # the suite's cost (tests/conftest.py)
    app.config.update(PASSWORD_HASH_TIME_COST=2, PASSWORD_HASH_MEMORY_KIB=16)
    assert auth.login().status_code in (302, 303)
    with app.app_context():
        stronger = db.session.scalar(
            db.select(User.password_hash).where(User.email == "ana@example.com")
        )
    assert "$m=16,t=2,p=1$" in stronger
    with app.app_context():
        assert passwords.verify_password(stronger, "plum-orbit-kettle-42")
        assert not passwords.needs_rehash(stronger)


def test_production_refuses_a_cheap_hashing_cost(monkeypatch):
    import config

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SEALING_KEYS", "k1:" + "A" * 43 + "=")
    monkeypatch.setenv("PASSWORD_HASH_TIME_COST", "1")
    with pytest.raises(config.ConfigError, match="too cheap for production"):
        config.load_config()
    monkeypatch.setenv("PASSWORD_HASH_TIME_COST", "2")
    monkeypatch.setenv("PASSWORD_HASH_MEMORY_KIB", "1024")
    with pytest.raises(config.ConfigError, match="PASSWORD_HASH_MEMORY_KIB=19456"):
        config.load_config()
    monkeypatch.setenv("PASSWORD_HASH_MEMORY_KIB", "19456")
    assert config.load_config()["PASSWORD_HASH_TIME_COST"] == 2


def test_without_settings_the_library_recommended_cost_is_used(monkeypatch):
    import config

    for name in (
        "PASSWORD_HASH_TIME_COST",
        "PASSWORD_HASH_MEMORY_KIB",
        "PASSWORD_HASH_PARALLELISM",
    ):
        monkeypatch.delenv(name, raising=False)
    loaded = config.load_config()
    cost = (
        loaded["PASSWORD_HASH_TIME_COST"],
        loaded["PASSWORD_HASH_MEMORY_KIB"],
        loaded["PASSWORD_HASH_PARALLELISM"],
    )
    assert cost == passwords.DEFAULT_COST == (3, 65536, 4)
    assert "$m=65536,t=3,p=4$" in passwords.hash_password("plum-orbit-kettle-42")  # no app
