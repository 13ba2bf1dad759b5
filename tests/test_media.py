"""Photos through the media interface (docs/creators.md#vault-and-media): pre-signed upload,
confirm, processing by the worker job, short-lived signed URLs."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from PIL import Image
from sqlalchemy import select

from extensions import db
from models import MediaObject, Photo
from services import accounts, media, storage
from services.storage import link_expiry
from tests.conftest import AuthActions

HTMX = {"HX-Request": "true"}


def jpeg_bytes(size=(800, 600), exif=True) -> bytes:
    image = Image.new("RGB", size, (200, 40, 90))
    buffer = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        image.save(buffer, "JPEG", exif=data.tobytes())
    else:
        image.save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def fan(app):
    auth = AuthActions(app.test_client())
    auth.signup()
    with app.app_context():
        user = accounts.find_by_email("ana@example.com")
        user.email_verified_at = user.created_at
        db.session.commit()
    return auth


def test_an_unverified_account_cannot_upload(app):
    auth = AuthActions(app.test_client())
    auth.signup(email="new@example.com")
    response = presign(auth)
    assert response.status_code == 403 and b"Confirm your email" in response.data


def csrf_headers(auth) -> dict:
    from tests.conftest import csrf_token

    return {"X-CSRFToken": csrf_token(auth.client), **HTMX}


def presign(auth, content_type="image/jpeg", size=1000):
    return auth.client.post(
        "/profile/photos/presign",
        json={"content_type": content_type, "size": size},
        headers=csrf_headers(auth),
    )


def upload(auth, presigned: dict, data: bytes, content_type="image/jpeg", **override):
    fields = {**presigned["fields"], **override}
    fields["file"] = (io.BytesIO(data), "photo.jpg", content_type)
    return auth.client.post(presigned["url"], data=fields, content_type="multipart/form-data")


def confirm(auth, key):
    return auth.client.post(
        "/profile/photos/confirm", json={"key": key}, headers=csrf_headers(auth)
    )


def test_a_photo_goes_from_upload_to_profile_without_its_metadata(app, fan):
    data = jpeg_bytes()
    presigned = presign(fan, size=len(data)).json
    assert presigned["key"].startswith("u/1/photo/") or "/photo/" in presigned["key"]
    assert upload(fan, presigned, data).status_code == 204
    page = confirm(fan, presigned["key"])
    assert page.status_code == 200 and b'alt="Your photo 1"' in page.data
    with app.app_context():
        photo = db.session.scalars(select(Photo)).one()
        obj = db.session.get(MediaObject, photo.media_id)
        assert obj.status == "ready" and (photo.width, photo.height) == (800, 600)
        stored = media.storage().read(photo.storage_key)
        assert b"SecretCam" not in stored  # metadata stripped by re-encoding
        assert media.storage().head(obj.key) is None  # the original is not kept
        with Image.open(io.BytesIO(media.storage().read(photo.thumb_key))) as thumb:
            assert max(thumb.size) == 400
        url = None
        with app.test_request_context():
            url = media.url_for_key(photo.thumb_key)
    served = fan.client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert fan.client.get(url.replace("sig=", "sig=0")).status_code == 403


@pytest.mark.parametrize(
    ("content_type", "size", "message"),
    [
        ("image/gif", 1000, b"JPEG, PNG or WebP"),
        ("text/html", 1000, b"JPEG, PNG or WebP"),
        ("image/jpeg", 11 * 1024 * 1024, b"up to 10 MB"),
        ("image/jpeg", 0, b"up to 10 MB"),
        ("image/jpeg", "big", b"size is missing"),
    ],
)
def test_wrong_types_and_sizes_are_refused_before_upload(app, fan, content_type, size, message):
    response = presign(fan, content_type, size)
    assert response.status_code == 422 and message in response.data


def test_the_upload_target_enforces_the_signed_policy(app, fan):
    data = jpeg_bytes()
    presigned = presign(fan, size=len(data)).json
    assert upload(fan, presigned, data, key="u/999/photo/evil.jpg").status_code == 403
    assert upload(fan, presigned, data, **{"Content-Type": "image/png"}).status_code == 403
    assert upload(fan, presigned, data, signature="0" * 64).status_code == 403
    with app.test_request_context():
        expired = base64.urlsafe_b64encode(
            json.dumps(
                {
                    "key": presigned["key"],
                    "content_type": "image/jpeg",
                    "max_bytes": 100,
                    "expires": int(time.time()) - 1,
                }
            ).encode()
        ).decode()
        signature = storage._sign(expired)
    assert upload(fan, presigned, data, policy=expired, signature=signature).status_code == 403


def test_confirming_what_never_arrived_or_someone_elses_key(app, fan):
    presigned = presign(fan).json
    never = confirm(fan, presigned["key"])
    assert never.status_code == 400 and b"never arrived" in never.data
    other = AuthActions(app.test_client())
    other.signup(email="bob@example.com", name="Bob")
    assert confirm(other, presigned["key"]).status_code == 404
    data = jpeg_bytes()
    used = presign(fan, size=len(data)).json
    upload(fan, used, data)
    confirm(fan, used["key"])
    assert upload(fan, used, data).status_code == 409  # a finished upload takes no more files
    assert confirm(fan, "u/1/photo/made-up.jpg").status_code == 404


def test_a_file_that_is_not_an_image_is_rejected_by_the_worker(app, fan):
    fake = b"<html><script>alert(1)</script></html>"
    presigned = presign(fan, size=len(fake)).json
    assert upload(fan, presigned, fake).status_code == 204
    confirm(fan, presigned["key"])
    with app.app_context():
        obj = db.session.scalars(select(MediaObject)).one()
        assert obj.status == "rejected" and db.session.scalars(select(Photo)).all() == []
        assert media.storage().head(obj.key) is None


def test_at_most_nine_photos_and_removing_one(app, fan):
    for _ in range(9):
        data = jpeg_bytes((50, 50), exif=False)
        presigned = presign(fan, size=len(data)).json
        upload(fan, presigned, data)
        confirm(fan, presigned["key"])
    tenth = presign(fan)
    assert tenth.status_code == 422 and b"up to 9 photos" in tenth.data
    with app.app_context():
        first = db.session.scalars(select(Photo).order_by(Photo.position)).first()
        user = accounts.find_by_email("ana@example.com")
        assert media.photo_count(user.id) == 9
        first_id = first.id
    response = fan.post(f"/profile/photos/{first_id}/delete", headers=HTMX)
    assert response.status_code == 200 and response.data.count(b"Your photo") == 8
    with app.app_context():
        positions = db.session.scalars(select(Photo.position).order_by(Photo.position)).all()
        assert positions == list(range(8))


def test_a_photo_keeps_its_link_within_a_window_and_no_link_outlives_its_time():
    start = 1_800_000_000  # a multiple of 600
    assert link_expiry(3600, start) == link_expiry(3600, start + 599) == start + 3600
    assert link_expiry(3600, start + 600) == start + 4200  # the next window, a new link
    for now in range(start, start + 1200, 7):
        for seconds in (300, 3600):
            assert seconds * 5 // 6 <= link_expiry(seconds, now) - now <= seconds


def test_pages_built_in_one_window_link_a_photo_by_the_same_url(app):
    with app.test_request_context("/"):
        first = media.url_for_key("u/1/photo.jpg")
        assert media.url_for_key("u/1/photo.jpg") == first  # the browser's cache can serve it
        assert media.url_for_key("u/1/other.jpg") != first
