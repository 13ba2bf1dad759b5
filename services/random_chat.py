"""Random chat (docs/dating.md#random-chat): a queue with optional interest tags, pairing, text, and
WebRTC signalling relayed over the socket.

Pairing prefers strangers who share tags (the more the better, then whoever waited longest); a
person with tags waits up to `WAIT_FOR_TAGS` seconds for such a match, then takes anyone. Blocked
pairs are never paired; only active adults with a verified email may join. The queue lives in
Redis when `REDIS_URL` is set (every web process pairs from the same queue, under a short Redis
lock), in the process otherwise. Clients waiting send a tick every few seconds, so the 10-second
fallback needs no timer on the server.

Text is relayed and also kept (`RandomMessage`), so that a report carries the transcript;
housekeeping drops transcripts after `TRANSCRIPT_DAYS`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

from flask import current_app
from sqlalchemy import delete, or_, select

from core import clock
from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import Block, RandomMessage, RandomSession, User, UserStatus
from services import audit, realtime, safety
from services.input import parse_id
from workers.queue import redis_connection

WAIT_FOR_TAGS = 10.0
MAX_TAGS = 5
MAX_TEXT = 1000
MAX_SDP = 100_000
MAX_CANDIDATE = 2_000
TRANSCRIPT_DAYS = 30
_TAG = re.compile(r"^[a-z0-9][a-z0-9 +#-]{0,23}$")


@dataclass
class Entry:
    user_id: int
    tags: list[str]
    joined: float
    blocked: list[int] = field(default_factory=list)


def choose(me: Entry, waiting: list[Entry], now: float) -> Entry | None:
    """The best partner for `me` among `waiting`, or None to keep waiting."""
    best, best_key = None, None
    for other in waiting:
        if other.user_id == me.user_id or other.user_id in me.blocked:
            continue
        if me.user_id in other.blocked:
            continue
        shared = set(me.tags) & set(other.tags)
        if not shared:
            me_ready = not me.tags or now - me.joined >= WAIT_FOR_TAGS
            other_ready = not other.tags or now - other.joined >= WAIT_FOR_TAGS
            if not (me_ready and other_ready):
                continue
        key = (len(shared), -other.joined)
        if best_key is None or key > best_key:
            best, best_key = other, key
    return best


class LocalQueue:
    """The queue of one process (embedded mode)."""

    def __init__(self) -> None:
        self._waiting: dict[int, Entry] = {}
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._waiting[entry.user_id] = entry

    def remove(self, user_id: int) -> bool:
        with self._lock:
            return self._waiting.pop(user_id, None) is not None

    def waiting(self, user_id: int) -> Entry | None:
        with self._lock:
            return self._waiting.get(user_id)

    def pair(self, user_id: int, now: float) -> tuple[Entry, Entry] | None:
        with self._lock:
            me = self._waiting.get(user_id)
            if me is None:
                return None
            partner = choose(me, list(self._waiting.values()), now)
            if partner is None:
                return None
            del self._waiting[me.user_id], self._waiting[partner.user_id]
            return me, partner


class RedisQueue:
    """The queue shared by every process: a hash of waiting entries, changed under a lock."""

    KEY = "amora:rc:waiting"
    LOCK = "amora:rc:lock"
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0"
    )

    def __init__(self, client) -> None:
        self.redis = client

    def add(self, entry: Entry) -> None:
        self.redis.hset(self.KEY, str(entry.user_id), json.dumps(asdict(entry)))

    def remove(self, user_id: int) -> bool:
        return bool(self.redis.hdel(self.KEY, str(user_id)))

    def waiting(self, user_id: int) -> Entry | None:
        raw = self.redis.hget(self.KEY, str(user_id))
        return Entry(**json.loads(raw)) if raw else None

    def pair(self, user_id: int, now: float) -> tuple[Entry, Entry] | None:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + 2.0
        while not self.redis.set(self.LOCK, token, nx=True, px=2000):
            if time.monotonic() > deadline:
                return None  # busy: the next tick tries again
            time.sleep(0.005)
        try:
            raw = self.redis.hgetall(self.KEY)
            entries = [Entry(**json.loads(value)) for value in raw.values()]
            me = next((e for e in entries if e.user_id == user_id), None)
            if me is None:
                return None
            partner = choose(me, entries, now)
            if partner is None:
                return None
            self.redis.hdel(self.KEY, str(me.user_id), str(partner.user_id))
            return me, partner
        finally:
            self.redis.eval(self._RELEASE, 1, self.LOCK, token)


_local = LocalQueue()


def queue():
    app = current_app
    if app.config.get("REDIS_URL"):
        return RedisQueue(redis_connection(app))
    return app.extensions.setdefault("amora_random_queue", _local)


# --- the service ----------------------------------------------------------------------------


def parse_tags(raw: object) -> list[str]:
    values = raw if isinstance(raw, list) else str(raw or "").split(",")
    tags: list[str] = []
    for value in values:
        tag = " ".join(str(value).lower().split())
        if not tag:
            continue
        if not _TAG.match(tag):
            raise ValidationFailed({"tags": f"“{tag[:30]}” is not a tag (letters and digits)."})
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed({"tags": f"Up to {MAX_TAGS} interests."})
    return tags


def check_allowed(user: User) -> None:
    if user.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot use random chat right now.")
    if not user.email_verified:
        raise NotAllowed("Confirm your email address to use random chat.")
    if user.age < current_app.config["MIN_AGE"]:
        raise NotAllowed("Random chat is for adults only.")


def _blocked_ids(user_id: int) -> list[int]:
    rows = db.session.execute(
        select(Block.blocker_id, Block.blocked_id).where(
            or_(Block.blocker_id == user_id, Block.blocked_id == user_id)
        )
    ).all()
    return sorted({a if b == user_id else b for a, b in rows})


def active_session(user_id: int) -> RandomSession | None:
    return db.session.scalar(
        select(RandomSession)
        .where(
            or_(RandomSession.user_a_id == user_id, RandomSession.user_b_id == user_id),
            RandomSession.ended_at.is_(None),
        )
        .order_by(RandomSession.id.desc())
    )


def _end(session: RandomSession, by_user_id: int | None, reason: str) -> None:
    session.ended_at = clock.now()
    session.ended_by_id = by_user_id
    db.session.commit()
    for user_id in (session.user_a_id, session.user_b_id):
        if user_id != by_user_id:
            realtime.broker().publish(
                user_id, {"type": "rc_ended", "session": session.id, "reason": reason}
            )


def join(user: User, tags: object) -> RandomSession | None:
    """Into the queue (leaving any current chat); paired at once when someone fits."""
    check_allowed(user)
    wanted = parse_tags(tags)
    current = active_session(user.id)
    if current is not None:
        _end(current, user.id, "left")
    queue().add(Entry(user.id, wanted, time.time(), _blocked_ids(user.id)))
    return try_match(user.id)


def try_match(user_id: int) -> RandomSession | None:
    """Pair `user_id` if they are waiting and someone fits now (a client's tick calls this)."""
    pair = queue().pair(user_id, time.time())
    if pair is None:
        return None
    me, partner = pair
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_([me.user_id, partner.user_id])))
    }
    if (
        len(users) < 2
        or any(u.status != UserStatus.ACTIVE for u in users.values())
        or safety.blocked_between(me.user_id, partner.user_id)
    ):
        # Someone was banned or blocked since joining: put the other back and try later.
        for entry in (me, partner):
            if entry.user_id in users and users[entry.user_id].status == UserStatus.ACTIVE:
                queue().add(entry)
        return None
    shared = sorted(set(me.tags) & set(partner.tags))
    session = RandomSession(
        user_a_id=partner.user_id, user_b_id=me.user_id, shared_tags=shared, started_at=clock.now()
    )
    db.session.add(session)
    db.session.commit()
    for entry, other, initiator in ((me, partner, True), (partner, me, False)):
        realtime.broker().publish(
            entry.user_id,
            {
                "type": "rc_matched",
                "session": session.id,
                "shared": shared,
                "initiator": initiator,
                "partner_tags": other.tags,
            },
        )
    return session


