"""The application factory: `create_app()` builds a configured Amora app."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable

from flask import Flask, g, session
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

import cli
import config as config_module
import models  # noqa: F401  (registers every table with the metadata)
from blueprints import (
    admin,
    app_shell,
    appeals,
    auth,
    calls,
    chat_socket,  # noqa: F401 (the /ws route, on the messages blueprint)
    co_performers,
    creator,
    dating,
    errors,
    feed,
    growth,
    health,
    main,
    media,
    messages,
    metrics,
    navigation,
    page_tokens,
    payouts,
    profile,
    random_chat,
    session_cookies,
    settings,
    uploads,
    wallet,
    webhooks,
)
from blueprints import input as hostile_input
from blueprints.guards import Request, apply_body_limit, enforce_read_only_for_suspended
from blueprints.urls import fast_url_for
from core import transactions
from core.clock import last_seen
from core.connections import (
    describe_columns_when_read,
    ping_after_idle,
    reads_outside_transactions,
)
from core.sealed import Keyring
from extensions import csrf, db, limiter, login_manager, migrate, sock
from services import age_gate
from services.media import length_text, url_for_key
from services.schedule import PERIODIC_JOBS
from services.sessions import describe_user_agent
from services.storage_s3 import s3_origin
from workers.schedule import start_embedded


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    app.request_class = Request  # uploads a view keeps in memory (guards.body_limit)
    app.session_interface = session_cookies.KeptCookieSessions()
    app.config.update(config_module.load_config())
    if config:
        app.config.update(config)
    if app.config["APP_ENV"] == "production" and not app.config.get("SECRET_KEY"):
        raise config_module.ConfigError("SECRET_KEY must be set when APP_ENV=production")
    if app.config.get("SEALING_KEYS"):
        try:
            Keyring.parse(app.config["SEALING_KEYS"])
        except ValueError as exc:
            raise config_module.ConfigError(f"SEALING_KEYS: {exc}") from None
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app))
    app.config["PERMANENT_SESSION_LIFETIME"] = 60 * 60 * 24 * 30

    if app.config["TRUST_PROXY_HOPS"]:
        hops = app.config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    _configure_logging(app)
    _init_extensions(app)

    hostile_input.register(app)  # before the blueprints: their rules use its `int` converter
    _register_blueprints(app)
    _register_request_hooks(app)
    page_tokens.register(app)
    _rate_limits_where_declared(app)

    cli.register(app)
    return app


def _engine_options(app: Flask) -> dict:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_size": app.config.get("DATABASE_POOL_SIZE", 10),
        "max_overflow": app.config.get("DATABASE_POOL_OVERFLOW", 20),
    }


# Address space, not memory: the OS page cache holds the pages. 2 GB, SQLite's own ceiling in
# Debian's build: a database of a million profiles is 1.6 GB, and pages past the map are read
# with a system call each.
SQLITE_MMAP_BYTES = 1 << 31


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, and let readers and one writer work side by side."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Read the file through a memory map rather than a read() call per page: SQLite's own
        # page cache is 2 MB, so a large database would otherwise cost a system call for most
        # pages a query touches (discover's match % reads thousands of answers' pages).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()


def _configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    amora = logging.getLogger("amora")
    if not amora.handlers:
        amora.addHandler(handler)
    amora.setLevel(logging.INFO)
    amora.propagate = False
    app.logger.setLevel(logging.INFO)


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            reads_outside_transactions(db.engine)  # first: the ping below is a read too
            describe_columns_when_read(db.engine)
            ping_after_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(
        app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True
    )
    # Before CSRF's hook, which reads the form: a view's own body limit holds for that read.
    app.before_request(apply_body_limit)
    csrf.init_app(app)
    limiter.init_app(app)
    sock.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # our server-side session rows do this job

    @login_manager.user_loader
    def load_user(user_id: str):
        return navigation.load_member(user_id, session.get("sid"))

    transactions.count_commits()  # navigation.counts reads again after a commit


def _rate_limits_where_declared(app: Flask) -> None:
    """flask-limiter checks every request from a `before_request` hook, for the limits that
    apply beyond one view: app-wide defaults and application limits, meta limits, a blueprint's
    limits. Amora's limits are on the views and helpers themselves (`@limiter.limit`), which
    check their own when they run. With nothing app-wide configured the hook resolved every
    request's limits and found none, 0.1–0.2 ms of each page (BENCHMARKS.md): it is taken off.
    Configure an app-wide limit (RATELIMIT_DEFAULT, say) and it stays."""
    manager = limiter.limit_manager
    app_wide = (
        manager.default_limits
        or manager.application_limits
        or limiter._meta_limits  # noqa: SLF001 (flask-limiter's own, pinned by pyproject's range)
        or manager._blueprint_limits  # noqa: SLF001
        or limiter._in_memory_fallback  # noqa: SLF001
    )
    hooks = app.before_request_funcs.get(None, [])
    if not app_wide and limiter._check_request_limit in hooks:  # noqa: SLF001
        hooks.remove(limiter._check_request_limit)  # noqa: SLF001


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(main.bp)
    app.register_blueprint(app_shell.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(wallet.bp)
    app.register_blueprint(dating.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(feed.bp)
    app.register_blueprint(random_chat.bp)
    app.register_blueprint(calls.bp)
    app.register_blueprint(creator.bp)
    app.register_blueprint(appeals.bp)
    app.register_blueprint(co_performers.bp)
    app.register_blueprint(growth.bp)
    app.register_blueprint(payouts.bp)
    admin.register(app)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(health.bp)
    metrics.register(app)
    errors.register(app)


CSP_BASE = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "media-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],  # CSP3: 'self' covers ws(s):// on this host
    "font-src": ["'self'"],
    "frame-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def _csp_with_media(app: Flask) -> dict[str, list[str]]:
    """CSP_BASE plus the S3 origin when media is on S3: the browser posts uploads there (fetch)
    and loads signed images from it."""

    origin = s3_origin(app.config)
    if origin is None:
        return CSP_BASE
    return {
        **CSP_BASE,
        "img-src": [*CSP_BASE["img-src"], origin],
        "connect-src": [*CSP_BASE["connect-src"], origin],
        "media-src": [*CSP_BASE["media-src"], origin],
    }


_NONCE = "{nonce}"


def _content_security_policy(
    base: dict[str, list[str]], nonce: str, extra: dict[str, list[str]] | None = None
) -> str:
    """The CSP: a nonce per response; a page may add hosts it needs through `g.csp_extra`
    (the Razorpay checkout page adds Razorpay's script and frame)."""
    directives = {name: list(values) for name, values in base.items()}
    directives["script-src"].append(f"'nonce-{nonce}'")
    for name, values in (extra or {}).items():
        directives[name] = [v for v in directives.get(name, []) if v != "'none'"] + values
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _csp_for_every_page(base: dict[str, list[str]]) -> Callable[[], str]:
    """The CSP of a response: the policy is written once, with only the nonce to fill in,
    except on the pages that add hosts (`g.csp_extra`)."""
    before, after = _content_security_policy(base, _NONCE).split(_NONCE)

    def policy() -> str:
        nonce = getattr(g, "csp_nonce", "")
        if "csp_extra" in g:
            return _content_security_policy(base, nonce, g.csp_extra)
        return f"{before}{nonce}{after}"

    return policy


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _per_request() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)
        if app.config["EMBEDDED_SCHEDULER"]:
            start_embedded(app, PERIODIC_JOBS)

    app.before_request(enforce_read_only_for_suspended)

    app.add_template_filter(describe_user_agent, "device_name")

    app.add_template_global(url_for_key, "media_url")
    app.add_template_global(length_text, "video_length")
    app.add_template_global(
        lambda creator: age_gate.needed_for(current_user, creator), "age_check_needed"
    )
    app.add_template_global(fast_url_for, "url_for")  # same URLs, built once per rule
    app.add_template_global(lambda endpoint: endpoint in app.view_functions, "has_endpoint")

    app.add_template_filter(last_seen, "last_seen")
    app.context_processor(navigation.context)
    csp = _csp_for_every_page(_csp_with_media(app))  # once per app: the configuration is set

    @app.after_request
    def _security_headers(response):
        response.headers["Content-Security-Policy"] = csp()
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Permissions-Policy"] = (
            "geolocation=(self), camera=(self), microphone=(self), payment=(self)"
        )
        if app.config["APP_ENV"] == "production":
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if "_user_id" in session:  # no user load here: the database may be what failed
            response.headers.setdefault("Cache-Control", "private, no-store")
        response.vary.add("HX-Request")  # htmx gets partials, browsers full pages
        return response
