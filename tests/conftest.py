"""Fixtures: an app on SQLite and on PostgreSQL, real Redis, a live server and Chromium.

* `app` is parametrized over both databases: one app per database and test process, put back as
  built after every test, over a database that was built once per session through the
  migrations and is emptied after every test.
* Servers that cannot be reached make a test skip locally with the reason, and fail under
  `CI=true` (a skipped PostgreSQL test would hide a real failure in CI).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

# Before the app is imported: keep secrets, the SQLite file and media out of the checkout.
_TMP = Path(tempfile.mkdtemp(prefix="amora-tests-"))
os.environ["INSTANCE_DIR"] = str(_TMP / "instance")
os.environ["APP_ENV"] = "test"
for _name in ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "SECRET_KEY"):
    os.environ.pop(_name, None)

import psycopg  # noqa: E402
import pytest  # noqa: E402
import redis as redis_lib  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from extensions import db  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _worker_redis_url(base: str) -> str:
    """Each pytest-xdist worker ("gw0", "gw1", …) flushes its own Redis database: the base
    database for gw0, the one below it for gw1, and so on (Redis has 16: 0-15)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    root, _, db = base.rpartition("/")
    return f"{root}/{(int(db or 0) - index) % 16}"


TEST_REDIS_URL = _worker_redis_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def unavailable(reason: str):
    """Skip with a loud reason locally; under CI a missing server is a failure."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(f"SKIPPED, real server missing: {reason}")


BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "BASE_URL": "http://localhost",
    "RATELIMIT_ENABLED": False,
    "JOBS_RAISE": True,
    "JOBS_LONG_IN_THREAD": False,  # a video job runs before the request returns, as others do
    "EMBEDDED_SCHEDULER": False,
    "PAYOUT_AUTO_APPROVE_CREDITS": 0,  # payouts wait for an admin unless a test opts in
    # argon2id at its cheapest: the same hashing, microseconds instead of ~0.2 s of CPU for each
    # sign-up and login (tests/test_passwords.py checks the production cost on its own).
    "PASSWORD_HASH_TIME_COST": 1,
    "PASSWORD_HASH_MEMORY_KIB": 8,
    "PASSWORD_HASH_PARALLELISM": 1,
}


def _migrate(url: str) -> None:
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_url():
    path = _TMP / "test.db"
    url = f"sqlite:///{path}"
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def postgres_url():
    """A brand-new database on the local server for this test session, dropped at the end."""
    name = f"amora_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc})")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a power cut: commits return without waiting for the
        # WAL flush (the suite commits thousands of times; the database stays consistent).
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{url}/{name}"
    _migrate(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE replaces every table's
        # files (150 ms a test; this takes a tenth of that). Ids start again from 1.
        sequences = db.session.scalars(
            text("SELECT sequence_name FROM information_schema.sequences")
        ).all()
        statements = [f"DELETE FROM {table}" for table in tables]
        statements += [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
        db.session.connection().exec_driver_sql("; ".join(statements))
        db.session.commit()
        return
    db.session.remove()
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # self-references, any order
        for table in tables:
            connection.exec_driver_sql(f"DELETE FROM {table}")
        connection.commit()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def make_app(database_url: str, **overrides):
    from extensions import limiter

    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    # One Limiter serves every app of the test process (one app per process in production): an
    # earlier test's killed Redis must not leave this app counting in the memory fallback.
    limiter._storage_dead = False
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _cleanup(app) -> None:
    with app.app_context():
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


class _Reusable:
    """One app per database for the whole test process, as production has one app per process:
    building an app compiles ~160 URL rules (90 ms) and every template it renders afresh, which
    was a fifth of the suite's time. After each test the app is put back as it was built: its
    config, and no extension state a test added (the in-process random-chat queue, per-app
    caches). A test that must change how the app is built calls `make_app` itself."""

    def __init__(self, database_url: str) -> None:
        from extensions import limiter

        self.app = make_app(database_url)
        self.config = copy.deepcopy(dict(self.app.config))
        self.extensions = set(self.app.extensions)
        self.limits_enabled = limiter.enabled

    def take_over(self) -> Flask:
        """The app, with the extensions' shared state set for it again: one Limiter serves every
        app of the process, and an app built since (with limits on, say) set it for itself."""
        from extensions import limiter

        limiter.enabled = self.limits_enabled
        limiter._storage_dead = False  # see make_app
        return self.app

    def reset(self) -> None:
        self.app.config.clear()
        self.app.config.update(copy.deepcopy(self.config))
        for name in set(self.app.extensions) - self.extensions:
            del self.app.extensions[name]


_reusable: dict[str, _Reusable] = {}


@pytest.fixture
def app(database_url):
    """The app over this database, in its state as built. No app context is held open, so each
    request gets its own, as in production; service-level tests use `ctx`."""
    reusable = _reusable.get(database_url) or _reusable.setdefault(
        database_url, _Reusable(database_url)
    )
    yield reusable.take_over()
    _cleanup(reusable.app)
    reusable.reset()


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield app


@pytest.fixture
def pg_app(postgres_url):
    """An app on PostgreSQL only, for behaviour that depends on real concurrency."""
    app = make_app(postgres_url)
    yield app
    _cleanup(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_url():
    connection = redis_lib.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except (redis_lib.RedisError, OSError) as exc:
        unavailable(f"Redis at {TEST_REDIS_URL} is not reachable ({exc})")
    connection.flushdb()
    yield TEST_REDIS_URL
    connection.flushdb()


@pytest.fixture
def redis_app(database_url, redis_url):
    """An app with Redis configured: jobs go through RQ, rate limits live in Redis."""
    app = make_app(database_url, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url)
    yield app
    _cleanup(app)


# --- helpers that speak the domain -----------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_token(client) -> str:
    page = client.get("/terms")
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, "every page carries the CSRF token in a meta tag"
    return match.group(1)


class AuthActions:
    """Sign up, log in and out through the real forms, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def post(self, url: str, data: dict | None = None, **kwargs):
        data = {"csrf_token": csrf_token(self.client), **(data or {})}
        return self.client.post(url, data=data, **kwargs)

    def signup(
        self,
        email="ana@example.com",
        password="plum-orbit-kettle-42",
        name="Ana",
        dob="1995-06-01",
        log_in=True,
        **kwargs,
    ):
        """Sign up; then, when the sign-up went through, log in as the new member does once
        the "check your inbox" page is shown. Returns the sign-up's response."""
        response = self.post(
            "/signup",
            {"email": email, "password": password, "display_name": name, "date_of_birth": dob},
            **kwargs,
        )
        if log_in and signed_up(response):
            self.login(email, password)
        return response

    def login(self, email="ana@example.com", password="plum-orbit-kettle-42", **kwargs):
        return self.post("/login", {"email": email, "password": password}, **kwargs)

    def logout(self):
        return self.post("/logout")


