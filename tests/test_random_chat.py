"""Random chat (docs/dating.md#random-chat): pairing with interest tags, the 10-second fallback,
fairness, blocks, text and signalling relay, reports with the transcript — and the matcher shared by
two processes through real Redis."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest
from sqlalchemy import select

from core.errors import NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import RandomSession, Report
from services import random_chat, realtime, safety
from services.random_chat import Entry, LocalQueue, RedisQueue, choose
from tests.creator_helpers import fan

T0 = 1_000_000.0


# --- the choice --------------------------------------------------------------------------------


def test_shared_tags_win_then_the_longest_wait():
    me = Entry(1, ["jazz", "chess"], T0)
    waiting = [
        Entry(2, ["jazz"], T0 - 5),
        Entry(3, ["jazz", "chess"], T0 - 1),
        Entry(4, ["jazz", "chess"], T0 - 3),
        Entry(5, [], T0 - 60),
    ]
    assert choose(me, waiting, T0).user_id == 4  # two shared tags, waiting longer than 3


def test_someone_with_tags_waits_ten_seconds_for_them_then_takes_anyone():
    me = Entry(1, ["jazz"], T0)
    stranger = Entry(2, ["chess"], T0 - 2)
    assert choose(me, [stranger], T0) is None
    assert choose(me, [stranger], T0 + 9.9) is None
    assert choose(me, [stranger], T0 + 10).user_id == 2
    no_tags = Entry(3, [], T0)
    assert choose(no_tags, [Entry(4, [], T0 - 1)], T0).user_id == 4  # no tags: anyone at once
    assert choose(no_tags, [Entry(5, ["jazz"], T0 - 1)], T0) is None  # 5 still hopes for jazz


def test_blocked_people_are_never_paired():
    me = Entry(1, [], T0, blocked=[2])
    assert choose(me, [Entry(2, [], T0 - 30)], T0 + 60) is None
    assert choose(Entry(3, [], T0), [Entry(4, [], T0, blocked=[3])], T0 + 60) is None


def test_the_local_queue_pairs_each_person_once():
    queue = LocalQueue()
    for n in range(1, 7):
        queue.add(Entry(n, [], T0 + n))
    pairs = [queue.pair(n, T0 + 10) for n in range(1, 7)]
    paired = [(a.user_id, b.user_id) for a, b in filter(None, pairs)]
    assert paired == [(1, 2), (3, 4), (5, 6)]  # each with whoever waited longest
    assert queue.waiting(1) is None


# --- two processes, one Redis queue ---------------------------------------------------------


def _join_many(redis_url: str, user_ids: list[int], tags_by_user: dict, result_queue) -> None:
    """A second process: join people and try to pair them, as web processes do."""
    import redis

    queue = RedisQueue(redis.Redis.from_url(redis_url))
    pairs = []
    for user_id in user_ids:
        queue.add(Entry(user_id, tags_by_user[str(user_id)], time.time()))
        pair = queue.pair(user_id, time.time())
        if pair:
            pairs.append([pair[0].user_id, pair[1].user_id])
        time.sleep(0.001)
    result_queue.put(pairs)


@pytest.mark.redis
def test_two_processes_share_one_fair_queue_on_redis(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(RedisQueue.KEY, RedisQueue.LOCK)
    tags = {}
    for user_id in range(1, 201):
        tags[str(user_id)] = ["jazz"] if user_id % 2 else ["chess"]
    odd = [u for u in range(1, 201) if u % 4 in (1, 2)]
    even = [u for u in range(1, 201) if u % 4 in (3, 0)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_join_many, args=(redis_url, group, tags, results))
        for group in (odd, even)
    ]
    for worker in workers:
        worker.start()
    pairs = results.get(timeout=60) + results.get(timeout=60)
    for worker in workers:
        worker.join(30)
    people = [user for pair in pairs for user in pair]
    assert len(people) == len(set(people)), "someone was paired twice"
    left = {int(k) for k in client.hkeys(RedisQueue.KEY)}
    assert set(people) | left == set(range(1, 201)) and not set(people) & left
    assert len(left) <= 2  # everyone who could be paired was
    # Tag preference: within the 10 seconds nobody was paired across tags.
    assert all(tags[str(a)] == tags[str(b)] for a, b in pairs)
    client.delete(RedisQueue.KEY, RedisQueue.LOCK)


@pytest.mark.redis
def test_a_redis_queue_waits_for_the_fallback_like_the_local_one(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(RedisQueue.KEY)
    queue = RedisQueue(client)
    queue.add(Entry(1, ["jazz"], T0))
    queue.add(Entry(2, ["chess"], T0 + 1))
    assert queue.pair(2, T0 + 5) is None
    me, partner = queue.pair(2, T0 + 11)
    assert (me.user_id, partner.user_id) == (2, 1)
    assert queue.waiting(1) is None and queue.waiting(2) is None


# --- the service -------------------------------------------------------------------------------


@pytest.fixture
def events(ctx):
    """What each user's socket would receive."""
    hub = realtime.broker()
    subscriptions = {}

    def inbox(user_id):
        if user_id not in subscriptions:
            subscriptions[user_id] = hub.subscribe(user_id)
        found = []
        while True:
            event = subscriptions[user_id].get(timeout=0.05)
            if event is None:
                return found
            found.append(event)

    yield inbox
    for subscription in subscriptions.values():
        subscription.close()


