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

Videos (a creator's vault, a dater's profile video) go up in parts instead and are transcoded
on the worker ("videos" below, docs/creators.md#videos); voice notes take the photo's path and
become AAC (`process_voice`, docs/dating.md#voice-notes). Whatever a moderator removes is
taken down with every file made of it (`take_down`).

The embedded default is `LocalStorage` under instance/media, which signs its own POST policy
and download links with the app's secret; with `S3_BUCKET` set, `S3Storage`
(services/storage_s3.py) uses boto3's pre-signed POST and URLs against S3 or any S3-compatible
endpoint.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from sqlalchemy import func, or_, select, update

from core import clock, video
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    MediaKind,
    MediaObject,
    MediaStatus,
    Message,
    Notification,
    Photo,
    Post,
    PostMedia,
    PostStatus,
    Profile,
    User,
)
from services import compliance
from services.input import parse_id
from services.storage import MAX_PARTS, PART_BYTES, URL_SECONDS, LocalStorage, Storage
from services.storage_s3 import S3Storage
from workers.queue import enqueue, long_running

log = logging.getLogger("amora.media")

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 9
MAX_VAULT_BYTES = 20 * 1024 * 1024
MAX_VAULT_ITEMS = 2000
# Profile photos; a creator's library (posts, PPV messages); a photo sent in a conversation; a
# voice note recorded in a conversation.
PURPOSES = ("photo", "vault", "chat", "voice")
MAX_PIXELS = 40_000_000  # refuse decompression bombs

# Videos (docs/creators.md#videos): what the browser may say a file is (the worker finds out
# what it really is), where they may go, and what is made of each.
VIDEO_TYPES = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
}
VIDEO_PURPOSES = ("vault", "clip")  # a creator's library; a dater's profile video
CLIP_MAX_BYTES = 200 * 1024 * 1024
VIDEO_MAX_PIXELS = 4096 * 2304  # 4K and a little more; larger pictures are refused
RENDITIONS = (("v1080", 1080), ("v480", 480))  # name, height at most
TEASER_SECONDS = 3
PART_URLS_AT_ONCE = 20  # a browser asks for the next parts' URLs as it goes
# A video's signed links must outlast watching it with pauses: the player fetches ranges as it
# plays and seeks, each with the link it was given.
VIDEO_URL_SECONDS = 3 * 3600
# Started and never finished: multipart uploads are given this long (a large file on a slow
# line), single photos an hour; then the parts are deleted and the item forgotten.
ABANDONED_VIDEO_UPLOAD = dt.timedelta(hours=24)
ABANDONED_PHOTO_UPLOAD = dt.timedelta(hours=1)
PROGRESS_EVERY_SECONDS = 1.0  # a transcode reports its progress at most this often
# Processing that has said nothing for this long has failed for good (its job gave up after
# its retries, docs/jobs.md): the item says so instead of "processing" for ever. Longer than a
# long queue of videos waiting for the worker.
STALLED_PROCESSING = dt.timedelta(hours=12)

