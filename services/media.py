"""Media (docs/creators.md#vault-and-media): one storage interface; uploads go straight from the
browser to storage.

    1. `start_upload()` records a pending MediaObject and returns a pre-signed POST (URL plus
       form fields) that only accepts that key, that content type and up to that size, for a
       few minutes.
    2. The browser posts the file there directly.
    3. `confirm_upload()` checks the object really exists with an allowed type and size, and
       queues the processing job (Pillow: checks it is an image, strips metadata, resizes,
       makes a thumbnail).
    4. Files are served only through short-lived signed URLs (`url_for_key`).

The embedded default is `LocalStorage` under instance/media, which signs its own POST policy
and download links with the app's secret; with `S3_BUCKET` set, `S3Storage`
(services/storage_s3.py) uses boto3's pre-signed POST and URLs against S3 or any S3-compatible
endpoint.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import current_app
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select

from core import clock
from core.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    MediaObject,
    MediaStatus,
    Message,
    Photo,
    Post,
    PostMedia,
    PostStatus,
    Profile,
    User,
)
from services import compliance
from services.input import parse_id
from services.storage import URL_SECONDS, LocalStorage, Storage
from services.storage_s3 import S3Storage
from workers.queue import enqueue

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 9
MAX_VAULT_BYTES = 20 * 1024 * 1024
MAX_VAULT_ITEMS = 2000
# Profile photos; a creator's library (posts, PPV messages); a photo sent in a conversation.
PURPOSES = ("photo", "vault", "chat")
MAX_PIXELS = 40_000_000  # refuse decompression bombs


def storage() -> Storage:
    if current_app.config["S3_BUCKET"]:
        return S3Storage.for_app(current_app._get_current_object())  # type: ignore[attr-defined]
    local = current_app.extensions.get("amora_local_storage")  # one per app: a page asks often
    if local is None:
        local = LocalStorage(Path(current_app.instance_path) / "media")
        current_app.extensions["amora_local_storage"] = local
    return local


def url_for_key(key: str | None, seconds: int = URL_SECONDS) -> str | None:
    return storage().signed_url(key, seconds) if key else None


def photo_links() -> Callable[[str], str]:
    """`url_for_key` for the many photos of one page: the storage looked up once."""
    signed_url = storage().signed_url
    return lambda key: signed_url(key, URL_SECONDS)


# --- uploads -----------------------------------------------------------------------------------


def start_upload(
    user: User,
    purpose: str,
    content_type: str,
    size: int | None,
    *,
    shows_others: bool = False,
    consent: bool = False,
) -> dict:
    """A pending object and the pre-signed POST for it (`size`: the bytes the browser declares,
    None when it did not say). A vault upload that shows other people needs the creator's
    consent attestation (docs/creators.md#consent)."""
    if purpose not in PURPOSES:
        raise DomainError("Unknown upload kind.")
    if not user.email_verified:
        raise NotAllowed("Confirm your email address before uploading.")
    if purpose == "vault" and not user.is_creator:
        raise NotAllowed("Switch on creator mode to use the vault.")
    if content_type not in IMAGE_TYPES:
        raise ValidationFailed({"file": "Photos must be JPEG, PNG or WebP images."})
    if size is None:
        raise ValidationFailed({"file": "The file size is missing."})
    declared = size
    max_bytes = MAX_VAULT_BYTES if purpose == "vault" else MAX_PHOTO_BYTES
    if not 0 < declared <= max_bytes:
        raise ValidationFailed({"file": f"Photos can be up to {max_bytes // 2**20} MB."})
    if purpose == "photo" and photo_count(user.id) + _photos_in_flight(user.id) >= MAX_PHOTOS:
        raise ValidationFailed({"file": f"You can have up to {MAX_PHOTOS} photos."})
    if purpose == "vault" and vault_count(user.id) >= MAX_VAULT_ITEMS:
        raise ValidationFailed({"file": f"The vault holds up to {MAX_VAULT_ITEMS:,} items."})

    others, attested = compliance.check_consent(shows_others, consent)
    key = f"u/{user.id}/{purpose}/{secrets.token_hex(12)}.{IMAGE_TYPES[content_type]}"
    db.session.add(
        MediaObject(
            user_id=user.id,
            purpose=purpose,
            key=key,
            content_type=content_type,
            max_bytes=max_bytes,
            shows_others=others,
            consent_attested_at=clock.now() if attested else None,
        )
    )
    db.session.commit()
    return {"key": key, **storage().presigned_post(key, content_type, max_bytes)}


def confirm_upload(user: User, key: str) -> MediaObject:
    """The browser says the upload finished: check it, then process it on the worker."""

    obj = db.session.scalar(select(MediaObject).where(MediaObject.key == (key or "")))
    if obj is None or obj.user_id != user.id:
        raise NotFound("There is no such upload.")  # someone else's key is "not found" too
    if obj.status != MediaStatus.PENDING:
        return obj  # confirming twice is harmless
    info = storage().head(obj.key)
    if info is None:
        raise DomainError("The file never arrived. Try uploading it again.")
    if info.content_type != obj.content_type or info.size > obj.max_bytes or info.size == 0:
        storage().delete(obj.key)
        obj.status = MediaStatus.REJECTED
        obj.error = "Wrong type or size."
        db.session.commit()
        raise ValidationFailed({"file": "That file is not an allowed photo."})
    obj.size = info.size
    obj.status = MediaStatus.UPLOADED
    enqueue(process, obj.id)
    db.session.commit()
    db.session.refresh(obj)
    return obj


def process(media_id: int) -> None:
    """Worker: decode with Pillow (it must really be an image), strip metadata by re-encoding,
    fit within 1600 px, make a 400 px thumbnail, then publish the photo. Idempotent."""
    obj = db.session.get(MediaObject, media_id)
    if obj is None or obj.status != MediaStatus.UPLOADED:
        return
    store = storage()
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with Image.open(io.BytesIO(store.read(obj.key))) as source:
            if source.width * source.height > MAX_PIXELS:
                raise ValueError("too many pixels")
            source.verify()
        with Image.open(io.BytesIO(store.read(obj.key))) as source:
            image = ImageOps.exif_transpose(source).convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        store.delete(obj.key)
        obj.status = MediaStatus.REJECTED
        obj.error = "Not a readable image."
        db.session.commit()
        return
    variants = {}
    for name, size in (("display", 1600), ("thumb", 400)):
        copy = image.copy()
        copy.thumbnail((size, size))
        if name == "display" and obj.purpose == "vault":
            # Delivered images carry the creator's handle (docs/creators.md#watermarks); the clean
            # copy stays private (never given to anyone: no URL is ever made for it).
            variants["clean"] = _write_variant(store, obj.key, "clean", copy, 90)

            if compliance.watermark_enabled(obj.user_id):
                owner = db.session.get(User, obj.user_id)
                copy = compliance.watermark(copy, compliance.handle(owner))
        variants[name] = _write_variant(store, obj.key, name, copy, 85)
    if obj.purpose == "vault":
        # What a fan sees before paying: small, heavily blurred, nothing recognisable.
        copy = image.copy()
        copy.thumbnail((48, 48))
        copy = copy.resize((max(copy.width * 8, 1), max(copy.height * 8, 1)), Image.BILINEAR)
        copy = copy.filter(ImageFilter.GaussianBlur(12))
        variants["blur"] = _write_variant(store, obj.key, "blur", copy, 60)
    store.delete(obj.key)  # the original, with its metadata, is not kept
    obj.variants = variants
    obj.width, obj.height = image.size
    obj.status = MediaStatus.READY
    if obj.purpose == "photo" and photo_count(obj.user_id) >= MAX_PHOTOS:
        obj.status = MediaStatus.REJECTED
        obj.error = "Photo limit reached."
        for key in variants.values():
            store.delete(key)
        db.session.commit()
        return
    if obj.purpose == "photo":
        position = photo_count(obj.user_id)
        db.session.add(
            Photo(
                user_id=obj.user_id,
                media_id=obj.id,
                storage_key=variants["display"],
                thumb_key=variants["thumb"],
                width=image.width,
                height=image.height,
                position=position,
            )
        )
        profile = db.session.get(Profile, obj.user_id)
        if profile is not None:
            profile.photo_count = position + 1
            profile.updated_at = clock.now()
    db.session.commit()


def _write_variant(store: Storage, key: str, name: str, image: Image.Image, quality: int) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True)
    variant_key = f"{key.rsplit('.', 1)[0]}.{name}.jpg"
    store.write(variant_key, buffer.getvalue(), "image/jpeg")
    return variant_key


