"""Copyright (DMCA) takedown notices (docs/creators.md#takedowns): anyone may file one with the
fields the law needs; an admin removes the content (the post, and every file of what it showed,
wherever else it is shown) or rejects the notice, and the claimant gets the reply by email."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from core import clock
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from extensions import db
from models import Notification, Post, PostStatus, Takedown, TakedownStatus, User
from services import audit, mail, media
from services.input import parse_id

_POST_PATH = re.compile(r"^/posts/(\d+)(?:/|$)")
_CREATOR_PATH = re.compile(r"^/creators/(\d+)(?:/|$)")


def _subject(url: str) -> tuple[str, str] | None:
    try:
        path = urlsplit(url).path
    except ValueError:  # "http://[…" is not an address at all
        return None
    if match := _POST_PATH.match(path):
        return "post", match.group(1)
    if match := _CREATOR_PATH.match(path):
        return "creator", match.group(1)
    return None


MAX_NAME = 120
MAX_URL = 500
MIN_WORK, MAX_WORK = 10, 5000


def file_takedown(
    reporter: User | None,
    *,
    claimant_name: str,
    claimant_email: str,
    content_url: str,
    original_work: str,
    good_faith: bool,
    signature: str,
) -> Takedown:
    """File a copyright notice with the fields the law needs (`reporter`: the member filing it,
    None when logged out). ValidationFailed names each field that does not hold."""
    errors: dict[str, str] = {}
    name = " ".join(claimant_name.split())
    if not 2 <= len(name) <= MAX_NAME:
        errors["claimant_name"] = "Your full name."
    try:
        email = validate_email(claimant_email, check_deliverability=False).normalized
    except EmailNotValidError:
        errors["claimant_email"] = "An email address we can reply to."
        email = ""
    url = content_url.strip()
    subject = _subject(url) if url.startswith(("http://", "https://", "/")) else None
    if subject is None:
        errors["content_url"] = "The address of the post or creator page on Amora."
    elif len(url) > MAX_URL:
        errors["content_url"] = f"Keep the address under {MAX_URL} characters."
    work = original_work.strip()
    if not MIN_WORK <= len(work) <= MAX_WORK:
        errors["original_work"] = "Describe the work you own and where it was first published."
    if not good_faith:
        errors["good_faith"] = "The statement under penalty of perjury is required."
    signature = " ".join(signature.split())
    if not signature or signature.lower() != name.lower():
        errors["signature"] = "Sign with your full name, as above."
    if errors:
        raise ValidationFailed(errors)
    notice = Takedown(
        claimant_name=name,
        claimant_email=email,
        content_url=url,
        original_work=work,
        good_faith=True,
        signature=signature,
        reporter_id=reporter.id if reporter else None,
        subject_type=subject[0],
        subject_id=subject[1],
    )
    db.session.add(notice)
    db.session.flush()
    audit.record(
        "takedown.filed",
        actor_id=reporter.id if reporter else None,
        target=("takedown", notice.id),
        subject=f"{subject[0]}:{subject[1]}",
    )
    db.session.commit()
    return notice


def takedowns(status: str = TakedownStatus.OPEN) -> list[Takedown]:
    query = select(Takedown).order_by(Takedown.id.desc())
    if status != "all":
        query = query.where(Takedown.status == status)
    return list(db.session.scalars(query.limit(200)))


REPLY_MAX = 5000  # the reply mailed to a claimant


def resolve_takedown(admin: User, takedown_id: int, remove: bool, reply: str) -> Takedown:
    """Remove the content (or not) and reply to the claimant by email."""

    notice = db.session.get(Takedown, takedown_id)
    if notice is None:
        raise NotFound("There is no such notice.")
    if notice.status != TakedownStatus.OPEN:
        raise Conflict("This notice was already handled.")
    reply = reply.strip()
    if len(reply) < 10:
        raise ValidationFailed({"reply": "Write the reply the claimant will receive."})
    if remove:
        if notice.subject_type == "post":
            post_id = parse_id(notice.subject_id)
            post = db.session.get(Post, post_id) if post_id is not None else None
            if post is None:
                raise DomainError("That post no longer exists; reject the notice instead.")
            post.status = PostStatus.DELETED
            post.updated_at = clock.now()
            media.take_down_post_media(post.id)  # the infringing files, everywhere they are
            db.session.add(
                Notification(
                    user_id=post.creator_id,
                    kind="takedown",
                    text="A post of yours was removed after a copyright notice. Reply to "
                    "support if you believe this is a mistake.",
                    link="/creator/posts",
                )
            )
        else:
            raise DomainError("A whole page is not removed by a notice: suspend the account.")
    notice.status = TakedownStatus.REMOVED if remove else TakedownStatus.REJECTED
    notice.reply = reply
    notice.resolved_by_id = admin.id
    notice.resolved_at = clock.now()
    mail.send(
        None,
        notice.claimant_email,
        "takedown_reply",
        f"Your copyright notice #{notice.id}",
        "takedown_reply",
        name=notice.claimant_name,
        notice=notice,
        removed=remove,
        reply=reply,
    )
    audit.record(
        "takedown.removed" if remove else "takedown.rejected",
        actor_id=admin.id,
        target=("takedown", notice.id),
        note=reply,
    )
    db.session.commit()
    return notice
