"""Identity checks (docs/identity.md): a creator's identity document and selfie, a dater's photo
check, their review by staff, and the sealed files they leave behind.

    1. The member opens Settings → Verification: `start()` picks a gesture and signs it into a
       capture token. The page shows the gesture and takes the selfie with the camera.
    2. `submit()` checks the images, seals each (core/sealed.py: a data key per file, wrapped by
       the current master key) and writes only the sealed bytes to storage, with the request,
       in one call.
    3. A moderator or admin opens the request in Admin → Verification: each file is opened by
       `open_file()`, which records the look in the audit log first. `decide()` approves (the
       creator may sell, the dater gets the badge) or rejects with a reason the member reads;
       a rejected member may submit again.
    4. `VERIFICATION_RETENTION_DAYS` after the decision `purge_decided_files()` deletes the
       files; the facts of the decision stay for compliance records. Erasing the account
       deletes them at once (services/personal_data).

Rotating the master key (`rotate_keys()`, `flask keys rotate`) re-wraps the data keys, without
reading or rewriting a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from PIL import Image, ImageOps
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from core import clock, sealed
from core.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from extensions import db
from models import (
    CoPerformer,
    DocumentType,
    Notification,
    Photo,
    Profile,
    SealedFile,
    SealedFileRole,
    User,
    VerificationKind,
    VerificationRequest,
    VerificationStatus,
)
from services import audit, identity_providers, media
from services.input import parse_id
from workers.queue import enqueue

# What the selfie must show: one is picked at random for each capture, and the reviewer checks
# the selfie shows it (a photo found on the internet will not).
GESTURES = (
    "Hold up three fingers beside your face",
    "Give a thumbs-up with your left hand",
    "Touch your nose with your index finger",
    "Put your open hand flat on top of your head",
    "Make a peace sign with your right hand",
    "Cover one eye with your hand",
    "Point at the camera with your index finger",
    "Touch your right ear with your left hand",
    "Hold up one finger beside your cheek",
    "Make an OK sign with your fingers",
    "Rest your chin on your fist",
    "Wave with your palm towards the camera",
)
DOCUMENT_TYPES = {
    DocumentType.PASSPORT: "Passport",
    DocumentType.ID_CARD: "National identity card",
    DocumentType.DRIVING_LICENCE: "Driving licence",
}
KIND_NAMES = {
    VerificationKind.CREATOR: "identity check",
    VerificationKind.AGE: "age check",
    VerificationKind.PHOTO: "photo check",
}
WITH_DOCUMENT = (VerificationKind.CREATOR, VerificationKind.AGE)
# The checks by the name their pages go by (/settings/verification/<name>).
CHECKS = {str(kind): kind for kind in VerificationKind}

IN_REVIEW = "We are reviewing what you sent: you can send again once we have decided."
CAPTURE_SECONDS = 15 * 60  # how long after the gesture is shown the selfie may be sent
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_REQUEST_BYTES = 3 * MAX_FILE_BYTES + 2**20  # a form with its three files
MAX_PIXELS = 40_000_000
MIN_SIDE = 300  # smaller than this, a document cannot be read
STORED_SIDE = 2400  # files are re-encoded no larger than this (and without their metadata)
FILE_TYPE = "image/jpeg"
# EXIF tags a camera writes and a browser's canvas never does: a "selfie" carrying them is a
# photo from the disk, not one taken in the page.
CAMERA_TAGS = (0x010F, 0x0110)  # Make, Model
EXIF_IFD, DATE_TIME_ORIGINAL = 0x8769, 0x9003
PURGE_BATCH = 200

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}


# --- keys -----------------------------------------------------------------------------------------


def keyring() -> sealed.Keyring:
    return _keyring(current_app.config.get("SEALING_KEYS"), current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=4)
def _keyring(configured: str | None, secret_key: str) -> sealed.Keyring:
    if configured:
        return sealed.Keyring.parse(configured)
    # Outside production only (config refuses it there): a key derived from SECRET_KEY.
    key = HKDF(hashes.SHA256(), 32, salt=None, info=b"amora sealing key").derive(
        secret_key.encode()
    )
    return sealed.Keyring("dev", {"dev": key})


def _context(key: str) -> bytes:
    """What a file's encryption is bound to: its own storage key (unique, random)."""
    return b"sealed-file:" + key.encode()


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    unreadable: list[int]  # files whose data key no key of the keyring opens (ids)


