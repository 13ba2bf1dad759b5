"""The WebSocket at /ws (docs/architecture.md#real-time): who may open one, and the loop that
runs it for hours. Each frame is answered by `blueprints/chat_protocol.py`.

The route is on the `messages` blueprint (endpoint `messages.socket`); app.py imports this
module before registering it. The socket carries small JSON events (a message arrived, someone
is typing, messages were read); the page then fetches the new messages as HTML over plain HTTP,
which also works without the socket. On (re)connect the client sends the last message id it
has and gets the ids it missed, so each message lands on screen exactly once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import threading
import time

from flask import current_app, request, session
from flask_login import current_user
from simple_websocket import ConnectionClosed

from blueprints import chat_protocol
from blueprints.messages import bp
from core import transactions
from extensions import limiter, sock
from services import metrics, realtime, sessions

log = logging.getLogger("amora.messages")

# Sockets re-check their session when told (a "sessions_changed" event on the user's channel,
# published when sessions are revoked or the account is banned) and, as a safety net, every
# SESSION_CHECK_SECONDS: then one round checks every open socket of the process at once
# (`_SessionWatch`), and each socket reads its account again at its next frame. The sockets'
# own timers start at a random point of the interval: sockets that open together (every
# browser reconnecting after a restart) must not all wake at once.
SESSION_CHECK_SECONDS = 30.0

# How long a refused socket waits for the page to act on its "closed" frame (pages reload, which
# closes the socket from their side) before the server closes it.
CLOSE_GRACE_SECONDS = 0.5


@limiter.limit("30 per minute")
def _socket_connect_allowance() -> None:
    """Rate limit for socket connects, checked before the WebSocket handshake."""


@bp.before_request
def _limit_socket_connects():
    if request.endpoint == "messages.socket":
        _socket_connect_allowance()


def _same_origin() -> bool:
    """Browsers send Origin on WebSocket handshakes; refuse other sites' pages (cookies alone
    would otherwise let them open a socket as the user)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (tests, tools): cookies still decide who this is
    allowed = {current_app.config["BASE_URL"], request.host_url.rstrip("/")}
    return origin.rstrip("/") in allowed


class _Watched:
    """One open socket, as the session watch sees it."""

    __slots__ = ("user_id", "raw_sid", "wake", "ended")

    def __init__(self, user_id: int, raw_sid: str, wake) -> None:
        self.user_id, self.raw_sid, self.wake, self.ended = user_id, raw_sid, wake, False


class _SessionWatch:
    """The safety-net check of every open socket's session in this process, for one app: a
    round every SESSION_CHECK_SECONDS, one query per 500 sockets (`sessions.still_live`). A
    query per socket cost 5,000 idle sockets 0.17–0.21 of a core (BENCHMARKS.md). A socket
    whose session has ended is marked and woken; it closes itself. Events still close a
    revoked or banned session's sockets within a second: this is for what no event told."""

    def __init__(self, app) -> None:
        self._app = app
        self._open: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, user_id: int, raw_sid: str, wake) -> _Watched:
        watched = _Watched(user_id, raw_sid, wake)
        with self._lock:
            self._open[id(watched)] = watched
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="socket-session-watch", daemon=True
                )
                self._thread.start()
        return watched

    def unwatch(self, watched: _Watched) -> None:
        with self._lock:
            self._open.pop(id(watched), None)

    def _run(self) -> None:
        """Rounds while sockets are open; the thread ends with the last socket (the next one
        starts it again)."""
        last_round = time.monotonic()
        while True:
            time.sleep(1.0)
            with self._lock:
                if not self._open:
                    self._thread = None
                    return
                if time.monotonic() < last_round + SESSION_CHECK_SECONDS:
                    continue
                watched = list(self._open.values())
            last_round = time.monotonic()
            self.check(watched)

    def check(self, watched: list[_Watched]) -> None:
        """One round: mark and wake the sockets whose session has ended. In slices of
        ROUND_SLICE sockets spread over half the interval: a round over 5,000 sockets touches
        15,000 rows (sessions, users, and profiles by trigger) and costs 0.1–0.3 s of CPU,
        which in one go held every socket's messages back by up to half a second."""
        slices = range(0, len(watched), ROUND_SLICE)
        pause = min(1.0, SESSION_CHECK_SECONDS / 2 / len(slices)) if len(slices) > 1 else 0.0
        for start in slices:
            part = watched[start : start + ROUND_SLICE]
            try:
                with self._app.app_context():
                    try:
                        live = sessions.still_live({(w.user_id, w.raw_sid) for w in part})
                    finally:
                        transactions.release()
                for one in part:
                    if (one.user_id, one.raw_sid) not in live:
                        one.ended = True
                        one.wake()
            except Exception:  # the database is away: the sockets stay open, next round retries
                log.exception("checking the sessions of %d open sockets failed", len(part))
                return
            time.sleep(pause)  # under gevent, the other greenlets' turn


