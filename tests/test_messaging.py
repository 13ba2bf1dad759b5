"""Messaging (docs/dating.md#who-may-write-to-whom, docs/creators.md#paid-messages): who may write,
paid messages through the ledger, catch-up, sockets."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
import simple_websocket
from sqlalchemy import delete, func, select

from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, Message, User
from services import accounts, ledger, likes, messaging, safety
from testkit.ledger import paid_order
from tests.conftest import AuthActions, LiveServer, _cleanup, last_mail_link, make_app
from tests.dating_helpers import dater

HTMX = {"HX-Request": "true"}


def creator(name="Luna", price=5):
    user = dater(name, creator=True)
    db.session.add(CreatorSettings(user_id=user.id, message_price=price))
    db.session.commit()
    return user


def messages_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def test_a_fan_pays_the_creator_price_with_the_message(ctx):
    fan, luna = dater("Fan"), creator()
    paid_order(fan, 12)
    message = messaging.send(fan, luna.id, "  Hi Luna!  ")
    assert message.body == "Hi Luna!" and message.price == 5 and message.transfer_id
    assert ledger.wallet_balance(fan.id) == 7 and message.sender_balance == 7
    assert ledger.balances(luna.id)["earnings_pending"] == 4  # 5 − 20% fee, rounded half up
    reply = messaging.send(luna, fan.id, "Hello!")
    assert reply.price == 0  # creators reply free
    # Luna's earnings account exists now: on PostgreSQL the spend is one statement, which
    # returns the balance the fan sees.
    again = messaging.send(fan, luna.id, "Again")
    assert again.sender_balance == ledger.wallet_balance(fan.id) == 2
    assert again.conversation_id == message.conversation_id == reply.conversation_id
    assert ledger.verify() == []


def test_without_enough_credits_nothing_is_stored(ctx):
    fan, luna = dater("Fan"), creator(price=50)
    paid_order(fan, 10)
    with pytest.raises(ledger.InsufficientCredits):
        messaging.send(fan, luna.id, "Hi")
    assert messages_count() == 0 and ledger.wallet_balance(fan.id) == 10


def test_daters_write_free_after_a_match_or_a_paid_intro(ctx):
    ana, bob, cy = dater("Ana"), dater("Bob"), dater("Cy")
    with pytest.raises(NotAllowed, match="Match first"):
        messaging.send(ana, bob.id, "hey")
    likes.react(ana, bob.id, "like")
    likes.react(bob, ana.id, "like")
    assert messaging.send(ana, bob.id, "hey").price == 0
    paid_order(ana, 100)
    likes.pay_intro(ana, cy.id)
    assert messaging.send(ana, cy.id, "hello there").price == 0
    with pytest.raises(NotAllowed):
        messaging.send(cy, ana.id, "who are you")  # the intro is one-way until they match


@pytest.mark.parametrize(
    ("body", "error"),
    [("", ValidationFailed), ("   ", ValidationFailed), ("x" * 5001, ValidationFailed)],
)
def test_bad_messages(ctx, body, error):
    fan, luna = dater("Fan"), creator(price=0)
    with pytest.raises(error):
        messaging.send(fan, luna.id, body)
    assert messages_count() == 0


def test_an_unverified_account_cannot_message(ctx):
    fan, luna = dater("Fan"), creator(price=0)
    fan.email_verified_at = None
    db.session.commit()
    with pytest.raises(NotAllowed, match="Confirm your email"):
        messaging.send(fan, luna.id, "hi")


def test_a_redis_outage_does_not_fail_a_stored_paid_message(database_url):
    """Redis is configured but down: the message is stored and charged once, and the page
    answers normally; the recipient catches up when their socket reconnects."""
    app = make_app(database_url, REDIS_URL="redis://127.0.0.1:1/0", JOBS_RAISE=False)
    try:
        with app.app_context():
            fan, luna = dater("Fan"), creator(price=2)
            paid_order(fan, 10)
            fan_id, luna_id = fan.id, luna.id
        auth = AuthActions(app.test_client())
        auth.signup(email="sam@example.com", name="Sam")
        with app.app_context():
            sam = accounts.find_by_email("sam@example.com")
            sam.email_verified_at = sam.created_at
            db.session.commit()
            message = messaging.send(db.session.get(type(sam), fan_id), luna_id, "later")
            assert message.id and ledger.wallet_balance(fan_id) == 8
    finally:
        _cleanup(app)


def test_no_messages_to_yourself_nobody_or_a_blocked_person(ctx):
    fan, luna = dater("Fan"), creator(price=0)
    with pytest.raises(DomainError):
        messaging.send(fan, fan.id, "me")
    with pytest.raises(NotFound):
        messaging.send(fan, 99999, "ghost")
    safety.block(luna, fan.id)
    with pytest.raises(NotAllowed):
        messaging.send(fan, luna.id, "hi")
    accounts.set_status(luna, "banned", "spam")
    with pytest.raises(NotFound):
        messaging.send(fan, luna.id, "hi")


def test_catch_up_returns_what_was_missed_in_order(ctx):
    fan, luna = dater("Fan"), creator(price=0)
    first = messaging.send(fan, luna.id, "one")
    second = messaging.send(luna, fan.id, "two")
    third = messaging.send(fan, luna.id, "three")
    assert [m.id for m in messaging.missed(luna, first.id)] == [second.id, third.id]
    assert second.id < third.id
    assert messaging.unread_total(luna.id) == 2
    messaging.mark_read(luna, fan.id)
    assert messaging.unread_total(luna.id) == 0


def test_opening_a_conversation_reads_what_was_sent_to_me_even_beyond_its_page(ctx):
    """read_conversation marks as read what the other sent me: seen on the page when the whole
    conversation fits it, asked of the database when older messages lie beyond it."""
    fan, luna = dater("Fan"), creator(price=0)
    assert messaging.read_conversation(luna, fan.id) == []  # no conversation yet
    for body in ("one", "two", "three"):
        messaging.send(fan, luna.id, body)
    page = messaging.read_conversation(luna, fan.id, limit=2)
    assert [m.body for m in page] == ["two", "three"]
    assert messaging.unread_total(luna.id) == 0  # "one" too, beyond the page
    messaging.send(luna, fan.id, "four")
    assert messaging.unread_total(fan.id) == 1
    assert messaging.read_conversation(luna, fan.id)[-1].body == "four"
    assert messaging.unread_total(fan.id) == 1  # my own message: unread by the fan still
    assert [m.body for m in messaging.read_conversation(fan, luna.id)] == [
        "one",
        "two",
        "three",
        "four",
    ]
    assert messaging.unread_total(fan.id) == 0


def test_sending_over_http(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        fan = accounts.find_by_email("ana@example.com")
        fan.email_verified_at = fan.created_at
        luna = creator(price=3)
        luna_id = luna.id
        paid_order(fan, 4)
    sent = auth.post(f"/messages/{luna_id}", {"body": "Hi <b>Luna</b>"}, headers=HTMX)
    html = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "Hi &lt;b&gt;Luna&lt;/b&gt;" in html
    assert 'id="chat-balance" hx-swap-oob="innerHTML">1<' in html
    broke = auth.post(f"/messages/{luna_id}", {"body": "again"}, headers=HTMX)
    assert broke.status_code == 402 and b"Buy credits" in broke.data
    page = auth.client.get(f"/messages/{luna_id}").get_data(as_text=True)
    assert page.count('class="message mine"') == 1
    assert auth.client.get("/messages/99999").status_code == 404


def test_a_process_stores_only_so_many_messages_at_once(sqlite_url):
    """MESSAGE_SENDS_AT_ONCE: with every turn taken, a send waits for one, then goes through."""
    app = make_app(sqlite_url, MESSAGE_SENDS_AT_ONCE=1)
    try:
        auth = AuthActions(app.test_client())
        auth.signup()
        with app.app_context():
            fan = accounts.find_by_email("ana@example.com")
            fan.email_verified_at = fan.created_at
            luna_id = creator(price=0).id
            db.session.commit()
        with app.app_context():
            slot = messaging._send_turns()
        slot.acquire()  # another message is being stored
        done = []
        sender = threading.Thread(
            target=lambda: done.append(
                auth.post(f"/messages/{luna_id}", {"body": "waiting my turn"}, headers=HTMX)
            )
        )
        sender.start()
        sender.join(0.5)
        assert done == []  # still waiting
        slot.release()
        sender.join(5)
        assert done and done[0].status_code == 200
        with app.app_context():
            assert messages_count() == 1
    finally:
        _cleanup(app)


@pytest.mark.postgres
def test_concurrent_paid_messages_never_overdraw(pg_app):
    with pg_app.app_context():
        fan, luna = dater("Fan"), creator(price=7)
        paid_order(fan, 50)
        fan_id, luna_id = fan.id, luna.id
    results, barrier = [], threading.Barrier(12)

    def send():
        with pg_app.app_context():
            barrier.wait()
            try:
                messaging.send(db.session.get(type(fan), fan_id), luna_id, "hi")
                results.append("sent")
            except ledger.InsufficientCredits:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pg_app.app_context():
        assert results.count("sent") == 7 == messages_count()
        assert ledger.wallet_balance(fan_id) == 1 and ledger.verify() == []


# --- sockets ---------------------------------------------------------------------------------


def _login_cookie(app, email: str, verified=True) -> str:
    client = app.test_client()
    auth = AuthActions(client)
    auth.signup(email=email, name=email.split("@")[0].title())
    if verified:
        with app.app_context():
            user = accounts.find_by_email(email)
            user.email_verified_at = user.created_at
            db.session.commit()
    return f"session={client.get_cookie('session').value}"


def _socket(server_url: str, cookie: str | None):
    url = server_url.replace("http://", "ws://") + "/ws"
    return simple_websocket.Client.connect(url, headers={"Cookie": cookie} if cookie else None)


def _close(ws) -> None:
    with contextlib.suppress(simple_websocket.ConnectionClosed):
        ws.close()


def _receive(ws, kind: str, timeout=5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        if raw is None:
            continue
        event = json.loads(raw)
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind!r} event within {timeout}s")


def test_a_socket_receives_messages_live_and_survives_bad_frames(live_server):
    app = live_server.app
    cookie = _login_cookie(app, "luna@example.com")
    with app.app_context():
        luna = accounts.find_by_email("luna@example.com")
        luna.is_creator = True
        db.session.commit()
        luna_id = luna.id
    fan_cookie = _login_cookie(app, "fan@example.com")
    ws = _socket(live_server.url, cookie)
    try:
        ws.send("not json")
        assert "JSON" in _receive(ws, "error")["error"]
        _caught_up(ws)
        fan = _socket(live_server.url, fan_cookie)
        fan.send(json.dumps({"type": "typing", "to": luna_id}))
        _receive(ws, "typing")
        with app.app_context():
            sender = accounts.find_by_email("fan@example.com")
            message = messaging.send(sender, luna_id, "live?")
            message_id = message.id
        event = _receive(ws, "message")
        assert event["id"] == message_id and event["recipient_id"] == luna_id
        _close(fan)
    finally:
        _close(ws)


def _caught_up(ws) -> None:
    """Say hello as a page does and wait until the missed messages have come."""
    ws.send(json.dumps({"type": "hello", "last_id": 0}))
    _receive(ws, "ready")


def _closed_by_server(ws, timeout=3.0) -> simple_websocket.ConnectionClosed:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ws.receive(timeout=0.1)
        except simple_websocket.ConnectionClosed as closed:
            return closed
    raise AssertionError(f"the server did not close the socket within {timeout}s")


def test_an_unauthenticated_socket_is_refused(live_server):
    ws = _socket(live_server.url, None)
    # The refusal arrives before the close (the page reloads on "closed", onto the login form).
    assert "Log in" in _receive(ws, "error")["error"]
    assert _receive(ws, "closed")["reason"] == "Log in first."
    assert _closed_by_server(ws).reason == 1008  # policy violation


def test_reconnecting_catches_up_each_missed_message_once_in_order(live_server):
    app = live_server.app
    cookie = _login_cookie(app, "luna@example.com")
    _login_cookie(app, "fan@example.com")
    with app.app_context():
        luna = accounts.find_by_email("luna@example.com")
        luna.is_creator = True
        db.session.commit()
        fan = accounts.find_by_email("fan@example.com")
        first = messaging.send(fan, luna.id, "before the drop").id
        sent = [messaging.send(fan, luna.id, f"missed {i}").id for i in range(3)]
    ws = _socket(live_server.url, cookie)
    try:
        ws.send(json.dumps({"type": "hello", "last_id": first}))
        got = []
        while True:
            event = json.loads(ws.receive(timeout=5))
            if event["type"] == "ready":
                break
            got.append(event["id"])
        assert got == sent
    finally:
        _close(ws)


def test_a_banned_users_socket_is_closed_within_a_second_or_two(live_server):
    app = live_server.app
    cookie = _login_cookie(app, "eve@example.com")
    ws = _socket(live_server.url, cookie)
    try:
        _caught_up(ws)
        with app.app_context():
            accounts.set_status(accounts.find_by_email("eve@example.com"), "banned", "spam")
        started = time.monotonic()
        assert _receive(ws, "closed", timeout=4)["reason"] == "Your session has ended."
        told = time.monotonic() - started
        # A page that ignores the frame (a script, not chat.js) is closed after the grace.
        assert _closed_by_server(ws).reason == 1008
        assert told < 1.0 and time.monotonic() - started < 2.0
    finally:
        _close(ws)


def test_a_session_ended_where_no_event_told_closes_its_socket_at_the_next_round(
    live_server, monkeypatch
):
    """An operator revokes a session in the database by hand: no event reaches the socket, the
    process-wide session round finds it and the socket is closed."""
    from blueprints import chat_socket
    from models import UserSession

    monkeypatch.setattr(chat_socket, "SESSION_CHECK_SECONDS", 0.5)
    app = live_server.app
    cookie = _login_cookie(app, "eve@example.com")
    _login_cookie(app, "sam@example.com")
    ws = _socket(live_server.url, cookie)
    other = _socket(live_server.url, _login_cookie(app, "sam@example.com"))
    try:
        _caught_up(ws)
        _caught_up(other)
        with app.app_context():
            eve = accounts.find_by_email("eve@example.com")
            db.session.execute(
                UserSession.__table__.update()
                .where(UserSession.user_id == eve.id)
                .values(revoked_at=eve.created_at)
            )
            db.session.commit()
        assert _receive(ws, "closed", timeout=4)["reason"] == "Your session has ended."
        other.send(json.dumps({"type": "hello", "last_id": 0}))
        assert _receive(other, "ready")  # the other member's socket stays open
    finally:
        _close(ws)
        _close(other)


def test_a_socket_whose_peer_stopped_answering_pings_is_closed(live_server):
    """A phone that lost its network sends nothing, not even a close: the server's pings go
    unanswered and it closes the socket instead of keeping it for hours."""
    import base64
    import os
    import socket as sockets
    from urllib.parse import urlsplit

    app = live_server.app
    app.config["SOCK_SERVER_OPTIONS"] = {**app.config["SOCK_SERVER_OPTIONS"], "ping_interval": 1}
    cookie = _login_cookie(app, "eve@example.com")
    where = urlsplit(live_server.url)
    peer = sockets.create_connection((where.hostname, where.port), timeout=10)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        peer.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {where.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        started, received = time.monotonic(), b""
        while chunk := peer.recv(4096):  # read what comes, answer nothing, until it hangs up
            received += chunk
        assert b"101 Switching Protocols" in received
        assert b"\x89" in received  # the server pinged (a ping frame's first byte)
        assert time.monotonic() - started < 6
    finally:
        peer.close()


def test_a_frame_too_large_closes_the_socket(live_server):
    cookie = _login_cookie(live_server.app, "eve@example.com")
    ws = _socket(live_server.url, cookie)
    try:
        _caught_up(ws)
        ws.send(json.dumps({"type": "typing", "to": 1, "pad": "x" * 300_000}))
        assert _closed_by_server(ws).reason == 1009  # message too big
    finally:
        _close(ws)


def test_still_live_keeps_exactly_the_sessions_a_request_would_accept(app):
    from core import clock
    from models import UserSession
    from services import sessions

    with app.app_context():
        people = {name: dater(name) for name in ("Ana", "Bo", "Cy", "Di")}
        tokens = {
            name: sessions.start_session(p, "127.0.0.1", "test") for name, p in people.items()
        }
        sessions.end_session(tokens["Bo"], people["Bo"].id)  # logged out
        accounts.set_status(people["Cy"], "banned", "spam")  # the account is gone
        stale = clock.now() - sessions.SESSION_TOUCH_INTERVAL * 2
        db.session.execute(UserSession.__table__.update().values(last_seen_at=stale))
        db.session.commit()
        asked = {(p.id, tokens[name]) for name, p in people.items()}
        asked.add((people["Ana"].id, tokens["Di"]))  # Di's cookie naming Ana: not live
        live = sessions.still_live(asked)
        assert live == {(people["Ana"].id, tokens["Ana"]), (people["Di"].id, tokens["Di"])}
        for name in ("Ana", "Di"):  # their last use was touched, as a request would
            seen = db.session.scalar(
                select(UserSession.last_seen_at).where(UserSession.user_id == people[name].id)
            )
            assert seen > stale
            assert sessions.load_session_user(people[name].id, tokens[name]) is not None
        assert sessions.load_session_user(people["Bo"].id, tokens["Bo"]) is None
        assert sessions.load_session_user(people["Cy"].id, tokens["Cy"]) is None


@pytest.mark.redis
def test_two_processes_share_one_redis(postgres_url, redis_url):
    """A message sent through process A reaches a socket open on process B."""
    app_a = make_app(
        postgres_url, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, JOBS_RAISE=False
    )
    app_b = make_app(
        postgres_url, REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url, JOBS_RAISE=False
    )
    try:
        with LiveServer(app_a) as server_a, LiveServer(app_b) as server_b:
            luna_cookie = _login_cookie(app_b, "luna@example.com")
            with app_a.app_context():
                luna = accounts.find_by_email("luna@example.com")
                luna.is_creator = True
                db.session.commit()
                luna_id = luna.id
            import requests

            browser = requests.Session()  # the fan, on process A, over real HTTP

            def token() -> str:
                page = browser.get(f"{server_a.url}/terms").text
                return page.split('name="csrf-token" content="')[1].split('"')[0]

            browser.post(
                f"{server_a.url}/signup",
                data={
                    "email": "fan@example.com",
                    "password": "plum-orbit-kettle-42",
                    "display_name": "Fan",
                    "date_of_birth": "1990-01-01",
                    "csrf_token": token(),
                },
            )
            browser.post(
                f"{server_a.url}/login",
                data={
                    "email": "fan@example.com",
                    "password": "plum-orbit-kettle-42",
                    "csrf_token": token(),
                },
            )
            with app_a.app_context():
                sam = accounts.find_by_email("fan@example.com")
                sam.email_verified_at = sam.created_at
                db.session.commit()
            ws = _socket(server_b.url, luna_cookie)
            try:
                _caught_up(ws)
                response = browser.post(
                    f"{server_a.url}/messages/{luna_id}",
                    data={"body": "across processes", "csrf_token": token()},
                    headers=HTMX,
                )
                assert response.status_code == 200, response.text
                event = _receive(ws, "message")
                assert event["recipient_id"] == luna_id
            finally:
                _close(ws)
    finally:
        _cleanup(app_a)
        with app_b.app_context():
            db.engine.dispose()


def test_an_open_socket_needs_no_thread_of_its_own_beyond_its_connection(live_server):
    """Per socket: the server's request thread and its WebSocket reader, plus the test client's
    reader here; no pump thread per socket (the broker wakes the request thread). The process
    has one more, shared by every socket: the session watch."""
    app = live_server.app
    cookies = [_login_cookie(app, f"s{i}@example.com") for i in range(4)]
    before = threading.active_count()
    sockets = [_socket(live_server.url, cookie) for cookie in cookies]
    try:
        for ws in sockets:
            _caught_up(ws)
        assert threading.active_count() - before <= 3 * len(sockets) + 1
    finally:
        for ws in sockets:
            _close(ws)


def _fan_and_creator_sockets(live_server, price=5, credits=12, fan_tabs=1):
    """Luna (a creator charging `price`) and a fan holding `credits`, each with a socket open
    and caught up (the fan with `fan_tabs` of them)."""
    app = live_server.app
    luna_cookie = _login_cookie(app, "luna@example.com")
    fan_cookie = _login_cookie(app, "fan@example.com")
    with app.app_context():
        luna = accounts.find_by_email("luna@example.com")
        luna.is_creator = True
        db.session.add(CreatorSettings(user_id=luna.id, message_price=price))
        fan = accounts.find_by_email("fan@example.com")
        if credits:
            paid_order(fan, credits)
        db.session.commit()
        ids = luna.id, fan.id
    sockets = (
        _socket(live_server.url, luna_cookie),
        *(_socket(live_server.url, fan_cookie) for _ in range(fan_tabs)),
    )
    for ws in sockets:
        _caught_up(ws)
    return ids, sockets


def test_a_message_sent_over_the_socket_is_charged_stored_and_delivered(live_server):
    (luna_id, fan_id), (luna_ws, fan_ws) = _fan_and_creator_sockets(live_server, credits=7)
    try:
        fan_ws.send(
            json.dumps({"type": "send", "to": luna_id, "body": " Hi <b>Luna</b>! ", "ref": "a1"})
        )
        sent = _receive(fan_ws, "sent")
        assert sent["ref"] == "a1" and sent["balance"] == 2
        # The sender's page gets the message's HTML, escaped, as its own.
        assert f'id="msg-{sent["id"]}"' in sent["html"] and "mine" in sent["html"]
        assert "Hi &lt;b&gt;Luna&lt;/b&gt;!" in sent["html"] and "5 credits" in sent["html"]
        delivered = _receive(luna_ws, "message")
        assert delivered["id"] == sent["id"] and delivered["sender_id"] == fan_id
        with live_server.app.app_context():
            stored = db.session.get(Message, sent["id"])
            assert stored.body == "Hi <b>Luna</b>!" and stored.price == 5 and stored.transfer_id
            assert ledger.balances(luna_id)["earnings_pending"] == 4
            assert ledger.verify() == []
        # Short of credits: a prompt to buy, and nothing stored or charged.
        fan_ws.send(json.dumps({"type": "send", "to": luna_id, "body": "again", "ref": 2}))
        refused = _receive(fan_ws, "send_error")
        assert refused["ref"] == 2 and refused["status"] == 402 and refused["buy"] is True
        assert "credits" in refused["error"]
        with live_server.app.app_context():
            assert messages_count() == 1 and ledger.wallet_balance(fan_id) == 2
        # The creator replies free over the socket: no balance to show.
        luna_ws.send(json.dumps({"type": "send", "to": fan_id, "body": "Thanks!", "ref": "r"}))
        reply = _receive(luna_ws, "sent")
        assert reply["balance"] is None and _receive(fan_ws, "message")["id"] == reply["id"]
    finally:
        _close(luna_ws)
        _close(fan_ws)


def test_an_open_socket_sends_as_the_account_is_now(live_server):
    """A socket keeps its account between messages, and reads it again when the account
    changes: verified in another tab, then suspended, without reconnecting."""
    app = live_server.app
    luna_cookie = _login_cookie(app, "luna@example.com")
    fan_cookie = _login_cookie(app, "fan@example.com", verified=False)
    with app.app_context():
        luna = accounts.find_by_email("luna@example.com")
        luna.is_creator = True
        db.session.add(CreatorSettings(user_id=luna.id, message_price=0))
        db.session.commit()
        luna_id = luna.id
    luna_ws, fan_ws = _socket(live_server.url, luna_cookie), _socket(live_server.url, fan_cookie)
    try:
        for ws in (luna_ws, fan_ws):
            _caught_up(ws)

        def send(ref: str) -> dict:
            fan_ws.send(json.dumps({"type": "send", "to": luna_id, "body": "Hi", "ref": ref}))
            while True:
                answer = _receive(fan_ws, "sent" if ref.startswith("ok") else "send_error")
                if answer["ref"] == ref:
                    return answer

        assert "Confirm your email" in send("unverified")["error"]
        token = last_mail_link(app, "fan@example.com").rstrip("/").rsplit("/", 1)[1]
        with app.app_context():
            accounts.verify_email(token)
        first = send("ok-1")
        assert _receive(luna_ws, "message")["id"] == first["id"]
        assert send("ok-2")["id"] > first["id"]
        with app.app_context():
            accounts.set_status(accounts.find_by_email("fan@example.com"), "suspended", "review")
        refused = send("suspended")
        assert refused["status"] == 403 and "read-only" in refused["error"]
        with app.app_context():
            assert messages_count() == 2
    finally:
        _close(luna_ws)
        _close(fan_ws)


def test_the_senders_other_tabs_see_a_message_sent_over_a_socket(live_server):
    (luna_id, fan_id), (luna_ws, fan_ws, other_tab) = _fan_and_creator_sockets(
        live_server, fan_tabs=2
    )
    try:
        fan_ws.send(json.dumps({"type": "send", "to": luna_id, "body": "hello", "ref": "x"}))
        sent = _receive(fan_ws, "sent")
        assert _receive(other_tab, "message")["id"] == sent["id"]
        assert _receive(luna_ws, "message")["id"] == sent["id"]
        # The socket it was sent over has its answer and gets no copy of the event: the next
        # frame it receives is the answer to a ping.
        fan_ws.send(json.dumps({"type": "ping"}))
        assert json.loads(fan_ws.receive(timeout=5))["type"] == "pong"
    finally:
        for ws in (luna_ws, fan_ws, other_tab):
            _close(ws)


@pytest.mark.parametrize(
    "frame, status, error",
    [
        ({"body": "hi"}, 400, "`to` user id"),
        ({"to": "luna", "body": "hi"}, 400, "`to` user id"),
        ({"to": "LUNA", "body": ["not", "text"]}, 400, "must be text"),
        ({"to": "LUNA", "body": "   "}, 422, "Write something"),
        ({"to": "LUNA", "body": "x" * 5001}, 422, "5,000"),
        ({"to": "FAN", "body": "me, myself"}, 400, "yourself"),
        ({"to": 10**9, "body": "anyone?"}, 404, "not here"),
    ],
)
def test_bad_send_frames_get_an_error_and_the_socket_lives_on(live_server, frame, status, error):
    (luna_id, fan_id), (luna_ws, fan_ws) = _fan_and_creator_sockets(live_server)
    try:
        to = {"LUNA": luna_id, "FAN": fan_id}.get(frame.get("to"), frame.get("to"))
        fan_ws.send(json.dumps({"type": "send", "ref": "x", **frame, "to": to}))
        refused = _receive(fan_ws, "send_error")
        assert refused["status"] == status and error in refused["error"], refused
        fan_ws.send(json.dumps({"type": "ping"}))
        _receive(fan_ws, "pong")
        with live_server.app.app_context():
            assert messages_count() == 0 and ledger.wallet_balance(fan_id) == 12
    finally:
        _close(luna_ws)
        _close(fan_ws)


def test_over_the_socket_blocked_and_suspended_people_cannot_send(live_server):
    (luna_id, fan_id), (luna_ws, fan_ws) = _fan_and_creator_sockets(live_server)
    app = live_server.app
    try:
        with app.app_context():
            safety.block(accounts.find_by_email("luna@example.com"), fan_id)
        fan_ws.send(json.dumps({"type": "send", "to": luna_id, "body": "hello?"}))
        refused = _receive(fan_ws, "send_error")
        assert refused["status"] == 403 and "cannot message" in refused["error"]
        with app.app_context():
            accounts.set_status(accounts.find_by_email("luna@example.com"), "suspended", "review")
        luna_ws.send(json.dumps({"type": "send", "to": fan_id, "body": "hello"}))
        refused = _receive(luna_ws, "send_error")
        assert refused["status"] == 403 and "read-only" in refused["error"]
        with app.app_context():
            assert messages_count() == 0 and ledger.wallet_balance(fan_id) == 12
    finally:
        _close(luna_ws)
        _close(fan_ws)


def test_a_socket_whose_account_is_gone_answers_frames_with_an_error(live_server):
    """Between an account's removal and the socket's next session check, its frames get an
    error, and the socket lives on until that check closes it."""
    app = live_server.app
    cookie = _login_cookie(app, "gone@example.com")
    ws = _socket(live_server.url, cookie)
    try:
        _caught_up(ws)
        with app.app_context():
            gone = accounts.find_by_email("gone@example.com").id
            db.session.execute(delete(User).where(User.id == gone))
            db.session.commit()
        for kind in ("hello", "typing"):
            ws.send(json.dumps({"type": kind, "last_id": 0, "to": 1}))
            assert "Log in again" in _receive(ws, "error")["error"]
        ws.send(json.dumps({"type": "ping"}))
        _receive(ws, "pong")
    finally:
        _close(ws)


def test_the_inbox_lists_conversations_newest_first_without_blocked_people(ctx):
    me, ana, ben, cleo = dater("Me"), dater("Ana"), dater("Ben"), dater("Cleo")
    for person in (ana, ben, cleo):
        likes.react(me, person.id, "like")
        likes.react(person, me.id, "like")  # matched: free messages
    messaging.send(ana, me.id, "Hi from Ana")
    messaging.send(me, ben.id, "Hi Ben")
    messaging.send(ben, me.id, "Hey")
    messaging.send(ben, me.id, "Still there?")
    messaging.send(cleo, me.id, "Hello")
    safety.block(me, cleo.id)
    inbox = messaging.conversations_of(me)
    assert [(row["other"].display_name, row["unread"], row["last"].body) for row in inbox] == [
        ("Ben", 2, "Still there?"),
        ("Ana", 1, "Hi from Ana"),
    ]
    messaging.mark_read(me, ben.id)
    assert [row["unread"] for row in messaging.conversations_of(me)] == [0, 1]
    assert [row["other"].display_name for row in messaging.conversations_of(ana)] == ["Me"]
