"""Co-performers (docs/identity.md#co-performers): everyone other than the creator shown in a
vault item is named on it, either as a verified creator here who accepts the tag, or by a
release (their identity document and the release they signed, sealed like identity documents
and checked by a reviewer). An item that shows other people may be published, sent or sold only
while every one of its co-performers is accepted (`require_cleared`); withdrawing consent takes
the item down everywhere (`media.take_down`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core import clock
from core.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    CoPerformer,
    CoPerformerKind,
    CoPerformerStatus,
    MediaObject,
    MediaStatus,
    Notification,
    SealedFileRole,
    User,
)
from services import audit, compliance, identity, media, safety
from services.input import parse_id

NAME_MAX = 120
REASON_MAX = 500
MAX_PER_ITEM = 20
_HANDLE = re.compile(r"^@?[a-z0-9]*?(\d+)$", re.IGNORECASE)  # "@luna12", "luna12", "12"

WITHDRAWN = "Removed: someone shown in it withdrew their consent."
NOT_CLEARED = (
    "Someone shown in {what} has no accepted release or tag yet: name everyone in it first "
    "(Creator → Vault → People)."
)


@dataclass
class Person:
    """A co-performer as the item's page shows them."""

    row: CoPerformer
    performer: User | None


# --- the owner's side ---------------------------------------------------------------------------


def _own_item(owner: User, media_id: object) -> MediaObject:
    """The owner's own vault item (anyone else's, "not found": a release for someone else's
    item is refused so)."""
    row_id = parse_id(media_id)
    obj = db.session.get(MediaObject, row_id) if row_id is not None else None
    if obj is None or obj.user_id != owner.id or obj.purpose != "vault":
        raise NotFound("There is no such item in your vault.")
    return obj


def people_of(owner: User, media_id: object) -> tuple[MediaObject, list[Person]]:
    obj = _own_item(owner, media_id)
    rows = db.session.scalars(
        select(CoPerformer).where(CoPerformer.media_id == obj.id).order_by(CoPerformer.id)
    ).all()
    users = {
        user.id: user
        for user in db.session.scalars(
            select(User).where(User.id.in_([r.performer_id for r in rows if r.performer_id]))
        )
    }
    return obj, [Person(row, users.get(row.performer_id)) for row in rows]


def _count(obj: MediaObject) -> int:
    return len(
        db.session.scalars(select(CoPerformer.id).where(CoPerformer.media_id == obj.id)).all()
    )


def _creator_named(text: str) -> User | None:
    """A member by the handle on their watermark (`@luna12`: the name's letters and digits,
    then the account's number) or by that number alone."""
    text = (text or "").strip().lower()
    if text.isdigit():
        user_id = parse_id(text)
        return db.session.get(User, user_id) if user_id else None
    match = _HANDLE.match(text)
    if not match:
        return None
    handle = text if text.startswith("@") else "@" + text
    digits = match.group(1)
    for start in range(len(digits)):  # "@mia20005" may be Mia2000's number 5 or mia's 20005
        if digits[start] == "0":
            continue
        user = db.session.get(User, parse_id(digits[start:]) or 0)
        if user is not None and compliance.handle(user).lower() == handle:
            return user
    return None


def tag_member(owner: User, media_id: object, who: str) -> CoPerformer:
    """Name a verified creator here as shown in the item; they accept or decline the tag."""
    obj = _own_item(owner, media_id)
    if not (who or "").strip():
        raise ValidationFailed({"who": "Enter their handle, as on their photos (@name12)."})
    performer = _creator_named(who)
    if performer is None or performer.is_gone or not performer.is_creator:
        raise ValidationFailed(
            {"who": "No creator here has that handle: add a release for them instead."}
        )
    if performer.creator_verified_at is None:
        raise ValidationFailed(
            {
                "who": f"{performer.display_name} is not a verified creator yet: add a release "
                "for them instead, or ask them to verify first."
            }
        )
    if performer.id == owner.id:
        raise ValidationFailed({"who": "That is you: name the others shown."})
    if safety.blocked_between(owner.id, performer.id):
        raise ValidationFailed(
            {"who": "No creator here has that handle: add a release for them instead."}
        )
    taken = db.session.scalar(
        select(CoPerformer.id).where(
            CoPerformer.media_id == obj.id,
            CoPerformer.performer_id == performer.id,
            CoPerformer.status.in_((CoPerformerStatus.PENDING, CoPerformerStatus.ACCEPTED)),
        )
    )
    if taken is not None:
        raise Conflict(f"{performer.display_name} is named on this item already.")
    if _count(obj) >= MAX_PER_ITEM:
        raise Conflict(f"At most {MAX_PER_ITEM} people per item.")
    row = CoPerformer(
        media_id=obj.id,
        owner_id=owner.id,
        kind=CoPerformerKind.MEMBER,
        performer_id=performer.id,
    )
    obj.shows_others = True
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # the same tag from another tab got in first
        db.session.rollback()
        raise Conflict(f"{performer.display_name} is named on this item already.") from None
    db.session.add(
        Notification(
            user_id=performer.id,
            kind="co_performer",
            actor_id=owner.id,
            text=f"{owner.display_name} says you appear in one of their photos or videos: "
            "accept or decline.",
            link="/creator/tags",
        )
    )
    audit.record(
        "co_performer.tagged",
        actor_id=owner.id,
        target=("co_performer", row.id),
        media=obj.id,
        performer=performer.id,
    )
    db.session.commit()
    return row


