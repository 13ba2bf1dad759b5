"""Forms for signing up, logging in and managing passwords.

The forms check shape (present, not absurdly long, a real date); the rules themselves (age,
password strength, duplicate email) live in `services/accounts.py` so that every caller gets them.
"""

from __future__ import annotations

from wtforms import DateField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from blueprints.forms.base import Form


class SignUpForm(Form):
    email = EmailField(
        "Email", validators=[DataRequired("Enter your email address."), Length(max=254)]
    )
    display_name = StringField(
        "Display name",
        validators=[DataRequired("Choose a display name."), Length(max=60)],
        description="Shown to other people. You can change it later.",
    )
    date_of_birth = DateField(
        "Date of birth",
        validators=[InputRequired("Enter your date of birth.")],
        description="You must be 18 or older. Only your age is shown.",
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Choose a password."), Length(max=200)],
        description="At least 10 characters, and not a common password.",
    )
    device_fp = HiddenField()  # filled by static/fingerprint.js


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    device_fp = HiddenField()


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired("Enter your email address.")])


class ResetPasswordForm(Form):
    password = PasswordField(
        "New password",
        validators=[InputRequired("Choose a new password."), Length(max=200)],
        description="At least 10 characters, and not a common password.",
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[
            InputRequired("Repeat the new password."),
            EqualTo("password", "The two passwords do not match."),
        ],
    )


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired("Choose a new password."), Length(max=200)],
        description="At least 10 characters. Your other devices will be logged out.",
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[
            InputRequired("Repeat the new password."),
            EqualTo("new_password", "The two passwords do not match."),
        ],
    )


class SecondFactorForm(Form):
    code = StringField(
        "Code",
        validators=[DataRequired("Enter the code."), Length(max=20)],
        description="The 6 digits from your authenticator app, an emailed code, "
        "or one of your recovery codes.",
    )


class EnableTwoFactorForm(Form):
    code = StringField(
        "Code from your app",
        validators=[DataRequired("Enter the 6-digit code your app shows."), Length(max=20)],
    )


class DisableTwoFactorForm(Form):
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    code = StringField(
        "Code from your app or a recovery code",
        validators=[DataRequired("Enter a code."), Length(max=20)],
    )
