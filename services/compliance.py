"""Content protection and compliance (docs/creators.md#content-protection): card-network rules for
adult content.

* Only verified creators sell content: PPV posts and messages, paid subscriptions and calls.
* Every upload that shows other people carries the creator's consent attestation.
* With `CONTENT_REVIEW` on, new posts wait for an admin before anyone sees them.
* Copyright (DMCA) takedown notices: `services/takedowns.py`.
* Delivered images carry a watermark with the creator's handle (see `watermark`).
"""

from __future__ import annotations

import io
import re
import unicodedata

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from core import clock
from core.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import CreatorSettings, Notification, Post, PostStatus, User
from services import audit

UNVERIFIED = (
    "Only verified creators can sell content: send your identity document in Settings → "
    "Verification first."
)


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
    if post.creator_id == admin.id:
        raise NotAllowed("Another reviewer decides on your own post.")
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
