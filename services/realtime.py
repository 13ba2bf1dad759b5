"""Real-time fan-out (docs/architecture.md#real-time): one channel per user.

`broker().publish(user_id, event)` reaches every open socket of that user, in this process or
(with Redis) in any process. Events are small JSON dicts; the socket handler turns them into
HTML. Persist first, then publish: a lost event is recovered by the client's catch-up on
reconnect (it sends the last message id it has), never the other way round.

Local delivery costs no thread per socket: an event is put on the subscription's queue and the
subscription's `wake` callback (the socket's own "something arrived" signal) is called, so the
socket's thread, which sleeps on that one signal, sends it. With Redis, one listener thread per
process feeds every local queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from core import sql
from extensions import db
from models import User

log = logging.getLogger("amora.realtime")

# An event carrying SKIP is not delivered to the one subscription (socket) whose token it names:
# the socket a message was sent over gets its own answer, and needs no copy of the event.
SKIP = "skip"


class Subscription(Protocol):
    def get(self, timeout: float) -> dict | None: ...

    def drain(self) -> list[dict]: ...

    def close(self) -> None: ...


class Broker(Protocol):
    def publish(self, user_id: int, event: dict) -> None: ...

    def publish_many(self, events: list[tuple[int, dict]]) -> None: ...

    def subscribe(
        self, user_id: int, wake: Callable[[], None] | None = None, token: str | None = None
    ) -> Subscription: ...


class _LocalSubscription:
    def __init__(
        self,
        broker: InProcessBroker,
        user_id: int,
        wake: Callable[[], None] | None,
        token: str | None = None,
    ) -> None:
        self.broker, self.user_id, self.wake, self.token = broker, user_id, wake, token
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=1000)

    def get(self, timeout: float) -> dict | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[dict]:
        """Every event queued so far, oldest first, without waiting."""
        events = []
        with contextlib.suppress(queue.Empty):
            while True:
                events.append(self.queue.get_nowait())
        return events

    def close(self) -> None:
        self.broker._remove(self)


class InProcessBroker:
    """The embedded default: queues in this process (one web process, no Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, list[_LocalSubscription]] = defaultdict(list)

    def publish(self, user_id: int, event: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(user_id, ()))
        skip = event.get(SKIP)
        for subscription in targets:
            if skip is not None and subscription.token == skip:
                continue  # the socket this came from already has it (a "sent" answer)
            # A stuck client catches up from the database when it reconnects.
            with contextlib.suppress(queue.Full):
                subscription.queue.put_nowait(event)
            if subscription.wake is not None:
                subscription.wake()  # after the put: the woken socket drains its queue

    def publish_many(self, events: list[tuple[int, dict]]) -> None:
        for user_id, event in events:
            self.publish(user_id, event)

    def subscribe(
        self, user_id: int, wake: Callable[[], None] | None = None, token: str | None = None
    ) -> _LocalSubscription:
        """`wake` is called (from the publishing thread) after each event is queued. Events
        whose SKIP key equals `token` are not delivered to this subscription."""
        subscription = _LocalSubscription(self, user_id, wake, token)
        with self._lock:
            self._subscribers[user_id].append(subscription)
        return subscription

    def _remove(self, subscription: _LocalSubscription) -> None:
        with self._lock:
            items = self._subscribers.get(subscription.user_id, [])
            if subscription in items:
                items.remove(subscription)

    def online(self, user_id: int) -> bool:
        with self._lock:
            return bool(self._subscribers.get(user_id))


