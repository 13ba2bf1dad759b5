"""Messages: the inbox, a conversation (htmx over HTTP), and the WebSocket at /ws.

The socket carries small JSON events (a message arrived, someone is typing, messages were
read); the page then fetches the new messages as HTML over plain HTTP, which also works without
the socket. On (re)connect the client sends the last message id it has and gets the ids it
missed, so each message lands on screen exactly once (the DOM keys them by id).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import threading
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from limits import parse_many
from simple_websocket import ConnectionClosed
from sqlalchemy import inspect as sa_inspect

from blueprints.guards import read_only_reason, verified_required
from blueprints.htmx import is_htmx
from blueprints.input import UNSTORABLE_MESSAGE, query_int
from core.errors import Conflict, DomainError
from extensions import db, limiter, sock
from models import MediaStatus, Message, User
from services import ledger, media, messaging, metrics, realtime, safety, sessions
from services.input import has_unstorable_text, parse_id

bp = Blueprint("messages", __name__)
log = logging.getLogger("amora.messages")


@bp.get("/messages")
@login_required
def inbox():
    return render_template(
        "messages/inbox.html", conversations=messaging.conversations_of(current_user)
    )


def _other_or_404(other_id: int) -> User:
    other = db.session.get(User, other_id)
    if (
        other is None
        or other.id == current_user.id
        or other.is_gone
        or safety.blocked_between(current_user.id, other_id)
    ):
        abort(404)
    return other


@bp.get("/messages/<int:other_id>")
@login_required
def conversation(other_id: int):
    other = _other_or_404(other_id)
    items = messaging.messages_between(current_user, other_id)
    messaging.mark_read(current_user, other_id)
    allowed, reason = messaging.may_write(current_user, other)
    return render_template(
        "messages/conversation.html",
        other=other,
        items=items,
        attachments=messaging.attachments_for(current_user, items),
        vault=[i for i in media.vault_items(current_user.id) if i.status == MediaStatus.READY]
        if current_user.is_creator
        else [],
        allowed=allowed,
        reason=reason,
        price=messaging.message_price(current_user, other),
        balance=ledger.wallet_balance(current_user.id),
    )


@bp.get("/messages/<int:other_id>/since")
@login_required
def since(other_id: int):
    other = _other_or_404(other_id)
    after = query_int("after") or 0
    items = messaging.messages_between(current_user, other_id, after_id=after)
    if items:
        messaging.mark_read(current_user, other_id)
    return render_template(
        "messages/_items.html",
        items=items,
        other=other,
        attachments=messaging.attachments_for(current_user, items),
    )


# Each account's budget for sending messages, shared by the two ways to send (HTTP and the
# socket), on top of the per-address limit of the HTTP route.
SEND_LIMITS = "30 per minute; 600 per hour"
TOO_FAST = "You are sending messages too fast. Wait a little and try again."


def _send_allowed(user_id: int) -> bool:
    """Count one message against `user_id`'s SEND_LIMITS; False once a limit is reached."""
    if not limiter.enabled:
        return True
    try:
        strategy = limiter.limiter
        return all(
            strategy.hit(item, "message-send", str(user_id)) for item in parse_many(SEND_LIMITS)
        )
    except Exception:  # the limits' store is down: sending must not stop with it
        log.exception("message send limit not checked for user %s", user_id)
        return True


@bp.post("/messages/<int:other_id>")
@login_required
@limiter.limit(SEND_LIMITS)
def send(other_id: int):
    other = _other_or_404(other_id)
    if not _send_allowed(current_user.id):
        return render_template("messages/_compose_error.html", error=TOO_FAST), 429
    try:
        message = messaging.send(
            current_user,
            other.id,
            request.form.get("body", ""),
            media_id=request.form.get("media_id") or request.form.get("upload_id") or None,
            unlock_price=request.form.get("unlock_price") or None,
        )
    except ledger.InsufficientCredits as exc:
        return render_template("messages/_compose_error.html", error=exc.message, buy=True), 402
    except DomainError as exc:
        return render_template("messages/_compose_error.html", error=exc.message), exc.status
    if is_htmx():
        return render_template(
            "messages/_sent.html",
            items=[message],
            attachments=messaging.attachments_for(current_user, [message]),
            balance=message.sender_balance
            if message.sender_balance is not None
            else ledger.wallet_balance(current_user.id),
        )
    return redirect(url_for("messages.conversation", other_id=other.id), code=303)


