"""Faults: the site keeps answering when Redis dies, loses no job, and comes back by itself.

These tests start a Redis server of their own on a free port and kill it (SIGKILL, like a crash
or an OOM kill) in the middle of the test; the shared Redis of the other tests is never touched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import signal
import time

import pytest
import simple_websocket
from sqlalchemy import select

from core import clock
from extensions import db
from models import BackgroundJob, Message, Order, Outbox, Tip
from services import accounts, ledger
from services.payments import dev
from testkit.servers import REDIS_SERVER, OwnRedis
from tests.conftest import (
    AuthActions,
    LiveServer,
    _cleanup,
    csrf_token,
    make_app,
    unavailable,
    work_jobs,
)
from tests.creator_helpers import creator, fan, signed_in
from workers import jobs as job_outbox

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis():
    if not shutil.which(REDIS_SERVER):
        unavailable(f"redis-server is not installed ({REDIS_SERVER})")
    server = OwnRedis()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def fault_app(database_url, own_redis):
    """Production's shape: jobs on RQ, limits and live events in Redis, limits on."""
    app = make_app(
        database_url,
        REDIS_URL=own_redis.url,
        RATELIMIT_STORAGE_URI=own_redis.url,
        RATELIMIT_ENABLED=True,
        JOBS_RAISE=False,
    )
    yield app
    _cleanup(app)


def _status(response) -> int:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    return response.status_code


def _dev_webhook(app, order_id: int, event_id: str):
    body = json.dumps(
        {
            "id": event_id,
            "type": "payment.succeeded",
            "order_id": order_id,
            "payment_id": f"devpay_{order_id}",
            "amount_minor": 999,
            "currency": "USD",
        }
    ).encode()
    with app.app_context():
        signature = dev.sign(body)
    return app.test_client().post(
        "/webhooks/dev",
        data=body,
        headers={dev.SIGNATURE_HEADER: signature, "Content-Type": "application/json"},
    )


def test_with_redis_killed_every_endpoint_answers_and_everything_comes_back(fault_app, own_redis):
    app = fault_app
    fan_auth, fan_id = signed_in(app, "sam@example.com", "Sam", credits=500)
    with app.app_context():
        luna_id = creator("Luna", message_price=5).id
        order = Order(
            user_id=fan_id,
            provider="dev",
            pack_id="pack-100",
            credits=100,
            amount_minor=999,
            currency="USD",
            status="pending",
        )
        db.session.add(order)
        db.session.commit()
        order_id = order.id
    work_jobs(app)  # the sign-up's mail, while Redis is up

    own_redis.kill()

    # Logging in (right and wrong passwords), asking for a reset: answered, not 500.
    stranger = AuthActions(app.test_client())
    assert _status(stranger.login(email="sam@example.com", password="wrong-guess-1")) == 422
    assert _status(stranger.login(email="sam@example.com")) in (302, 303)
    assert _status(stranger.post("/forgot", {"email": "sam@example.com"})) in (200, 302)
    # Paying: a message, a tip; a provider's webhook.
    htmx = {"HX-Request": "true"}
    sent = fan_auth.post(f"/messages/{luna_id}", {"body": "still here?"}, headers=htmx)
    assert _status(sent) == 200
    tipped = fan_auth.post(
        f"/creators/{luna_id}/tip", {"amount": "7", "token": "ab" * 8}, headers=htmx
    )
    assert _status(tipped) == 200
    assert _dev_webhook(app, order_id, "evt_outage").json["outcome"] == "granted"
    # Health says what is happening, without taking the site out of a load balancer.
    health = app.test_client().get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "degraded"
    # A socket connects (its rate limit counts in memory) and gets a live event.
    with LiveServer(app) as server:
        cookie = f"session={fan_auth.client.get_cookie('session').value}"
        ws = simple_websocket.Client.connect(
            server.url.replace("http://", "ws://") + "/ws", headers={"Cookie": cookie}
        )
        try:
            ws.send(json.dumps({"type": "ping"}))
            assert ws.receive(timeout=5) is not None
        finally:
            with contextlib.suppress(simple_websocket.ConnectionClosed):
                ws.close()

    with app.app_context():
        assert db.session.scalars(select(Message.body)).all() == ["still here?"]
        assert db.session.scalars(select(Tip.amount)).all() == [7]
        reset_job = db.session.scalars(
            select(BackgroundJob).where(BackgroundJob.path.endswith(":send_password_reset"))
        ).one()
        assert reset_job.status == "pending"  # committed; Redis could not take it
        assert ledger.wallet_balance(fan_id) == 500 + 100 - 5 - 7

    own_redis.start()  # empty, as Redis always comes back (it keeps nothing on disk)

    # The job committed during the outage runs: the sweeper queues it again, the worker runs it.
    with app.app_context(), clock.frozen(clock.now() + dt.timedelta(minutes=3)):
        assert job_outbox.sweep() >= 1
    work_jobs(app)
    with app.app_context():
        assert db.session.get(BackgroundJob, reset_job.id).status == "done"
        reset_mail = db.session.scalars(select(Outbox).where(Outbox.kind == "reset_password"))
        assert reset_mail.one().status == "logged"
        pending = db.session.scalars(
            select(BackgroundJob).where(BackgroundJob.status != "done")
        ).all()
        assert pending == []
        assert ledger.verify() == []
    # Rate limits go back to Redis without a restart.
    deadline = time.monotonic() + 45
    while not own_redis.keys("LIMITS*"):
        assert time.monotonic() < deadline, "rate limits never went back to Redis"
        _status(app.test_client().post("/webhooks/dev", data=b"{}"))
        time.sleep(0.5)
    health = app.test_client().get("/healthz")
    assert health.json["status"] == "ok"


