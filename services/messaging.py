"""Messages: who may write to whom, what it costs (docs/creators.md#paid-messages), and delivery
(docs/architecture.md#real-time).

A fan writing to a creator pays the creator's message price, charged through the ledger in the
same transaction that stores the message; without enough credits nothing is stored. Between
people who are not creators, messages are free once they matched, or after an intro was paid
(docs/dating.md#who-may-write-to-whom). A creator's replies are free. Blocked people cannot write to
each other.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from core import clock, sql
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    Conversation,
    CreatorSettings,
    MediaObject,
    MediaStatus,
    Message,
    Notification,
    Unlock,
    User,
    UserStatus,
)
from models.creator import MAX_PRICE
from services import (
    age_gate,
    antispam,
    co_performers,
    compliance,
    ledger,
    likes,
    media,
    messaging_sql,
    realtime,
    replays,
    safety,
)
from services.creators import check_price

MAX_LENGTH = 5000
MAX_UNLOCK_PRICE = MAX_PRICE  # what `check_price` allows a PPV message, as for any price
log = logging.getLogger("amora.messages")


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


_NOT_READ = object()  # an argument the caller did not give


def message_price(sender: User, recipient: User, settings: object = _NOT_READ) -> int:
    """Credits this message costs the sender (0 = free). `settings`: the recipient's creator
    settings (None: none), when the caller has read them."""
    if not recipient.is_creator or sender.is_creator and sender.id == recipient.id:
        return 0
    if settings is _NOT_READ:
        settings = sql.get(CreatorSettings, recipient.id)
    return settings.message_price if settings else 0


def may_write(
    sender: User, recipient: User, *, blocked: bool | None = None
) -> tuple[bool, str | None]:
    """Whether `sender` may write to `recipient` now, and why not. `blocked`: whether either
    blocked the other, when the caller has just checked (None: looked up)."""
    if blocked is None:
        blocked = safety.blocked_between(sender.id, recipient.id)
    reason = _refusal(sender, recipient.id, recipient.is_creator, blocked)
    return reason is None, reason


def _refusal(
    sender: User, recipient_id: int, recipient_is_creator: bool, blocked: bool
) -> str | None:
    """Why `sender` may not write to the recipient now (None: they may)."""
    if blocked:
        return "You cannot message this person."
    if recipient_is_creator or sender.is_creator:
        return None  # fans write to creators (paid); creators reply to their fans
    # Daters: free once matched, or after a paid intro. (get: no query if already loaded.)
    if likes.can_message(sender, sql.get(User, recipient_id)):
        return None
    return "Match first, or unlock an intro, to message this person."


def correspondent(user: User, other_id: int) -> User:
    """The person `user` may open a conversation with at `other_id` (its page, its new
    messages, the compose form): visible to them (`safety.visible_person`) and not themselves.
    NotFound otherwise."""
    return correspondent_and_price(user, other_id)[0]


def correspondent_and_price(user: User, other_id: int) -> tuple[User, int]:
    """`correspondent` and what a message to them costs `user` (`message_price`), in one
    statement: a conversation's page shows both."""
    if other_id == user.id:
        raise NotFound(safety.NOT_HERE)
    other, settings = safety.visible_row(_CORRESPONDENT, user, other_id)
    return other, message_price(user, other, settings)


_CORRESPONDENT = (
    select(User, CreatorSettings, safety.BLOCKED_BY_VIEWER)
    .outerjoin(CreatorSettings, CreatorSettings.user_id == User.id)
    .where(User.id == bindparam("person_id"))
)


def typing(sender: User, recipient_id: int) -> None:
    """Tell `recipient_id`'s open pages that `sender` is typing, if `sender` may write to them."""
    recipient = db.session.get(User, recipient_id)
    if recipient is None or not may_write(sender, recipient)[0]:
        raise NotAllowed("You cannot write to that person.")
    realtime.broker().publish(recipient_id, {"type": "typing", "from": sender.id})


_CONVERSATION = select(Conversation).where(
    Conversation.user_a_id == bindparam("low"), Conversation.user_b_id == bindparam("high")
)  # built once: every message and every opened conversation looks it up


