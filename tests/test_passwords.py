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
