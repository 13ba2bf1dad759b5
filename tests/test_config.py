"""Configuration comes from the environment, with safe defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import config
from app import create_app
from extensions import db
from tests.conftest import BASE_CONFIG, AuthActions, _cleanup, last_mail_link


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_to_start_without_sealing_keys(monkeypatch):
    """Identity documents are sealed by master keys of the operator's own (docs/identity.md):
    production never falls back to one derived from SECRET_KEY."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("SEALING_KEYS", raising=False)
    with pytest.raises(config.ConfigError, match="SEALING_KEYS"):
        create_app()


def test_production_starts_with_a_secret_key_and_secure_cookies(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("SEALING_KEYS", "k1:" + "A" * 43 + "=")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_secret_key_is_generated_once_into_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.load_config()["SECRET_KEY"]
    second = config.load_config()["SECRET_KEY"]
    assert first == second and len(first) >= 40
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.read_text() == first
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the owner only


def test_defaults_are_embedded_mode(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    for name in ("DATABASE_URL", "REDIS_URL", "SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load_config()
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'amora.db'}"
    assert settings["REDIS_URL"] is None
    assert settings["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize(
    "given",
    ["postgres://u@db:5432/amora", "postgresql://u@db:5432/amora"],
)
def test_postgres_urls_use_psycopg3(monkeypatch, given):
    monkeypatch.setenv("DATABASE_URL", given)
    assert config.load_config()["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db:5432/amora"


def test_redis_url_moves_rate_limits_to_redis(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    settings = config.load_config()
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    assert settings["EMBEDDED_SCHEDULER"] is False


@pytest.mark.parametrize(("name", "value"), [("APP_ENV", "staging"), ("MAX_CONTENT_LENGTH", "big")])
def test_bad_values_are_refused_with_the_variable_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        config.load_config()


def test_env_example_documents_every_variable_config_reads():
    text = Path(config.__file__).read_text()
    read = set(re.findall(r'(?:environ\.get|_int|_bool)\(\s*"([A-Z_]+)"', text))
    example = (config.ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", example, flags=re.M))
    assert read - {"INSTANCE_DIR"} <= documented, read - documented


def test_the_postgresql_pool_is_sized_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/amora")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "40")
    monkeypatch.setenv("DATABASE_POOL_OVERFLOW", "0")

    def pool():  # nothing connects to the server
        with create_app().app_context():
            engine = db.engine
            return engine.pool.size(), engine.pool._max_overflow

    assert pool() == (40, 0)
    monkeypatch.delenv("DATABASE_POOL_SIZE")
    monkeypatch.delenv("DATABASE_POOL_OVERFLOW")
    assert pool() == (10, 20)
    # gunicorn's gevent worker: a connection for each of the 16 send turns and the rest
    monkeypatch.setattr(config, "under_gevent", lambda: True)
    assert pool() == (40, 20)


def _without_address(monkeypatch) -> None:
    for name in ("BASE_URL", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environment", "base_url"),
    [
        ({}, "http://127.0.0.1:5000"),
        ({"PORT": "5020"}, "http://127.0.0.1:5020"),
        ({"HOST": "192.168.1.20", "PORT": "5020"}, "http://192.168.1.20:5020"),
        ({"HOST": "0.0.0.0", "PORT": "8000"}, "http://127.0.0.1:8000"),  # noqa: S104
        ({"HOST": "::1"}, "http://[::1]:5000"),
        ({"PORT": "5020", "BASE_URL": "https://amora.example.com/"}, "https://amora.example.com"),
    ],
)
def test_base_url_is_where_make_run_serves_unless_set(monkeypatch, environment, base_url):
    _without_address(monkeypatch)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert config.load_config()["BASE_URL"] == base_url


def test_mail_links_follow_the_port_make_run_was_given(monkeypatch, sqlite_url):
    """`PORT=5020 make run`: the verification link in the welcome mail opens port 5020."""
    _without_address(monkeypatch)
    monkeypatch.setenv("PORT", "5020")
    app = create_app(
        {
            key: value
            for key, value in {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": sqlite_url}.items()
            if key != "BASE_URL"
        }
    )
    try:
        AuthActions(app.test_client()).signup(email="port@example.com")
        assert last_mail_link(app, "port@example.com").startswith("http://127.0.0.1:5020/")
    finally:
        _cleanup(app)