ROUND_SLICE = 250  # sockets per slice of a session round

_WATCHES_LOCK = threading.Lock()


def _session_watch(app) -> _SessionWatch:
    with _WATCHES_LOCK:
        watch = app.extensions.get("amora_socket_session_watch")
        if watch is None:
            watch = app.extensions["amora_socket_session_watch"] = _SessionWatch(app)
        return watch


@sock.route("/ws", bp=bp)
def socket(ws):
    if not _same_origin():
        ws.close(reason=1008, message="cross-origin")
        return
    if not current_user.is_authenticated:
        ws.send(json.dumps({"type": "error", "error": "Log in first."}))
        _close_after(ws, {"type": "closed", "reason": "Log in first."}, "unauthenticated")
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    user_id, raw_sid = current_user.id, session.get("sid")
    # A socket lives for hours: give its database connection back to the pool now; each frame
    # handled below borrows one briefly.
    transactions.release()
    # One thread per socket (this one), asleep on the socket's own signal `ws.event`, which the
    # socket's reader sets when a frame arrives or the connection drops, and the broker sets
    # after queueing an event for this user. No thread polls.
    token = secrets.token_hex(8)  # this socket's own: it gets no copy of what it sent
    subscription = realtime.broker().subscribe(user_id, wake=ws.event.set, token=token)
    watch = _session_watch(app)
    metrics.socket_opened()
    send_lock = threading.Lock()
    state: dict = {}  # this socket's own state (random chat)
    me = chat_protocol.Sender(user_id)

    def send_json(event: dict) -> None:
        with send_lock:
            ws.send(json.dumps(event))

    def session_live() -> bool:
        with app.app_context():
            still = sessions.load_session_user(user_id, raw_sid) is not None
            transactions.release()
        return still

    next_check = time.monotonic() + random.uniform(0.1, 1.0) * SESSION_CHECK_SECONDS

    def end() -> None:
        with send_lock:
            ended = {"type": "closed", "reason": "Your session has ended."}
            _close_after(ws, ended, "session ended")

    def still_live() -> bool:
        """Check the session now (and read the account again at the next send); a revoked
        or banned one's socket is closed, within a second of the change."""
        me.forget()
        if session_live():
            return True
        end()
        return False

    def forward(events: list[dict]) -> None:
        for event in events:
            if event.get("type") != "sessions_changed":  # internal: not for the browser
                send_json(event)

    watched = watch.watch(user_id, raw_sid, ws.event.set)
    try:
        with contextlib.suppress(ConnectionClosed):
            while True:
                ws.event.wait(max(0.0, next_check - time.monotonic()))
                ws.event.clear()
                # The queue first: a change to the account queued before a frame arrived
                # (suspended, banned, logged out) is acted on before the frame is handled.
                events = subscription.drain()
                if time.monotonic() >= next_check:  # read the account again at the next frame
                    next_check = time.monotonic() + SESSION_CHECK_SECONDS
                    me.forget()
                if watched.ended:  # the process-wide round found the session over
                    end()
                    break
                if _account_changed(events) and not still_live():
                    break
                forward(events)
                while (raw := ws.receive(timeout=0)) is not None:
                    parsed = chat_protocol.parse(raw)
                    if isinstance(parsed, str):
                        send_json({"type": "error", "error": parsed})
                        continue
                    frame, kind = parsed
                    chat_protocol.handle(frame, kind, me, send_json, state, token)
                # The queue again: a wake-up that receive() cleared belongs to an event that
                # is queued by now.
                events = subscription.drain()
                if _account_changed(events) and not still_live():
                    break
                forward(events)
    finally:
        watch.unwatch(watched)
        subscription.close()
        metrics.socket_closed()
        if state:
            with app.app_context():
                try:
                    chat_protocol.socket_closed(user_id, state)
                except Exception:
                    log.exception("leaving random chat for user %s failed", user_id)
                transactions.release()


def _account_changed(events: list[dict]) -> bool:
    return any(event.get("type") == "sessions_changed" for event in events)


def _close_after(ws, frame: dict, why: str) -> None:
    """Send `frame`, then let the page close the socket (it reloads on "closed") or close it
    after CLOSE_GRACE_SECONDS. A server that closes at once can lose the frame: a close that
    overtakes it on a loaded machine, or a proxy that fails the connection, leaves a page that
    never learns why it lost its socket and keeps reconnecting. Frames sent meanwhile are
    ignored."""
    with contextlib.suppress(ConnectionClosed):
        ws.send(json.dumps(frame))
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            ws.receive(timeout=left)  # raises ConnectionClosed once the page has gone
        ws.close(reason=1008, message=why)