def rotate_keys(batch: int = 500) -> Rotation:
    """Re-wrap every data key not wrapped by the current master key. Files are not read.
    Resumable: each batch commits. A key that does not unwrap (its master key is not in the
    keyring) is left as it is and reported: the old key must stay until it is found."""
    ring = keyring()
    prefix = ring.current + ":"
    done, unreadable, after = 0, [], 0
    while True:
        rows = db.session.scalars(
            select(SealedFile)
            .where(
                SealedFile.id > after,
                # Compared as text, not LIKE: "_" in a key id is no wildcard.
                func.substr(SealedFile.wrapped_key, 1, len(prefix)) != prefix,
            )
            .order_by(SealedFile.id)
            .limit(batch)
        ).all()
        if not rows:
            return Rotation(done, unreadable)
        rewrapped = 0
        for row in rows:
            try:
                row.wrapped_key = sealed.rewrap(row.wrapped_key, ring, context=_context(row.key))
                rewrapped += 1
            except sealed.SealError:
                unreadable.append(row.id)
        audit.record("keys.rotated", actor_id=None, note=f"{rewrapped} data keys", key=ring.current)
        db.session.commit()
        done += rewrapped
        after = rows[-1].id


# --- the member's side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    gesture: str
    token: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="amora selfie capture")


def start(user: User, kind: VerificationKind) -> Capture:
    """A gesture for the selfie, and the token that carries it to `submit`."""
    index = secrets.randbelow(len(GESTURES))
    token = _serializer().dumps({"u": user.id, "k": str(kind), "g": index})
    return Capture(GESTURES[index], token)


def _gesture_of(user: User, kind: VerificationKind, token: str) -> str:
    error = "The camera picture is too old or not from this page: take the selfie again."
    try:
        data = _serializer().loads(token or "", max_age=CAPTURE_SECONDS)
    except (SignatureExpired, BadSignature):
        raise ValidationFailed({"selfie": error}) from None
    if not isinstance(data, dict) or data.get("u") != user.id or data.get("k") != str(kind):
        raise ValidationFailed({"selfie": error})
    index = data.get("g")
    if not isinstance(index, int) or not 0 <= index < len(GESTURES):
        raise ValidationFailed({"selfie": error})
    return GESTURES[index]


@dataclass
class Upload:
    """A file as the form sent it."""

    data: bytes
    filename: str = ""


@dataclass
class CheckedImage:
    """A checked image, re-encoded, ready to seal."""

    data: bytes
    width: int
    height: int


def image(upload: Upload | None, field: str, what: str, *, camera: bool = False) -> CheckedImage:
    """`upload` checked as a photo (the field's error otherwise) and re-encoded without its
    metadata; `camera`: a selfie that must come from the page's camera."""
    if upload is None or not upload.data:
        raise ValidationFailed({field: f"Add {what}."})
    if len(upload.data) > MAX_FILE_BYTES:
        raise ValidationFailed(
            {field: f"{what.capitalize()} is too large: at most {MAX_FILE_BYTES // 2**20} MB."}
        )
    not_image = f"{what.capitalize()} must be a photo: a JPEG, PNG or WebP image."
    try:
        with Image.open(io.BytesIO(upload.data)) as image:
            if image.format not in IMAGE_FORMATS:
                raise ValidationFailed({field: not_image})
            if image.width * image.height > MAX_PIXELS:
                raise ValidationFailed(
                    {field: f"{what.capitalize()} has too many pixels (at most 40 megapixels)."}
                )
            if camera and _from_a_camera_file(image):
                raise ValidationFailed(
                    {
                        field: "Take the selfie with the camera on this page: a photo "
                        "from your files is not accepted."
                    }
                )
            image.load()
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 (Pillow raises many kinds on a broken file: all mean this)
        raise ValidationFailed({field: not_image}) from None
    if min(picture.size) < MIN_SIDE:
        raise ValidationFailed(
            {field: f"{what.capitalize()} is too small to check: at least {MIN_SIDE} pixels."}
        )
    picture.thumbnail((STORED_SIDE, STORED_SIDE))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)  # re-encoded: no EXIF, no location
    return CheckedImage(out.getvalue(), picture.width, picture.height)


