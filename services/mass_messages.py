"""Mass messages (docs/creators.md#mass-messages): a creator writes once, the worker delivers to
every subscriber.

The creator sees progress (`sent` of `audience`). Delivery goes in batches of `BATCH` fans in
fan id order; each batch's messages and the new `cursor` commit together, so a worker that dies
mid-way resumes after the last committed fan: nobody gets it twice, nobody is skipped. Messages
from a creator to their fans are free; a PPV attachment is paid by each fan who unlocks it.
"""

from __future__ import annotations

from sqlalchemy import select

from core import clock
from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import MassMessage, MassMessageStatus, Message, Subscription, User, UserStatus
from services import co_performers, compliance, media, safety
from services.creators import check_price
from services.messaging import MAX_LENGTH, conversation_between, publish_message
from workers.queue import enqueue

BATCH = 200


def _audience_query(creator_id: int, after_fan_id: int = 0):
    return (
        select(Subscription.fan_id)
        .join(User, User.id == Subscription.fan_id)
        .where(
            Subscription.creator_id == creator_id,
            Subscription.is_live,
            Subscription.fan_id > after_fan_id,
            User.status == UserStatus.ACTIVE,
        )
        .order_by(Subscription.fan_id)
    )


def start(
    creator: User, *, body: str = "", media_id: int | None = None, price: int = 0
) -> MassMessage:
    """Queue a mass message: text, and optionally the vault item `media_id` that fans unlock for
    `price` credits (0: free). The worker sends it."""

    if not creator.is_creator:
        raise NotAllowed("Switch on creator mode to message your subscribers.")
    if creator.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot send messages right now.")
    errors: dict[str, str] = {}
    body = body.strip()
    if len(body) > MAX_LENGTH:
        errors["body"] = f"Messages can be up to {MAX_LENGTH:,} characters."
    item = None
    if media_id is not None:
        try:
            item = media.vault_item(creator, media_id)
        except DomainError as exc:
            errors["media_id"] = exc.message
    check_price(price, "price", "The unlock price", errors)
    if price and item is None and "media_id" not in errors:
        errors["price"] = "Attach something from your vault to sell."
    if not body and item is None and "media_id" not in errors:
        errors["body"] = "Write something first."
    if errors:
        raise ValidationFailed(errors)
    if price and item is not None:
        compliance.require_verified(creator)
    if item is not None:
        co_performers.require_cleared([item.id], "the attached item")
    audience = len(db.session.scalars(_audience_query(creator.id)).all())
    if audience == 0:
        raise ValidationFailed({"body": "You have no subscribers to message yet."})
    row = MassMessage(
        creator_id=creator.id,
        body=body,
        media_id=item.id if item else None,
        price=price if item else 0,
        audience=audience,
    )
    db.session.add(row)
    db.session.flush()
    enqueue(deliver, row.id)
    db.session.commit()
    return row


def deliver(mass_message_id: int) -> int:
    """Worker: send the next batches until done. Returns how many were sent by this call."""
    total = 0
    while True:
        row = db.session.get(MassMessage, mass_message_id)
        if row is None or row.status == MassMessageStatus.DONE:
            db.session.rollback()
            return total
        fan_ids = list(db.session.scalars(_audience_query(row.creator_id, row.cursor).limit(BATCH)))
        if not fan_ids:
            row.status = MassMessageStatus.DONE
            row.finished_at = clock.now()
            db.session.commit()
            return total
        row.status = MassMessageStatus.SENDING
        now = clock.now()
        written: list[Message] = []
        for fan_id in fan_ids:
            if safety.blocked_between(fan_id, row.creator_id):
                continue
            conversation = conversation_between(row.creator_id, fan_id, create=True)
            message = Message(
                conversation_id=conversation.id,
                sender_id=row.creator_id,
                recipient_id=fan_id,
                body=row.body,
                media_id=row.media_id,
                unlock_price=row.price or None,
                mass_message_id=row.id,
                created_at=now,
            )
            db.session.add(message)
            conversation.last_message_at = now
            written.append(message)
        row.cursor = fan_ids[-1]
        row.sent += len(written)
        db.session.commit()
        total += len(written)
        for message in written:
            publish_message(message)


def recent(creator: User, limit: int = 20) -> list[MassMessage]:
    return list(
        db.session.scalars(
            select(MassMessage)
            .where(MassMessage.creator_id == creator.id)
            .order_by(MassMessage.id.desc())
            .limit(limit)
        )
    )


def get_own(creator: User, mass_message_id: int) -> MassMessage:
    row = db.session.get(MassMessage, mass_message_id)
    if row is None or row.creator_id != creator.id:
        raise NotFound("There is no such message.")
    return row
