"""`/healthz` reports the database and Redis, and answers 503 when a required part is down."""

from __future__ import annotations

from tests.conftest import make_app


def test_healthy_embedded_mode(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "disabled"}


def test_healthy_with_redis(database_url, redis_url):
    app = make_app(database_url, REDIS_URL=redis_url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json["redis"] == "ok"


def test_database_down_is_503(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/amora.db")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "down"
    assert response.json["database"].startswith("error")


def test_redis_configured_but_unreachable_is_degraded_not_down(sqlite_url):
    """A load balancer must keep sending traffic: the site works without Redis."""
    app = make_app(sqlite_url, REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["redis"].startswith("error")
    assert response.json["rate_limits"].startswith("memory")
    assert response.json["jobs"].startswith("kept in the job outbox")
