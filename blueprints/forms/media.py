"""The forms of uploads. The browser's upload script (static/upload.js) asks for a pre-signed
upload with a JSON body (`StartUploadForm`), posts the file straight to storage, then says it
arrived (`ConfirmUploadForm`). The local storage's own forms (`blueprints/media.py`): the
pre-signed upload, which carries its own signed policy like an S3 POST, and the query of a signed
download link. What the policy allows (key, type, size, expiry) is checked against its signature
by `services/storage.py`; which types and sizes are allowed, by `services/media.py`."""

from __future__ import annotations

from flask import request
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Field, StringField

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField


class UploadForm(Form):
    policy = StringField()
    signature = StringField()
    key = StringField()
    content_type = StringField(name="Content-Type")  # the name S3's form uses
    file = FileField(validators=[FileRequired("No file was sent.")])


class PartLinkForm(Form):
    """The query of a part's pre-signed upload URL on local storage:
    `?key=…&upload=…&part=<n>&expires=<unix time>&sig=<signature>`."""

    key = StringField()
    upload = StringField()
    part = WholeNumberField(message="There is no such part.")
    size = WholeNumberField(message="There is no such part.")
    expires = WholeNumberField(message="This upload link has expired.")
    sig = StringField()


class SignedLinkForm(Form):
    """`?expires=<unix time>&sig=<signature>` of a download link."""

    expires = WholeNumberField(message="This link has expired. Reload the page.")
    sig = StringField()


def json_body() -> MultiDict:
    """The request's JSON object as form data; anything else (no JSON, an array, a number) is an
    empty form, whose fields then say what is missing."""
    data = request.get_json(silent=True)
    return MultiDict(data) if isinstance(data, dict) else MultiDict()


def _text(value: object) -> str:
    """JSON may carry a number or a list where text belongs: as text it simply matches nothing."""
    return "" if value is None else str(value)


class StartUploadForm(Form):
    """`{"content_type": "image/jpeg", "size": 123456, "shows_others": false, "consent": false}`
    (the last two from the vault's upload form only). The service says what is wrong: a type it
    does not take, a size that is missing (None: absent or not a whole number) or too big."""

    content_type = StringField(filters=[_text])
    size = WholeNumberField(message="The file size is missing.")
    shows_others = BooleanField()
    consent = BooleanField()


class ConfirmUploadForm(Form):
    """`{"key": "<the key the upload was given>"}`."""

    key = StringField(filters=[_text])


class _WholeNumbers(Field):
    """A JSON list of whole numbers (each as `WholeNumberField` reads one); anything else in
    it makes the list invalid."""

    def process_formdata(self, valuelist):
        self.data = []
        for value in valuelist:
            text = _text(value).strip()
            if not text.isascii() or not text.isdigit() or len(text) > 6:
                self.data = None
                raise ValueError("Part numbers are whole numbers.")
            self.data.append(int(text))


class PartsForm(Form):
    """`{"key": "<the upload's key>", "parts": [1, 2, 3]}`: the parts whose upload URLs the
    browser wants next."""

    key = StringField(filters=[_text])
    parts = _WholeNumbers()
