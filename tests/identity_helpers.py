"""Identity checks made the way a member makes them: images generated here, a capture token
from the service, and `identity.submit`."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from sqlalchemy import select

from extensions import db
from models import Photo, User, VerificationKind, VerificationRequest
from services import identity
from tests.creator_helpers import vault_photo
from tests.test_media import jpeg_bytes


def picture(size=(1024, 768), colour=(40, 120, 200), text: str = "") -> bytes:
    """A JPEG without metadata, as a browser's canvas makes it."""
    image = Image.new("RGB", size, colour)
    if text:
        ImageDraw.Draw(image).text((20, 20), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def camera_file_photo() -> bytes:
    """A photo as a phone's camera app saves it: with the camera's make in its EXIF."""
    return jpeg_bytes((1024, 768), exif=True)


def with_photo(user: User) -> Photo:
    """A profile photo, uploaded and processed the way the profile page does it."""
    obj = vault_photo(user, purpose="photo")
    return db.session.scalar(select(Photo).where(Photo.media_id == obj.id))


def submitted(user: User, kind=VerificationKind.CREATOR) -> VerificationRequest:
    capture = identity.start(user, kind)
    extra = {}
    if kind in identity.WITH_DOCUMENT:
        extra = {
            "document_type": "id_card",
            "front": identity.Upload(picture(text="FRONT")),
            "back": identity.Upload(picture(text="BACK")),
        }
    return identity.submit(
        user,
        kind,
        capture=capture.token,
        selfie=identity.Upload(picture((640, 480), (220, 180, 150))),
        **extra,
    )
