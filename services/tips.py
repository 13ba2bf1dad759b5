"""Tips (docs/creators.md#tips): a fan gives a creator credits on their profile, a post or a
message, with an optional note. The form carries a one-time token that becomes the transfer's
idempotency key, so a double click or a retried request tips once."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from core.errors import NotFound, ValidationFailed
from extensions import db
from models import Message, Notification, Post, PostStatus, Tip, Transfer, User
from services import creators, ledger, replays
from services.input import parse_id

MAX_TIP = 50_000
MAX_NOTE = 200
TARGETS = ("profile", "post", "message")
_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


def new_token() -> str:
    return secrets.token_hex(16)


def _target(fan: User, creator_id: int, target_type: str, target_id: object) -> int | None:
    if target_type == "profile":
        return None
    target_id = parse_id(target_id)
    if target_id is None:
        raise NotFound("There is nothing to tip there.")
    if target_type == "post":
        post = db.session.get(Post, target_id)
        if post is None or post.creator_id != creator_id or post.status != PostStatus.PUBLISHED:
            raise NotFound("There is no such post.")
    else:
        message = db.session.get(Message, target_id)
        if message is None or message.sender_id != creator_id or message.recipient_id != fan.id:
            raise NotFound("There is no such message.")
    return target_id


def tip(
    fan: User,
    creator_id: int,
    amount: object,
    note: object = "",
    *,
    target_type: str = "profile",
    target_id: object = None,
    token: object = None,
) -> Tip:
    """Tip once per token. Raises InsufficientCredits (nothing written) when short."""
    errors: dict[str, str] = {}
    try:
        credits = int(str(amount).strip())
    except ValueError:
        credits = 0
        errors["amount"] = "Tip a whole number of credits."
    if "amount" not in errors and credits < 1:
        errors["amount"] = "A tip is at least 1 credit."
    elif credits > MAX_TIP:
        errors["amount"] = f"A tip can be at most {MAX_TIP:,} credits."
    text = str(note or "").strip()
    if len(text) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    if target_type not in TARGETS:
        errors["amount"] = "There is nothing to tip there."
    if errors:
        raise ValidationFailed(errors)
    creators.payee(fan, creator_id, "tip")
    target = _target(fan, creator_id, target_type, target_id)
    token = str(token or "")
    if not _TOKEN.match(token):
        token = new_token()  # no token from the form: this request alone is protected
    key = f"tip:{fan.id}:{token}"

    def committed() -> Tip | None:  # the same form sent twice at once: the first one's tip
        return db.session.scalar(
            select(Tip)
            .join(Transfer, Transfer.id == Tip.transfer_id)
            .where(Transfer.idempotency_key == key)
        )

    return replays.same_answer(
        lambda: _tip(fan, creator_id, credits, text, target_type, target, key, token), committed
    )


def _tip(
    fan: User,
    creator_id: int,
    credits: int,
    text: str,
    target_type: str,
    target: int | None,
    key: str,
    token: str,
) -> Tip:
    transfer, created = ledger.spend(
        fan.id, creator_id, credits, "tip", key, reference=("tip", token), memo=text or None
    )
    if not created:
        existing = db.session.scalar(select(Tip).where(Tip.transfer_id == transfer.id))
        if existing is not None:
            return existing  # the same form sent twice
    row = Tip(
        fan_id=fan.id,
        creator_id=creator_id,
        amount=credits,
        note=text or None,
        target_type=target_type,
        target_id=target,
        transfer_id=transfer.id,
    )
    db.session.add(row)
    db.session.add(
        Notification(
            user_id=creator_id,
            kind="tip",
            actor_id=fan.id,
            text=f"{fan.display_name} tipped you {credits} credits"
            + (f": “{text[:120]}”" if text else "."),
            link=f"/people/{fan.id}",
        )
    )
    db.session.commit()
    return row
