"""The hand-written SQL of messaging, both dialects in one place: the statements of the chat send
path and of the anti-spam check that runs before it. They are SQL text, written once, because
they run for every message: SQLAlchemy builds, caches and compiles nothing per call. `messaging`
and `antispam` call the functions below and never ask which database they are on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, DateTime, Row, bindparam, text


@dataclass(frozen=True)
class Recipient:
    status: str
    is_creator: bool
    message_price: int | None
    blocked: bool


# The statements of `send`, written once: SQL text costs SQLAlchemy no statement building,
# cache key or compilation per message. The same SQL runs on PostgreSQL and SQLite (≥ 3.35).
_RECIPIENT = text(
    """
SELECT u.status, u.is_creator, cs.message_price,
       EXISTS (SELECT 1 FROM blocks
               WHERE (blocker_id = :sender AND blocked_id = :recipient)
                  OR (blocker_id = :recipient AND blocked_id = :sender)) AS blocked
FROM users AS u LEFT JOIN creator_settings AS cs ON cs.user_id = u.id
WHERE u.id = :recipient
"""
)
_TOUCH_CONVERSATION = text(
    """
INSERT INTO conversations (user_a_id, user_b_id, created_at, last_message_at)
VALUES (:low, :high, :at, :at)
ON CONFLICT (user_a_id, user_b_id) DO UPDATE SET last_message_at = excluded.last_message_at
RETURNING id
"""
).bindparams(bindparam("at", type_=DateTime()))
_INSERT_MESSAGE = text(
    """
INSERT INTO messages (conversation_id, sender_id, recipient_id, body, price, media_id,
                      unlock_price, created_at)
VALUES (:conversation_id, :sender_id, :recipient_id, :body, :price, :media_id,
        :unlock_price, :created_at)
RETURNING id
"""
).bindparams(bindparam("created_at", type_=DateTime()))
# PostgreSQL: the two above in one statement (one round trip to the server instead of two).
_TOUCH_CONVERSATION_AND_INSERT = text(
    """
WITH conversation AS (
    INSERT INTO conversations (user_a_id, user_b_id, created_at, last_message_at)
    VALUES (:low, :high, :created_at, :created_at)
    ON CONFLICT (user_a_id, user_b_id) DO UPDATE SET last_message_at = excluded.last_message_at
    RETURNING id
)
INSERT INTO messages (conversation_id, sender_id, recipient_id, body, price, media_id,
                      unlock_price, created_at)
SELECT conversation.id, :sender_id, :recipient_id, :body, :price, :media_id, :unlock_price,
       :created_at
FROM conversation
RETURNING id, conversation_id
"""
).bindparams(bindparam("created_at", type_=DateTime()))
_SET_TRANSFER = text("UPDATE messages SET transfer_id = :transfer_id WHERE id = :id")


def recipient(connection: Connection, sender_id: int, recipient_id: int) -> Recipient | None:
    """What `send` needs to know of the recipient, in one statement: their account's state,
    whether they are a creator and what they charge, and whether either blocked the other."""
    row = connection.execute(
        _RECIPIENT, {"sender": sender_id, "recipient": recipient_id}
    ).one_or_none()
    return Recipient(row[0], bool(row[1]), row[2], bool(row[3])) if row else None


def insert_message(connection: Connection, values: dict, low: int, high: int) -> tuple[int, int]:
    """Store the message (`values`: the columns of `_INSERT_MESSAGE` but its conversation),
    creating the conversation of the pair (`low`, `high`) or moving its last_message_at to the
    message's `created_at` — one upsert, since two people's first messages may race. One
    statement on PostgreSQL, two on SQLite. Returns (message id, conversation id)."""
    if connection.dialect.name == "postgresql":
        row = connection.execute(
            _TOUCH_CONVERSATION_AND_INSERT, {**values, "low": low, "high": high}
        ).one()
        return row[0], row[1]
    conversation_id = connection.execute(
        _TOUCH_CONVERSATION, {"low": low, "high": high, "at": values["created_at"]}
    ).scalar_one()
    message_id = connection.execute(
        _INSERT_MESSAGE, {**values, "conversation_id": conversation_id}
    ).scalar_one()
    return message_id, conversation_id


def set_transfer(connection: Connection, message_id: int, transfer_id: int) -> None:
    """Point a paid message at the ledger transfer that paid for it."""
    connection.execute(_SET_TRANSFER, {"id": message_id, "transfer_id": transfer_id})


# One statement for every message: the sender's latest messages of the duplicate window, and
# (as a column of each row) how many people they wrote to in the burst window, which lies
# inside it — with no message in the hour there is no row, and no burst either. SQL text: no
# statement building per message.
_RECENT = text(
    """
SELECT recipient_id, body,
       (SELECT count(DISTINCT recipient_id) FROM messages
        WHERE sender_id = :sender AND created_at >= :burst_since) AS burst
FROM messages
WHERE sender_id = :sender AND created_at >= :since
ORDER BY id DESC
LIMIT 200
"""
).bindparams(bindparam("since", type_=DateTime()), bindparam("burst_since", type_=DateTime()))


def recent_messages(
    connection: Connection, sender_id: int, since: dt.datetime, burst_since: dt.datetime
) -> Sequence[Row]:
    """The sender's latest messages since `since`, newest first (at most 200), as rows of
    (recipient_id, body, burst): `burst` is how many people they wrote to since `burst_since`."""
    return connection.execute(
        _RECENT, {"sender": sender_id, "since": since, "burst_since": burst_since}
    ).all()