def conversation_between(a: int, b: int, create: bool = False) -> Conversation | None:
    low, high = _pair(a, b)
    conversation = db.session.scalar(_CONVERSATION, {"low": low, "high": high})
    if conversation is None and create:
        sql.insert_ignore(  # the first messages of two people may race
            Conversation,
            {"user_a_id": low, "user_b_id": high, "created_at": clock.now()},
            ["user_a_id", "user_b_id"],
        )
        conversation = db.session.scalar(_CONVERSATION, {"low": low, "high": high})
    return conversation


def send(
    sender: User,
    recipient_id: int,
    body: str,
    *,
    media_id: int | None = None,
    unlock_price: int = 0,
    origin: str | None = None,
) -> Message:
    """Store (and charge) a message in one transaction, then publish it to both people: see
    `_send`. A process stores MESSAGE_SENDS_AT_ONCE messages at a time; more wait their turn
    (on one core a few at once get more done than many threads contending for Python's lock).
    `media_id`: a photo of the sender's to attach (their vault's, or one uploaded for chat);
    `unlock_price`: credits the recipient pays to see it (0: free; vault photos only).
    `origin`: the token of the socket it was sent over, which gets no copy of the event.

    The database connection is taken before the turn: a message holding a turn must never
    wait for the pool, or messages waiting their turn with connections in hand (each request
    has one once it has read its user) would starve it."""
    db.session.connection()
    with _send_turns():
        message = _send(sender, recipient_id, body, media_id=media_id, unlock_price=unlock_price)
    publish_message(message, origin)
    return message


_turns_lock = threading.Lock()


def _send_turns() -> threading.BoundedSemaphore:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    turns = app.extensions.get("amora_send_turns")
    if turns is None:
        with _turns_lock:
            turns = app.extensions.setdefault(
                "amora_send_turns", threading.BoundedSemaphore(app.config["MESSAGE_SENDS_AT_ONCE"])
            )
    return turns


def _send(
    sender: User,
    recipient_id: int,
    body: str,
    *,
    media_id: int | None = None,
    unlock_price: int = 0,
) -> Message:
    """Store (and charge) a message in one transaction (`send` publishes it).

    A creator may attach a photo from their vault, optionally with a price to unlock it (a PPV
    message): the fan sees a blurred preview until they pay.

    This is the busiest write path (every chat message, over HTTP or the socket), so it is
    written as a few plain statements rather than through the ORM's unit of work: what the
    recipient is, charges and whether a block stands in one read; the conversation created or
    touched in one upsert and the message inserted (one statement on PostgreSQL); the ledger
    spend, which on PostgreSQL also returns the wallet's balance after it; the message pointed
    at its transfer; the commit."""
    text = (body or "").strip()
    attachment, price_to_unlock = _attachment(sender, media_id, unlock_price)
    if not text and attachment is None:
        raise ValidationFailed({"body": "Write something first."})
    if len(text) > MAX_LENGTH:
        raise ValidationFailed({"body": f"Messages can be up to {MAX_LENGTH:,} characters."})
    if recipient_id == sender.id:
        raise DomainError("You cannot message yourself.")
    recipient = messaging_sql.recipient(db.session.connection(), sender.id, recipient_id)
    # Who is visible (docs/dating.md#visible-people), on the facts read in one statement. A block
    # is refused by `_refusal` below: the sender learns they cannot write (403), as on may_write.
    safety.require_present(recipient.status if recipient is not None else None)
    if not sender.email_verified:
        raise NotAllowed("Confirm your email address before sending messages.")
    refusal = _refusal(sender, recipient_id, recipient.is_creator, recipient.blocked)
    if refusal:
        raise NotAllowed(refusal)
    if text:
        antispam.check(sender, recipient_id, text)
    price = (recipient.message_price or 0) if recipient.is_creator else 0
    values = {
        "sender_id": sender.id,
        "recipient_id": recipient_id,
        "body": text,
        "price": price,
        "media_id": attachment.id if attachment else None,
        "unlock_price": price_to_unlock or None,
        "created_at": clock.now(),
    }
    message_id, values["conversation_id"] = messaging_sql.insert_message(
        db.session.connection(), values, *_pair(sender.id, recipient_id)
    )
    transfer = None
    if price:
        # Raises InsufficientCredits and rolls everything back: the message is not stored.
        transfer, _ = ledger.spend(
            sender.id,
            recipient_id,
            price,
            "message",
            f"message:{message_id}:{secrets.token_hex(4)}",
            reference=("message", message_id),
        )
        messaging_sql.set_transfer(db.session.connection(), message_id, transfer.id)
    message = sql.written(  # the row exists: the session holds it as loaded
        Message,
        {
            "id": message_id,
            "transfer_id": transfer.id if transfer else None,
            "read_at": None,
            "mass_message_id": None,
            **values,
        },
    )
    if transfer is not None:
        message.sender_balance = (
            transfer.payer_balance
            if transfer.payer_balance is not None
            else ledger.wallet_balance(sender.id)
        )
    _commit_keeping_loaded()
    return message