def _from_a_camera_file(image: Image.Image) -> bool:
    exif = image.getexif()
    if any(exif.get(tag) for tag in CAMERA_TAGS):
        return True
    return bool(exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL))


def latest(user_id: int, kind: VerificationKind) -> VerificationRequest | None:
    return db.session.scalar(
        select(VerificationRequest)
        .where(VerificationRequest.user_id == user_id, VerificationRequest.kind == kind)
        .order_by(VerificationRequest.id.desc())
        .limit(1)
    )


def latest_shown(user_id: int, kind: VerificationKind) -> VerificationRequest | None:
    """The check a member's Verification page shows: the latest, unless it was abandoned with
    an identity service (then the page offers to start again)."""
    request = latest(user_id, kind)
    return None if is_abandoned(request) else request


def is_verified(user: User, kind: VerificationKind) -> bool:
    if kind == VerificationKind.CREATOR:
        return user.creator_verified_at is not None
    if kind == VerificationKind.AGE:
        return user.age_verified_at is not None
    return user.photo_verified_at is not None


def _may_submit(user: User, kind: VerificationKind) -> None:
    if kind == VerificationKind.CREATOR and not user.is_creator:
        raise NotAllowed("Switch on creator mode first (Settings → Creator).")
    if kind == VerificationKind.PHOTO and not db.session.scalar(
        select(exists().where(Photo.user_id == user.id))
    ):
        raise NotAllowed("Add a photo to your profile first: your selfie is compared with it.")
    if is_verified(user, kind):
        raise Conflict("You are verified already.")
    previous = latest(user.id, kind)
    if (
        previous is not None
        and previous.status == VerificationStatus.PENDING
        and not is_abandoned(previous)
    ):
        if previous.provider != "manual":
            raise Conflict("Your check with the identity service is not finished yet.")
        raise Conflict(IN_REVIEW)


SERVICE_CHECK_DAYS = 7  # an identity service's check unanswered this long is given up
ABANDONED = "The identity service did not finish this check: start again."


def is_abandoned(request: VerificationRequest | None) -> bool:
    """A check left pending with an identity service that is switched off, or that has not
    answered for SERVICE_CHECK_DAYS: the member may start again."""
    if request is None or request.provider == "manual":
        return False
    if request.status != VerificationStatus.PENDING:
        return False
    too_old = request.submitted_at < clock.now() - dt.timedelta(days=SERVICE_CHECK_DAYS)
    return too_old or identity_providers.get(request.provider) is None


def _close_abandoned(user: User, kind: VerificationKind) -> None:
    """Close the member's abandoned service check (in the caller's transaction), so that a new
    one may be pending."""
    previous = latest(user.id, kind)
    if is_abandoned(previous):
        db.session.execute(
            update(VerificationRequest)
            .where(
                VerificationRequest.id == previous.id,
                VerificationRequest.status == VerificationStatus.PENDING,
            )
            .values(status=VerificationStatus.REJECTED, decided_at=clock.now(), reason=ABANDONED),
            execution_options={"synchronize_session": False},
        )
        db.session.expire(previous)


