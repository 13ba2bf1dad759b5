"""The documented production web process: gunicorn's gevent worker, on PostgreSQL and Redis.

A real gunicorn is started as in docs/deployment.md; people sign up, log in and chat over real
HTTP and real WebSockets. Everything here runs on the server's one OS thread, so the test also
checks that the slow part of a login (argon2) does not freeze the open sockets meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import simple_websocket

from extensions import db
from services import accounts
from tests.conftest import BASE_CONFIG, _cleanup, make_app

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
PASSWORD = "plum-orbit-kettle-42"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gevent_server(postgres_url, redis_url, tmp_path):
    """(url, app): the server, and an app on the same database for setting up and checking."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "APP_ENV": "test",  # plain-HTTP cookies; otherwise configured as in production
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BASE_CONFIG["SECRET_KEY"],
        "BASE_URL": url,
        "RATELIMIT_ENABLED": "0",
        "INSTANCE_DIR": str(tmp_path),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(GUNICORN),
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gevent",
            "--workers",
            "1",
            "--worker-connections",
            "200",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = make_app(postgres_url, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "gunicorn with the gevent worker did not start:\n"
                    + (tmp_path / "gunicorn.log").read_text()
                )
            time.sleep(0.2)
        yield url, app
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()
        log.close()
        _cleanup(app)


class Person:
    """Someone using the site over real HTTP, as a browser would (cookies, CSRF tokens)."""

    def __init__(self, url: str):
        self.url, self.http = url, requests.Session()

    def token(self) -> str:
        page = self.http.get(f"{self.url}/terms", timeout=10).text
        return page.split('name="csrf-token" content="')[1].split('"')[0]

    def post(self, path: str, **data) -> requests.Response:
        return self.http.post(
            f"{self.url}{path}", data={**data, "csrf_token": self.token()}, timeout=10
        )

    def sign_up(self, email: str, name: str) -> None:
        """Sign up, see "check your inbox", and log in."""
        response = self.post(
            "/signup",
            email=email,
            password=PASSWORD,
            display_name=name,
            date_of_birth="1992-03-04",
        )
        assert response.status_code == 200 and "Check your inbox" in response.text, response.text
        assert self.log_in(email).status_code == 200

    def log_in(self, email: str) -> requests.Response:
        return self.post("/login", email=email, password=PASSWORD)

    def socket(self):
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        ws = simple_websocket.Client.connect(
            self.url.replace("http://", "ws://") + "/ws", headers={"Cookie": cookie}
        )
        ws.send(json.dumps({"type": "hello", "last_id": 0}))
        receive(ws, "ready")
        return ws