# Voice notes (docs/dating.md#voice-notes): what the recorders of browsers produce (WebM or
# Ogg with Opus, MP4 with AAC), made into AAC in MP4 that every browser plays.
AUDIO_TYPES = {"audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a"}
VOICE_MAX_BYTES = 10 * 1024 * 1024


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
    None when it did not say); for a video to the vault, its multipart upload instead
    (`start_video_upload`). A vault upload that shows other people needs the creator's consent
    attestation (docs/creators.md#consent)."""
    if purpose not in PURPOSES:
        raise DomainError("Unknown upload kind.")
    if not user.email_verified:
        raise NotAllowed("Confirm your email address before uploading.")
    if purpose == "vault" and not user.is_creator:
        raise NotAllowed("Switch on creator mode to use the vault.")
    if purpose == "voice":
        return _start_voice_upload(user, content_type, size)
    if purpose in VIDEO_PURPOSES and content_type in VIDEO_TYPES:  # in parts, not one POST
        return start_video_upload(
            user, purpose, content_type, size, shows_others=shows_others, consent=consent
        )
    if content_type not in IMAGE_TYPES:
        if purpose in VIDEO_PURPOSES:
            raise ValidationFailed(
                {"file": "Upload photos (JPEG, PNG or WebP) or videos (MP4, MOV, WebM or MKV)."}
            )
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
    key = _new_key(user, purpose, IMAGE_TYPES[content_type])
    _record_pending(
        user,
        purpose,
        key,
        content_type,
        max_bytes,
        shows_others=others,
        consent_attested_at=clock.now() if attested else None,
    )
    return {"key": key, **storage().presigned_post(key, content_type, max_bytes)}


def _new_key(user: User, purpose: str, extension: str) -> str:
    return f"u/{user.id}/{purpose}/{secrets.token_hex(12)}.{extension}"


def _record_pending(
    user: User, purpose: str, key: str, content_type: str, max_bytes: int, **fields
) -> None:
    """The row of an upload handed out and not yet received (every kind), committed."""
    db.session.add(
        MediaObject(
            user_id=user.id,
            purpose=purpose,
            key=key,
            content_type=content_type,
            max_bytes=max_bytes,
            **fields,
        )
    )
    db.session.commit()


def _start_voice_upload(user: User, content_type: str, size: int | None) -> dict:
    if content_type not in AUDIO_TYPES:
        raise ValidationFailed({"file": "This browser recorded in a form we cannot take."})
    if size is None or not 0 < size <= VOICE_MAX_BYTES:
        raise ValidationFailed(
            {"file": f"A voice note can be up to {video.minutes_text(voice_seconds())} long."}
        )
    key = _new_key(user, "voice", AUDIO_TYPES[content_type])
    _record_pending(user, "voice", key, content_type, VOICE_MAX_BYTES, kind=MediaKind.AUDIO)
    return {"key": key, **storage().presigned_post(key, content_type, VOICE_MAX_BYTES)}


def confirm_upload(
    user: User, key: str, purposes: tuple[str, ...] = (*PURPOSES, "clip")
) -> MediaObject:
    """The browser says the upload finished: check it, then process it on the worker.
    `purposes`: what the page that confirms uploads (the vault's upload is not a profile's)."""

    obj = db.session.scalar(select(MediaObject).where(MediaObject.key == (key or "")))
    if obj is None or obj.user_id != user.id or obj.purpose not in purposes:
        raise NotFound("There is no such upload.")  # someone else's key is "not found" too
    if obj.status != MediaStatus.PENDING:
        return obj  # confirming twice is harmless
    if obj.kind == MediaKind.VIDEO:
        return finish_video_upload(user, key)
    info = storage().head(obj.key)
    if info is None:
        raise DomainError("The file never arrived. Try uploading it again.")
    if info.content_type != obj.content_type or info.size > obj.max_bytes or info.size == 0:
        storage().delete(obj.key)
        obj.status = MediaStatus.REJECTED
        obj.error = "Wrong type or size."
        db.session.commit()
        raise ValidationFailed(
            {"file": "The recording did not arrive whole."}
            if obj.kind == MediaKind.AUDIO
            else {"file": "That file is not an allowed photo."}
        )
    claimed = db.session.execute(
        update(MediaObject)
        .where(MediaObject.id == obj.id, MediaObject.status == MediaStatus.PENDING)
        .values(status=MediaStatus.UPLOADED, size=info.size)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:  # confirmed twice at once (two tabs): one job
        enqueue(process_voice if obj.kind == MediaKind.AUDIO else process, obj.id)
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
        variants["blur"] = _write_variant(store, obj.key, "blur", _blurred(image), 60)
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
    """The creator's library, newest first: processing and ready items, and the videos that
    could not be used (with the reason, until the creator removes them)."""
    return list(
        db.session.scalars(
            select(MediaObject)
            .where(
                MediaObject.user_id == user_id,
                MediaObject.purpose == "vault",
                or_(
                    MediaObject.status.in_((MediaStatus.UPLOADED, MediaStatus.READY)),
                    (MediaObject.status == MediaStatus.REJECTED)
                    & (MediaObject.kind == MediaKind.VIDEO),
                ),
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


TAKEN_DOWN = "Removed by a moderator."
PROCESSING_FAILED = "Processing failed: upload the file again."


def take_down(obj: MediaObject | None, reason: str = TAKEN_DOWN) -> None:
    """A photo, video or voice note a moderator or a copyright notice removed, or whose
    co-performer withdrew (`reason`, shown to the owner): every file of it (the source and
    every rendition, poster, preview and teaser) is deleted from storage and it is shown
    nowhere again (posts and messages show only ready media). In the caller's transaction."""
    if obj is None:
        return
    if obj.upload_id:
        storage().abort_multipart(obj.key, obj.upload_id)
        obj.upload_id = None
    _delete_after_commit({obj.key, *(obj.variants or {}).values()})
    obj.variants = {}
    obj.status = MediaStatus.REJECTED
    obj.error = reason


def _delete_after_commit(keys) -> None:
    """Delete these files once the caller's transaction commits (a job in it, `delete_files`):
    a change that rolls back leaves its rows pointing at files that are still there."""
    if keys:
        enqueue(delete_files, sorted(keys))


def delete_files(keys: list[str]) -> None:
    """Job: delete files from storage (again, harmlessly, when run twice)."""
    store = storage()
    for key in keys:
        store.delete(key)


def take_down_post_media(post_id: int) -> int:
    """`take_down` every item a post shows (wherever else it is shown too); how many."""
    items = db.session.scalars(
        select(MediaObject)
        .join(PostMedia, PostMedia.media_id == MediaObject.id)
        .where(PostMedia.post_id == post_id, MediaObject.status != MediaStatus.REJECTED)
    ).all()
    for obj in items:
        take_down(obj)
    return len(items)


def own_upload(user: User, media_id: object, purposes: tuple[str, ...]) -> MediaObject:
    """One of `user`'s own uploads of these purposes, in whatever state it is (someone else's
    is "not found")."""
    row_id = parse_id(media_id)
    obj = db.session.get(MediaObject, row_id) if row_id is not None else None
    if obj is None or obj.user_id != user.id or obj.purpose not in purposes:
        raise NotFound("There is no such upload.")
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
    if obj.upload_id:  # still uploading: its parts go too
        storage().abort_multipart(obj.key, obj.upload_id)
    _delete_after_commit({obj.key, *(obj.variants or {}).values()})
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
    was_main = photo.position == 0
    db.session.delete(photo)
    db.session.flush()
    remaining = photos_of(user.id)
    for index, item in enumerate(remaining):
        item.position = index
    profile = db.session.get(Profile, user.id)
    if profile is not None:
        profile.photo_count = len(remaining)
    if was_main:
        photo_check_lapses(user, profile)
    db.session.commit()


def photo_check_lapses(user: User, profile: Profile | None) -> None:
    """The main photo changed: a passed photo check no longer vouches for the profile
    (docs/identity.md#photo-verified-daters); the member is asked to take it again."""
    if user.photo_verified_at is None:
        return
    user.photo_verified_at = None
    if profile is not None:
        profile.is_photo_verified = False
    db.session.add(
        Notification(
            user_id=user.id,
            kind="verification",
            text="Your main photo changed: take the photo check again to keep the "
            "photo-verified badge.",
            link="/settings/verification",
        )
    )


# --- videos ------------------------------------------------------------------------------------
#
# A video goes up in parts straight to storage (a multipart upload: S3's own, or its twin on
# local disk), each part to a pre-signed URL the browser asks for as it goes, so an upload
# broken off resumes from the parts already stored. Finishing checks every part is there, joins
# them and queues `process_video`, which transcodes on the worker and shows its progress on the
# item. docs/creators.md#videos.


def start_video_upload(
    user: User,
    purpose: str,
    content_type: str,
    size: int | None,
    *,
    shows_others: bool = False,
    consent: bool = False,
) -> dict:
    """A pending video and its multipart upload: the key, the part size and how many parts."""
    if purpose not in VIDEO_PURPOSES:
        raise DomainError("Videos cannot be uploaded here.")
    if not user.email_verified:
        raise NotAllowed("Confirm your email address before uploading.")
    if purpose == "vault" and not user.is_creator:
        raise NotAllowed("Switch on creator mode to use the vault.")
    if content_type not in VIDEO_TYPES:
        raise ValidationFailed({"file": "Videos must be MP4, MOV, WebM or MKV files."})
    max_bytes = CLIP_MAX_BYTES if purpose == "clip" else current_app.config["VIDEO_MAX_BYTES"]
    if size is None:
        raise ValidationFailed({"file": "The file size is missing."})
    if not 0 < size <= max_bytes:
        raise ValidationFailed({"file": f"Videos can be up to {_size_text(max_bytes)}."})
    if math.ceil(size / PART_BYTES) > MAX_PARTS:
        raise ValidationFailed({"file": "The file is too large to upload."})
    if purpose == "vault" and vault_count(user.id) >= MAX_VAULT_ITEMS:
        raise ValidationFailed({"file": f"The vault holds up to {MAX_VAULT_ITEMS:,} items."})
    others, attested = compliance.check_consent(shows_others, consent)
    key = _new_key(user, purpose, VIDEO_TYPES[content_type])
    # Started in the store first: if the row is then not written, the store's parts are what
    # its lifecycle rule (docs/deployment.md#media-on-s3) clears.
    _record_pending(
        user,
        purpose,
        key,
        content_type,
        max_bytes,
        kind=MediaKind.VIDEO,
        upload_id=storage().start_multipart(key, content_type),
        declared_size=size,
        shows_others=others,
        consent_attested_at=clock.now() if attested else None,
    )
    return {"key": key, "part_bytes": PART_BYTES, "parts": _part_count(size)}


def _part_count(size: int) -> int:
    return max(1, math.ceil(size / PART_BYTES))


def _size_text(size: int) -> str:
    if size >= 2**30:
        return f"{size / 2**30:g} GB"
    return f"{size // 2**20} MB"


def _open_upload(user: User, key: object) -> MediaObject:
    """`user`'s own video upload that is still open (anyone else's is "not found")."""
    obj = db.session.scalar(select(MediaObject).where(MediaObject.key == str(key or "")))
    if obj is None or obj.user_id != user.id or obj.kind != MediaKind.VIDEO:
        raise NotFound("There is no such upload.")
    if obj.status != MediaStatus.PENDING or obj.upload_id is None:
        raise Conflict("This upload is already finished.")
    return obj


def part_urls(user: User, key: object, numbers: list[int]) -> dict[int, str]:
    """Pre-signed URLs for these parts of `user`'s open upload (a few at a time)."""
    obj = _open_upload(user, key)
    count = _part_count(obj.declared_size or 0)
    wanted = sorted(set(numbers))
    if not wanted or len(wanted) > PART_URLS_AT_ONCE or not all(1 <= n <= count for n in wanted):
        raise ValidationFailed({"parts": f"Ask for 1 to {PART_URLS_AT_ONCE} of the {count} parts."})
    store = storage()
    size = obj.declared_size or 0
    return {n: store.part_url(obj.key, obj.upload_id, n, _expected_size(size, n)) for n in wanted}


def stored_parts(user: User, key: object) -> dict:
    """What is already stored of `user`'s open upload, so that a broken-off upload resumes:
    the numbers of the whole parts there."""
    obj = _open_upload(user, key)
    parts = storage().list_parts(obj.key, obj.upload_id) or []
    size = obj.declared_size or 0
    return {
        "key": obj.key,
        "part_bytes": PART_BYTES,
        "parts": _part_count(size),
        "stored": [part.number for part in parts if part.size == _expected_size(size, part.number)],
    }


def _expected_size(size: int, number: int) -> int:
    count = _part_count(size)
    return PART_BYTES if number < count else size - PART_BYTES * (count - 1)


def finish_video_upload(user: User, key: object) -> MediaObject:
    """Every part is stored: queue the processing, which joins them first (on the worker: a
    4 GB join is no work for a web request). An upload with parts missing stays open (the
    browser can send them); one whose parts are not what was declared is given up, its parts
    deleted. Saying it twice (two tabs) queues one job."""
    obj = _open_upload(user, key)
    store = storage()
    size = obj.declared_size or 0
    stored = {part.number: part for part in store.list_parts(obj.key, obj.upload_id) or []}
    count = _part_count(size)
    missing = [n for n in range(1, count + 1) if n not in stored]
    if missing:
        raise DomainError(
            f"The upload is not finished: {len(missing)} of {count} parts have not arrived. "
            "Choose the same file again to send the rest."
        )
    parts = [stored[n] for n in range(1, count + 1)]
    if any(part.size != _expected_size(size, part.number) for part in parts) or len(stored) > count:
        _give_up_upload(store, obj, "The parts uploaded do not make up the file.")
        raise ValidationFailed({"file": "The upload went wrong: choose the file again."})
    claimed = db.session.execute(
        update(MediaObject)
        .where(MediaObject.id == obj.id, MediaObject.status == MediaStatus.PENDING)
        .values(status=MediaStatus.UPLOADED, progress=0, progress_at=clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:  # the one confirm that moved it on queues its job
        enqueue(process_video, obj.id)
    db.session.commit()
    db.session.refresh(obj)
    return obj


def _join_parts(store: Storage, obj: MediaObject) -> str | None:
    """On the worker, before anything else: the stored parts joined into the file at the
    item's key (once: a run after a join that succeeded finds `upload_id` cleared). Returns why
    the file cannot be used, or None."""
    if obj.upload_id is None:
        return None
    size = obj.declared_size or 0
    parts = sorted(store.list_parts(obj.key, obj.upload_id) or [], key=lambda part: part.number)
    count = _part_count(size)
    if [part.number for part in parts] != list(range(1, count + 1)):
        return "The parts uploaded do not make up the file."
    store.complete_multipart(obj.key, obj.upload_id, parts)
    info = store.head(obj.key)
    if info is None or info.size != size:
        return "The joined file is not the declared size."
    obj.upload_id, obj.size = None, info.size
    db.session.commit()
    return None


def _give_up_upload(store: Storage, obj: MediaObject, reason: str) -> None:
    if obj.upload_id:
        store.abort_multipart(obj.key, obj.upload_id)
    store.delete(obj.key)
    obj.upload_id = None
    obj.status = MediaStatus.REJECTED
    obj.error = reason
    db.session.commit()


def abort_abandoned_uploads() -> int:
    """Periodic: uploads started long ago and never finished have their parts deleted from the
    store and their rows removed (a photo's after an hour, a video's after a day); processing
    that stopped for good is marked failed, with a reason the member sees."""
    now = clock.now()
    stale = db.session.scalars(
        select(MediaObject)
        .where(
            MediaObject.status == MediaStatus.PENDING,
            or_(
                MediaObject.upload_id.is_(None)
                & (MediaObject.created_at < now - ABANDONED_PHOTO_UPLOAD),
                # a large file may still be on its way for a while
                MediaObject.created_at < now - ABANDONED_VIDEO_UPLOAD,
            ),
        )
        .order_by(MediaObject.id)
        .limit(200)
    ).all()
    stalled = db.session.execute(
        update(MediaObject)
        .where(
            MediaObject.status == MediaStatus.UPLOADED,
            func.coalesce(MediaObject.progress_at, MediaObject.created_at)
            < now - STALLED_PROCESSING,
        )
        .values(status=MediaStatus.REJECTED, error=PROCESSING_FAILED)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if stalled:
        log.warning("%d uploads never finished processing: marked failed", stalled)
    store = storage()
    removed = 0
    for obj in stale:
        if obj.upload_id:
            store.abort_multipart(obj.key, obj.upload_id)
        store.delete(obj.key)  # a photo posted but never confirmed
        db.session.delete(obj)
        db.session.commit()  # one at a time: what is deleted in the store is gone from here
        removed += 1
    return removed


def _report_progress(media_id: int, percent: int) -> None:
    """The item's progress, committed at once (the vault's page polls it)."""
    db.session.execute(
        update(MediaObject)
        .where(MediaObject.id == media_id, MediaObject.status == MediaStatus.UPLOADED)
        .values(progress=percent, progress_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


class _Progress:
    """Maps each step's share (0.0–1.0) into the whole job's per cent, reported at most every
    PROGRESS_EVERY_SECONDS."""

    def __init__(self, media_id: int, steps: list[float]) -> None:
        self.media_id = media_id
        total = sum(steps)
        self.starts, self.weights, start = [], [], 0.0
        for weight in steps:
            self.starts.append(start / total)
            self.weights.append(weight / total)
            start += weight
        self.step = 0
        self.last = (-1, 0.0)

    def of(self, step: int) -> Callable[[float], None]:
        def report(share: float) -> None:
            percent = min(99, int((self.starts[step] + self.weights[step] * share) * 100))
            last_percent, last_at = self.last
            now = time.monotonic()
            if percent > last_percent and now - last_at >= PROGRESS_EVERY_SECONDS:
                self.last = (percent, now)
                _report_progress(self.media_id, percent)

        return report


@long_running(6 * 3600)
def process_video(media_id: int) -> None:
    """Worker: the uploaded video to what is delivered (docs/creators.md#videos): H.264/AAC
    renditions of up to 1080 and 480 lines, a poster and its thumbnail, and for the locked a
    blurred poster and a silent blurred teaser; the creator's watermark on the renditions and
    the poster; the source deleted. Progress is on the item as it goes. A file that is not a
    usable video is rejected with the reason on the item. Idempotent: a run killed midway is
    run again from the start, writing the same keys."""
    obj = db.session.get(MediaObject, media_id)
    if obj is None or obj.status != MediaStatus.UPLOADED or obj.kind != MediaKind.VIDEO:
        return
    store = storage()
    unusable = _join_parts(store, obj)
    if unusable is not None:
        _give_up_upload(store, obj, unusable)
        return
    config = current_app.config
    seconds = config["PROFILE_VIDEO_MAX_SECONDS" if obj.purpose == "clip" else "VIDEO_MAX_SECONDS"]
    limits = video.Limits(seconds=seconds, pixels=VIDEO_MAX_PIXELS)
    stem = obj.key.rsplit(".", 1)[0]
    media_id, user_id, key = obj.id, obj.user_id, obj.key
    mark_text = None
    if obj.purpose == "vault" and compliance.watermark_enabled(user_id):
        mark_text = compliance.handle(db.session.get(User, user_id))
    db.session.rollback()  # nothing held open while the video is worked on
    with tempfile.TemporaryDirectory(dir=config["MEDIA_WORK_DIR"], prefix="amora-video-") as work:
        workdir = Path(work)
        try:
            source = store.download(key, workdir)
            info = video.probe(source, limits)
            heights = [(name, h) for name, h in RENDITIONS if name == "v480" or info.height > 480]
            progress = _Progress(media_id, [90, 10])  # the renditions (one decoding), the rest
            made = video.renditions(
                source,
                [
                    video.Rendition(
                        workdir / f"{name}.mp4",
                        height,
                        _label(mark_text, video_width(info, height)),
                    )
                    for name, height in heights
                ],
                limits=limits,
                on_progress=progress.of(0),
            )
            rendition_info = made[0]
            outputs = {name: (workdir / f"{name}.mp4", "video/mp4") for name, _ in heights}
            outputs.update(_stills(source, workdir, info, limits, mark_text))
            progress.of(1)(0.5)
            teaser = workdir / "teaser.mp4"
            # Blurred past recognition, like a locked photo's preview: no watermark to trace.
            video.teaser(source, teaser, limits=limits, seconds=TEASER_SECONDS)
            outputs["teaser"] = (teaser, "video/mp4")
        except video.VideoError as exc:
            _reject(store, media_id, key, str(exc))
            return
        variants = {}
        for name, (path, content_type) in outputs.items():
            variant_key = f"{stem}.{name}.{path.suffix.lstrip('.')}"
            store.write_file(variant_key, path, content_type)
            variants[name] = variant_key
    if not _publish(
        store,
        media_id,
        variants,
        width=rendition_info.width,
        height=rendition_info.height,
        duration_ms=round(info.seconds * 1000),
    ):
        return
    store.delete(key)  # the source, with its metadata, is not kept
    obj = db.session.get(MediaObject, media_id)
    if obj is not None and obj.purpose == "clip":
        _drop_other_clips(obj.user_id, keep=obj.id)  # a profile has one video: the newest
        db.session.commit()


def _publish(store: Storage, media_id: int, variants: dict, **facts) -> bool:
    """The item ready with its files, only if it is still waiting for them: not when it was
    deleted or taken down meanwhile (its files then go), nor when another run of the job got
    there first (the files are the same: they stay)."""
    published = db.session.execute(
        update(MediaObject)
        .where(MediaObject.id == media_id, MediaObject.status == MediaStatus.UPLOADED)
        .values(
            variants=variants,
            status=MediaStatus.READY,
            progress=100,
            progress_at=clock.now(),
            **facts,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if published:
        return True
    status = db.session.scalar(select(MediaObject.status).where(MediaObject.id == media_id))
    if status != MediaStatus.READY:
        for variant_key in variants.values():
            store.delete(variant_key)
    return False


# --- profile videos ------------------------------------------------------------------------------


def _clips(user_id: int) -> list[MediaObject]:
    """`user_id`'s profile videos that are not abandoned uploads, newest first."""
    return list(
        db.session.scalars(
            select(MediaObject)
            .where(
                MediaObject.user_id == user_id,
                MediaObject.purpose == "clip",
                MediaObject.status != MediaStatus.PENDING,
            )
            .order_by(MediaObject.id.desc())
        )
    )


def _drop_other_clips(user_id: int, keep: int | None) -> None:
    """Delete `user_id`'s profile videos older than `keep` (all of them for None), files and
    rows; a newer one still processing stays, to replace `keep` in its turn."""
    for obj in _clips(user_id):
        if keep is None or obj.id < keep:
            _delete_after_commit({obj.key, *(obj.variants or {}).values()})
            db.session.delete(obj)


@dataclass(frozen=True)
class Clip:
    """A profile video as its owner manages it: the one shown (`links`, `poster`), and the
    newest upload when it is still processing or could not be used."""

    links: VideoLinks | None
    poster: str | None
    newest: MediaObject | None


def profile_clip(user_id: int) -> Clip:
    """The profile video of `user_id` (whoever may see the profile may watch it), and, for its
    owner's page, the state of a newer upload."""
    clips = _clips(user_id)
    shown = next((obj for obj in clips if obj.status == MediaStatus.READY), None)
    newest = clips[0] if clips and clips[0] is not shown else None
    if shown is None:
        return Clip(None, None, newest)
    variants = shown.variants or {}
    return Clip(
        video_links(variants, False, shown.duration_ms),
        url_for_key(variants.get("poster"), VIDEO_URL_SECONDS),
        newest,
    )


def take_down_clips(user_id: int) -> None:
    """A moderator removed a profile: its video goes too (`take_down`, in the caller's
    transaction)."""
    for obj in _clips(user_id):
        take_down(obj)


def delete_profile_clip(user: User) -> None:
    """Remove `user`'s profile video (and any upload of one not yet shown)."""
    _drop_other_clips(user.id, keep=None)
    db.session.commit()


def video_width(info: video.VideoInfo, height: int) -> int:
    """The width of a rendition at most `height` high (never scaled up)."""
    return max(2, round(info.width * min(height, info.height) / info.height))


def _label(text: str | None, width: int) -> Image.Image | None:
    return compliance.watermark_label(text, width) if text else None


def _stills(
    source: Path, workdir: Path, info: video.VideoInfo, limits: video.Limits, mark: str | None
) -> dict[str, tuple[Path, str]]:
    """The poster (watermarked as the renditions), its thumbnail for the vault and pickers,
    and its blurred twin for the locked (made as a locked photo's preview is)."""
    poster = workdir / "poster.jpg"
    video.poster(
        source,
        poster,
        height=1080,
        limits=limits,
        watermark=_label(mark, video_width(info, 1080)),
    )
    with Image.open(poster) as image:
        still = image.convert("RGB")
    thumb = still.copy()
    thumb.thumbnail((400, 400))
    thumb_path = workdir / "thumb.jpg"
    thumb.save(thumb_path, "JPEG", quality=85, optimize=True)
    blur_path = workdir / "blur.jpg"
    _blurred(still).save(blur_path, "JPEG", quality=60, optimize=True)
    return {
        "poster": (poster, "image/jpeg"),
        "thumb": (thumb_path, "image/jpeg"),
        "blur": (blur_path, "image/jpeg"),
    }


def _blurred(image: Image.Image) -> Image.Image:
    """What a fan sees before paying: small, heavily blurred, nothing recognisable."""
    copy = image.copy()
    copy.thumbnail((48, 48))
    copy = copy.resize((max(copy.width * 8, 1), max(copy.height * 8, 1)), Image.BILINEAR)
    return copy.filter(ImageFilter.GaussianBlur(12))


def _reject(store: Storage, media_id: int, key: str, reason: str) -> None:
    store.delete(key)
    db.session.execute(
        update(MediaObject)
        .where(MediaObject.id == media_id, MediaObject.status == MediaStatus.UPLOADED)
        .values(status=MediaStatus.REJECTED, error=reason[:300], progress_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def process_voice(media_id: int) -> None:
    """Worker: a recorded voice note to AAC in MP4 (core/video.voice_note), its length recorded,
    the recording deleted. An unusable one is rejected with the reason. Idempotent."""
    obj = db.session.get(MediaObject, media_id)
    if obj is None or obj.status != MediaStatus.UPLOADED or obj.kind != MediaKind.AUDIO:
        return
    store = storage()
    key = obj.key
    limits = video.Limits(seconds=current_app.config["VOICE_MAX_SECONDS"], pixels=0)
    db.session.rollback()
    with tempfile.TemporaryDirectory(
        dir=current_app.config["MEDIA_WORK_DIR"], prefix="amora-voice-"
    ) as work:
        target = Path(work) / "voice.m4a"
        try:
            seconds = video.voice_note(store.download(key, Path(work)), target, limits=limits)
        except video.VideoError as exc:
            _reject(store, media_id, key, str(exc))
            return
        voice_key = f"{key.rsplit('.', 1)[0]}.voice.m4a"
        store.write_file(voice_key, target, "audio/mp4")
    if _publish(store, media_id, {"audio": voice_key}, duration_ms=round(seconds * 1000)):
        store.delete(key)


# --- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoLinks:
    """A video as one viewer gets it: the renditions to play (each with the media query that
    picks it), or for the locked only the teaser; and its length."""

    sources: tuple[tuple[str, str], ...]
    teaser: str | None
    length: str  # as players show it (`length_text`)


def length_text(duration_ms: int | None) -> str:
    """A video's or voice note's length as players show it, in whole seconds counted down:
    0:42, 12:05, 1:02:09."""
    if duration_ms is None:
        return ""
    minutes, seconds = divmod(duration_ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def voice_seconds() -> int:
    """How long a voice note may be (the recorder stops there)."""
    return current_app.config["VOICE_MAX_SECONDS"]


def profile_video_seconds() -> int:
    return current_app.config["PROFILE_VIDEO_MAX_SECONDS"]


def upload_limits() -> dict[str, str]:
    """The video limits in words, for the upload forms."""
    config = current_app.config
    return {
        "video_max_size": _size_text(config["VIDEO_MAX_BYTES"]),
        "video_max_length": video.minutes_text(config["VIDEO_MAX_SECONDS"]),
    }


def is_video(variants: dict | None) -> bool:
    return bool(variants) and "v480" in variants


def video_links(variants: dict | None, locked: bool, duration_ms: int | None) -> VideoLinks | None:
    """Signed links to what of a ready video this viewer may have; None for an image."""
    if not is_video(variants):
        return None
    sign = storage().signed_url
    length = length_text(duration_ms)
    if locked:
        return VideoLinks((), sign(variants["teaser"], URL_SECONDS), length)
    sources = []
    if "v1080" in variants:  # wide screens get the larger rendition
        sources.append((sign(variants["v1080"], VIDEO_URL_SECONDS), "(min-width: 720px)"))
    sources.append((sign(variants["v480"], VIDEO_URL_SECONDS), ""))
    return VideoLinks(tuple(sources), None, length)


def still_key(variants: dict | None, locked: bool) -> str | None:
    """The picture shown for an item: a photo's display copy or a video's poster, or for the
    locked the blurred preview of either."""
    variants = variants or {}
    if locked:
        return variants.get("blur")
    return variants.get("poster" if is_video(variants) else "display")
