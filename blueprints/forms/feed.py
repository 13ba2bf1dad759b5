"""The forms of the fan's side of creators: a tip (`POST /creators/<id>/tip`, its box opened by
`GET` on the same address) and the next page of posts (`GET /feed/more`, `/creators/<id>/posts`).

A tip's form reads a whole number, a note and where the tip goes (hidden: the profile, a post or
a message); how much a tip may be, how long its note, and whether the post or message is the
creator's are the rules of `services/tips.py: tip`.
"""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, InputRequired
from wtforms.widgets import HiddenInput

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField, optional_id
from services.tips import MAX_NOTE, MAX_TIP, MIN_TIP, NOTHING_TO_TIP, TARGETS, new_token


class TipForm(Form):
    amount = WholeNumberField(
        "Credits",
        [InputRequired("Enter how many credits to tip.")],
        message="Tip a whole number of credits.",
        render_kw={"min": MIN_TIP, "max": MAX_TIP, "class": "short", "inputmode": "numeric"},
    )
    note = StringField("Note (optional)", render_kw={"maxlength": MAX_NOTE})
    # Where the tip goes, and the form's one-time token (the transfer's idempotency key).
    target_type = HiddenField(default="profile", validators=[AnyOf(TARGETS, NOTHING_TO_TIP)])
    target_id = WholeNumberField(
        widget=HiddenInput(), validators=optional_id(NOTHING_TO_TIP), message=NOTHING_TO_TIP
    )
    token = HiddenField(default=new_token)

    HIDDEN = ("target_type", "target_id", "token")

    @classmethod
    def blank(cls, target_type: str, target_id: int | None) -> TipForm:
        """A fresh form for a tip box on a page (not bound to the request it renders in)."""
        return cls(formdata=None, target_type=target_type, target_id=target_id)

    def place_in(self, box_id: str) -> None:
        """Give the visible fields ids of their own inside the tip box `box_id` (a page shows
        many tip boxes: a post's, a message's, the profile's)."""
        for field in (self.amount, self.note):
            field.id = field.label.field_id = f"{box_id}-{field.name}"

    @property
    def hidden_errors(self) -> list[str]:
        """Errors of the hidden fields: nobody typed them, so they show above the form."""
        return [error for name in self.HIDDEN for error in self[name].errors]


class TipBoxQuery(Form):
    """`GET /creators/<id>/tip?target_type=post&target_id=5`: which tip box to open."""

    target_type = TipForm.target_type
    target_id = TipForm.target_id


class PageForm(Form):
    """`?cursor=` of the next page of posts; what a cursor holds is `services/posts.py`'s."""

    cursor = StringField()
