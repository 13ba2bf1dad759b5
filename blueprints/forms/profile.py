"""Forms of my dating profile: the basics, interests, place, and the answer to a match
question.

The forms check shape (a whole number, a number, one of the offered choices, not too long); the
rules (the ages sought, at least one gender sought, valid interests, a known city, coordinates
on Earth, the choices of a question) are in `services/profiles.py` and `services/matching.py`.
"""

from __future__ import annotations

from wtforms import (
    FloatField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from blueprints.forms.base import Form
from blueprints.forms.dating import SEEKING_LABELS, CommaListField
from blueprints.forms.fields import WholeNumberField
from services import matching, profiles

GENDER_LABELS = {"woman": "A woman", "man": "A man", "nonbinary": "Non-binary"}
# A new profile seeks everyone of these ages until the member says otherwise (the column
# defaults of Profile, models/dating.py).
DEFAULT_AGES = (18, 99)


class BasicsForm(Form):
    gender = SelectField(
        "I am",
        choices={"": "Choose…", **{g: GENDER_LABELS[g] for g in profiles.GENDERS}},
        invalid_choice_message="Choose woman, man or non-binary.",
    )
    seeking = SelectMultipleField(
        "Interested in",
        choices={g: SEEKING_LABELS[g] for g in profiles.GENDERS},
        invalid_choice_message="Choose at least one of: woman, man, non-binary.",
    )
    age_min = WholeNumberField(
        "Ages",
        id="p_age_min",
        validators=[InputRequired("Enter the youngest age you are looking for.")],
        message="Enter the ages as whole numbers.",
        render_kw={"min": profiles.MIN_AGE, "max": profiles.MAX_AGE, "aria-label": "Youngest age"},
    )
    age_max = WholeNumberField(
        "Oldest age",
        id="p_age_max",
        validators=[InputRequired("Enter the oldest age you are looking for.")],
        message="Enter the ages as whole numbers.",
        render_kw={"min": profiles.MIN_AGE, "max": profiles.MAX_AGE, "aria-label": "Oldest age"},
    )
    bio = TextAreaField(
        "About me",
        validators=[
            Length(max=profiles.MAX_BIO, message=f"Keep it under {profiles.MAX_BIO} characters.")
        ],
        render_kw={"rows": 5, "maxlength": profiles.MAX_BIO},
    )

    @classmethod
    def of(cls, profile) -> BasicsForm:
        """The form showing my saved basics (`profile`, or a new profile's defaults when
        None)."""
        if profile is None:
            youngest, oldest = DEFAULT_AGES
            data = {"seeking": list(profiles.GENDERS), "age_min": youngest, "age_max": oldest}
        else:
            data = {
                "gender": profile.gender or "",
                "seeking": profile.seeking_list,
                "age_min": profile.age_min,
                "age_max": profile.age_max,
                "bio": profile.bio or "",
            }
        return cls(formdata=None, data=data)


class InterestsForm(Form):
    interests = CommaListField(
        "Interests, separated by commas",
        id="interests-input",
        render_kw={"placeholder": "hiking, jazz, board games"},
    )

    @classmethod
    def of(cls, tags: list[str]) -> InterestsForm:
        return cls(formdata=None, data={"interests": tags})


class LocationForm(Form):
    """A city picked from the list (`city_id`), or the browser's position."""

    city_id = WholeNumberField(validators=[Optional()], message="Pick a city from the list.")
    latitude = FloatField(
        validators=[Optional()], invalid_value_message="Those coordinates are not numbers."
    )
    longitude = FloatField(
        validators=[Optional()], invalid_value_message="Those coordinates are not numbers."
    )

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.city_id.data is None and None in (self.latitude.data, self.longitude.data):
            self.form_errors.append("Share your location or pick a city.")
            return False
        return True


class CitySearchForm(Form):
    """The city search box (a GET of `q`): fewer than two letters find nothing."""

    q = StringField("Or pick a city", validators=[Length(max=100, message="Type a shorter name.")])


class AnswerForm(Form):
    """The answer to one match question. Its choices are the question's (`offer`)."""

    question_id = StringField()  # a question of the bank: matching.question
    choice = RadioField(
        "Your answer",
        coerce=int,
        validators=[InputRequired("Pick your answer.")],
        invalid_value_message="Pick one of the answers.",
        invalid_choice_message="Pick one of the answers.",
    )
    acceptable = SelectMultipleField(
        "Answers you accept from others",
        coerce=int,
        validators=[InputRequired("Pick at least one answer you would accept.")],
        invalid_value_message="Pick the answers you would accept among those offered.",
        invalid_choice_message="Pick the answers you would accept among those offered.",
    )
    importance = SelectField(
        "How important is this to you?",
        coerce=int,
        choices=[SelectChoice(str(value), label) for value, label in matching.IMPORTANCE.items()],
        default=10,
        validators=[InputRequired("Pick how important this is.")],
        invalid_value_message="Pick how important this is.",
        invalid_choice_message="Pick how important this is.",
    )

    @classmethod
    def blank(cls, question: matching.Question | None) -> AnswerForm:
        """A fresh form for `question` (nothing picked, somewhat important)."""
        form = cls(formdata=None, data={"question_id": question.id if question else ""})
        form.offer(question)
        return form

    def offer(self, question: matching.Question | None) -> None:
        """Offer the choices of `question` (none without one)."""
        texts = question.choices if question else ()
        self.choice.choices = [SelectChoice(str(i), text) for i, text in enumerate(texts)]
        self.acceptable.choices = list(self.choice.choices)
