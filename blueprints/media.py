"""The local storage's endpoints: the pre-signed upload target and signed downloads. (With S3
the browser talks to the bucket instead and these are not used.)"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, send_file
from werkzeug.wsgi import FileWrapper

from blueprints.forms.media import PartLinkForm, SignedLinkForm, UploadForm
from core.errors import DomainError
from extensions import csrf, limiter
from services import media
from services.storage import PART_BYTES, LocalStorage

bp = Blueprint("media", __name__, url_prefix="/media")
csrf.exempt(bp)  # the upload carries its own signed policy, like an S3 pre-signed POST


@bp.post("/upload")
@limiter.limit("60 per hour")
def upload():
    request.max_content_length = media.MAX_PHOTO_BYTES + 64 * 1024  # before the body is read
    form = UploadForm()
    try:
        policy = LocalStorage.check_policy(form.policy.data or "", form.signature.data or "")
    except (DomainError, ValueError, KeyError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "The upload form is not valid."
        return jsonify(error=message), 403
    if form.key.data != policy["key"] or form.content_type.data != policy["content_type"]:
        return jsonify(error="The upload does not match its form."), 403
    if not form.validate():
        return jsonify(error=" ".join(form.file.errors)), 400
    if not media.accepts_upload(policy["key"]):
        return jsonify(error="This upload is already finished."), 409
    data = form.file.data.read(policy["max_bytes"] + 1)
    if len(data) > policy["max_bytes"]:
        return jsonify(error="The file is too large."), 413
    media.storage().write(policy["key"], data, policy["content_type"])
    return "", 204


@bp.put("/part")
@limiter.limit("2000 per hour")  # a 4 GB video is 512 parts, some sent twice
def part():
    """One part of a multipart upload, to the URL `LocalStorage.part_url` signed (what S3's
    pre-signed UploadPart is with S3)."""
    request.max_content_length = PART_BYTES  # before the body is read
    link = PartLinkForm(request.args)
    valid = link.validate() and link.part.data and link.expires.data and link.size.data
    key, upload_id = link.key.data or "", link.upload.data or ""
    if not valid or not LocalStorage.check_part_url(
        key, upload_id, link.part.data, link.size.data, link.expires.data, link.sig.data or ""
    ):
        return jsonify(error="This upload link is not valid or has expired."), 403
    store = media.storage()
    if not isinstance(store, LocalStorage):
        abort(404)
    if not media.accepts_upload(key):
        return jsonify(error="This upload is already finished."), 409
    try:
        stored = store.write_part(key, upload_id, link.part.data, request.stream, link.size.data)
    except DomainError as exc:
        return jsonify(error=exc.message), 400
    return "", 200, {"ETag": f'"{stored.etag}"'}


@bp.get("/file/<path:key>")
def file(key: str):
    link = SignedLinkForm(request.args)
    expires = link.expires.data if link.validate() and link.expires.data else 0
    if not LocalStorage.check_url(key, expires, link.sig.data or ""):
        abort(403, description="This link has expired. Reload the page.")
    store = media.storage()
    if not isinstance(store, LocalStorage):
        abort(404)  # with S3 the signed links point at the bucket, never here
    info = store.head(key)
    if info is None:
        abort(404)
    if request.range is not None:
        # A player seeking in a video asks for a range. gunicorn's file wrapper cannot seek, so
        # werkzeug would read (and drop) every byte before the range; its own wrapper seeks.
        request.environ["wsgi.file_wrapper"] = FileWrapper
    response = send_file(store._path(key), mimetype=info.content_type, max_age=300)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