def is_waiting(user_id: int) -> bool:
    return queue().waiting(user_id) is not None


def leave(user_id: int) -> None:
    """The page closed or the person stopped: out of the queue and out of any chat."""
    queue().remove(user_id)
    current = active_session(user_id)
    if current is not None:
        _end(current, user_id, "left")


def next_partner(user: User) -> None:
    """End the current chat (the client joins again with its tags)."""
    queue().remove(user.id)
    current = active_session(user.id)
    if current is not None:
        _end(current, user.id, "next")


def _session_of(user_id: int, session_id: object) -> RandomSession:
    row_id = parse_id(session_id)
    session = db.session.get(RandomSession, row_id) if row_id is not None else None
    if session is None or user_id not in (session.user_a_id, session.user_b_id):
        raise NotFound("You are not in that chat.")
    if session.ended_at is not None:
        raise DomainError("That chat has ended.")
    return session


def send_text(user: User, session_id: object, text: object) -> RandomMessage:
    session = _session_of(user.id, session_id)
    body = str(text or "").strip()
    if not body:
        raise ValidationFailed({"text": "Write something first."})
    if len(body) > MAX_TEXT:
        raise ValidationFailed({"text": f"Up to {MAX_TEXT:,} characters."})
    message = RandomMessage(session_id=session.id, sender_id=user.id, body=body)
    db.session.add(message)
    db.session.commit()
    realtime.broker().publish(
        session.other(user.id), {"type": "rc_text", "session": session.id, "text": body}
    )
    return message


