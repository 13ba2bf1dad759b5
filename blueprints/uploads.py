"""The parts of a large upload (a video: the vault's, a profile's), whatever page it started on:
the browser asks for the next parts' pre-signed URLs as it goes, and after a break what the
store already has (static/upload.js; services/media.py, "videos"). Only the member who started
an upload may ask about it."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user, login_required

from blueprints.forms.media import ConfirmUploadForm, PartsForm, json_body
from core.errors import DomainError
from extensions import limiter
from services import media

bp = Blueprint("uploads", __name__, url_prefix="/uploads")


@bp.post("/parts")
@login_required
@limiter.limit("3000 per hour")  # a 4 GB video is 512 parts, asked for 20 at a time, retried
def parts():
    """The upload URLs of the next parts of a video being uploaded."""
    form = PartsForm(formdata=json_body())
    if not form.validate() or form.parts.data is None:
        return jsonify(error="Ask for the parts by number."), 400
    try:
        urls = media.part_urls(current_user, form.key.data, form.parts.data)
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
    return jsonify(urls={str(number): url for number, url in urls.items()})


@bp.post("/state")
@login_required
@limiter.limit("300 per hour")
def state():
    """What is already stored of a video upload that was broken off (to resume it)."""
    form = ConfirmUploadForm(formdata=json_body())
    try:
        return jsonify(media.stored_parts(current_user, form.key.data))
    except DomainError as exc:
        return jsonify(error=exc.message), exc.status