@bp.post("/messages/attachments/<int:message_id>/unlock")
@verified_required
@limiter.limit("30 per minute; 300 per hour")
def unlock(message_id: int):
    """Pay a PPV message's price; the message is swapped in unlocked."""
    error, buy, status = None, False, 200
    try:
        message = messaging.unlock_message(current_user, message_id)
    except ledger.InsufficientCredits as exc:
        error, buy, status = exc.message, True, 402
    except (ledger.DuplicateTransfer, Conflict):
        pass  # another click paid for it
    except DomainError as exc:
        abort(exc.status, description=exc.message)
    message = db.session.get(Message, message_id)
    if not is_htmx():
        if error:
            abort(status, description=error)
        return redirect(url_for("messages.conversation", other_id=message.sender_id), code=303)
    return render_template(
        "messages/_unlocked.html",
        items=[message],
        other=db.session.get(User, message.sender_id),
        attachments=messaging.attachments_for(current_user, [message]),
        error=error,
        buy=buy,
        balance=ledger.wallet_balance(current_user.id),
    ), status


@bp.post("/messages/attachments/presign")
@verified_required
@limiter.limit("60 per hour")
def attachment_presign():
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    try:
        upload = media.start_upload(
            current_user, "chat", str(data.get("content_type", "")), data.get("size")
        )
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(upload)


@bp.post("/messages/attachments/confirm")
@verified_required
@limiter.limit("60 per hour")
def attachment_confirm():
    """The photo arrived: the compose form gets it as an attachment (a hidden media_id)."""
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    try:
        obj = media.confirm_upload(current_user, str(data.get("key", "")))
    except DomainError as exc:
        return render_template("messages/_attachment.html", error=exc.message), exc.status
    return render_template("messages/_attachment.html", obj=obj, error=None)


@bp.get("/messages/unread")
@login_required
def unread_badge():
    return render_template("messages/_unread.html", unread=messaging.unread_total(current_user.id))


# --- the socket --------------------------------------------------------------------------------


# Sockets re-check their session when told (a "sessions_changed" event on the user's channel,
# published when sessions are revoked or the account is banned) and, as a safety net, every
# SESSION_CHECK_SECONDS. The first check falls at a random point of the interval: sockets that
# open together (every browser reconnecting after a restart) must not all check at once.
SESSION_CHECK_SECONDS = 30.0
NOT_A_FRAME = "Frames are JSON objects with a type."


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
    db.session.remove()
    # One thread per socket (this one), asleep on the socket's own signal `ws.event`, which the
    # socket's reader sets when a frame arrives or the connection drops, and the broker sets
    # after queueing an event for this user. No thread polls.
    token = secrets.token_hex(8)  # this socket's own: it gets no copy of what it sent
    subscription = realtime.broker().subscribe(user_id, wake=ws.event.set, token=token)
    metrics.socket_opened()
    send_lock = threading.Lock()
    state: dict = {}  # this socket's own state (random chat)
    me = _Sender(user_id)

    def send_json(event: dict) -> None:
        with send_lock:
            ws.send(json.dumps(event))

    def session_live() -> bool:
        with app.app_context():
            still = sessions.load_session_user(user_id, raw_sid) is not None
            db.session.remove()
        return still

    next_check = time.monotonic() + random.uniform(0.1, 1.0) * SESSION_CHECK_SECONDS

    def still_live() -> bool:
        """Check the session now (and read the account again at the next send); a revoked
        or banned one's socket is closed, within a second of the change."""
        nonlocal next_check
        next_check = time.monotonic() + SESSION_CHECK_SECONDS
        me.forget()
        if session_live():
            return True
        with send_lock:
            ended = {"type": "closed", "reason": "Your session has ended."}
            _close_after(ws, ended, "session ended")
        return False

    def forward(events: list[dict]) -> None:
        for event in events:
            if event.get("type") != "sessions_changed":  # internal: not for the browser
                send_json(event)

    try:
        with contextlib.suppress(ConnectionClosed):
            while True:
                ws.event.wait(max(0.0, next_check - time.monotonic()))
                ws.event.clear()
                # The queue first: a change to the account queued before a frame arrived
                # (suspended, banned, logged out) is acted on before the frame is handled.
                events = subscription.drain()
                due = time.monotonic() >= next_check
                if (due or _account_changed(events)) and not still_live():
                    break
                forward(events)
                while (raw := ws.receive(timeout=0)) is not None:
                    try:
                        frame = json.loads(raw)
                        kind = frame["type"]
                    except (ValueError, KeyError, TypeError, RecursionError):
                        send_json({"type": "error", "error": NOT_A_FRAME})
                        continue
                    if has_unstorable_text(frame):
                        send_json({"type": "error", "error": UNSTORABLE_MESSAGE})
                        continue
                    _handle(frame, kind, me, send_json, state, token)
                # The queue again: a wake-up that receive() cleared belongs to an event that
                # is queued by now.
                events = subscription.drain()
                if _account_changed(events) and not still_live():
                    break
                forward(events)
    finally:
        subscription.close()
        metrics.socket_closed()
        if state:
            from blueprints import random_chat

            with app.app_context():
                try:
                    random_chat.socket_closed(user_id, state)
                except Exception:
                    log.exception("leaving random chat for user %s failed", user_id)
                db.session.remove()


