"""Reporting the stranger of a random chat (`POST /random/sessions/<id>/report`).

The form asks for one of the offered reasons and takes optional details; how long the details
may be, and whether the member was in that chat, are the rules of `services/safety.py: report`
and `services/random_chat.py: report`.
"""

from __future__ import annotations

from wtforms import SelectChoice, SelectField, TextAreaField
from wtforms.validators import AnyOf, InputRequired

from blueprints.forms.base import Form
from services.safety import MAX_REPORT_DETAILS, REPORT_REASONS

CHOOSE = "Choose a reason."


class RandomChatReportForm(Form):
    reason = SelectField(
        "Because",
        choices=[
            SelectChoice("", "Choose a reason"),
            *(SelectChoice(value, label) for value, label in REPORT_REASONS.items()),
        ],
        validate_choice=False,  # an unknown reason gets our message below, not WTForms' own
        validators=[InputRequired(CHOOSE), AnyOf(list(REPORT_REASONS), CHOOSE)],
        id="rc-reason",
    )
    details = TextAreaField(
        "Anything to add (optional)",
        render_kw={"rows": 2, "maxlength": MAX_REPORT_DETAILS},
        id="rc-details",
    )
