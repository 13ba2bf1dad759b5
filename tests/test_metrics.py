"""`/metrics`: Prometheus numbers for operators, readable from this machine or with the token,
and a 404 for everyone else."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import clock
from extensions import db
from models import BackgroundJob, LedgerCheck, Outbox
from tests.conftest import make_app
from tests.test_messaging import _caught_up, _close, _login_cookie, _socket

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def scrape(app, **kwargs) -> str:
    response = app.test_client().get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


# --- who may read it --------------------------------------------------------------------------


def test_without_a_token_this_machine_reads_it_and_others_get_a_404(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base=REMOTE).status_code == 404


def test_a_proxied_request_is_not_local_unless_the_proxy_is_trusted(sqlite_url):
    relayed = {"X-Forwarded-For": "203.0.113.9"}
    app = make_app(sqlite_url)
    assert app.test_client().get("/metrics", headers=relayed).status_code == 404
    # Trusting one proxy hop, the app sees the real client: remote, so refused as well.
    trusting = make_app(sqlite_url, TRUST_PROXY_HOPS=1)
    assert trusting.test_client().get("/metrics", headers=relayed).status_code == 404
    local = {"X-Forwarded-For": "127.0.0.1"}
    assert trusting.test_client().get("/metrics", headers=local).status_code == 200


def test_with_a_token_only_the_bearer_of_it_reads_it(sqlite_url):
    app = make_app(sqlite_url, METRICS_TOKEN="s3cret-scrape-token")
    client = app.test_client()
    assert client.get("/metrics").status_code == 404  # loopback alone is not enough now
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", headers=wrong).status_code == 404
    basic = {"Authorization": "Basic s3cret-scrape-token"}
    assert client.get("/metrics", headers=basic).status_code == 404
    right = {"Authorization": "Bearer s3cret-scrape-token"}
    assert client.get("/metrics", headers=right, environ_base=REMOTE).status_code == 200


def test_scraping_is_never_rate_limited(sqlite_url):
    from extensions import limiter

    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
    try:
        client = app.test_client()
        assert all(client.get("/metrics").status_code == 200 for _ in range(5))
        assert client.get("/terms").status_code == 200  # the default applies elsewhere…
        assert client.get("/terms").status_code == 200
        assert client.get("/terms").status_code == 429  # …so it really was on
    finally:
        # The Limiter is shared by every app of the test process, and keeps a default once set.
        limiter.limit_manager.set_default_limits([])


# --- what it says ------------------------------------------------------------------------------


def test_request_latency_is_counted_by_endpoint_method_and_status_class(client):
    before = value(
        scrape(client.application),
        "amora_http_request_duration_seconds_count",
        endpoint="main.terms",
        method="GET",
        status="2xx",
    )
    client.get("/terms")
    client.get("/no/such/page/42")
    text = scrape(client.application)
    labels = {"endpoint": "main.terms", "method": "GET", "status": "2xx"}
    after = value(text, "amora_http_request_duration_seconds_count", **labels)
    assert after == (before or 0) + 1
    unmatched = {"endpoint": "unmatched", "method": "GET", "status": "4xx"}
    assert value(text, "amora_http_request_duration_seconds_count", **unmatched) >= 1
    assert "/no/such/page/42" not in text  # paths never become labels


def test_outbox_backlog_counts_waiting_mail_and_the_age_of_the_oldest(ctx):
    start = dt.datetime(2026, 3, 1, 12, 0)
    with clock.frozen(start):
        for status in ("queued", "queued", "sent", "failed"):
            db.session.add(
                Outbox(to_email="a@example.com", kind="test", subject="s", body="b", status=status)
            )
        db.session.commit()
        clock.advance(dt.timedelta(minutes=5))
        text = scrape(ctx)
    assert value(text, "amora_outbox_backlog", outbox="mail") == 2
    assert value(text, "amora_outbox_oldest_age_seconds", outbox="mail") == 300
    assert value(text, "amora_collector_up", collector="outbox") == 1


def test_job_backlog_counts_jobs_not_done_and_those_that_gave_up(ctx):
    start = dt.datetime(2026, 3, 1, 12, 0)
    with clock.frozen(start):
        for status in ("pending", "pending", "done", "failed"):
            db.session.add(
                BackgroundJob(path="services.mail:deliver", status=status, run_after=start)
            )
        db.session.commit()
        clock.advance(dt.timedelta(minutes=2))
        text = scrape(ctx)
    assert value(text, "amora_outbox_backlog", outbox="jobs") == 2
    assert value(text, "amora_outbox_oldest_age_seconds", outbox="jobs") == 120
    assert value(text, "amora_outbox_backlog", outbox="jobs_failed") == 1


def test_ledger_status_is_the_last_finished_check(ctx):
    assert value(scrape(ctx), "amora_ledger_check_clean") is None  # none has run yet
    finished = dt.datetime(2026, 3, 1, 4, 0)
    db.session.add(LedgerCheck(status="done", violations=[], finished_at=finished))
    db.session.add(LedgerCheck(status="running"))  # not finished: not the status yet
    db.session.commit()
    text = scrape(ctx)
    assert value(text, "amora_ledger_check_clean") == 1
    assert value(text, "amora_ledger_check_finished_timestamp_seconds") == (
        finished.replace(tzinfo=dt.UTC).timestamp()
    )
    broken = [{"invariant": "balanced", "detail": "transfer 7"}]
    later = finished + dt.timedelta(days=1)
    db.session.add(LedgerCheck(status="done", violations=broken, finished_at=later))
    db.session.commit()
    text = scrape(ctx)
    assert value(text, "amora_ledger_check_clean") == 0
    assert value(text, "amora_ledger_check_violations") == 1


def test_a_failed_check_is_not_clean(ctx):
    at = dt.datetime(2026, 3, 1, 4, 0)
    db.session.add(LedgerCheck(status="failed", error="OperationalError", finished_at=at))
    db.session.commit()
    assert value(scrape(ctx), "amora_ledger_check_clean") == 0


@pytest.mark.redis
def test_queue_depth_and_oldest_job_age_with_redis(redis_app):
    from workers.queue import get_queue

    with redis_app.app_context():
        get_queue().enqueue("services.housekeeping.purge_expired")
        get_queue().enqueue("services.housekeeping.purge_expired")
    time.sleep(0.01)
    text = scrape(redis_app)
    assert value(text, "amora_queue_jobs", queue="amora") == 2
    assert value(text, "amora_queue_oldest_job_age_seconds", queue="amora") > 0
    assert value(text, "amora_queue_failed_jobs", queue="amora") == 0
    assert value(text, "amora_collector_up", collector="queue") == 1


def test_redis_down_reports_the_queue_unavailable_and_the_rest_still_answers(sqlite_url):
    app = make_app(sqlite_url, REDIS_URL="redis://127.0.0.1:1/0")
    text = scrape(app)
    assert value(text, "amora_collector_up", collector="queue") == 0
    assert value(text, "amora_queue_jobs", queue="amora") is None
    assert value(text, "amora_collector_up", collector="outbox") == 1


def test_without_redis_there_is_no_queue_metric(client):
    text = scrape(client.application)
    assert ("amora_collector_up", (("collector", "queue"),)) not in samples(text)


def test_open_sockets_rise_and_fall_with_chat_sockets(live_server):
    def open_sockets() -> float:
        with urllib.request.urlopen(f"{live_server.url}/metrics", timeout=5) as response:  # noqa: S310
            return value(response.read().decode(), "amora_websockets_open")

    before = open_sockets()
    ws = _socket(live_server.url, _login_cookie(live_server.app, "luna@example.com"))
    try:
        _caught_up(ws)
        assert open_sockets() == before + 1
    finally:
        _close(ws)
    deadline = time.monotonic() + 5
    while open_sockets() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_sockets() == before