def refusal(user: User, kind: VerificationKind) -> str | None:
    """Why `user` cannot send a check of `kind` now, or None when they can."""
    try:
        _may_submit(user, kind)
    except (NotAllowed, Conflict) as exc:
        return exc.message
    return None


def submit(
    user: User,
    kind: VerificationKind,
    *,
    capture: str,
    selfie: Upload | None,
    document_type: str | None = None,
    front: Upload | None = None,
    back: Upload | None = None,
) -> VerificationRequest:
    """A new request with its sealed files, in one transaction (the files are written first and
    deleted again if the request cannot be saved)."""
    _may_submit(user, kind)
    provider = provider_for(kind)
    if provider is not None:
        raise NotAllowed(f"This check goes through {provider.label}: start it there.")
    gesture = _gesture_of(user, kind, capture)
    images: list[tuple[SealedFileRole, CheckedImage]] = []
    if kind in WITH_DOCUMENT:
        if document_type not in DOCUMENT_TYPES:
            raise ValidationFailed({"document_type": "Choose the kind of document."})
        images.append(
            (SealedFileRole.DOCUMENT_FRONT, image(front, "front", "the front of your document"))
        )
        if document_type != DocumentType.PASSPORT:  # a passport's photo page is one side
            images.append(
                (SealedFileRole.DOCUMENT_BACK, image(back, "back", "the back of your document"))
            )
    else:
        document_type = None
    images.append((SealedFileRole.SELFIE, image(selfie, "selfie", "a selfie", camera=True)))

    request = VerificationRequest(
        user_id=user.id, kind=kind, document_type=document_type, gesture=gesture
    )
    store, written = media.storage(), []
    try:
        _close_abandoned(user, kind)
        request.files.extend(seal_files(user.id, images, written))
        db.session.add(request)
        db.session.flush()
        audit.record(
            "verification.submitted",
            actor_id=user.id,
            target=("verification", request.id),
            kind=str(kind),
            files=len(images),
        )
        db.session.commit()
    except IntegrityError:  # a second tab's request got in first
        db.session.rollback()
        _delete_quietly(store, written)
        raise Conflict(IN_REVIEW) from None
    except BaseException:
        db.session.rollback()
        _delete_quietly(store, written)
        raise
    return request


def seal_files(
    owner_id: int, images: list[tuple[SealedFileRole, CheckedImage]], written: list[str]
) -> list[SealedFile]:
    """Seal and store checked images (`image`); their rows, for the caller to attach and
    commit. Each key written is added to `written`, for the caller to delete should its
    transaction fail (`discard`)."""
    store, ring, rows = media.storage(), keyring(), []
    for role, image in images:
        key = f"sealed/{owner_id}/{secrets.token_hex(16)}"
        data, wrapped = sealed.seal(image.data, ring, context=_context(key))
        store.write(key, data, "application/octet-stream")
        written.append(key)
        rows.append(
            SealedFile(
                role=role,
                key=key,
                wrapped_key=wrapped,
                content_type=FILE_TYPE,
                size=len(image.data),
                width=image.width,
                height=image.height,
            )
        )
    return rows


def discard(keys: list[str]) -> None:
    """Delete sealed files written for a change that did not commit."""
    _delete_quietly(media.storage(), keys)


def _delete_quietly(store, keys: list[str]) -> None:
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 (a file left behind is logged, not fatal)
            current_app.logger.warning("could not delete sealed file %s", key)


# --- review ---------------------------------------------------------------------------------------


def require_staff(viewer: User) -> None:
    if not viewer.is_staff:
        raise NotAllowed("Only moderators and admins review identity checks.")


