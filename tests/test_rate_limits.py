"""Rate limits on the endpoints an attacker would hammer, stored in the real Redis."""

from __future__ import annotations

import contextlib

import pytest

from tests.conftest import AuthActions

HTMX = {"HX-Request": "true"}


@pytest.fixture
def limited(redis_app):
    redis_app.config["RATELIMIT_ENABLED"] = True
    from extensions import limiter

    limiter.init_app(redis_app)  # re-read the config: enabled, Redis storage
    return redis_app


@pytest.mark.redis
def test_login_is_limited_per_ip_with_a_friendly_429(limited):
    auth = AuthActions(limited.test_client())
    # Different addresses each time, so that the per-account throttle stays out of the way.
    for i in range(10):
        assert auth.login(email=f"ana{i}@example.com", password="wrong-1234").status_code == 422
    blocked = auth.login(email="ana@example.com", password="wrong-guess-123")
    assert blocked.status_code == 429
    assert b"Too many attempts" in blocked.data and b"Try again in" in blocked.data
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    partial = auth.login(email="ana@example.com", password="wrong-guess-123", headers=HTMX)
    assert partial.status_code == 429 and b"<html" not in partial.data
    assert partial.headers["HX-Retarget"] == "#flashes"


@pytest.mark.redis
def test_limits_are_shared_through_redis_across_app_processes(limited, database_url, redis_url):
    """A second web process (another app on the same Redis) sees the same counters."""
    first = AuthActions(limited.test_client())
    for _ in range(3):
        first.post("/forgot", {"email": "ana@example.com"})
    from tests.conftest import make_app

    other = make_app(
        database_url, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ENABLED=True
    )
    from extensions import limiter

    limiter.init_app(other)
    second = AuthActions(other.test_client())
    response = second.post("/forgot", {"email": "ana@example.com"})
    assert response.status_code == 429  # "2 per minute" was already spent by the first process


@pytest.mark.redis
def test_reading_pages_is_not_limited(limited):
    client = limited.test_client()
    answers = [client.get("/login") for _ in range(30)]
    odd = {r.status_code: r.get_data(as_text=True)[:300] for r in answers if r.status_code != 200}
    assert not odd


@pytest.mark.redis
def test_socket_connects_are_limited_before_the_handshake(limited):
    import simple_websocket

    from tests.conftest import LiveServer

    with LiveServer(limited) as server:
        url = server.url.replace("http://", "ws://") + "/ws"
        for _ in range(30):
            ws = simple_websocket.Client.connect(url)
            with contextlib.suppress(simple_websocket.ConnectionClosed, OSError):
                ws.close()  # the server may already have closed it (not logged in)
        with pytest.raises(simple_websocket.ConnectionError) as refused:
            simple_websocket.Client.connect(url)
        assert refused.value.status_code == 429


@pytest.mark.redis
def test_message_sends_share_one_budget_per_account_over_http_and_the_socket(limited):
    """30 a minute, whichever way they are sent: HTTP or the socket."""
    import json

    import simple_websocket

    from extensions import db
    from services import accounts
    from tests.conftest import LiveServer

    with LiveServer(limited) as server:
        limited.config["BASE_URL"] = server.url
        fan_client, luna_client = limited.test_client(), limited.test_client()
        AuthActions(fan_client).signup(email="fan@example.com", name="Fan")
        AuthActions(luna_client).signup(email="luna@example.com", name="Luna")
        with limited.app_context():
            for email in ("fan@example.com", "luna@example.com"):
                user = accounts.find_by_email(email)
                user.email_verified_at = user.created_at
            luna = accounts.find_by_email("luna@example.com")
            luna.is_creator = True  # no price set: messages to her are free
            db.session.commit()
            luna_id = luna.id
        token = fan_client.get("/terms").text.split('name="csrf-token" content="')[1].split('"')[0]
        for i in range(20):
            sent = fan_client.post(
                f"/messages/{luna_id}",
                data={"body": f"note {i}", "csrf_token": token},
                headers=HTMX,
            )
            assert sent.status_code == 200, sent.text
        url = server.url.replace("http://", "ws://") + "/ws"
        cookie = f"session={fan_client.get_cookie('session').value}"
        ws = simple_websocket.Client.connect(url, headers={"Cookie": cookie})
        try:
            answers = []
            for i in range(11):
                ws.send(json.dumps({"type": "send", "to": luna_id, "body": f"more {i}", "ref": i}))
                while (event := json.loads(ws.receive(timeout=5)))["type"] not in (
                    "sent",
                    "send_error",
                ):
                    pass
                answers.append(event)
            assert [a["type"] for a in answers] == ["sent"] * 10 + ["send_error"]
            assert answers[-1]["status"] == 429 and "too fast" in answers[-1]["error"]
        finally:
            with contextlib.suppress(simple_websocket.ConnectionClosed):
                ws.close()
        again = fan_client.post(
            f"/messages/{luna_id}", data={"body": "one more", "csrf_token": token}, headers=HTMX
        )
        assert again.status_code == 429 and b"too fast" in again.data
