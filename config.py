"""Configuration: the one place that reads environment variables.

Every variable is documented in `.env.example`. `create_app(config)` may override any key, which
is how the tests pick a database.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import argon2

ROOT = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))


class ConfigError(RuntimeError):
    """The configuration cannot run safely (for example production without SECRET_KEY)."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def under_gevent() -> bool:
    """Running in gunicorn's gevent worker (the standard library is patched for greenlets)."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(app_env: str) -> str:
    """SECRET_KEY from the environment; outside production, generated once into instance/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if app_env == "production":
        raise ConfigError("SECRET_KEY must be set when APP_ENV=production")
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _sealing_keys(production: bool) -> str | None:
    """SEALING_KEYS, which production must set (docs/identity.md#keys). Elsewhere, unset means
    one key derived from SECRET_KEY, so that `make run` seals without setup (a laptop's
    documents are test documents)."""
    keys = os.environ.get("SEALING_KEYS", "").strip()
    if keys:
        return keys  # parsed by create_app, which refuses a malformed value
    if production:
        raise ConfigError(
            "SEALING_KEYS must be set when APP_ENV=production; make one with python3 -c "
            """'import base64,os; print("k1:" + base64.b64encode(os.urandom(32)).decode())'"""
        )
    return None


def _age_check_countries() -> str:
    raw = os.environ.get("AGE_CHECK_COUNTRIES", "").strip().upper()
    if raw == "*":
        return raw
    codes = [part.strip() for part in raw.replace(" ", ",").split(",") if part.strip()]
    for code in codes:
        if len(code) != 2 or not code.isalpha():
            raise ConfigError(f"AGE_CHECK_COUNTRIES: {code!r} is not a two-letter country code")
    return ",".join(dict.fromkeys(codes))