def queue(viewer: User, limit: int = 100) -> list[tuple[VerificationRequest, User]]:
    """Pending requests, oldest first."""
    require_staff(viewer)
    rows = db.session.execute(
        select(VerificationRequest, User)
        .join(User, User.id == VerificationRequest.user_id)
        .where(
            VerificationRequest.status == VerificationStatus.PENDING,
            VerificationRequest.provider == "manual",  # the others wait for their service
        )
        .order_by(VerificationRequest.submitted_at, VerificationRequest.id)
        .limit(limit)
    ).all()
    return [(request, user) for request, user in rows]


def pending_count() -> int:
    return db.session.scalar(
        select(func.count(VerificationRequest.id)).where(
            VerificationRequest.status == VerificationStatus.PENDING,
            VerificationRequest.provider == "manual",
        )
    )


def recent_decisions(viewer: User, limit: int = 20) -> list[tuple[VerificationRequest, User]]:
    require_staff(viewer)
    rows = db.session.execute(
        select(VerificationRequest, User)
        .join(User, User.id == VerificationRequest.user_id)
        .where(VerificationRequest.status != VerificationStatus.PENDING)
        .order_by(VerificationRequest.decided_at.desc(), VerificationRequest.id.desc())
        .limit(limit)
    ).all()
    return [(request, user) for request, user in rows]


def get_request(viewer: User, request_id: object) -> VerificationRequest:
    require_staff(viewer)
    request = db.session.get(VerificationRequest, parse_id(request_id) or 0)
    if request is None:
        raise NotFound("No such verification request.")
    return request


def history(user_id: int) -> list[VerificationRequest]:
    return list(
        db.session.scalars(
            select(VerificationRequest)
            .where(VerificationRequest.user_id == user_id)
            .order_by(VerificationRequest.id.desc())
        )
    )


def open_file(viewer: User, file_id: object) -> bytes:
    """A sealed file's plaintext for a reviewer; the look is on the audit log (committed) before
    a byte is returned."""
    require_staff(viewer)
    row = db.session.get(SealedFile, parse_id(file_id) or 0)
    if row is None:
        raise NotFound("No such file: it may have been deleted.")
    try:
        data = media.storage().read(row.key)
    except Exception:  # noqa: BLE001 (gone from storage: deleted meanwhile, or never written)
        raise NotFound("This file is no longer stored.") from None
    plaintext = sealed.open_sealed(data, row.wrapped_key, keyring(), context=_context(row.key))
    audit.record(
        "verification.file_viewed",
        actor_id=viewer.id,
        target=("verification", row.request_id)
        if row.request_id is not None
        else ("co_performer", row.co_performer_id),
        file=row.id,
        role=row.role,
        sha256=hashlib.sha256(plaintext).hexdigest()[:16],
    )
    db.session.commit()
    return plaintext


DECIDED_ALREADY = "Someone decided on this request already."
REASON_MAX = 500


def decide(
    reviewer: User, request_id: object, *, approve: bool, reason: str = ""
) -> VerificationRequest:
    """Approve, or reject with a reason the member reads; one transaction."""
    request = get_request(reviewer, request_id)
    if request.user_id == reviewer.id:
        raise NotAllowed("Another reviewer decides on your own request.")
    if request.provider != "manual" and request.status == VerificationStatus.PENDING:
        raise Conflict("The identity service decides this check.")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationFailed({"reason": "Say why, so that the member can fix it."})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": f"At most {REASON_MAX} characters."})
    decided = _decide(request, reviewer, approve=approve, reason=reason)
    if decided is None:
        raise Conflict(DECIDED_ALREADY)
    return decided


