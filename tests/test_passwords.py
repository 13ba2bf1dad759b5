"""Passwords: argon2id, at least 10 characters, not common, not the user's own details."""

from __future__ import annotations

import pytest

from services import passwords


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