def test_a_redis_that_does_not_answer_fails_fast_and_nothing_is_lost(fault_app, own_redis):
    """SIGSTOP: the server holds its connections open and answers nothing (a hung host)."""
    app = fault_app
    with app.app_context():
        sam = fan("Sam")
        sam_email = sam.email
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with app.app_context():
            accounts.request_password_reset(sam_email)
        assert time.monotonic() - started < 10
        response = app.test_client().get("/healthz")
        assert response.status_code == 200 and response.json["status"] == "degraded"
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    with app.app_context():
        held = db.session.scalars(select(BackgroundJob).order_by(BackgroundJob.id)).all()[-1]
        assert held.path.endswith(":send_password_reset") and held.status == "pending"
        assert held.args == [sam_email]


# --- the database connection dies mid-request ------------------------------------------------


def _kill_next_statement(app, times: int = 1):
    """Terminate this request's own PostgreSQL backend just before its next statement runs, as
    a restart or an operator's pg_terminate_backend would (only our test database's
    connection; the server goes on)."""
    import psycopg
    from sqlalchemy import event

    from tests.conftest import PG_ADMIN_URL

    remaining = {"kills": times}

    def before(conn, cursor, statement, parameters, context, executemany):
        if remaining["kills"] <= 0:
            return
        remaining["kills"] -= 1
        pid = conn.connection.dbapi_connection.info.backend_pid
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    return lambda: event.remove(engine, "before_cursor_execute", before)


@pytest.mark.postgres
def test_a_read_whose_connection_died_is_retried_once(pg_app):
    auth, _ = signed_in(pg_app, "sam@example.com", "Sam", credits=40)
    assert auth.client.get("/wallet").status_code == 200
    for page in ("/wallet", "/healthz"):
        stop = _kill_next_statement(pg_app)
        try:
            response = auth.client.get(page)
        finally:
            stop()
        assert response.status_code == 200, page
    assert "40" in auth.client.get("/wallet").get_data(as_text=True)