class RedisOutage:
    """Whether Redis failed lately. While it is down, events reach this process's sockets only
    (in-process delivery) and publishers skip Redis for a few seconds at a time instead of
    trying it on every event; the outage is logged once when it starts and once when it ends."""

    RETRY_SECONDS = 2.0

    def __init__(self) -> None:
        self._since: float | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def active(self) -> bool:
        return self._since is not None and time.monotonic() < self._retry_at

    @property
    def down(self) -> bool:
        return self._since is not None

    def begin(self, doing: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._retry_at = now + self.RETRY_SECONDS
            if self._since is None:
                self._since = now
                log.warning(
                    "Redis unreachable while %s: live events reach this process's sockets only",
                    doing,
                )

    def end(self) -> None:
        with self._lock:
            if self._since is not None:
                log.warning(
                    "Redis is back after %.0f s: live events reach every process again",
                    time.monotonic() - self._since,
                )
                self._since = None


class RedisBroker:
    """Redis pub/sub, channel `amora:<db>:user:<id>`: every web process sees every event.

    Pub/sub ignores Redis's database numbers, so the channels carry the database's: two
    installations (or two test processes) on one Redis server, each on its own database, do not
    hear each other's events.

    Each process holds ONE pattern subscription (`amora:<db>:user:*`) read by one thread, which
    hands events to the local sockets of that user through an in-process broker. (One Redis
    connection per socket would exhaust Redis and the client pool at a few hundred sockets.)

    What a process publishes reaches its own sockets at once, not by way of Redis: each
    payload starts with the publishing process's tag, and the listener passes over its own.
    (Under gevent every wait for Redis lasts a round of all the other greenlets; going round
    through Redis made local delivery ten times slower under chat load: BENCHMARKS.md.)
    """

    def __init__(self, url: str) -> None:
        self.connection = Redis.from_url(url)  # the listener's: its reads wait on purpose
        # Publishing happens on the send path (while the message holds one of the process's
        # turns to send): a Redis that stops answering must fail it fast, not hold it.
        self.publisher = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.local = InProcessBroker()
        self._listener: threading.Thread | None = None
        self._lock = threading.Lock()
        self._nonce = secrets.token_hex(6)
        self.outage = RedisOutage()
        self.prefix = (
            f"amora:{self.connection.connection_pool.connection_kwargs.get('db', 0)}:user:"
        )

    @property
    def origin(self) -> bytes:
        """This process's tag (the pid tells apart workers forked after the broker was made)."""
        return f"{self._nonce}.{os.getpid()}|".encode()

    def channel(self, user_id: int) -> str:
        return f"{self.prefix}{user_id}"

    def publish(self, user_id: int, event: dict) -> None:
        self.publish_many([(user_id, event)])

    def publish_many(self, events: list[tuple[int, dict]]) -> None:
        """This process's sockets first, then every other process's in one round trip to Redis
        (a message goes to two people). Redis down: the local sockets have had it; sockets in
        other processes catch up from the database when they reconnect. Never raises for Redis:
        a stored message must not fail over its notification."""
        origin = self.origin
        payloads = [
            (self.channel(user_id), origin + json.dumps(e).encode()) for user_id, e in events
        ]
        self.local.publish_many(events)
        if self.outage.active():
            return  # Redis is down: this process's sockets had it; the others catch up later
        try:
            pipe = self.publisher.pipeline(transaction=False)
            for channel, payload in payloads:
                pipe.publish(channel, payload)
            pipe.execute()
        except (RedisError, OSError):
            self.outage.begin("publishing")
            return
        if self.outage.down:
            self.outage.end()

    def subscribe(
        self, user_id: int, wake: Callable[[], None] | None = None, token: str | None = None
    ) -> _LocalSubscription:
        self._ensure_listener()
        return self.local.subscribe(user_id, wake, token)

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._listener is None or not self._listener.is_alive():
                ready = threading.Event()
                self._listener = threading.Thread(
                    target=self._listen, args=(ready,), name="amora-redis-broker", daemon=True
                )
                self._listener.start()
                if not self.outage.down:  # a socket must not wait on a Redis that is down
                    ready.wait(5)

    def _listen(self, ready: threading.Event) -> None:
        while True:
            pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.psubscribe(self.prefix + "*")
                ready.set()
                self.outage.end()
                while True:
                    # Wait for the next event, then hand on every event already read
                    # without waiting again: under gevent each wait lasts a full round of
                    # the other greenlets, and one event per round fell behind (BENCHMARKS.md).
                    message = pubsub.get_message(timeout=1.0)
                    origin = self.origin
                    while message is not None:
                        self._hand_on(message, origin)
                        message = pubsub.get_message(timeout=0)
            except (RedisError, OSError):  # Redis gone: resubscribe once it is back
                self.outage.begin("listening")
                with contextlib.suppress(Exception):
                    pubsub.close()
                time.sleep(1)
            except Exception:
                log.exception("Redis broker listener failed; reconnecting")
                with contextlib.suppress(Exception):
                    pubsub.close()
                time.sleep(1)

    def _hand_on(self, message: dict, origin: bytes) -> None:
        """An event another process published, to this process's sockets of that user."""
        data = message.get("data")
        if message.get("type") != "pmessage" or not isinstance(data, bytes):
            return
        tag, _, body = data.partition(b"|")
        if tag + b"|" == origin:
            return  # this process's own: its sockets have it already
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        self.local.publish(int(channel.rsplit(":", 1)[1]), json.loads(body))


_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()


def broker(app: Flask | None = None) -> Broker:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = app.config.get("REDIS_URL")
    key = url or f"local:{id(app)}"
    with _brokers_lock:
        if key not in _brokers:
            _brokers[key] = RedisBroker(url) if url else InProcessBroker()
        return _brokers[key]


# --- publishing after the transaction commits ------------------------------------------------

_PENDING = "amora_pending_events"


def socket_user(user_id: int, known: User | None = None) -> User | None:
    """The user of a socket for one frame, attached to the frame's (empty) database session:
    `known`, read at an earlier frame, attached again without a query, or read afresh when there
    is none or a rollback expired it. None once the account is gone."""
    if known is None or inspect(known).expired_attributes:
        # `core.sql.get`, not `Session.get`: with thousands of sockets open, most send frames
        # come from a socket whose user was read more than a session check ago (BENCHMARKS.md).
        return sql.get(User, user_id)
    db.session.add(known)  # detached since the last frame
    return known


def publish_after_commit(user_id: int, event: dict) -> None:
    """Publish once the current database transaction commits (dropped on rollback)."""

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session().info.setdefault(_PENDING, []).append((app, user_id, event))


def _install_listeners() -> None:
    @sa_event.listens_for(Session, "after_commit")
    def _publish_pending(session: Session) -> None:
        by_app: dict[Flask, list[tuple[int, dict]]] = defaultdict(list)
        for app, user_id, payload in session.info.pop(_PENDING, []):
            by_app[app].append((user_id, payload))
        for app, events in by_app.items():
            try:
                broker(app).publish_many(events)
            except Exception:  # a broker outage must not turn a commit into an error
                logging.getLogger("amora.realtime").exception("publish failed")

    @sa_event.listens_for(Session, "after_rollback")
    def _drop_pending(session: Session) -> None:
        session.info.pop(_PENDING, None)


_install_listeners()
