"""Content protection and compliance (docs/creators.md#content-protection): card-network rules for
adult content.

* Only verified creators sell content: PPV posts and messages, paid subscriptions and calls.
* Every upload that shows other people carries the creator's consent attestation.
* With `CONTENT_REVIEW` on, new posts wait for an admin before anyone sees them.
* Copyright (DMCA) takedown notices: anyone may file one with the fields the law needs; an admin
  removes the content or rejects the notice, and the claimant gets the reply by email.
* Delivered images carry a watermark with the creator's handle (see `watermark`).
"""

from __future__ import annotations

import io
import re
import unicodedata
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from core import clock
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, Notification, Post, PostStatus, Takedown, TakedownStatus, User
from services import audit, mail
from services.input import parse_id

UNVERIFIED = "Only verified creators can sell content. Our team verifies your identity first."


def require_verified(creator: User) -> None:
    if creator.creator_verified_at is None:
        raise NotAllowed(UNVERIFIED)


def check_consent(others: bool, attested: bool) -> tuple[bool, bool]:
    """(shows others, attested): refuses an upload showing others without the attestation."""
    if others and not attested:
        raise ValidationFailed(
            {
                "consent": "Confirm that everyone shown is an adult who agreed to appear and to "
                "be published, and that you keep their signed release."
            }
        )
    return others, attested


# --- handles and watermarks ----------------------------------------------------------------------


def handle(user: User) -> str:
    """The handle shown on a creator's images: @name-id (ASCII, no spaces)."""
    name = unicodedata.normalize("NFKD", user.display_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "", name.lower())[:20] or "creator"
    return f"@{slug}{user.id}"


def watermark(image: Image.Image, text: str) -> Image.Image:
    """The handle in the bottom-right corner, light text on a dark band, sized to the image."""
    marked = image.convert("RGB").copy()
    label = watermark_label(text, marked.width)
    margin = max(4, marked.width // 84)
    marked.paste(
        label, (marked.width - label.width - margin, marked.height - label.height - margin), label
    )
    return marked


def watermark_label(text: str, width: int) -> Image.Image:
    """The band a picture `width` pixels wide is marked with, alone, with its transparency (a
    video's frames are marked with it by core/video)."""
    size = max(12, width // 28)
    font = ImageFont.load_default(size=size)
    label = f"{text} · Amora"
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGBA", (1, 1))).textbbox(
        (0, 0), label, font=font
    )
    pad = max(4, size // 3)
    band = Image.new("RGBA", ((right - left) + 2 * pad, (bottom - top) + 2 * pad), (0, 0, 0, 110))
    ImageDraw.Draw(band).text((pad - left, pad - top), label, font=font, fill=(255, 255, 255, 235))
    return band


def watermark_enabled(creator_id: int) -> bool:
    if not current_app.config["WATERMARK"]:
        return False
    settings = db.session.get(CreatorSettings, creator_id)
    return settings.watermark if settings is not None else True


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


# --- review before publication -------------------------------------------------------------------


def review_queue() -> list[tuple[Post, User]]:
    rows = db.session.execute(
        select(Post, User)
        .join(User, User.id == Post.creator_id)
        .where(Post.status == PostStatus.REVIEW)
        .order_by(Post.id)
    ).all()
    return [(post, user) for post, user in rows]


REVIEW_NOTE_MAX = 1000


def review(admin: User, post_id: int, approve: bool, note: str = "") -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        raise NotFound("There is no such post.")
    if post.status != PostStatus.REVIEW:
        raise Conflict("This post was already reviewed.")
    now = clock.now()
    note = " ".join(note.split())[:REVIEW_NOTE_MAX]
    if approve:
        if post.publish_at > now:
            post.status = PostStatus.SCHEDULED
        else:
            post.status, post.published_at = PostStatus.PUBLISHED, now
        text = "Your post was approved" + (
            " and is live."
            if post.status == PostStatus.PUBLISHED
            else " and will go live as scheduled."
        )
    else:
        if len(note) < 3:
            raise ValidationFailed({"note": "Say why: the creator will see it."})
        post.status, post.review_note = PostStatus.REJECTED, note
        text = f"Your post was not approved: {note}"
    post.updated_at = now
    db.session.add(
        Notification(user_id=post.creator_id, kind="review", text=text, link="/creator/posts")
    )
    audit.record(
        "post.approved" if approve else "post.rejected",
        actor_id=admin.id,
        target=("post", post.id),
        note=note or None,
    )
    db.session.commit()
    return post


# --- DMCA takedowns ------------------------------------------------------------------------------

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
