"""Forms of Settings beyond the password and two-factor ones (blueprints/forms/auth.py): new
recovery codes and deleting the account. Whether a password or code is right is the services'
answer (`twofactor`, `erasure`)."""

from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from blueprints.forms.base import Form


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