def receive(ws, kind: str, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if raw is not None and (event := json.loads(raw))["type"] == kind:
            return event
    raise AssertionError(f"no {kind!r} event within {timeout}s")


def test_people_sign_up_log_in_and_chat_live_on_the_gevent_worker(gevent_server):
    url, app = gevent_server
    luna, fan = Person(url), Person(url)
    luna.sign_up("luna@example.com", "Luna")
    fan.sign_up("fan@example.com", "Fan")
    with app.app_context():
        for email in ("luna@example.com", "fan@example.com"):
            person = accounts.find_by_email(email)
            person.email_verified_at = person.created_at
        accounts.find_by_email("luna@example.com").is_creator = True
        db.session.commit()
        luna_id = accounts.find_by_email("luna@example.com").id

    # A fresh browser logs in with the password (argon2 runs off the server's one thread).
    fan = Person(url)
    assert fan.log_in("fan@example.com").status_code == 200
    assert fan.log_in("nobody@example.com").status_code == 200  # the form again, with an error
    assert "Messages" in fan.http.get(f"{url}/messages", timeout=10).text

    luna_socket, fan_socket = luna.socket(), fan.socket()
    try:
        fan_socket.send(
            json.dumps({"type": "send", "to": luna_id, "body": "hello over gevent", "ref": "r1"})
        )
        sent = receive(fan_socket, "sent")
        assert sent["ref"] == "r1"
        event = receive(luna_socket, "message")
        assert event["id"] == sent["id"] and event["recipient_id"] == luna_id
        page = luna.http.get(f"{url}/messages", timeout=10).text
        assert "hello over gevent" in page
    finally:
        for ws in (luna_socket, fan_socket):
            with contextlib.suppress(simple_websocket.ConnectionClosed):
                ws.close()


def test_logins_do_not_freeze_open_sockets_on_the_gevent_worker(gevent_server):
    """argon2 takes a few hundred milliseconds per login. On the gevent worker every socket
    shares the process's one thread: a hash run there would hold every chat for that long."""
    url, app = gevent_server
    people = [Person(url) for _ in range(4)]
    for i, person in enumerate(people):
        person.sign_up(f"p{i}@example.com", f"P{i}")
    watcher = people[0].socket()

    login_took: list[float] = []

    def log_in(i: int) -> None:
        started = time.monotonic()
        Person(url).log_in(f"p{i}@example.com")
        login_took.append(time.monotonic() - started)

    pongs: list[float] = []
    try:
        logins = [threading.Thread(target=log_in, args=(i % 4,)) for i in range(6)]
        for thread in logins:
            thread.start()
        while any(thread.is_alive() for thread in logins):
            started = time.monotonic()
            watcher.send(json.dumps({"type": "ping"}))
            receive(watcher, "pong")
            pongs.append(time.monotonic() - started)
            time.sleep(0.01)
        for thread in logins:
            thread.join()
    finally:
        with contextlib.suppress(simple_websocket.ConnectionClosed):
            watcher.close()
    assert len(login_took) == 6 and pongs
    # Hashing on the server's thread would make some ping wait out at least one whole hash.
    assert max(pongs) < min(login_took) / 2, (
        f"a socket stalled {max(pongs) * 1000:.0f} ms while logins took "
        f"{min(login_took) * 1000:.0f}-{max(login_took) * 1000:.0f} ms"
    )


_COOPERATIVE_WAITS = """
from gevent import monkey

monkey.patch_all()
import sys, time

import gevent
import psycopg
from psycopg import waiting

from core.connections import cooperative_postgres_waits

cooperative_postgres_waits()
assert getattr(waiting.wait, "amora_cooperative", False)
url = sys.argv[1]


def sleeper():
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute("SELECT pg_sleep(0.4), 1").fetchone()[1]


start = time.monotonic()
results = [g.get() for g in [gevent.spawn(sleeper) for _ in range(3)]]
took = time.monotonic() - start
assert results == [1, 1, 1], results
assert took < 1.0, took  # side by side: one at a time would take 1.2 s
with psycopg.connect(url, autocommit=True) as connection:
    big = "x" * 4_000_000  # more than a socket buffer each way: waits to write, then to read
    assert connection.execute("SELECT length(%s::text), %s::text", (big, big)).fetchone() == (
        4_000_000,
        big,
    )
    rows = connection.execute("SELECT g FROM generate_series(1, 200000) g").fetchall()
    assert len(rows) == 200000 and rows[-1] == (200000,)
    try:
        connection.execute("SELECT 1/0")
    except psycopg.errors.DivisionByZero:
        pass
    else:
        raise AssertionError("no error")
interrupted = psycopg.connect(url, autocommit=True)
before = time.monotonic()
with gevent.Timeout(0.2, False):
    interrupted.execute("SELECT pg_sleep(5)")  # interrupted: the greenlet goes on
assert time.monotonic() - before < 1
interrupted.close()  # mid-statement: thrown away, as SQLAlchemy does with it
print("ok")
"""


def test_postgres_waits_let_other_greenlets_run(postgres_url):
    """The production worker's psycopg waits (core.connections.cooperative_postgres_waits):
    three slow statements on three greenlets run side by side; results larger than a socket
    buffer both ways arrive whole; errors arrive as psycopg's; a gevent timeout interrupts a
    wait. In a process of its own: gevent patches the whole process."""
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(
        [sys.executable, "-c", _COOPERATIVE_WAITS, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