def test_two_people_are_paired_and_talk(ctx, events):
    ana, bob = fan("Ana"), fan("Bob")
    events(ana.id), events(bob.id)
    assert random_chat.join(ana, ["Jazz", "hiking"]) is None
    session = random_chat.join(bob, "jazz")
    assert session is not None and session.shared_tags == ["jazz"]
    matched_ana, matched_bob = events(ana.id)[0], events(bob.id)[0]
    assert matched_ana["type"] == matched_bob["type"] == "rc_matched"
    assert matched_bob["initiator"] and not matched_ana["initiator"]
    random_chat.send_text(bob, session.id, " hi there ")
    assert events(ana.id) == [{"type": "rc_text", "session": session.id, "text": "hi there"}]
    random_chat.signal(ana, session.id, {"sdp": {"type": "offer", "sdp": "v=0"}})
    assert events(bob.id)[0]["data"] == {"sdp": {"type": "offer", "sdp": "v=0"}}
    random_chat.signal(ana, session.id, {"candidate": None, "n": 3})  # numbered (see call.js)
    assert events(bob.id)[0]["data"] == {"candidate": None, "n": 3}
    random_chat.next_partner(bob)
    assert events(ana.id) == [{"type": "rc_ended", "session": session.id, "reason": "next"}]
    with pytest.raises(Exception, match="ended"):
        random_chat.send_text(ana, session.id, "hello?")


@pytest.mark.parametrize(
    "data",
    [
        None,
        "offer",
        {"sdp": {"type": "hack", "sdp": "x"}},
        {"sdp": {"type": "offer", "sdp": "x" * 100_001}},
        {"candidate": {"candidate": 42}},
        {"candidate": {"candidate": "c", "sdpMLineIndex": "0"}},
        {"sdp": {"type": "offer", "sdp": "x"}, "candidate": None},
        {"script": "alert(1)"},
        {"n": 1},
        {"sdp": {"type": "offer", "sdp": "x"}, "n": "1"},
        {"sdp": {"type": "offer", "sdp": "x"}, "n": 0},
        {"sdp": {"type": "offer", "sdp": "x"}, "n": True},
        {"candidate": None, "n": 2**40},
    ],
)
def test_malformed_signals_never_reach_the_other_side(ctx, events, data):
    ana, bob = fan("Ana"), fan("Bob")
    random_chat.join(ana, [])
    session = random_chat.join(bob, [])
    events(ana.id), events(bob.id)
    with pytest.raises(ValidationFailed):
        random_chat.signal(ana, session.id, data)
    assert events(bob.id) == []


def test_signals_and_text_for_a_chat_you_are_not_in_are_refused(ctx, events):
    ana, bob, eve = fan("Ana"), fan("Bob"), fan("Eve")
    random_chat.join(ana, [])
    session = random_chat.join(bob, [])
    events(ana.id), events(bob.id)
    with pytest.raises(NotFound):
        random_chat.signal(eve, session.id, {"candidate": None})
    with pytest.raises(NotFound):
        random_chat.send_text(eve, session.id, "hi")
    with pytest.raises(NotFound):
        random_chat.send_text(eve, "not-a-number", "hi")
    assert events(ana.id) == [] and events(bob.id) == []