def _photos_in_flight(user_id: int) -> int:
    """Uploads started in the last hour that are not photos yet (so parallel uploads cannot
    pass the limit)."""
    since = clock.now() - dt.timedelta(hours=1)
    return db.session.scalar(
        select(func.count(MediaObject.id)).where(
            MediaObject.user_id == user_id,
            MediaObject.purpose == "photo",
            MediaObject.status.in_((MediaStatus.PENDING, MediaStatus.UPLOADED)),
            MediaObject.created_at >= since,
        )
    )


def accepts_upload(key: str) -> bool:
    """The local upload target takes a file only while its object is still pending."""
    return (
        db.session.scalar(
            select(MediaObject.id).where(
                MediaObject.key == key, MediaObject.status == MediaStatus.PENDING
            )
        )
        is not None
    )


def vault_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(MediaObject.id)).where(
            MediaObject.user_id == user_id,
            MediaObject.purpose == "vault",
            MediaObject.status != MediaStatus.REJECTED,
        )
    )


def vault_items(user_id: int, limit: int = 200) -> list[MediaObject]:
    """The creator's library, newest first (processing and ready items)."""
    return list(
        db.session.scalars(
            select(MediaObject)
            .where(
                MediaObject.user_id == user_id,
                MediaObject.purpose == "vault",
                MediaObject.status.in_((MediaStatus.UPLOADED, MediaStatus.READY)),
            )
            .order_by(MediaObject.id.desc())
            .limit(limit)
        )
    )