def _commit_keeping_loaded() -> None:
    """Commit without expiring what this request loaded: the message just written and its
    sender are rendered and published right after, and reloading them costs two queries on
    the busiest write path."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _attachment(
    sender: User, media_id: int | None, unlock_price: int
) -> tuple[MediaObject | None, int]:
    if media_id is None:
        if unlock_price:
            raise ValidationFailed({"unlock_price": "Attach something from your vault to sell."})
        return None, 0
    own = ("chat", "voice")  # a photo or a voice note sent from the conversation
    item = media.vault_item(sender, media_id, ("vault", *own) if sender.is_creator else own)
    errors: dict[str, str] = {}
    price = unlock_price
    check_price(price, "unlock_price", "The unlock price", errors)
    if price and item.purpose != "vault":
        errors["unlock_price"] = "Only items from your vault can be sold."
    if errors:
        raise ValidationFailed(errors)
    if price:
        compliance.require_verified(sender)
    if item.purpose == "vault":
        co_performers.require_cleared([item.id], "the attached item")
    return item, price


def publish_message(message: Message, origin: str | None = None) -> None:
    """After the commit, to both people (the sender's other tabs and devices show it too), but
    not to the socket `origin` it was sent over. A broker outage must not fail a stored (and
    paid) message: the recipient's client catches up from the database when its socket
    reconnects."""

    event = {
        "type": "message",
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender_id": message.sender_id,
        "recipient_id": message.recipient_id,
    }
    own = {**event, realtime.SKIP: origin} if origin else event
    try:
        realtime.broker().publish_many([(message.recipient_id, event), (message.sender_id, own)])
    except Exception:
        log.exception("could not publish message %s", message.id)


_ME = bindparam("me")
_OTHER_ID = case(
    (Conversation.user_a_id == _ME, Conversation.user_b_id), else_=Conversation.user_a_id
)
# The inbox in three statements built once, however many conversations: the conversations with
# the other person (none with a block either way), their unread counts, their last messages.
_LAST = aliased(Message)  # a conversation's last message, joined to the inbox's rows
_INBOX = (
    select(
        Conversation,
        User,
        _LAST,
        select(func.count(Message.id))
        .where(
            Message.conversation_id == Conversation.id,
            Message.recipient_id == _ME,
            Message.read_at.is_(None),
        )
        .scalar_subquery()
        .label("unread"),
    )
    .join(User, User.id == _OTHER_ID)
    .outerjoin(
        _LAST,
        _LAST.id
        == select(func.max(Message.id))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery(),
    )
    .where(
        or_(Conversation.user_a_id == _ME, Conversation.user_b_id == _ME),
        Conversation.last_message_at.is_not(None),
        ~safety.block_exists(_ME, User.id),
    )
    .order_by(Conversation.last_message_at.desc())
)


def conversations_of(user: User) -> list[dict]:
    """The inbox: the other person, the last message and how many are unread (one statement)."""
    return [
        {"conversation": conversation, "other": other, "last": last, "unread": unread}
        for conversation, other, last, unread in sql.load(_INBOX, {"me": user.id})
    ]


def messages_between(
    user: User, other_id: int, after_id: int = 0, limit: int = 200
) -> list[Message]:
    conversation = conversation_between(user.id, other_id)
    if conversation is None:
        return []
    return _latest(conversation, after_id, limit)


_LATEST = (
    select(Message)
    .where(Message.conversation_id == bindparam("conversation_id"), Message.id > bindparam("after"))
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)  # a conversation's page reads it on every view: built once


def _latest(conversation: Conversation, after_id: int, limit: int) -> list[Message]:
    values = {"conversation_id": conversation.id, "after": after_id, "limit": limit}
    return [row[0] for row in reversed(sql.load(_LATEST, values))]


_LATEST_BETWEEN = (
    select(Message)
    .join(Conversation, Conversation.id == Message.conversation_id)
    .where(Conversation.user_a_id == bindparam("low"), Conversation.user_b_id == bindparam("high"))
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)  # opening a conversation: its latest messages by the pair, without reading it first


def read_conversation(user: User, other_id: int, limit: int = 200) -> list[Message]:
    """Opening a conversation: its latest messages, oldest first, and what `other_id` sent me
    marked as read (`mark_read`; commits when it marks any). When every message of it is on the
    page, what is unread is seen there, without asking the database again."""
    low, high = _pair(user.id, other_id)
    values = {"low": low, "high": high, "limit": limit}
    items = [row[0] for row in reversed(sql.load(_LATEST_BETWEEN, values))]
    if not items:  # no conversation, or nothing in it yet
        return []
    whole = len(items) < limit
    if whole and not any(m.recipient_id == user.id and m.read_at is None for m in items):
        return items
    _mark_read(user, other_id, items[0].conversation_id)
    return items


def missed(user: User, after_id: int, limit: int = 500) -> list[Message]:
    """Every message to or from `user` after `after_id`, oldest first (catch-up)."""
    return list(
        db.session.scalars(
            select(Message)
            .where(
                or_(Message.recipient_id == user.id, Message.sender_id == user.id),
                Message.id > after_id,
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )


def mark_read(user: User, other_id: int) -> int:
    """Mark what `other_id` sent me as read; commits. Looks before it writes: opening a
    conversation with nothing new in it (most openings) takes no write lock."""
    conversation = conversation_between(user.id, other_id)
    if conversation is None:
        return 0
    return _mark_read(user, other_id, conversation.id)


_UNREAD_HERE = (  # what :reader has not read in :conversation (not column names: UPDATE's)
    Message.conversation_id == bindparam("conversation"),
    Message.recipient_id == bindparam("reader"),
    Message.read_at.is_(None),
)
_ANY_UNREAD = select(Message.id).where(*_UNREAD_HERE).limit(1)
_MARK_READ = update(Message).where(*_UNREAD_HERE).values(read_at=bindparam("read_now"))


def _mark_read(user: User, other_id: int, conversation_id: int) -> int:
    values = {"conversation": conversation_id, "reader": user.id}
    if db.session.scalar(_ANY_UNREAD, values) is None:
        return 0
    result = db.session.execute(_MARK_READ, {**values, "read_now": clock.now()})
    if result.rowcount:
        realtime.publish_after_commit(
            other_id, {"type": "read", "by": user.id, "conversation_id": conversation_id}
        )
    db.session.commit()
    return result.rowcount


def unread_total(user_id: int) -> int:
    return db.session.scalar(unread_total_query(user_id))


def unread_total_query(user_id):
    """The count of unread messages, for an id or a bind parameter (services/badges.py)."""
    return select(func.count(Message.id)).where(
        Message.recipient_id == user_id, Message.read_at.is_(None)
    )


# --- attachments and PPV messages -------------------------------------------------------------


@dataclass
class Attachment:
    url: str | None  # the photo or the video's poster; for the locked, its blurred preview
    locked: bool
    price: int
    unlocked: bool
    video: media.VideoLinks | None = None
    audio: str | None = None  # a voice note
    length: str = ""  # a voice note's, as players show it
    # An adult creator's item the viewer may not see until they pass an age check
    # (services/age_gate.py): nothing of it is sent.
    age_locked: bool = False


def attachments_for(viewer: User, items: list[Message]) -> dict[int, Attachment]:
    """What `viewer` sees of each message's attachment: the photo, or for an unpaid PPV message
    its blurred preview and price."""
    with_media = [m for m in items if m.media_id]
    if not with_media:
        return {}
    objects = {
        obj.id: obj
        for obj in db.session.scalars(
            select(MediaObject).where(MediaObject.id.in_([m.media_id for m in with_media]))
        )
    }
    paid = set(
        db.session.scalars(
            select(Unlock.message_id).where(
                Unlock.user_id == viewer.id,
                Unlock.message_id.in_([m.id for m in with_media if m.unlock_price]),
            )
        )
    )
    others = {m.sender_id for m in with_media if m.sender_id != viewer.id}
    adult_senders: set[int] = set()
    if others and age_gate.needs_check(viewer):  # asked first: no query while the gate is off
        adult_senders = set(
            db.session.scalars(
                select(User.id).where(User.id.in_(others), User.adult_content.is_(True))
            )
        )
    result = {}
    for message in with_media:
        obj = objects.get(message.media_id)
        if obj is None or obj.status != MediaStatus.READY:
            continue
        if message.sender_id in adult_senders:
            result[message.id] = Attachment(
                url=None,
                locked=True,
                price=message.unlock_price or 0,
                unlocked=False,
                age_locked=True,
            )
            continue
        price = message.unlock_price or 0
        unlocked = message.id in paid
        locked = bool(price) and message.sender_id != viewer.id and not unlocked
        key = media.still_key(obj.variants, locked)
        voice = (obj.variants or {}).get("audio")
        result[message.id] = Attachment(
            url=media.url_for_key(key, 300) if key else None,
            locked=locked,
            price=price,
            unlocked=unlocked,
            video=media.video_links(obj.variants, locked, obj.duration_ms),
            audio=media.url_for_key(voice, media.VIDEO_URL_SECONDS) if voice else None,
            length=media.length_text(obj.duration_ms) if voice else "",
        )
    return result


def message_to(user: User, message_id: int) -> tuple[Message, User]:
    """A message sent to `user`, and its sender; NotFound for anyone else's."""
    message = db.session.get(Message, message_id)
    if message is None or message.recipient_id != user.id:
        raise NotFound("There is no such message.")
    return message, db.session.get(User, message.sender_id)


def unlock_message(fan: User, message_id: int) -> Message:
    """Pay a PPV message's price once (key `unlock:message:<id>`)."""
    message = db.session.get(Message, message_id)
    if message is None or message.recipient_id != fan.id:
        raise NotFound("There is no such message.")
    if not message.unlock_price:
        raise DomainError("This message is not locked.")
    item = db.session.get(MediaObject, message.media_id) if message.media_id else None
    if item is None or item.status != MediaStatus.READY:  # taken down by a moderator
        raise DomainError("What this message showed was removed: it cannot be bought.")
    if fan.status != UserStatus.ACTIVE:
        raise NotAllowed("Your account cannot make payments right now.")
    if safety.blocked_between(fan.id, message.sender_id):
        raise NotFound("There is no such message.")
    age_gate.check(fan, db.session.get(User, message.sender_id))
    co_performers.require_cleared([message.media_id], "this message's item")
    fan_id, message_id = fan.id, message.id

    def committed() -> Message | None:
        found = db.session.scalar(
            select(Unlock.id).where(Unlock.user_id == fan_id, Unlock.message_id == message_id)
        )
        return db.session.get(Message, message_id) if found is not None else None

    return replays.same_answer(lambda: _unlock_message(fan, message), committed)


def _unlock_message(fan: User, message: Message) -> Message:
    existing = db.session.scalar(
        select(Unlock).where(Unlock.user_id == fan.id, Unlock.message_id == message.id)
    )
    if existing is not None:
        return message
    transfer, created = ledger.spend(
        fan.id,
        message.sender_id,
        message.unlock_price,
        "unlock",
        f"unlock:message:{message.id}",
        reference=("message", message.id),
    )
    db.session.add(
        Unlock(
            user_id=fan.id,
            message_id=message.id,
            price=message.unlock_price,
            transfer_id=transfer.id,
        )
    )
    if created:
        db.session.add(
            Notification(
                user_id=message.sender_id,
                kind="unlock",
                actor_id=fan.id,
                text=f"{fan.display_name} unlocked your message for {message.unlock_price} "
                "credits.",
                link=f"/messages/{fan.id}",
            )
        )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("You already unlocked this message.") from exc
    return message
