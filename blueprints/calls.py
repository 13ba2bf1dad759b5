"""Paid calls with creators: request, accept or decline, the call page, and its socket frames
(call_ping {call}, call_signal {call, data}, call_hangup {call})."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, flash, render_template, url_for
from flask_login import current_user, login_required

from blueprints.creator import creator_required
from blueprints.guards import verified_required
from blueprints.htmx import redirect_to
from core import transactions
from core.errors import DomainError, NotFound
from extensions import limiter
from services import calls, ledger
from services.input import parse_id

bp = Blueprint("calls", __name__)
log = logging.getLogger("amora.calls")


@bp.post("/creators/<int:creator_id>/call")
@verified_required
@limiter.limit("20 per hour")
def request_call(creator_id: int):
    try:
        call = calls.request(current_user, creator_id)
    except ledger.InsufficientCredits as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("wallet.index"))
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("feed.creator_page", creator_id=creator_id))
    return redirect_to(url_for("calls.page", call_id=call.id))


@bp.get("/calls/<int:call_id>")
@login_required
def page(call_id: int):
    call, other = calls.get_with_other(current_user, call_id)
    return render_template(
        "calls/call.html",
        call=call,
        other=other,
        is_fan=current_user.id == call.fan_id,
        ice_servers=json.dumps(current_app.config["ICE_SERVERS"]),
    )


@bp.get("/creator/calls")
@creator_required
def incoming():
    return render_template("calls/incoming.html", rows=calls.incoming(current_user))


@bp.get("/creator/calls/list")
@creator_required
def incoming_list():
    return render_template("calls/_incoming.html", rows=calls.incoming(current_user))


@bp.post("/calls/<int:call_id>/accept")
@creator_required
@limiter.limit("60 per hour")
def accept(call_id: int):
    try:
        calls.accept(current_user, call_id)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect_to(url_for("calls.incoming"))
    return redirect_to(url_for("calls.page", call_id=call_id))


@bp.post("/calls/<int:call_id>/decline")
@creator_required
def decline(call_id: int):
    try:
        calls.decline(current_user, call_id)
    except NotFound:
        raise  # the error handler's 404 page
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect_to(url_for("calls.incoming"))


@bp.post("/calls/<int:call_id>/end")
@login_required
def end(call_id: int):
    calls.end(current_user, call_id)
    return redirect_to(url_for("calls.page", call_id=call_id))


def handle_frame(frame: dict, kind: str, user, send_json) -> None:
    """One call frame from `user`'s socket (`user`: a `models.User`)."""
    call_id = parse_id(frame.get("call"))
    if call_id is None:
        send_json({"type": "error", "error": "Which call?", "frame": kind})
        return
    try:
        if kind == "call_ping":
            call = calls.heartbeat(user, call_id)
            send_json(
                {
                    "type": "call_state",
                    "call": call.id,
                    "status": call.status,
                    "held_minutes": call.held_minutes,
                }
            )
        elif kind == "call_signal":
            calls.signal(user, call_id, frame.get("data"))
        elif kind == "call_hangup":
            calls.end(user, call_id)
        else:
            send_json({"type": "error", "error": f"Unknown frame type {kind!r}."})
    except DomainError as exc:
        send_json({"type": "error", "error": exc.message, "frame": kind})
    except Exception:
        log.exception("call frame %s from user %s failed", kind, user.id)
        transactions.rollback()
        send_json({"type": "error", "error": "Something went wrong; try again.", "frame": kind})
