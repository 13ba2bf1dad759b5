"""Forms of Settings beyond the password and two-factor ones (blueprints/forms/auth.py): new
recovery codes, deleting the account, and identity checks. Whether a password, a code or a
document is right is the services' answer (`twofactor`, `erasure`, `identity`)."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import (
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length

from blueprints.forms.base import Form
from services import accounts, identity


class RecoveryCodesForm(Form):
    code = StringField(
        "Code from your app",
        id="regen-code",
        validators=[
            DataRequired("Enter the code your app shows."),
            Length(max=20, message="That code is not valid."),
        ],
    )


class DeleteAccountForm(Form):
    password = PasswordField(
        "Your password",
        id="delete-password",
        validators=[InputRequired("Enter your password.")],
    )
    # Asked only when two-factor authentication is on; `erasure.request_deletion` checks it.
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        id="delete-code",
        default="",
        validators=[Length(max=20, message="That code is not valid.")],
        render_kw={"inputmode": "numeric"},
    )


class IdentityCheckForm(Form):
    """Settings → Verification: the selfie (taken by the page's camera and attached by
    static/selfie.js), the capture token that carries its gesture, and for a creator the
    document. What makes a file acceptable is `identity.submit`'s answer."""

    capture = HiddenField()
    selfie = FileField("Selfie", id="selfie-file")
    document_type = SelectField(
        "Document",
        id="document-type",
        choices={"": "Choose…", **{str(k): v for k, v in identity.DOCUMENT_TYPES.items()}},
        default="",
        validate_choice=False,  # the service says which are accepted, with the field's message
    )
    front = FileField(
        "Front (for a passport: the page with your photo)",
        id="document-front",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    back = FileField(
        "Back (not needed for a passport)",
        id="document-back",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )


class DevIdentityForm(Form):
    """Approve or Reject on the test identity service's page (the buttons send `outcome`)."""

    outcome = SelectField(
        choices={"approve": "Approve", "reject": "Reject"},
        invalid_choice_message="Choose Approve or Reject.",
    )


class AppealForm(Form):
    message = TextAreaField(
        "Why the decision should change",
        id="appeal-message",
        default="",
        validators=[Length(max=4000, message="At most 2,000 characters.")],
        render_kw={"rows": 6, "maxlength": 2000},
    )


class ThemeForm(Form):
    theme = RadioField(
        "Appearance",
        choices=list(accounts.THEMES.items()),
        invalid_choice_message="Choose light, dark, or as your device is set.",
    )
