"""Forms of the dating pages: the Discover filters (a GET form, read from the query string) and
the report of a person (also fit for any other report of someone: a reason and details).

The forms check shape (a whole number, a number, one of the offered choices); the rules (the
age range, the distance, what a filter defaults to for the member) are in `services/discover.py`
and `services/safety.py`.
"""

from __future__ import annotations

from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField
from core import geo
from services import discover, profiles, safety

# How the pages name the genders a member shows or seeks (the values are profiles.GENDERS).
SEEKING_LABELS = {"woman": "Women", "man": "Men", "nonbinary": "Non-binary people"}
SORT_LABELS = {
    "distance": "Distance",
    "match": "Match %",
    "newest": "Newest",
    "active": "Last active",
}
KIND_LABELS = {"all": "Everyone", "daters": "Daters only", "creators": "Creators only"}
ANYWHERE_KM = int(geo.MAX_RADIUS_KM)
RADIUS_OPTIONS = (5, 10, 25, 50, 100, 250, 500, 1000, ANYWHERE_KM)


def _radius_label(km: float) -> str:
    return "anywhere" if km >= ANYWHERE_KM else f"{km:g} km"


def _km_text(km: float) -> str:
    """A distance as the query string has it: 30, not 30.0 (but every digit it has)."""
    text = f"{km:g}"
    return text if float(text) == km else repr(km)


class CommaListField(StringField):
    """Text of items separated by commas (interests); `.data` is the list of items, each
    stripped, empty ones left out. Shown again as typed, or joined with ", "."""

    def process_data(self, value):
        self.data = list(value or [])

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = [part.strip() for part in valuelist[0].split(",") if part.strip()]

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return ", ".join(self.data or [])


class DiscoverForm(Form):
    """The Discover filters, built once per request from the query string
    (`DiscoverForm(request.args)`). Fields keep the URL parameter names of shared links. A field
    left out is None (or empty): `discover.filters_for` fills it from the member's profile, and
    `show` puts what was searched for back into the fields."""

    gender = SelectMultipleField(
        "Show me",
        choices={g: SEEKING_LABELS[g] for g in profiles.GENDERS},
        invalid_choice_message="Choose among women, men and non-binary people.",
    )
    age_min = WholeNumberField(
        "Ages",
        validators=[Optional()],
        message="Enter the ages as whole numbers.",
        render_kw={"min": profiles.MIN_AGE, "max": profiles.MAX_AGE, "aria-label": "Youngest age"},
    )
    age_max = WholeNumberField(
        "Oldest age",
        validators=[Optional()],
        message="Enter the ages as whole numbers.",
        render_kw={"min": profiles.MIN_AGE, "max": profiles.MAX_AGE, "aria-label": "Oldest age"},
    )
    # Offered as a few distances, but any in range is fine (an older shared link).
    radius = SelectField(
        "Within",
        coerce=float,
        choices=[SelectChoice(str(km), _radius_label(km)) for km in RADIUS_OPTIONS],
        validate_choice=False,
        validators=[Optional()],
        invalid_value_message="Enter the distance as a number of km.",
    )
    sort = SelectField(
        "Sort by",
        choices={s: SORT_LABELS[s] for s in discover.SORTS},
        validators=[Optional()],
        invalid_choice_message="Sort by distance, match %, newest or last active.",
    )
    kind = SelectField(
        "Who",
        choices={k: KIND_LABELS[k] for k in discover.KINDS},
        validators=[Optional()],
        invalid_choice_message="Show everyone, daters only or creators only.",
    )
    online = BooleanField("Online now", render_kw={"value": "1"})
    photos = BooleanField("Has photos", render_kw={"value": "1"})
    verified = BooleanField("Verified creator", render_kw={"value": "1"})
    photo_verified = BooleanField("Photo-verified", render_kw={"value": "1"})
    interests = CommaListField("Interests", render_kw={"placeholder": "hiking, jazz"})
    cursor = StringField()  # the page marker of infinite scroll (checked by discover.search)

    def filters(self) -> dict:
        """The keyword arguments of `discover.filters_for`."""
        return {
            "genders": self.gender.data or [],
            "age_min": self.age_min.data,
            "age_max": self.age_max.data,
            "radius_km": self.radius.data,
            "sort": self.sort.data or None,
            "kind": self.kind.data or None,
            "online_only": self.online.data,
            "with_photos": self.photos.data,
            "verified_only": self.verified.data,
            "photo_verified_only": self.photo_verified.data,
            "interests": self.interests.data or [],
        }

    def show(self, filters: discover.Filters) -> None:
        """Put the filters in effect into the fields left empty (the member's defaults), so the
        form shows what was searched for. A field with an error keeps what was typed."""
        given = {
            "gender": filters.genders,
            "age_min": filters.age_min,
            "age_max": filters.age_max,
            "radius": filters.radius_km,
            "sort": filters.sort,
            "kind": filters.kind,
            "interests": filters.interests,
        }
        for name, value in given.items():
            field = self[name]
            if not field.errors and not any(field.raw_data or ()):
                field.data, field.raw_data = value, []
        km = self.radius.data
        if not self.radius.errors and km not in RADIUS_OPTIONS:  # an odd distance: offered too
            self.radius.choices = sorted(
                [*self.radius.choices, SelectChoice(_km_text(km), _radius_label(km))],
                key=lambda choice: float(choice.value),
            )


class ReportForm(Form):
    """Report someone: a reason of safety.REPORT_REASONS and optional details."""

    reason = SelectField(
        "Report because",
        choices={"": "Choose a reason", **safety.REPORT_REASONS},
        validators=[DataRequired("Choose a reason.")],
        invalid_choice_message="Choose a reason.",
    )
    details = TextAreaField(
        "Anything to add (optional)",
        validators=[
            Length(
                max=safety.MAX_REPORT_DETAILS,
                message=f"Keep it under {safety.MAX_REPORT_DETAILS} characters.",
            )
        ],
        render_kw={"rows": 3, "maxlength": safety.MAX_REPORT_DETAILS},
    )