def _account_changed(events: list[dict]) -> bool:
    return any(event.get("type") == "sessions_changed" for event in events)


# How long a refused socket waits for the page to act on its "closed" frame (pages reload, which
# closes the socket from their side) before the server closes it.
CLOSE_GRACE_SECONDS = 0.5


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


class _Sender:
    """A socket's user as its send frames see it: read once, then kept across frames (the
    busiest frame would otherwise read the account again for every message). Forgotten at
    each session check: every SESSION_CHECK_SECONDS, and at once when the account changes
    state (suspended, banned, verified, a creator), which tells its sockets to check."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self._user: User | None = None

    def get(self) -> User | None:
        """The user, attached to this frame's (empty) session; None if the account is gone."""
        user = self._user
        if user is None or sa_inspect(user).expired_attributes:  # a rollback expired it
            user = self._user = db.session.get(User, self.user_id)
        else:
            db.session.add(user)  # detached since the last frame: attached without a query
        return user

    def forget(self) -> None:
        self._user = None


def _handle(frame: dict, kind: str, me: _Sender, send_json, state: dict, token: str) -> None:
    try:
        if kind == "send":
            _send_frame(frame, me.get(), send_json, token)
        elif kind == "ping":
            send_json({"type": "pong"})
        else:
            _handle_other(frame, kind, me.user_id, send_json, state)
    finally:
        db.session.remove()


def _handle_other(frame: dict, kind: str, user_id: int, send_json, state: dict) -> None:
    user = db.session.get(User, user_id)
    if user is None:  # the account is gone; the session check closes this socket shortly
        send_json({"type": "error", "error": "Log in again."})
        return
    if isinstance(kind, str) and kind.startswith("call_"):
        from blueprints import calls

        calls.handle_frame(frame, kind, user, send_json)
        return
    if isinstance(kind, str) and kind.startswith("rc_"):
        from blueprints import random_chat

        random_chat.handle_frame(frame, kind, user, send_json, state)
        return
    if kind == "hello":
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
    elif kind == "typing":
        other_id = parse_id(frame.get("to"))
        if other_id is None:
            send_json({"type": "error", "error": "typing needs a `to` user id."})
            return
        target = db.session.get(User, other_id)
        if target is None or not messaging.may_write(user, target)[0]:
            send_json({"type": "error", "error": "You cannot write to that person."})
            return
        realtime.broker().publish(other_id, {"type": "typing", "from": user_id})
    else:
        send_json({"type": "error", "error": f"Unknown frame type {kind!r}."})


def _send_frame(frame: dict, user: User | None, send_json, token: str) -> None:
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
    if not _send_allowed(user.id):
        refuse(TOO_FAST, 429)
        return
    try:
        message = messaging.send(user, to, body, origin=token)
    except ledger.InsufficientCredits as exc:
        db.session.rollback()
        refuse(exc.message, 402, buy=True)
        return
    except DomainError as exc:
        db.session.rollback()
        refuse(exc.message, exc.status)
        return
    except Exception:  # a fault, not a refusal: nothing was stored, and the socket lives on
        db.session.rollback()
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
