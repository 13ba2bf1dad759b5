"""Messages: the inbox and a conversation, over plain HTTP with htmx. The socket at /ws is in
`blueprints/chat_socket.py` (the connection) and `blueprints/chat_protocol.py` (its frames); it
shares this blueprint and the send limits below.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from limits import parse_many

from blueprints import navigation
from blueprints.forms.media import ConfirmUploadForm, StartUploadForm, json_body
from blueprints.forms.messages import MessageForm
from blueprints.guards import verified_required
from blueprints.htmx import apply_errors, is_htmx
from blueprints.input import query_int
from core.errors import Conflict, DomainError, ValidationFailed
from extensions import limiter
from services import ledger, media, messaging

bp = Blueprint("messages", __name__)
log = logging.getLogger("amora.messages")


@bp.get("/messages")
@login_required
def inbox():
    return render_template(
        "messages/inbox.html", conversations=messaging.conversations_of(current_user)
    )


@bp.get("/messages/<int:other_id>")
@login_required
def conversation(other_id: int):
    other, price = messaging.correspondent_and_price(current_user, other_id)
    return _conversation_page(other, MessageForm(), price=price)


def _conversation_page(
    other,
    form: MessageForm,
    status: int = 200,
    error: str | None = None,
    buy: bool = False,
    price: int | None = None,
):
    """The conversation with `other`, its compose form holding `form` (and, after a send that
    was refused without JavaScript, the reason above it). `price`: of a message to `other`,
    when known."""
    items = messaging.read_conversation(current_user, other.id)
    # `other` came through messaging.correspondent: no block either way.
    allowed, reason = messaging.may_write(current_user, other, blocked=False)
    if price is None:
        price = messaging.message_price(current_user, other)
    return render_template(
        "messages/conversation.html",
        other=other,
        items=items,
        attachments=messaging.attachments_for(current_user, items),
        vault=media.ready_vault_items(current_user.id) if current_user.is_creator else [],
        allowed=allowed,
        reason=reason,
        price=price,
        balance=navigation.counts().credits if price else None,  # the nav bar's, read once
        form=form,
        error=error,
        buy=buy,
        voice_max_seconds=media.voice_seconds(),
    ), status


@bp.get("/messages/<int:other_id>/since")
@login_required
def since(other_id: int):
    other = messaging.correspondent(current_user, other_id)
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


def send_allowed(user_id: int) -> bool:
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
    other = messaging.correspondent(current_user, other_id)
    form = MessageForm()
    if not send_allowed(current_user.id):
        return _refused(other, form, TOO_FAST, 429)
    if not form.validate():
        return _refused(other, form, None, 422)
    try:
        message = messaging.send(
            current_user,
            other.id,
            form.body.data or "",
            media_id=form.attachment_id,
            unlock_price=form.unlock_price.data or 0,
        )
    except ledger.InsufficientCredits as exc:
        return _refused(other, form, exc.message, 402, buy=True)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _refused(other, form, None, 422)
    except DomainError as exc:
        return _refused(other, form, exc.message, exc.status)
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


def _refused(other, form: MessageForm, error: str | None, status: int, buy: bool = False):
    """A send that did not happen: for htmx the reason alone, above the compose form (which
    keeps what was typed); without JavaScript the conversation again, the form's fields holding
    their errors."""
    if is_htmx():
        return render_template(
            "messages/_compose_error.html", form=form, error=error, buy=buy
        ), status
    return _conversation_page(other, form, status, error, buy)


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
    message, sender = messaging.message_to(current_user, message_id)
    if not is_htmx():
        if error:
            abort(status, description=error)
        return redirect(url_for("messages.conversation", other_id=message.sender_id), code=303)
    return render_template(
        "messages/_unlocked.html",
        items=[message],
        other=sender,
        attachments=messaging.attachments_for(current_user, [message]),
        error=error,
        buy=buy,
        balance=ledger.wallet_balance(current_user.id),
    ), status


def _presigned(purpose: str):
    """The pre-signed POST of a photo (`chat`) or a voice note (`voice`) sent from here."""
    form = StartUploadForm(formdata=json_body())
    try:
        upload = media.start_upload(current_user, purpose, form.content_type.data, form.size.data)
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(upload)


@bp.post("/messages/attachments/presign")
@verified_required
@limiter.limit("60 per hour")
def attachment_presign():
    return _presigned("chat")


@bp.post("/messages/attachments/voice")
@verified_required
@limiter.limit("120 per hour")
def voice_presign():
    """A voice note recorded in the page (then the same confirm as a photo's, and it goes with
    the next message)."""
    return _presigned("voice")


@bp.get("/messages/attachments/<int:media_id>")
@verified_required
def attachment_state(media_id: int):
    """The attachment box again while its photo or voice note is being processed (it polls)."""
    obj = media.own_upload(current_user, media_id, ("chat", "voice"))
    return render_template("messages/_attachment.html", obj=obj, error=None)


@bp.post("/messages/attachments/confirm")
@verified_required
@limiter.limit("60 per hour")
def attachment_confirm():
    """The photo arrived: the compose form gets it as an attachment (a hidden media_id)."""
    form = ConfirmUploadForm(formdata=json_body())
    try:
        obj = media.confirm_upload(current_user, form.key.data, ("chat", "voice"))
    except DomainError as exc:
        return render_template("messages/_attachment.html", error=exc.message), exc.status
    return render_template("messages/_attachment.html", obj=obj, error=None)


@bp.get("/messages/unread")
@login_required
def unread_badge():
    return render_template("messages/_unread.html", unread=messaging.unread_total(current_user.id))
