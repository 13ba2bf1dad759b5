"""The local storage's forms (`blueprints/media.py`): the pre-signed upload, which carries its own
signed policy like an S3 POST, and the query of a signed download link. What the policy allows
(key, type, size, expiry) is checked against its signature by `services/storage.py`."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import StringField

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField


class UploadForm(Form):
    policy = StringField()
    signature = StringField()
    key = StringField()
    content_type = StringField(name="Content-Type")  # the name S3's form uses
    file = FileField(validators=[FileRequired("No file was sent.")])


class SignedLinkForm(Form):
    """`?expires=<unix time>&sig=<signature>` of a download link."""

    expires = WholeNumberField(message="This link has expired. Reload the page.")
    sig = StringField()