def _decide(
    request: VerificationRequest,
    reviewer: User | None,
    *,
    approve: bool,
    reason: str,
    document_type: str | None = None,
    **detail,
) -> VerificationRequest | None:
    """Decide a pending request, by a reviewer or (None) an identity service: the member's
    verification, a notification, the audit row, one commit. None when it was decided
    already (the conditional update found it so)."""
    now = clock.now()
    days = current_app.config["VERIFICATION_RETENTION_DAYS"]
    status = VerificationStatus.APPROVED if approve else VerificationStatus.REJECTED
    values = {
        "status": status,
        "decided_at": now,
        "reviewer_id": reviewer.id if reviewer is not None else None,
        "reason": reason or None,
        "purge_after": now + dt.timedelta(days=days),
    }
    if document_type:
        values["document_type"] = document_type
    claimed = db.session.execute(
        update(VerificationRequest)
        .where(
            VerificationRequest.id == request.id,
            VerificationRequest.status == VerificationStatus.PENDING,
        )
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    member = db.session.get(User, request.user_id)
    kind = VerificationKind(request.kind)
    if approve:
        _grant(member, kind, now)
        text = {
            VerificationKind.CREATOR: "Your identity is verified: you can sell content and "
            "request payouts.",
            VerificationKind.AGE: "Your age is verified: adult content is open to you.",
            VerificationKind.PHOTO: "Your photos are verified: your profile shows the "
            "photo-verified badge.",
        }[kind]
    else:
        text = f"Your {KIND_NAMES[kind]} was not approved: {reason}"
    db.session.add(
        Notification(
            user_id=member.id,
            kind="verification",
            text=text[:300],
            link="/settings/verification",
        )
    )
    audit.record(
        f"verification.{status}",
        actor_id=reviewer.id if reviewer is not None else None,
        target=("verification", request.id),
        note=reason or None,
        member=member.id,
        kind=str(kind),
        **detail,
    )
    db.session.commit()
    db.session.refresh(request)
    return request


def _grant(member: User, kind: VerificationKind, now: dt.datetime) -> None:
    profile = db.session.get(Profile, member.id)
    if kind in WITH_DOCUMENT:  # the document showed an adult
        member.age_verified_at = member.age_verified_at or now
    if kind == VerificationKind.CREATOR:
        member.creator_verified_at = member.creator_verified_at or now
        if profile is not None:
            profile.is_verified = True
    elif kind == VerificationKind.PHOTO:
        member.photo_verified_at = member.photo_verified_at or now
        if profile is not None:
            profile.is_photo_verified = True


def overturn(staff: User, request_id: int) -> None:
    """An appeal overturned a rejection: the check is approved as a reviewer would have (in the
    caller's transaction)."""
    now = clock.now()
    changed = db.session.execute(
        update(VerificationRequest)
        .where(
            VerificationRequest.id == request_id,
            VerificationRequest.status == VerificationStatus.REJECTED,
        )
        .values(
            status=VerificationStatus.APPROVED,
            decided_at=now,
            reviewer_id=staff.id,
            purge_after=now + dt.timedelta(days=current_app.config["VERIFICATION_RETENTION_DAYS"]),
        ),
        execution_options={"synchronize_session": False},
    )
    if changed.rowcount != 1:
        return
    request = db.session.get(VerificationRequest, request_id)
    db.session.refresh(request)
    _grant(db.session.get(User, request.user_id), VerificationKind(request.kind), now)
    audit.record(
        "verification.approved",
        actor_id=staff.id,
        target=("verification", request.id),
        note="appeal overturned the rejection",
        member=request.user_id,
        kind=request.kind,
    )


# --- records -------------------------------------------------------------------------------------

RECORD_COLUMNS = (
    "record",
    "member_id",
    "member_name",
    "member_email",
    "date_of_birth",
    "check",
    "document_type",
    "submitted_at",
    "status",
    "decided_at",
    "reviewer_id",
    "reviewer_email",
    "reason",
    "checked_by",
    "files_deleted_at",
    "media_id",
    "co_performer",
)


def records_csv(admin: User, user_id: object) -> tuple[str, str]:
    """A member's identity records for a compliance request, as (file name, CSV text): every
    check with its dates, document type and reviewer, then every co-performer named on their
    items (tag or release, status, who decided). Admins only (an export of personal data);
    audited."""
    if not admin.is_admin:
        raise NotAllowed("Only admins export records.")
    member = db.session.get(User, parse_id(user_id) or 0)
    if member is None:
        raise NotFound("There is no such member.")
    reviewers: dict[int, User | None] = {}

    def reviewer_of(user_id: int | None) -> User | None:
        if user_id is not None and user_id not in reviewers:
            reviewers[user_id] = db.session.get(User, user_id)
        return reviewers.get(user_id) if user_id is not None else None

    person = [member.id, _cell(member.display_name), _cell(member.email)]
    person.append(member.date_of_birth.isoformat())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RECORD_COLUMNS)
    for request in reversed(history(member.id)):
        reviewer = reviewer_of(request.reviewer_id)
        writer.writerow(
            [
                f"check {request.id}",
                *person,
                request.kind,
                request.document_type or "",
                _when(request.submitted_at),
                request.status,
                _when(request.decided_at),
                request.reviewer_id or "",
                _cell(reviewer.email) if reviewer else "",
                _cell(request.reason or ""),
                "reviewer" if request.provider == "manual" else request.provider,
                _when(request.files_deleted_at),
                "",
                "",
            ]
        )
    named = db.session.scalars(
        select(CoPerformer).where(CoPerformer.owner_id == member.id).order_by(CoPerformer.id)
    )
    for row in named:
        reviewer = reviewer_of(row.reviewer_id)
        performer = db.session.get(User, row.performer_id) if row.performer_id else None
        writer.writerow(
            [
                f"co-performer {row.id}",
                *person,
                f"co_performer_{row.kind}",
                "release" if row.kind == "release" else "",
                _when(row.created_at),
                row.status,
                _when(row.decided_at),
                row.reviewer_id or "",
                _cell(reviewer.email) if reviewer else "",
                _cell(row.reason or ""),
                "reviewer" if row.kind == "release" else "the person tagged",
                "",
                row.media_id or "",
                _cell(row.legal_name or "")
                if row.kind == "release"
                else (
                    f"member {performer.id}: {_cell(performer.display_name)}" if performer else ""
                ),
            ]
        )
    audit.record("verification.records_exported", actor_id=admin.id, target=("user", member.id))
    db.session.commit()
    return f"identity-records-{member.id}.csv", out.getvalue()


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") + "Z" if moment else ""


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a name such as "=HYPERLINK(…)")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- retention and erasure ------------------------------------------------------------------------