def _base_url() -> str:
    """BASE_URL, or the address `make run` serves on (HOST and PORT, as its Makefile reads
    them), so that links in mail reach this server whichever port it was given."""
    explicit = os.environ.get("BASE_URL")
    if explicit:
        return explicit.rstrip("/")
    host = os.environ.get("HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 (every interface: this machine is one of them)
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{_int('PORT', 5000)}"


DEFAULT_CREDIT_PACKS = "100:1199:99900,500:5499:449900,1000:10499:849900,5000:49999:3999900"


def _credit_packs(raw: str) -> list[dict]:
    """`credits:usd_cents:inr_paise,...` → packs with an id and a price per currency."""
    packs = []
    for item in raw.split(","):
        try:
            credits, usd, inr = (int(part) for part in item.strip().split(":"))
        except ValueError as exc:
            raise ConfigError(
                f"CREDIT_PACKS entries look like credits:usd_cents:inr_paise, got {item!r}"
            ) from exc
        if min(credits, usd, inr) <= 0:
            raise ConfigError(f"CREDIT_PACKS values must be positive, got {item!r}")
        packs.append(
            {"id": f"pack-{credits}", "credits": credits, "prices": {"USD": usd, "INR": inr}}
        )
    if len({p["id"] for p in packs}) != len(packs):
        raise ConfigError("CREDIT_PACKS has two packs with the same number of credits")
    return packs


def _json_list(name: str) -> list:
    """A JSON list from the environment, e.g. ICE_SERVERS='[{"urls": "stun:stun.example.org"}]'."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a JSON list: {exc}") from exc
    if not isinstance(value, list):
        raise RuntimeError(f"{name} must be a JSON list")
    return value


# The least argon2id cost production accepts: OWASP's minimum (19 MiB, 2 passes).
PASSWORD_HASH_MIN_MEMORY_KIB = 19 * 1024
PASSWORD_HASH_MIN_TIME_COST = 2


def _password_hash_cost(production: bool) -> dict:
    """argon2id's cost (docs/security.md#passwords): the library's recommended parameters
    unless set. Tests lower it to stay fast; production refuses less than OWASP's minimum."""
    recommended = argon2.profiles.get_default_parameters()
    time_cost, memory_kib, parallelism = (
        recommended.time_cost,
        recommended.memory_cost,
        recommended.parallelism,
    )
    cost = {
        "PASSWORD_HASH_TIME_COST": _int("PASSWORD_HASH_TIME_COST", time_cost),
        "PASSWORD_HASH_MEMORY_KIB": _int("PASSWORD_HASH_MEMORY_KIB", memory_kib),
        "PASSWORD_HASH_PARALLELISM": _int("PASSWORD_HASH_PARALLELISM", parallelism),
    }
    if cost["PASSWORD_HASH_PARALLELISM"] < 1 or cost["PASSWORD_HASH_TIME_COST"] < 1:
        raise ConfigError("PASSWORD_HASH_TIME_COST and PASSWORD_HASH_PARALLELISM must be >= 1")
    if cost["PASSWORD_HASH_MEMORY_KIB"] < 8 * cost["PASSWORD_HASH_PARALLELISM"]:
        raise ConfigError("PASSWORD_HASH_MEMORY_KIB must be at least 8 per lane of parallelism")
    weak = (
        cost["PASSWORD_HASH_MEMORY_KIB"] < PASSWORD_HASH_MIN_MEMORY_KIB
        or cost["PASSWORD_HASH_TIME_COST"] < PASSWORD_HASH_MIN_TIME_COST
    )
    if production and weak:
        raise ConfigError(
            f"Password hashing is too cheap for production: use at least "
            f"PASSWORD_HASH_MEMORY_KIB={PASSWORD_HASH_MIN_MEMORY_KIB} and "
            f"PASSWORD_HASH_TIME_COST={PASSWORD_HASH_MIN_TIME_COST}"
        )
    return cost


def load_config() -> dict:
    """Read the environment into a plain dict of Flask config keys."""
    app_env = os.environ.get("APP_ENV", "development")
    if app_env not in {"development", "production", "test"}:
        raise ConfigError(f"APP_ENV must be development, production or test, not {app_env!r}")
    production = app_env == "production"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'amora.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "APP_ENV": app_env,
        "SECRET_KEY": _secret_key(app_env),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "BASE_URL": _base_url(),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Amora <no-reply@amora.local>"),
        "SMTP_URL": os.environ.get("SMTP_URL") or None,
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        **_password_hash_cost(production),
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # Messages a process stores at once; more wait their turn. With threads, a few at once
        # contend less for Python's lock (more messages per second, shorter tails); greenlets
        # do not contend, and more at once keep the database busy (BENCHMARKS.md).
        "MESSAGE_SENDS_AT_ONCE": max(1, _int("MESSAGE_SENDS_AT_ONCE", 16 if under_gevent() else 4)),
        # PostgreSQL connections a web process keeps open (and may open beyond, briefly). Under
        # gevent the pool holds a connection for every send turn and as many again for the
        # rest: a connection opened past the pool is closed when it is given back, and opening
        # them again and again under chat load tripled the p99 (BENCHMARKS.md).
        "DATABASE_POOL_SIZE": max(1, _int("DATABASE_POOL_SIZE", 40 if under_gevent() else 10)),
        "DATABASE_POOL_OVERFLOW": max(0, _int("DATABASE_POOL_OVERFLOW", 20)),
        # WebSockets (flask-sock passes these to simple-websocket): the server pings every open
        # socket this often and closes one whose peer did not answer the previous ping (a phone
        # that lost its network, a half-open connection), and refuses frames over 256 KiB.
        "SOCK_SERVER_OPTIONS": {
            "ping_interval": max(1, _int("SOCKET_PING_SECONDS", 25)),
            "max_message_size": 256 * 1024,
        },
        # A pooled PostgreSQL connection idle this long is pinged before use (core/connections.py).
        "DATABASE_PING_AFTER_IDLE_SECONDS": max(0, _int("DATABASE_PING_AFTER_IDLE_SECONDS", 5)),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: count requests in this process's memory (logged, shown by /healthz) and go
        # back to Redis once it answers again; never fail a request over its rate limit.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "RQ_QUEUE": os.environ.get("RQ_QUEUE", "amora"),
        "EMAIL_VERIFY_HOURS": _int("EMAIL_VERIFY_HOURS", 24),
        "PASSWORD_RESET_MINUTES": _int("PASSWORD_RESET_MINUTES", 60),
        "MIN_AGE": 18,
        # Credits and the ledger (docs/ledger.md#configuration, docs/payments.md#configuration).
        "CREDIT_PACKS": _credit_packs(os.environ.get("CREDIT_PACKS", DEFAULT_CREDIT_PACKS)),
        "CREDIT_VALUE_MINOR": _int("CREDIT_VALUE_MINOR", 10),
        "PLATFORM_FEE_BPS": _int("PLATFORM_FEE_BPS", 2000),
        "EARNINGS_HOLD_DAYS": _int("EARNINGS_HOLD_DAYS", 7),
        "REFERRAL_BPS": _int("REFERRAL_BPS", 500),
        "LEDGER_HOT_BUCKETS": _int("LEDGER_HOT_BUCKETS", 64),
        # Payment providers: a provider without keys is hidden.
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", "https://api.stripe.com"),
        "RAZORPAY_KEY_ID": os.environ.get("RAZORPAY_KEY_ID") or None,
        "RAZORPAY_KEY_SECRET": os.environ.get("RAZORPAY_KEY_SECRET") or None,
        "RAZORPAY_WEBHOOK_SECRET": os.environ.get("RAZORPAY_WEBHOOK_SECRET") or None,
        "RAZORPAY_API_BASE": os.environ.get("RAZORPAY_API_BASE", "https://api.razorpay.com"),
        "DEV_PAYMENTS": _bool("DEV_PAYMENTS", not production),
        # Payouts (docs/payouts.md#configuration).
        "PAYOUT_MIN_CREDITS": _int("PAYOUT_MIN_CREDITS", 500),
        "PAYOUT_AUTO_APPROVE_CREDITS": _int("PAYOUT_AUTO_APPROVE_CREDITS", 2000),
        "PAYOUT_MAX_ATTEMPTS": _int("PAYOUT_MAX_ATTEMPTS", 6),
        "CREDIT_VALUE_MINOR_INR": _int("CREDIT_VALUE_MINOR_INR", 840),
        "RAZORPAYX_ACCOUNT_NUMBER": os.environ.get("RAZORPAYX_ACCOUNT_NUMBER") or None,
        # Media on S3 or any S3-compatible store (docs/deployment.md#media-on-s3); without a bucket,
        # instance/media.
        "S3_BUCKET": os.environ.get("S3_BUCKET") or None,
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL") or None,
        "S3_REGION": os.environ.get("S3_REGION") or "us-east-1",
        "S3_ACCESS_KEY_ID": os.environ.get("S3_ACCESS_KEY_ID") or None,
        "S3_SECRET_ACCESS_KEY": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
        # Videos (docs/creators.md#videos): the largest and longest upload, and where the worker
        # keeps its working copies while it transcodes (the system's temporary directory by
        # default; it needs room for a source and its renditions).
        "VIDEO_MAX_BYTES": _int("VIDEO_MAX_BYTES", 4 * 2**30),
        "VIDEO_MAX_SECONDS": _int("VIDEO_MAX_SECONDS", 60 * 60),
        # A dater's profile video and a voice note in a conversation (docs/dating.md).
        "PROFILE_VIDEO_MAX_SECONDS": _int("PROFILE_VIDEO_MAX_SECONDS", 30),
        "VOICE_MAX_SECONDS": _int("VOICE_MAX_SECONDS", 5 * 60),
        "MEDIA_WORK_DIR": os.environ.get("MEDIA_WORK_DIR") or None,
        # Identity checks (docs/identity.md): the master keys that seal documents and selfies
        # ("id:base64,…", the first wraps new files), and how many days after a decision their
        # files are deleted.
        "SEALING_KEYS": _sealing_keys(production),
        "VERIFICATION_RETENTION_DAYS": _int("VERIFICATION_RETENTION_DAYS", 30),
        # Where viewers must pass an age check before adult content: two-letter country codes,
        # "*" for everywhere, empty for nowhere (docs/identity.md#age-assurance).
        "AGE_CHECK_COUNTRIES": _age_check_countries(),
        # Who takes identity and age checks: "manual" (Admin → Verification) or an identity
        # service (services/identity_providers.py; "dev" plays one, outside production).
        "IDENTITY_PROVIDER": os.environ.get("IDENTITY_PROVIDER", "manual").strip() or "manual",
        # WebRTC STUN/TURN servers for random chat video and calls, as JSON
        # (docs/deployment.md#video-random-chat-and-creator-calls).
        "ICE_SERVERS": _json_list("ICE_SERVERS"),
        # Content protection (docs/creators.md#content-protection): the handle on delivered images;
        # posts reviewed by an admin before anyone sees them; a MaxMind country database for country
        # blocks.
        "WATERMARK": _bool("WATERMARK", True),
        "CONTENT_REVIEW": _bool("CONTENT_REVIEW", False),
        "GEOIP_DB": os.environ.get("GEOIP_DB") or None,
        # Dating: what an intro message before a match costs (docs/dating.md#intros).
        "INTRO_PRICE": _int("INTRO_PRICE", 20),
        # How long a process keeps the match % it computed for a member (docs/dating.md#match-
        # percentage); 0 computes every one afresh.
        "MATCH_SCORES_SECONDS": _int("MATCH_SCORES_SECONDS", 120),
        "DISCOVER_STACK_SECONDS": _int("DISCOVER_STACK_SECONDS", 60),
        # Risk scores (0–100) at or above which an action is stepped up, reviewed or blocked.
        "RISK_STEP_UP": _int("RISK_STEP_UP", 40),
        "RISK_REVIEW": _int("RISK_REVIEW", 60),
        "RISK_BLOCK": _int("RISK_BLOCK", 85),
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0 = none).
        "TRUST_PROXY_HOPS": _int("TRUST_PROXY_HOPS", 0),
        # Run periodic jobs in the web process when there is no Redis (and thus no worker).
        "EMBEDDED_SCHEDULER": _bool("EMBEDDED_SCHEDULER", redis_url is None and app_env != "test"),
        # /metrics for Prometheus: with a token, scrapers send it as a Bearer token; without
        # one, only requests from this machine (loopback) are answered.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
    }
