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

MIN_TIP = 1
MAX_TIP = 50_000
MAX_NOTE = 200
TARGETS = ("profile", "post", "message")
NOTHING_TO_TIP = "There is nothing to tip there."
_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


def new_token() -> str:
    return secrets.token_hex(16)


def _target(fan: User, creator_id: int, target_type: str, target_id: int | None) -> int | None:
    if target_type == "profile":
        return None
    target_id = parse_id(target_id)
    if target_id is None:
        raise NotFound(NOTHING_TO_TIP)
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
    amount: int,
    note: str = "",
    *,
    target_type: str = "profile",
    target_id: int | None = None,
    token: str | None = None,
) -> Tip:
    """Tip `amount` credits once per `token` (the form's one-time token; without one, this
    call alone is protected) on the creator's profile, one of their posts or a message of
    theirs to `fan` (`target_type`, `target_id`). Raises InsufficientCredits (nothing written)
    when short."""
    errors: dict[str, str] = {}
    if amount < MIN_TIP:
        errors["amount"] = f"A tip is at least {MIN_TIP} credit."
    elif amount > MAX_TIP:
        errors["amount"] = f"A tip can be at most {MAX_TIP:,} credits."
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    if target_type not in TARGETS:
        errors["target_type"] = NOTHING_TO_TIP
    if errors:
        raise ValidationFailed(errors)
    creators.payee(fan, creator_id, "tip")
    target = _target(fan, creator_id, target_type, target_id)
    token = token or ""
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
        lambda: _tip(fan, creator_id, amount, text, target_type, target, key, token), committed
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