def purge_decided_files(now: dt.datetime | None = None) -> int:
    """Delete the files of requests decided more than VERIFICATION_RETENTION_DAYS ago; how
    many requests were emptied. Rows go in the transaction, files once it commits."""
    now = now or clock.now()
    emptied = 0
    while True:
        requests = db.session.scalars(
            select(VerificationRequest)
            .where(
                VerificationRequest.purge_after <= now,
                VerificationRequest.files_deleted_at.is_(None),
            )
            .order_by(VerificationRequest.id)
            .limit(PURGE_BATCH)
        ).all()
        if not requests:
            return emptied + _purge_refused_releases(now)
        keys = [file.key for request in requests for file in request.files]
        for request in requests:
            request.files.clear()
            request.files_deleted_at = now
        db.session.commit()
        _delete_quietly(media.storage(), keys)
        emptied += len(requests)


def _purge_refused_releases(now: dt.datetime) -> int:
    """Files of co-performers' releases refused more than VERIFICATION_RETENTION_DAYS ago (an
    accepted release stays as the record of who appeared); how many releases were emptied."""
    before = now - dt.timedelta(days=current_app.config["VERIFICATION_RETENTION_DAYS"])
    rows = db.session.scalars(
        select(CoPerformer)
        .where(
            CoPerformer.status == "rejected",
            CoPerformer.decided_at <= before,
            CoPerformer.id.in_(select(SealedFile.co_performer_id)),
        )
        .limit(PURGE_BATCH)
    ).all()
    keys = [file.key for row in rows for file in row.files]
    for row in rows:
        row.files.clear()
    db.session.commit()
    _delete_quietly(media.storage(), keys)
    return len(rows)


