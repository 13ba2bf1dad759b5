"""Media on S3 (docs/deployment.md#media-on-s3), against moto's S3 server over real HTTP: the test
posts the file to the bucket with the pre-signed POST as a browser would, then confirms, processes
and fetches the signed URLs.

moto checks neither the POST policy (key, type, size, signature) nor the expiry of signed GET
URLs, so those limits are checked here in the policy we sign, and the confirm step is shown to
catch what a lax store lets through.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from PIL import Image
from sqlalchemy import func, select

from extensions import db
from models import MediaObject, Photo
from services import accounts, media, storage
from services.storage_s3 import S3Storage, s3_origin
from tests.conftest import AuthActions, _cleanup, make_app
from tests.test_media import confirm, jpeg_bytes, presign

BUCKET = "amora-test-media"


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free port, with an empty private bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_app(sqlite_url, s3_endpoint):
    app = make_app(
        sqlite_url,
        S3_BUCKET=BUCKET,
        S3_ENDPOINT_URL=s3_endpoint,
        S3_ACCESS_KEY_ID="test",
        S3_SECRET_ACCESS_KEY="test",
    )
    yield app
    _cleanup(app)


def verified_user(app, email="ana@example.com", name="Ana") -> AuthActions:
    auth = AuthActions(app.test_client())
    auth.signup(email=email, name=name)
    with app.app_context():
        user = accounts.find_by_email(email)
        user.email_verified_at = user.created_at
        db.session.commit()
    return auth


@pytest.fixture
def fan(s3_app):
    return verified_user(s3_app)


def post_to_bucket(presigned: dict, data: bytes, content_type="image/jpeg", **override):
    """What static/upload.js does: the signed fields, then the file, straight to storage."""
    return requests.post(
        presigned["url"],
        data={**presigned["fields"], **override},
        files={"file": ("photo.jpg", data, content_type)},
        timeout=30,
    )


def signed_policy(presigned: dict) -> dict:
    return json.loads(base64.b64decode(presigned["fields"]["policy"]))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_media_goes_to_the_bucket_when_one_is_configured(s3_app):
    with s3_app.app_context():
        store = media.storage()
        assert isinstance(store, S3Storage) and store.bucket == BUCKET
        assert media.storage().client is store.client  # one client per app, reused


def test_a_photo_goes_through_the_bucket_and_is_served_by_signed_urls(s3_app, fan, s3_endpoint):
    data = jpeg_bytes()
    presigned = presign(fan, size=len(data)).json
    assert presigned["url"] == f"{s3_endpoint}/{BUCKET}"  # the browser posts to the bucket
    posted = post_to_bucket(presigned, data)
    assert posted.status_code == 204, posted.text

    page = confirm(fan, presigned["key"])
    assert page.status_code == 200 and b'alt="Your photo 1"' in page.data

    with s3_app.app_context():
        photo = db.session.scalars(select(Photo)).one()
        obj = db.session.get(MediaObject, photo.media_id)
        assert obj.status == "ready" and (photo.width, photo.height) == (800, 600)
        store = media.storage()
        assert store.head(obj.key) is None  # the original, with its metadata, is gone
        display = store.read(photo.storage_key)
        assert b"SecretCam" not in display
        display_key = photo.storage_key
        display_url = media.url_for_key(display_key)

    served = requests.get(display_url, timeout=10)
    assert served.status_code == 200, served.text
    assert served.headers["Content-Type"] == "image/jpeg" and served.content == display
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.size == (800, 600)
    signed = parse_qs(urlsplit(display_url).query)
    # Valid until the end of its window: at most URL_SECONDS, at least five sixths of it.
    signed_at = dt.datetime.strptime(signed["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    lasts = int(signed["X-Amz-Expires"][0])
    assert storage.URL_SECONDS * 5 // 6 <= lasts <= storage.URL_SECONDS
    expires = signed_at.replace(tzinfo=dt.UTC).timestamp() + lasts
    assert expires % (storage.URL_SECONDS // 6) in (0, 1)  # the window's end (±1 s of signing)
    with s3_app.app_context():  # the next page links the same URL: the browser's cache serves it
        assert media.url_for_key(display_key) == display_url

    # The page shows the thumbnail through a signed URL of its own.
    thumb_src = re.search(rb'<img src="([^"]+)" alt="Your photo 1"', page.data)
    assert thumb_src, page.data
    thumb_url = html.unescape(thumb_src.group(1).decode())
    thumb = requests.get(thumb_url, timeout=10)
    assert thumb.status_code == 200
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 400

    # The bucket is private: without the signature the same object is refused.
    unsigned = requests.get(display_url.split("?", 1)[0], timeout=10)
    assert unsigned.status_code == 403 and unsigned.content != display


def test_the_presigned_post_accepts_only_that_key_that_type_and_up_to_the_size(s3_app, fan):
    before = dt.datetime.now(dt.UTC)
    presigned = presign(fan, content_type="image/png", size=1000).json
    fields = presigned["fields"]
    assert fields["key"] == presigned["key"] and fields["Content-Type"] == "image/png"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # signature v4
    policy = signed_policy(presigned)
    conditions = policy["conditions"]
    assert {"key": presigned["key"]} in conditions
    assert {"bucket": BUCKET} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, media.MAX_PHOTO_BYTES] in conditions
    expires = dt.datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    window = (expires - before).total_seconds()
    assert storage.UPLOAD_SECONDS - 5 <= window <= storage.UPLOAD_SECONDS + 5


def test_a_wrong_content_type_is_refused_before_anything_is_signed(s3_app, fan):
    response = presign(fan, content_type="image/svg+xml", size=1000)
    assert response.status_code == 422 and "JPEG, PNG or WebP" in response.json["error"]
    assert "fields" not in response.json
    with s3_app.app_context():
        assert count(MediaObject) == 0


@pytest.mark.parametrize(
    ("what", "body", "override"),
    [
        ("larger than allowed", b"\xff\xd8" + b"\0" * media.MAX_PHOTO_BYTES, {}),
        ("another type than signed", jpeg_bytes(), {"Content-Type": "text/html"}),
    ],
)
def test_a_file_the_policy_forbids_is_refused_and_makes_no_photo(s3_app, fan, what, body, override):
    presigned = presign(fan, size=1000).json
    posted = post_to_bucket(presigned, body, **override)
    # moto ignores the POST policy and stores the file (real S3 answers 400 here, and confirm
    # then says the file never arrived); confirm is the check that does not trust the store.
    assert posted.status_code == 204, what
    page = confirm(fan, presigned["key"])
    assert page.status_code == 422, what
    assert b"That file is not an allowed photo." in page.data
    with s3_app.app_context():
        obj = db.session.scalars(select(MediaObject)).one()
        assert obj.status == "rejected" and count(Photo) == 0
        assert media.storage().head(obj.key) is None  # deleted from the bucket


def test_confirming_a_file_that_never_arrived_says_so(s3_app, fan):
    presigned = presign(fan, size=1000).json
    page = confirm(fan, presigned["key"])
    assert page.status_code == 400 and b"The file never arrived" in page.data
    with s3_app.app_context():
        assert db.session.scalars(select(MediaObject.status)).one() == "pending"
        assert count(Photo) == 0


def test_confirming_someone_elses_upload_is_not_found(s3_app, fan):
    data = jpeg_bytes((60, 40), exif=False)
    presigned = presign(fan, size=len(data)).json
    assert post_to_bucket(presigned, data).status_code == 204
    bob = verified_user(s3_app, email="bob@example.com", name="Bob")
    stolen = confirm(bob, presigned["key"])
    assert stolen.status_code == 404 and b"There is no such upload." in stolen.data
    with s3_app.app_context():
        assert db.session.scalars(select(MediaObject.status)).one() == "pending"
        assert count(Photo) == 0
    assert confirm(fan, presigned["key"]).status_code == 200  # still the owner's to confirm


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def test_pages_allow_the_bucket_for_uploads_and_images(s3_app, fan, s3_endpoint, sqlite_url):
    directives = csp_directives(fan.client.get("/profile"))
    assert s3_endpoint in directives["connect-src"] and s3_endpoint in directives["img-src"]
    assert s3_endpoint in directives["media-src"]  # videos play straight from the bucket
    assert s3_endpoint not in directives["script-src"]

    local = make_app(sqlite_url)
    try:
        local_directives = csp_directives(local.test_client().get("/terms"))
        assert not any("127.0.0.1" in value for value in local_directives["connect-src"])
    finally:
        _cleanup(local)


@pytest.mark.parametrize(
    ("where", "origin", "bucket_url"),
    [
        (
            {"S3_REGION": "us-east-1"},
            "https://amora-media.s3.us-east-1.amazonaws.com",
            "https://amora-media.s3.us-east-1.amazonaws.com",
        ),
        (
            {"S3_REGION": "eu-west-1"},
            "https://amora-media.s3.eu-west-1.amazonaws.com",
            "https://amora-media.s3.eu-west-1.amazonaws.com",
        ),
        (  # MinIO and other S3-compatible stores: the bucket is a path on the endpoint
            {"S3_ENDPOINT_URL": "https://minio.example.com:9000"},
            "https://minio.example.com:9000",
            "https://minio.example.com:9000/amora-media",
        ),
    ],
)
def test_uploads_and_links_go_to_the_origin_the_csp_allows(sqlite_url, where, origin, bucket_url):
    app = make_app(
        sqlite_url,
        S3_BUCKET="amora-media",
        S3_ACCESS_KEY_ID="AKIDEXAMPLE",
        S3_SECRET_ACCESS_KEY="example",
        **where,
    )
    try:
        assert s3_origin(app.config) == origin
        directives = csp_directives(app.test_client().get("/terms"))
        assert origin in directives["connect-src"] and origin in directives["img-src"]
        with app.app_context():  # signing is offline: no request is made
            store = media.storage()
            post = store.presigned_post("u/1/photo/x.jpg", "image/jpeg", 100)
            assert post["url"].rstrip("/") == bucket_url
            url = store.signed_url("u/1/photo/x.jpg", 60)
            assert url.startswith(f"{bucket_url}/u/1/photo/x.jpg?")
    finally:
        _cleanup(app)


# --- videos: multipart uploads ----------------------------------------------------------------


def test_a_video_goes_up_to_the_bucket_in_parts_resumes_and_plays_in_ranges(s3_app, tmp_path):
    """The multipart protocol against S3 itself: parts PUT to pre-signed URLs, the upload broken
    off after the first part and resumed from what the bucket says it has, finished, processed
    from the bucket (streamed down, renditions streamed up) and played through range GETs."""
    from tests.creator_helpers import signed_in
    from tests.test_creator import headers
    from tests.test_video import make_clip
    from tests.test_videos import padded

    auth, _ = signed_in(s3_app, "luna@example.com", "Luna", creator=True)
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    data = padded(clip, storage.PART_BYTES + 3 * 2**20)  # two parts, the first full size
    started = auth.client.post(
        "/creator/vault/presign",
        json={"content_type": "video/mp4", "size": len(data)},
        headers=headers(auth),
    ).get_json()
    assert started["parts"] == 2

    def urls(numbers):
        return auth.client.post(
            "/uploads/parts",
            json={"key": started["key"], "parts": numbers},
            headers=headers(auth),
        ).get_json()["urls"]

    first = urls([1])["1"]
    assert first.startswith(f"{s3_app.config['S3_ENDPOINT_URL']}/{BUCKET}/")
    # S3 checks the signature, which covers the part's length: no larger body goes in (moto
    # does not check signatures, so the signed headers are what can be seen here).
    signed = parse_qs(urlsplit(first).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-length" in signed
    assert requests.put(first, data=data[: storage.PART_BYTES], timeout=30).status_code == 200

    # The connection drops; later the browser asks what the bucket already has.
    state = auth.client.post(
        "/uploads/state", json={"key": started["key"]}, headers=headers(auth)
    ).get_json()
    assert state["stored"] == [1]
    unfinished = auth.client.post(
        "/creator/vault/confirm", json={"key": started["key"]}, headers=headers(auth)
    )
    assert unfinished.status_code == 400  # nothing joined, the upload stays open
    second = urls([2])["2"]
    assert requests.put(second, data=data[storage.PART_BYTES :], timeout=30).status_code == 200
    grid = auth.client.post(
        "/creator/vault/confirm", json={"key": started["key"]}, headers=headers(auth)
    )
    assert grid.status_code == 200 and "Vault video" in grid.get_data(as_text=True)

    with s3_app.app_context():
        obj = db.session.scalar(select(MediaObject).where(MediaObject.key == started["key"]))
        assert obj.status == "ready" and obj.size == len(data), obj.error
        store = media.storage()
        assert store.head(obj.key) is None  # the source is deleted from the bucket
        rendition = store.head(obj.variants["v480"])
        assert rendition.content_type == "video/mp4"
        url = media.video_links(obj.variants, False, obj.duration_ms).sources[-1][0]
    ranged = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{rendition.size}"


def test_an_abandoned_multipart_upload_is_aborted_in_the_bucket(s3_app, tmp_path):
    from tests.creator_helpers import signed_in

    signed_in(s3_app, "luna@example.com", "Luna", creator=True)
    with s3_app.app_context():
        luna = accounts.find_by_email("luna@example.com")
        started = media.start_video_upload(luna, "vault", "video/mp4", 2 * storage.PART_BYTES)
        obj = db.session.scalar(select(MediaObject).where(MediaObject.key == started["key"]))
        store = media.storage()
        url = store.part_url(obj.key, obj.upload_id, 1, storage.PART_BYTES)
        assert requests.put(url, data=b"x" * storage.PART_BYTES, timeout=30).status_code == 200
        assert [part.number for part in store.list_parts(obj.key, obj.upload_id)] == [1]
        obj.created_at -= dt.timedelta(days=2)
        db.session.commit()
        key, upload_id = obj.key, obj.upload_id
        assert media.abort_abandoned_uploads() == 1
        assert store.list_parts(key, upload_id) is None  # the bucket holds none of its parts
        uploads = store.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        assert upload_id not in [upload["UploadId"] for upload in uploads]