def test_blocked_people_never_meet_and_only_verified_active_adults_join(ctx):
    ana, bob = fan("Ana"), fan("Bob")
    safety.block(ana, bob.id)
    random_chat.join(ana, [])
    assert random_chat.join(bob, []) is None
    unverified = fan("New")
    unverified.email_verified_at = None
    suspended = fan("Sus")
    suspended.status = "suspended"
    db.session.commit()
    for person in (unverified, suspended):
        with pytest.raises(NotAllowed):
            random_chat.join(person, [])
    with pytest.raises(ValidationFailed):
        random_chat.join(fan("Tags"), ["a", "b", "c", "d", "e", "f"])
    with pytest.raises(ValidationFailed):
        random_chat.join(fan("Weird"), ["<script>"])


def test_joining_twice_keeps_one_place_in_the_queue(ctx):
    ana, bob, cy = fan("Ana"), fan("Bob"), fan("Cy")
    random_chat.join(ana, [])
    random_chat.join(ana, [])
    assert random_chat.join(bob, []) is not None
    assert random_chat.join(cy, []) is None  # Ana was in the queue once, and is taken


def test_a_report_carries_the_transcript_and_ends_the_chat(ctx, events):
    ana, bob = fan("Ana"), fan("Bob")
    random_chat.join(ana, [])
    session = random_chat.join(bob, [])
    random_chat.send_text(ana, session.id, "hello")
    random_chat.send_text(bob, session.id, "send me money")
    events(ana.id), events(bob.id)
    random_chat.report(ana, session.id, "spam", "asked for money")
    report = db.session.scalar(select(Report))
    assert report.reported_user_id == bob.id and report.subject_type == "random_chat"
    assert [line["text"] for line in report.snapshot["transcript"]] == ["hello", "send me money"]
    assert [line["from"] for line in report.snapshot["transcript"]] == ["reporter", "reported"]
    assert db.session.get(RandomSession, session.id).ended_at is not None
    assert events(bob.id)[0]["reason"] == "reported"


def test_leaving_ends_the_chat_for_the_other(ctx, events):
    ana, bob = fan("Ana"), fan("Bob")
    random_chat.join(ana, [])
    session = random_chat.join(bob, [])
    events(ana.id)
    random_chat.leave(bob.id)
    assert events(ana.id) == [{"type": "rc_ended", "session": session.id, "reason": "left"}]


def test_the_random_page_and_socket_frames(app):
    """Over the real socket: join, get paired, a bad frame does not close the socket."""
    import simple_websocket

    from tests.conftest import LiveServer
    from tests.test_messaging import _close, _login_cookie, _receive

    with LiveServer(app) as server:
        ana_cookie = _login_cookie(app, "ana@example.com")
        bob_cookie = _login_cookie(app, "bob@example.com")
        url = server.url.replace("http://", "ws://") + "/ws"
        ana = simple_websocket.Client.connect(url, headers={"Cookie": ana_cookie})
        bob = simple_websocket.Client.connect(url, headers={"Cookie": bob_cookie})
        try:
            ana.send(json.dumps({"type": "rc_join", "tags": ["jazz"]}))
            assert _receive(ana, "rc_waiting")
            bob.send(json.dumps({"type": "rc_join", "tags": ["jazz"]}))
            matched = _receive(bob, "rc_matched")
            assert _receive(ana, "rc_matched")["session"] == matched["session"]
            bob.send(json.dumps({"type": "rc_signal", "session": matched["session"], "data": 7}))
            assert "signal" in _receive(bob, "error")["error"]
            bob.send(json.dumps({"type": "rc_text", "session": matched["session"], "text": "yo"}))
            assert _receive(ana, "rc_text")["text"] == "yo"  # bob's socket survived the bad frame
            _close(bob)
            assert _receive(ana, "rc_ended")["reason"] == "left"  # closing the page leaves
        finally:
            _close(ana)
            _close(bob)
    page = app.test_client()
    assert page.get("/random").status_code == 302


@pytest.mark.redis
def test_next_is_rate_limited(redis_app):
    from blueprints import random_chat as frames
    from extensions import limiter

    redis_app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(redis_app)  # re-read the config: enabled, Redis storage
    sent = []
    with redis_app.app_context():
        limiter.reset()
        ana = fan("Ana")
        for _ in range(25):
            frames.handle_frame({}, "rc_next", ana, sent.append, {"random": True})
    refusals = [e for e in sent if e.get("type") == "error"]
    assert len(refusals) == 5 and "Slow down" in refusals[0]["error"]
