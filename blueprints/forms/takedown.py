"""The public copyright (DMCA) notice form (`/takedown`).

The form asks that each text the law needs is there; whether the name is a name, the email an
address, the page one of ours, the work described, the good-faith statement made and the
signature the claimant's own are the rules of `services/compliance.py: file_takedown`.
"""

from __future__ import annotations

from wtforms import BooleanField, EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired

from blueprints.forms.base import Form
from services.takedowns import MAX_NAME, MAX_URL, MAX_WORK

GOOD_FAITH = (
    "I believe in good faith that this use is not authorised by the owner, its agent or the "
    "law, and, under penalty of perjury, that this notice is accurate and I am the owner or "
    "authorised to act for the owner."
)


class TakedownForm(Form):
    claimant_name = StringField(
        "Your full name",
        validators=[DataRequired("Enter your full name.")],
        render_kw={"maxlength": MAX_NAME},
    )
    claimant_email = EmailField(
        "Your email",
        validators=[DataRequired("Enter an email address we can reply to.")],
    )
    content_url = StringField(
        "Address of the post or page on Amora",
        validators=[DataRequired("Paste the address of the post or creator page on Amora.")],
        render_kw={"maxlength": MAX_URL, "placeholder": "https://…/posts/123"},
    )
    original_work = TextAreaField(
        "Your work: what it is and where it was first published",
        validators=[DataRequired("Describe your work and where it was first published.")],
        render_kw={"rows": 4, "maxlength": MAX_WORK},
    )
    # Required by the service, which says so with the other fields' rules in one answer.
    good_faith = BooleanField(GOOD_FAITH)
    signature = StringField(
        "Signature (type your full name)",
        validators=[DataRequired("Type your full name to sign the notice.")],
        render_kw={"maxlength": MAX_NAME},
    )