def add_release(
    owner: User,
    media_id: object,
    *,
    legal_name: str,
    id_document: identity.Upload | None,
    release_form: identity.Upload | None,
) -> CoPerformer:
    """Name someone who is not a verified creator here by their release: their identity
    document and the release they signed, sealed like identity documents, for a reviewer."""
    obj = _own_item(owner, media_id)
    name = " ".join((legal_name or "").split())
    errors = {}
    if not name:
        errors["legal_name"] = "Enter their full legal name, as on their document."
    elif len(name) > NAME_MAX:
        errors["legal_name"] = f"At most {NAME_MAX} characters."
    if errors:
        raise ValidationFailed(errors)
    images = [
        (SealedFileRole.RELEASE_ID, identity.image(id_document, "id_document", "their document")),
        (
            SealedFileRole.RELEASE_FORM,
            identity.image(release_form, "release_form", "the signed release"),
        ),
    ]
    if _count(obj) >= MAX_PER_ITEM:
        raise Conflict(f"At most {MAX_PER_ITEM} people per item.")
    written: list[str] = []
    try:
        row = CoPerformer(
            media_id=obj.id, owner_id=owner.id, kind=CoPerformerKind.RELEASE, legal_name=name
        )
        row.files.extend(identity.seal_files(owner.id, images, written))
        obj.shows_others = True
        db.session.add(row)
        db.session.flush()
        audit.record(
            "co_performer.release_added",
            actor_id=owner.id,
            target=("co_performer", row.id),
            media=obj.id,
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        identity.discard(written)
        raise
    return row


def owned_item_of(owner: User, co_performer_id: object) -> int | None:
    """The item a co-performer row of `owner`'s is on (where to go back to)."""
    row = db.session.get(CoPerformer, parse_id(co_performer_id) or 0)
    if row is None or row.owner_id != owner.id:
        raise NotFound("There is no such person on your items.")
    return row.media_id


def remove(owner: User, co_performer_id: object) -> None:
    """Take back a tag or a release that is not accepted (pending or refused): a name given by
    mistake. An accepted one stays as the record of who appeared."""
    row = db.session.get(CoPerformer, parse_id(co_performer_id) or 0)
    if row is None or row.owner_id != owner.id:
        raise NotFound("There is no such person on your items.")
    if row.status not in (CoPerformerStatus.PENDING, CoPerformerStatus.REJECTED):
        raise Conflict("An accepted or withdrawn name stays on the item's record.")
    keys = [file.key for file in row.files]
    db.session.delete(row)
    audit.record("co_performer.removed", actor_id=owner.id, target=("co_performer", row.id))
    db.session.commit()
    identity.discard(keys)


# --- clearance ----------------------------------------------------------------------------------


def uncleared(media_ids: Iterable[int]) -> set[int]:
    """Those of these items that show other people without every one of them accepted."""
    ids = list({int(i) for i in media_ids})
    if not ids:
        return set()
    showing = set(  # a taken-down item is shown nowhere: nothing to clear
        db.session.scalars(
            select(MediaObject.id).where(
                MediaObject.id.in_(ids),
                MediaObject.shows_others,
                MediaObject.status != MediaStatus.REJECTED,
            )
        )
    )
    if not showing:
        return set()
    accepted_only: dict[int, bool] = {}
    for media_id, status in db.session.execute(
        select(CoPerformer.media_id, CoPerformer.status).where(CoPerformer.media_id.in_(showing))
    ):
        accepted_only[media_id] = accepted_only.get(media_id, True) and (
            status == CoPerformerStatus.ACCEPTED
        )
    return {media_id for media_id in showing if not accepted_only.get(media_id, False)}


def require_cleared(media_ids: Iterable[int], what: str = "this item") -> None:
    """Refuse to publish, send or sell items whose co-performers are not all accepted."""
    if uncleared(media_ids):
        raise NotAllowed(NOT_CLEARED.format(what=what))


# --- the tagged creator's side ------------------------------------------------------------------


@dataclass
class Tag:
    row: CoPerformer
    owner: User
    item: MediaObject | None


def tags_of(performer: User) -> list[Tag]:
    """Where `performer` is named: pending ones first, then accepted, then the rest."""
    rows = db.session.execute(
        select(CoPerformer, User, MediaObject)
        .join(User, User.id == CoPerformer.owner_id)
        .outerjoin(MediaObject, MediaObject.id == CoPerformer.media_id)
        .where(CoPerformer.performer_id == performer.id)
        .order_by(CoPerformer.id.desc())
        .limit(200)
    ).all()
    order = {"pending": 0, "accepted": 1}
    tags = [Tag(row, owner, item) for row, owner, item in rows]
    return sorted(tags, key=lambda tag: order.get(tag.row.status, 2))


def _own_tag(performer: User, co_performer_id: object) -> CoPerformer:
    row = db.session.get(CoPerformer, parse_id(co_performer_id) or 0)
    if row is None or row.performer_id != performer.id:
        raise NotFound("There is no such tag.")
    return row


def answer(performer: User, co_performer_id: object, accept: bool) -> CoPerformer:
    """Accept or decline a tag (once: a conditional update of a pending row)."""
    row = _own_tag(performer, co_performer_id)
    status = CoPerformerStatus.ACCEPTED if accept else CoPerformerStatus.REJECTED
    if not _settle(row, status, CoPerformerStatus.PENDING):
        raise Conflict("You answered this tag already.")
    _tell_owner(
        row,
        f"{performer.display_name} "
        + ("accepted" if accept else "declined")
        + " your tag on one of your items.",
    )
    audit.record(f"co_performer.{status}", actor_id=performer.id, target=("co_performer", row.id))
    db.session.commit()
    return row


def withdraw(performer: User, co_performer_id: object) -> CoPerformer:
    """A tagged creator withdraws consent: the item is taken down everywhere."""
    row = _own_tag(performer, co_performer_id)
    return _revoke(row, performer, "Withdrawn by the person shown.")


def _settle(row: CoPerformer, status: str, was: str, **values) -> bool:
    done = db.session.execute(
        update(CoPerformer)
        .where(CoPerformer.id == row.id, CoPerformer.status == was)
        .values(status=status, decided_at=clock.now(), **values),
        execution_options={"synchronize_session": False},
    )
    if done.rowcount != 1:
        db.session.rollback()
        return False
    db.session.refresh(row)
    return True


def _revoke(row: CoPerformer, actor: User, reason: str) -> CoPerformer:
    if not _settle(row, CoPerformerStatus.REVOKED, CoPerformerStatus.ACCEPTED, reason=reason):
        raise Conflict("Only an accepted name can be withdrawn.")
    item = db.session.get(MediaObject, row.media_id) if row.media_id else None
    if item is not None and item.status != MediaStatus.REJECTED:
        media.take_down(item, WITHDRAWN)
    _tell_owner(
        row,
        "Consent for one of your items was withdrawn: it was removed from your posts and "
        f"messages. {reason}",
    )
    audit.record(
        "co_performer.revoked",
        actor_id=actor.id,
        target=("co_performer", row.id),
        note=reason,
        media=row.media_id,
    )
    db.session.commit()
    return row


def _tell_owner(row: CoPerformer, text: str) -> None:
    db.session.add(
        Notification(
            user_id=row.owner_id,
            kind="co_performer",
            text=text[:300],
            link=f"/creator/vault/{row.media_id}/people" if row.media_id else "/creator/vault",
        )
    )


# --- review of releases --------------------------------------------------------------------------


def release_queue(staff: User) -> list[tuple[CoPerformer, User]]:
    identity.require_staff(staff)
    rows = db.session.execute(
        select(CoPerformer, User)
        .join(User, User.id == CoPerformer.owner_id)
        .where(
            CoPerformer.kind == CoPerformerKind.RELEASE,
            CoPerformer.status == CoPerformerStatus.PENDING,
        )
        .order_by(CoPerformer.created_at, CoPerformer.id)
        .limit(100)
    ).all()
    return [(row, owner) for row, owner in rows]


def release(staff: User, co_performer_id: object) -> tuple[CoPerformer, User, MediaObject | None]:
    identity.require_staff(staff)
    row = db.session.get(CoPerformer, parse_id(co_performer_id) or 0)
    if row is None or row.kind != CoPerformerKind.RELEASE:
        raise NotFound("There is no such release.")
    owner = db.session.get(User, row.owner_id)
    item = db.session.get(MediaObject, row.media_id) if row.media_id else None
    return row, owner, item


def decide_release(
    staff: User, co_performer_id: object, *, approve: bool, reason: str = ""
) -> CoPerformer:
    """Accept a release, or refuse it with a reason the creator reads."""
    row, _, _ = release(staff, co_performer_id)
    if row.owner_id == staff.id:
        raise NotAllowed("Another reviewer decides on your own items.")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationFailed({"reason": "Say why, so that the creator can fix it."})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": f"At most {REASON_MAX} characters."})
    status = CoPerformerStatus.ACCEPTED if approve else CoPerformerStatus.REJECTED
    if not _settle(
        row, status, CoPerformerStatus.PENDING, reviewer_id=staff.id, reason=reason or None
    ):
        raise Conflict("Someone decided on this release already.")
    _tell_owner(
        row,
        f"The release for {row.legal_name} was "
        + ("accepted." if approve else f"not accepted: {reason}"),
    )
    audit.record(
        f"co_performer.release_{status}",
        actor_id=staff.id,
        target=("co_performer", row.id),
        note=reason or None,
    )
    db.session.commit()
    return row


def revoke_release(staff: User, co_performer_id: object, reason: str) -> CoPerformer:
    """The person shown withdrew their release (they told the operator): the item is taken
    down everywhere."""
    row, _, _ = release(staff, co_performer_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why: the creator reads it."})
    return _revoke(row, staff, reason[:REASON_MAX])
