"""The frames of the socket at /ws (docs/architecture.md#real-time): what a frame is, and what
each type does. `blueprints/chat_socket.py` runs the connection and hands every frame here.

Frames are small JSON objects with a `type`: `hello` (catch-up after `last_id`), `send` (a text
message, same rules as the HTTP form), `typing`, `ping`, `rc_*` (random chat,
`blueprints/random_chat.py: handle_frame`) and `call_*` (calls, `blueprints/calls.py:
handle_frame`). A bad frame gets an `error` frame back; the socket lives on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from flask import g, render_template

from blueprints import calls, random_chat
from blueprints.guards import read_only_reason
from blueprints.input import UNSTORABLE_MESSAGE
from blueprints.messages import TOO_FAST, send_allowed
from core import transactions
from core.errors import DomainError
from services import ledger, messaging, realtime
from services.input import has_unstorable_text, parse_id

log = logging.getLogger("amora.messages")

NOT_A_FRAME = "Frames are JSON objects with a type."

SendJson = Callable[[dict], None]


def parse(raw: str) -> tuple[dict, object] | str:
    """A received text as (frame, its type), or the error to answer it with."""
    try:
        frame = json.loads(raw)
        kind = frame["type"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return NOT_A_FRAME
    if has_unstorable_text(frame):
        return UNSTORABLE_MESSAGE
    return frame, kind


class Sender:
    """A socket's user as its send frames see it: read once, then kept across frames (the
    busiest frame would otherwise read the account again for every message). Forgotten at
    each session check: every SESSION_CHECK_SECONDS, and at once when the account changes
    state (suspended, banned, verified, a creator), which tells its sockets to check."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self._user = None

    def get(self):
        """The user (a `models.User`), attached to this frame's (empty) database session; None
        if the account is gone."""
        self._user = realtime.socket_user(self.user_id, self._user)
        return self._user

    def forget(self) -> None:
        self._user = None


def handle(
    frame: dict, kind: object, me: Sender, send_json: SendJson, state: dict, token: str
) -> None:
    """Answer one frame from `me`'s socket. `state` belongs to the socket (random chat);
    `token` is the socket's own, so a message it sends gets no copy of its event."""
    try:
        if kind == "send":
            _send_frame(frame, me.get(), send_json, token)
        elif kind == "ping":
            send_json({"type": "pong"})
        else:
            _handle_other(frame, kind, me.user_id, send_json, state)
    finally:
        transactions.release()


def _handle_other(
    frame: dict, kind: object, user_id: int, send_json: SendJson, state: dict
) -> None:
    user = realtime.socket_user(user_id)
    if user is None:  # the account is gone; the session check closes this socket shortly
        send_json({"type": "error", "error": "Log in again."})
        return
    if isinstance(kind, str) and kind.startswith("call_"):
        calls.handle_frame(frame, kind, user, send_json)
        return
    if isinstance(kind, str) and kind.startswith("rc_"):
        random_chat.handle_frame(frame, kind, user, send_json, state)
        return
    if kind == "hello":
        _hello(frame, user, send_json)
    elif kind == "typing":
        other_id = parse_id(frame.get("to"))
        if other_id is None:
            send_json({"type": "error", "error": "typing needs a `to` user id."})
            return
        try:
            messaging.typing(user, other_id)
        except DomainError as exc:
            send_json({"type": "error", "error": exc.message})
    else:
        send_json({"type": "error", "error": f"Unknown frame type {kind!r}."})


def _hello(frame: dict, user, send_json: SendJson) -> None:
    """Catch-up: the ids of the messages after `last_id`, then `ready`."""
    raw_last_id = frame.get("last_id") or 0
    last_id = 0 if raw_last_id in (0, "0") else parse_id(raw_last_id)
    if last_id is None:
        send_json({"type": "error", "error": "last_id must be a message id."})
        return
    for message in messaging.missed(user, last_id):
        send_json(
            {
                "type": "message",
                "id": message.id,
                "conversation_id": message.conversation_id,
                "sender_id": message.sender_id,
                "recipient_id": message.recipient_id,
                "catch_up": True,
            }
        )
    send_json({"type": "ready"})


def _send_frame(frame: dict, user, send_json: SendJson, token: str) -> None:
    """A text message sent over the socket: {"type": "send", "to": id, "body": text, "ref": r}.
    Same rules, charge and limits as `POST /messages/<id>`; the answer echoes `ref`: "sent" with
    the message's id, its HTML for the sender's page and the balance after a paid message, or
    "send_error" with the reason (and `buy` when credits are short). Attachments go over HTTP."""
    ref = frame.get("ref")
    if not isinstance(ref, str | int) or isinstance(ref, bool) or len(str(ref)) > 64:
        ref = None

    def refuse(error: str, status: int, buy: bool = False) -> None:
        send_json({"type": "send_error", "ref": ref, "error": error, "status": status, "buy": buy})

    to = parse_id(frame.get("to"))
    if to is None:
        refuse("send needs a `to` user id.", 400)
        return
    body = frame.get("body")
    if not isinstance(body, str):
        refuse("The message must be text.", 400)
        return
    if user is None:  # the account is gone; the session check closes this socket shortly
        refuse("Log in again to send messages.", 401)
        return
    if user.is_suspended:
        refuse(read_only_reason(user), 403)
        return
    if not send_allowed(user.id):
        refuse(TOO_FAST, 429)
        return
    try:
        message = messaging.send(user, to, body, origin=token)
    except ledger.InsufficientCredits as exc:
        transactions.rollback()
        refuse(exc.message, 402, buy=True)
        return
    except DomainError as exc:
        transactions.rollback()
        refuse(exc.message, exc.status)
        return
    except Exception:  # a fault, not a refusal: nothing was stored, and the socket lives on
        transactions.rollback()
        log.exception("sending a message over the socket failed (user %s)", user.id)
        refuse("Something went wrong and the message was not sent. Try again.", 500)
        return
    g._login_user = user  # the message's HTML speaks of current_user: this frame's sender
    send_json(
        {
            "type": "sent",
            "ref": ref,
            "id": message.id,
            "html": render_template("messages/_items.html", items=[message], attachments={}),
            "balance": message.sender_balance,
        }
    )


def socket_closed(user_id: int, state: dict) -> None:
    """The socket is gone: leave what its frames joined (the random chat queue)."""
    if state:
        random_chat.socket_closed(user_id, state)