@pytest.mark.postgres
def test_a_write_whose_connection_died_answers_503_and_writes_nothing(pg_app):
    client = pg_app.test_client()
    form = {
        "csrf_token": csrf_token(client),
        "email": "ana@example.com",
        "password": "plum-orbit-kettle-42",
        "display_name": "Ana",
        "date_of_birth": "1995-06-01",
    }
    stop = _kill_next_statement(pg_app, times=2)
    try:
        response = client.post("/signup", data=form)
        partial = client.post("/signup", data=form, headers={"HX-Request": "true"})
    finally:
        stop()
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Try again" in page and "Nothing was saved" in page and "Traceback" not in page
    assert response.headers["Retry-After"] == "5"
    assert partial.status_code == 503 and partial.headers["HX-Retarget"] == "#flashes"
    with pg_app.app_context():
        assert accounts.find_by_email("ana@example.com") is None
    assert client.get("/healthz").status_code == 200  # and the next request is served


@pytest.mark.postgres
def test_a_spend_whose_connection_died_moves_nothing_and_says_the_connection_was_lost(pg_app):
    """The spend's statement goes straight to the driver: its errors still arrive as
    SQLAlchemy's, marked as a lost connection, so the error handlers answer 503 and retry."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from tests.conftest import PG_ADMIN_URL

    pg_app.config["LEDGER_HOT_BUCKETS"] = 1  # the second spend finds every account it needs
    with pg_app.app_context():
        sam, mia = fan("Sam", credits=50), creator("Mia")
        ledger.spend(sam.id, mia.id, 5, "tip", "tip:warm")  # creates the creator's account
        db.session.commit()
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(OperationalError) as lost:
            ledger.spend(sam.id, mia.id, 7, "tip", "tip:lost")
        assert lost.value.connection_invalidated
        db.session.rollback()
        assert ledger.wallet_balance(sam.id) == 45
        ledger.spend(sam.id, mia.id, 7, "tip", "tip:again")  # on a new connection
        db.session.commit()
        assert ledger.wallet_balance(sam.id) == 38
        assert ledger.verify() == []


@pytest.mark.postgres
def test_connections_that_died_while_idle_are_replaced_before_a_write_uses_them(postgres_url):
    """A restart while the pool sat idle: the write goes through on a new connection."""
    import psycopg

    from tests.conftest import PG_ADMIN_URL, _cleanup, make_app

    app = make_app(postgres_url, DATABASE_PING_AFTER_IDLE_SECONDS=1)
    try:
        client = app.test_client()
        token = csrf_token(client)
        assert client.get("/healthz").status_code == 200  # the pool holds a used connection
        database = postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()[0]
        assert killed >= 1
        time.sleep(1.1)
        response = client.post(
            "/signup",
            data={
                "csrf_token": token,
                "email": "ana@example.com",
                "password": "plum-orbit-kettle-42",
                "display_name": "Ana",
                "date_of_birth": "1995-06-01",
            },
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:300]
        with app.app_context():
            assert accounts.find_by_email("ana@example.com") is not None
    finally:
        _cleanup(app)


@pytest.mark.postgres
def test_with_the_database_down_a_member_gets_the_503_page_not_a_crash(pg_app):
    auth, _ = signed_in(pg_app, "sam@example.com", "Sam")
    stop = _kill_next_statement(pg_app, times=50)  # every connection dies: the server is gone
    try:
        page = auth.client.get("/wallet")
        partial = auth.client.get("/wallet", headers={"HX-Request": "true"})
    finally:
        stop()
    assert page.status_code == 503 and "Nothing was saved" in page.get_data(as_text=True)
    assert partial.status_code == 503 and partial.headers["HX-Retarget"] == "#flashes"
    assert auth.client.get("/wallet").status_code == 200  # and it is back


@pytest.mark.postgres
def test_a_retried_read_that_finds_nothing_is_a_404_not_a_500(pg_app):
    auth, _ = signed_in(pg_app, "sam@example.com", "Sam")
    stop = _kill_next_statement(pg_app)
    try:
        response = auth.client.get("/posts/987654")
    finally:
        stop()
    assert response.status_code == 404
