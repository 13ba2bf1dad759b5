"""The broker (docs/architecture.md#real-time): events reach each open socket of a user once, in
order, and wake the socket's own thread instead of a thread per socket polling a queue."""

from __future__ import annotations

import threading
import time

from services import realtime


class Waker:
    """Records what a socket's thread would find in its queue each time it is woken."""

    def __init__(self) -> None:
        self.woken = threading.Event()
        self.subscription: realtime.Subscription | None = None
        self.seen: list[dict] = []

    def __call__(self) -> None:
        self.seen.extend(self.subscription.drain())  # the event is queued before the wake-up
        self.woken.set()


def test_a_message_reaches_both_people_in_order_and_wakes_their_sockets():
    broker = realtime.InProcessBroker()
    luna, sam = Waker(), Waker()
    luna.subscription = broker.subscribe(1, wake=luna)
    sam.subscription = broker.subscribe(2, wake=sam)
    events = [{"type": "message", "id": i} for i in range(3)]
    broker.publish_many([(1, e) for e in events] + [(2, events[0])])
    assert luna.seen == events and sam.seen == [events[0]]
    assert broker.online(1)
    luna.subscription.close()
    assert not broker.online(1)
    broker.publish(1, {"type": "message", "id": 9})
    assert luna.seen == events  # a closed subscription gets nothing more


def test_an_event_skips_the_one_socket_it_names():
    broker = realtime.InProcessBroker()
    here, there = broker.subscribe(1, token="tab-a"), broker.subscribe(1, token="tab-b")
    broker.publish(1, {"type": "message", "id": 3, realtime.SKIP: "tab-a"})
    assert here.drain() == [] and [e["id"] for e in there.drain()] == [3]


def test_a_subscription_without_a_wake_up_still_queues():
    broker = realtime.InProcessBroker()
    inbox = broker.subscribe(5)
    broker.publish(5, {"type": "typing", "from": 6})
    assert inbox.get(timeout=1) == {"type": "typing", "from": 6}
    assert inbox.get(timeout=0.01) is None and inbox.drain() == []


def _listeners() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "amora-redis-broker"}


def test_through_redis_one_listener_wakes_each_local_socket(redis_url):
    """Two brokers stand for two processes: what one publishes reaches the other's sockets
    through Redis, and its own sockets once (at once, not a second time by way of Redis)."""
    earlier = _listeners()  # brokers of apps made by earlier tests in this process
    here, there = realtime.RedisBroker(redis_url), realtime.RedisBroker(redis_url)
    luna, sam, sam_elsewhere = Waker(), Waker(), Waker()
    luna.subscription = there.subscribe(11, wake=luna)
    sam_elsewhere.subscription = there.subscribe(12, wake=sam_elsewhere)
    sam.subscription = here.subscribe(12, wake=sam)
    assert len(_listeners() - earlier) == 2, "one listener for each process, whatever its sockets"
    event = {"type": "message", "id": 42, "sender_id": 12, "recipient_id": 11}
    here.publish_many([(11, event), (12, event)])
    assert sam.seen == [event]  # this process's socket: delivered before publish returns
    assert luna.woken.wait(5) and sam_elsewhere.woken.wait(5)
    assert luna.seen == [event] and sam_elsewhere.seen == [event]
    there.publish(12, {"type": "typing", "from": 11})
    assert sam_elsewhere.seen[-1] == {"type": "typing", "from": 11}
    time.sleep(0.3)  # time for anything that would come round a second time
    assert sam.seen == [event, {"type": "typing", "from": 11}]
    assert luna.seen == [event] and len(sam_elsewhere.seen) == 2
    for waker in (luna, sam, sam_elsewhere):
        waker.subscription.close()