# --- identity services ---------------------------------------------------------------------------
#
# With IDENTITY_PROVIDER set, identity and age checks go to that service instead of the manual
# queue (photo checks stay with reviewers): docs/identity.md#identity-services.

PROVIDER_KINDS = WITH_DOCUMENT


def provider_for(kind: VerificationKind):
    """The identity service that takes checks of `kind`, or None: the manual flow."""
    return identity_providers.active() if kind in PROVIDER_KINDS else None


def start_with_provider(user: User, kind: VerificationKind) -> str:
    """Open (or reopen) a check with the identity service; the address to send the member to.
    A check left pending with the service is reopened rather than started twice."""
    provider = provider_for(kind)
    if provider is None:
        raise NotAllowed("This check is reviewed by our team: send your documents here.")
    previous = latest(user.id, kind)
    if (
        previous is not None
        and previous.status == VerificationStatus.PENDING
        and previous.provider == provider.name
        and not is_abandoned(previous)
    ):
        return provider.start(previous)
    _may_submit(user, kind)
    _close_abandoned(user, kind)
    request = VerificationRequest(user_id=user.id, kind=kind, provider=provider.name)
    url = provider.start(request)
    db.session.add(request)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(IN_REVIEW) from None
    audit.record(
        "verification.started",
        actor_id=user.id,
        target=("verification", request.id),
        kind=str(kind),
        provider=provider.name,
    )
    db.session.commit()
    return url


def dev_session(user: User, ref: str) -> VerificationRequest:
    """The member's own pending check with the dev identity service (its page)."""
    request = db.session.scalar(
        select(VerificationRequest).where(VerificationRequest.provider_ref == (ref or "")[:100])
    )
    if (
        request is None
        or request.user_id != user.id
        or request.provider != "dev"
        or identity_providers.get("dev") is None
    ):
        raise NotFound("There is no such check.")
    return request


def dev_outcome(user: User, ref: str, approve: bool) -> VerificationRequest:
    """The member pressed Approve or Reject on the dev service's page: its signed webhook is
    sent by a job, as a real service would send it."""
    request = dev_session(user, ref)
    if request.status != VerificationStatus.PENDING:
        raise Conflict("This check is decided already.")
    provider = identity_providers.get("dev")
    reason = None if approve else "The test identity service could not read the document."
    body = provider.event_body(request, approve, reason)
    enqueue(
        deliver_webhook,
        "dev",
        body.decode(),
        {identity_providers.SIGNATURE_HEADER: identity_providers.sign(body)},
    )
    db.session.commit()
    return request


def deliver_webhook(provider: str, body: str, headers: dict) -> str:
    """The job that delivers the dev service's webhook to our own receiver."""
    return handle_webhook(provider, body.encode(), headers)


def handle_webhook(name: str, body: bytes, headers: dict[str, str]) -> str:
    """A service's signed result: decides its pending request once ("approved", "rejected");
    a replay, or a result for a request decided meanwhile, changes nothing ("duplicate")."""
    provider = identity_providers.get(name)
    if provider is None:
        raise NotFound("No such identity service.")
    result = provider.parse_webhook(body, headers)
    request = db.session.scalar(
        select(VerificationRequest).where(
            VerificationRequest.provider == name,
            VerificationRequest.provider_ref == result.session,
        )
    )
    if request is None:
        raise NotFound("No check for that session.")
    reason = (result.reason or "The identity service did not confirm your identity.")[:REASON_MAX]
    document_type = result.document_type if result.document_type in DOCUMENT_TYPES else None
    decided = _decide(
        request,
        None,
        approve=result.approved,
        reason="" if result.approved else reason,
        document_type=document_type,
        provider=name,
        event=result.event_id,
    )
    return str(decided.status) if decided is not None else "duplicate"