def typing(user: User, session_id: object) -> None:
    session = _session_of(user.id, session_id)
    realtime.broker().publish(session.other(user.id), {"type": "rc_typing", "session": session.id})


def _clean_signal(data: object) -> dict:
    """Only well-formed WebRTC signalling goes through (malformed frames never reach the
    other browser). Besides one of sdp, candidate or media a signal may carry `n`, the number
    of the offer it belongs to, so that answers and candidates find their connection."""
    number = data.get("n") if isinstance(data, dict) else None
    if number is not None and (
        isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**31
    ):
        raise ValidationFailed({"signal": "An offer number is a positive integer."})
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key != "n"}
    if not isinstance(data, dict) or len(data) != 1:
        raise ValidationFailed({"signal": "A signal carries one of sdp, candidate or media."})
    cleaned = _clean_part(*next(iter(data.items())))
    if number is not None:
        cleaned["n"] = number
    return cleaned


def _clean_part(name: str, value: object) -> dict:
    if name == "sdp":
        if (
            not isinstance(value, dict)
            or value.get("type") not in ("offer", "answer", "rollback")
            or not isinstance(value.get("sdp", ""), str)
            or len(value.get("sdp", "")) > MAX_SDP
        ):
            raise ValidationFailed({"signal": "That session description is not valid."})
        return {"sdp": {"type": value["type"], "sdp": value.get("sdp", "")}}
    if name == "candidate":
        if value is None:
            return {"candidate": None}  # end of candidates
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("candidate"), str)
            or len(value["candidate"]) > MAX_CANDIDATE
            or not isinstance(value.get("sdpMid"), (str, type(None)))
            or not isinstance(value.get("sdpMLineIndex"), (int, type(None)))
            or isinstance(value.get("sdpMLineIndex"), bool)
        ):
            raise ValidationFailed({"signal": "That ICE candidate is not valid."})
        return {
            "candidate": {
                "candidate": value["candidate"],
                "sdpMid": value.get("sdpMid"),
                "sdpMLineIndex": value.get("sdpMLineIndex"),
            }
        }
    if name == "media":
        if not isinstance(value, dict) or set(value) - {"video", "audio", "on"}:
            raise ValidationFailed({"signal": "That media state is not valid."})
        return {"media": {k: bool(v) for k, v in value.items()}}
    raise ValidationFailed({"signal": f"Unknown signal {name!r}."})


def signal(user: User, session_id: object, data: object) -> None:
    session = _session_of(user.id, session_id)
    realtime.broker().publish(
        session.other(user.id),
        {"type": "rc_signal", "session": session.id, "data": _clean_signal(data)},
    )


def transcript(session: RandomSession, viewer_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(RandomMessage)
        .where(RandomMessage.session_id == session.id)
        .order_by(RandomMessage.id)
    )
    return [
        {
            "from": "reporter" if row.sender_id == viewer_id else "reported",
            "text": row.body,
            "at": row.created_at.isoformat(timespec="seconds"),
        }
        for row in rows
    ]


def report(user: User, session_id: int, reason: str, details: str | None) -> None:
    """Report the stranger of chat `session_id` for `reason` (a key of
    `safety.REPORT_REASONS`) with the transcript; the chat ends."""
    row_id = parse_id(session_id)
    session = db.session.get(RandomSession, row_id) if row_id is not None else None
    if session is None or user.id not in (session.user_a_id, session.user_b_id):
        raise NotFound("You are not in that chat.")
    other = session.other(user.id)
    safety.report(
        user,
        other,
        "random_chat",
        str(session.id),
        reason,
        details,
        snapshot={"transcript": transcript(session, user.id), "shared_tags": session.shared_tags},
    )
    if session.ended_at is None:
        _end(session, user.id, "reported")
    audit.record("random_chat.reported", actor_id=user.id, target=("random_session", session.id))
    db.session.commit()


def purge_transcripts(now: dt.datetime | None = None) -> int:
    cutoff = (now or clock.now()) - dt.timedelta(days=TRANSCRIPT_DAYS)
    result = db.session.execute(delete(RandomMessage).where(RandomMessage.created_at < cutoff))
    db.session.commit()
    return result.rowcount