def signed_up(response) -> bool:
    """The sign-up form sent its visitor on to the "check your inbox" page."""
    target = response.headers.get("HX-Redirect") or response.headers.get("Location") or ""
    return target.endswith("/signup/check-inbox") or response.request.path.endswith("/check-inbox")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def last_mail(app, to_email: str):
    """The newest message recorded in the outbox for `to_email`."""
    from sqlalchemy import select

    from models import Outbox

    with app.app_context():
        message = db.session.scalars(
            select(Outbox).where(Outbox.to_email == to_email).order_by(Outbox.id.desc())
        ).first()
        assert message is not None, f"no mail to {to_email}"
        db.session.expunge(message)
        return message


def last_mail_link(app, to_email: str) -> str:
    """The link in the newest message to `to_email` (as a user would click it)."""
    message = last_mail(app, to_email)
    match = re.search(r"https?://\S+", message.body)
    assert match, "the mail contains a link"
    return match.group(0)


# --- live server and browser -----------------------------------------------------------------


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(sqlite_url):
    """The app served over HTTP on a free port (SQLite, embedded mode: jobs run inline)."""
    app = make_app(sqlite_url, JOBS_RAISE=False)
    with LiveServer(app) as server:
        app.config["BASE_URL"] = server.url
        yield server
    _cleanup(app)


def sign_up_in_browser(page, base: str, email: str, name: str, password: str, dob: str) -> None:
    """A new member's first minute in Chromium: the sign-up form, "Check your inbox", then the
    login form, ending on the home page."""
    from playwright.sync_api import expect

    page.goto(base + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Date of birth").fill(dob)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    page.locator("#main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Hi, {name}")).to_be_visible()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            # WebRTC tests: a fake camera and microphone, and no permission prompt.
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    )
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message):
        # A 4xx the test provoked on purpose is logged by the browser; it is not a page bug.
        expected = re.match(r"Failed to load resource: .* status of 4\d\d", message.text)
        if message.type == "error" and not expected:
            errors.append(f"{message.text} @ {message.location}")

    page.on("console", on_console)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"the browser reported errors: {errors}"


# A test that needs a server carries its marker, whichever way it reaches the server: through
# a fixture here (or one that depends on it) or by marking itself. `-m "not postgres"` then
# deselects everything PostgreSQL, nothing more.
_SERVER_FIXTURES = {"postgres_url": "postgres", "redis_url": "redis", "browser": "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in _SERVER_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()) and not item.get_closest_marker(marker):
                item.add_marker(marker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TMP, ignore_errors=True)


def hold_jobs(monkeypatch, func) -> list[tuple]:
    """Keep `func`'s jobs from running (the others run as usual); returns the list the held
    jobs are appended to, as (path, args, kwargs), for the test to run them when it wants."""
    from workers import queue

    held: list[tuple] = []
    dispatch = queue._dispatch

    def hold(app, job, record_id=None):
        if job[0] == queue.job_path(func):
            held.append(job)
        else:
            dispatch(app, job, record_id)

    monkeypatch.setattr(queue, "_dispatch", hold)
    return held


def work_jobs(app) -> None:
    """Run every job queued on RQ, as `flask worker --burst` would, in this process."""
    from workers.queue import InlineJobWorker, get_queue, redis_connection, set_worker_app

    set_worker_app(app)
    InlineJobWorker([get_queue(app)], connection=redis_connection(app)).work(burst=True)