def ready_vault_items(user_id: int) -> list[MediaObject]:
    """The library items that can be attached to a post or a message (processing is done)."""
    return [item for item in vault_items(user_id) if item.status == MediaStatus.READY]


def vault_item(user: User, media_id: object, purposes: tuple[str, ...] = ("vault",)) -> MediaObject:
    """One of `user`'s own ready vault items (someone else's is "not found")."""
    row_id = parse_id(media_id)
    obj = db.session.get(MediaObject, row_id) if row_id is not None else None
    if obj is None or obj.user_id != user.id or obj.purpose not in purposes:
        raise NotFound("There is no such item in your vault.")
    if obj.status != MediaStatus.READY:
        raise DomainError("That item is still being processed; try again in a moment.")
    return obj


def delete_vault_item(user: User, media_id: object) -> None:
    """Remove an item from the vault, unless a post or a message still shows it (fans paid for
    it)."""

    row_id = parse_id(media_id)
    obj = db.session.get(MediaObject, row_id) if row_id is not None else None
    if obj is None or obj.user_id != user.id or obj.purpose != "vault":
        raise NotFound("There is no such item in your vault.")
    in_post = db.session.scalar(
        select(PostMedia.post_id)
        .join(Post, Post.id == PostMedia.post_id)
        .where(PostMedia.media_id == obj.id, Post.status != PostStatus.DELETED)
    )
    in_message = db.session.scalar(select(Message.id).where(Message.media_id == obj.id))
    if in_post is not None or in_message is not None:
        raise DomainError("This item is used in a post or a message; delete those first.")
    for key in [obj.key, *(obj.variants or {}).values()]:
        storage().delete(key)
    db.session.delete(obj)
    db.session.commit()


def photo_count(user_id: int) -> int:
    return db.session.scalar(select(func.count(Photo.id)).where(Photo.user_id == user_id))


def photos_of(user_id: int) -> list[Photo]:
    return list(
        db.session.scalars(
            select(Photo).where(Photo.user_id == user_id).order_by(Photo.position, Photo.id)
        )
    )


def delete_photo(user: User, photo_id: int) -> None:
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.user_id != user.id:
        raise NotFound("There is no such photo.")
    for key in (photo.storage_key, photo.thumb_key):
        if key:
            storage().delete(key)
    db.session.delete(photo)
    db.session.flush()
    remaining = photos_of(user.id)
    for index, item in enumerate(remaining):
        item.position = index
    profile = db.session.get(Profile, user.id)
    if profile is not None:
        profile.photo_count = len(remaining)
    db.session.commit()
