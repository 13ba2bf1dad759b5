"""Random chat: the /random page, its report form, and its frames on the shared socket (/ws).

Frames (JSON, `type` first): rc_join {tags}, rc_tick, rc_next, rc_leave, rc_text {session,
text}, rc_typing {session}, rc_signal {session, data: {sdp|candidate|media}}. A bad frame gets
an `error` frame back; nothing reaches the other person and the socket stays open.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required
from limits import parse
from redis.exceptions import RedisError

from blueprints.forms.random_chat import RandomChatReportForm
from blueprints.guards import verified_required
from blueprints.htmx import apply_errors
from core import transactions
from core.errors import DomainError, ValidationFailed
from extensions import limiter
from services import random_chat

bp = Blueprint("random_chat", __name__)
log = logging.getLogger("amora.random_chat")

NEXT_LIMIT = parse("20/minute")


@bp.get("/random")
@login_required
def index():
    problem = None
    try:
        random_chat.check_allowed(current_user)
    except DomainError as exc:
        problem = exc.message
    return render_template(
        "random_chat/index.html",
        problem=problem,
        form=RandomChatReportForm(),
        ice_servers=json.dumps(current_app.config["ICE_SERVERS"]),
    )


@bp.post("/random/sessions/<int:session_id>/report")
@verified_required
@limiter.limit("20 per hour")
def report(session_id: int):
    """The chat's report box: the thanks (or why the report was refused) in place of the form,
    or the form again with its fields' errors (422)."""
    form = RandomChatReportForm()
    if form.validate_on_submit():
        try:
            random_chat.report(current_user, session_id, form.reason.data, form.details.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
        except DomainError as exc:
            return render_template("random_chat/_reported.html", error=exc.message), exc.status
        else:
            return render_template("random_chat/_reported.html", error=None)
    return render_template("random_chat/_report_form.html", form=form, session_id=session_id), 422


def _next_allowed(user_id: int) -> bool:
    """A gentle limit on Next (shared by every process through the limiter's storage)."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    return limiter.limiter.hit(NEXT_LIMIT, "rc_next", str(user_id))


PAUSED = "Random chat is paused for a moment. Try again in a minute."


def handle_frame(frame: dict, kind: str, user, send_json, state: dict) -> None:
    """One random-chat frame from `user`'s socket (`user`: a `models.User`). `state` belongs
    to that socket."""
    try:
        if kind == "rc_join":
            state["random"] = True
            session = random_chat.join(user, frame.get("tags") or [])
            if session is None:
                send_json({"type": "rc_waiting"})
        elif kind == "rc_tick":
            if state.get("random") and random_chat.is_waiting(user.id):
                random_chat.try_match(user.id)
        elif kind == "rc_next":
            if not _next_allowed(user.id):
                send_json({"type": "error", "error": "Slow down a little before the next chat."})
                return
            random_chat.next_partner(user)
        elif kind == "rc_leave":
            state["random"] = False
            random_chat.leave(user.id)
        elif kind == "rc_text":
            random_chat.send_text(user, frame.get("session"), frame.get("text"))
        elif kind == "rc_typing":
            random_chat.typing(user, frame.get("session"))
        elif kind == "rc_signal":
            random_chat.signal(user, frame.get("session"), frame.get("data"))
        else:
            send_json({"type": "error", "error": f"Unknown frame type {kind!r}."})
    except DomainError as exc:
        send_json({"type": "error", "error": exc.message, "frame": kind})
    except RedisError:  # the waiting queue lives in Redis: pairing waits until it is back
        log.warning("random chat frame %s from user %s: Redis unreachable", kind, user.id)
        transactions.rollback()
        send_json({"type": "error", "error": PAUSED, "frame": kind})
    except Exception:  # a bug must not close the socket (the other chats on it go on)
        log.exception("random chat frame %s from user %s failed", kind, user.id)
        transactions.rollback()
        send_json({"type": "error", "error": "Something went wrong; try again.", "frame": kind})


def socket_closed(user_id: int, state: dict) -> None:
    if state.get("random"):
        random_chat.leave(user_id)
