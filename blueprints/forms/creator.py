"""Forms of the creator's side: posts, mass messages, the growth tools and Settings → Creator.

They check shape (a whole number, a date, one of the offered choices, not absurdly long) and hand
the views typed values. The rules stay in the services: price ranges (`creators.check_price`),
what a vault holds and what a post needs (`posts`), how far ahead a post may be scheduled, trial,
bundle and promotion limits (`growth`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField
from services.creators import MAX_HEADLINE, MAX_PRICE
from services.growth import (
    BUNDLE_MONTHS,
    MAX_BUNDLE_BPS,
    MAX_PROMOTION_PERCENT,
    MAX_TRIAL_DAYS,
    MAX_TRIAL_LINK_DAYS,
    MAX_TRIAL_USES,
    PROMOTION_AUDIENCES,
)
from services.messaging import MAX_LENGTH as MAX_MESSAGE
from services.posts import MAX_BODY, VISIBILITIES

# JavaScript's getTimezoneOffset() is within a day of UTC: the zones run from UTC-12 to UTC+14.
MAX_TZ_OFFSET_MINUTES = 900
PICK_A_TIME = "Pick a date and time to publish."


def _vault_choices(items: Iterable) -> list[SelectChoice]:
    """The creator's ready vault items as choices (the template draws their thumbnails)."""
    return [SelectChoice(item.id, f"Vault item {item.id}") for item in items]


def _id_or_none(value: object) -> int | None:
    """A vault item id from a radio button; the "None" button sends an empty value."""
    return None if value in (None, "") else int(value)


def _price(label: str, message: str, **kwargs) -> WholeNumberField:
    return WholeNumberField(
        label, message=message, render_kw={"min": 0, "max": MAX_PRICE}, **kwargs
    )


# --- posts ------------------------------------------------------------------------------------


def local_to_utc(local: dt.datetime, tz_offset: str | None) -> dt.datetime:
    """The browser's local time as UTC: `tz_offset` is the minutes to add (JavaScript's
    getTimezoneOffset; empty without JavaScript, read as 0). ValueError when the offset is not
    a plausible one, OverflowError past the year 9999."""
    offset = int(tz_offset or "0")
    if not -MAX_TZ_OFFSET_MINUTES <= offset <= MAX_TZ_OFFSET_MINUTES:
        raise ValueError(f"not a time zone offset: {offset}")
    return local + dt.timedelta(minutes=offset)


class EditPostForm(Form):
    """Text, visibility, price and schedule: what a post's edit page changes (media stays)."""

    body = TextAreaField(
        "Text",
        default="",
        validators=[Length(max=MAX_BODY, message=f"Posts can be up to {MAX_BODY:,} characters.")],
        render_kw={"rows": 4},
    )
    visibility = RadioField(
        "Who can see it",
        choices=[SelectChoice(value, label) for value, label in VISIBILITIES.items()],
        default="public",
        invalid_choice_message="Choose who can see this post.",
    )
    price = WholeNumberField(
        "Price for pay per view (credits)",
        validators=[Optional()],
        message="The price is a whole number of credits.",
        description="Only for pay-per-view posts. Fans who unlocked keep access if you change it.",
        render_kw={"min": 1, "max": MAX_PRICE},
    )
    publish_at = DateTimeLocalField(
        "Publish at (leave empty to publish now)",
        validators=[Optional()],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        invalid_value_message=PICK_A_TIME,
        description="Your local time.",
        render_kw={"data-local-time": True},
    )
    tz_offset = HiddenField(default="0", render_kw={"data-tz-offset": True})  # static/creator.js
    adult = BooleanField(
        "Adult content (18+)",
        description="Where the law requires it, only viewers who passed an age check see it.",
    )

    def validate_publish_at(self, field: DateTimeLocalField) -> None:
        if field.data is None:
            return
        try:
            local_to_utc(field.data, self.tz_offset.data)
        except (ValueError, OverflowError) as exc:
            raise ValidationError(PICK_A_TIME) from exc

    @property
    def publish_at_utc(self) -> dt.datetime | None:
        """The chosen time in UTC, None to publish now (after validation)."""
        if self.publish_at.data is None:
            return None
        return local_to_utc(self.publish_at.data, self.tz_offset.data)

    @property
    def price_credits(self) -> int:
        return self.price.data or 0


class NewPostForm(EditPostForm):
    """A new post: the edit fields and photos picked from the vault (checkboxes `media`)."""

    media = SelectMultipleField(
        "Photos and videos from your vault",
        coerce=int,
        invalid_value_message="Pick photos or videos from your vault.",
        invalid_choice_message="Pick photos or videos from your vault.",
    )

    def __init__(self, *args, vault: Iterable = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.media.choices = _vault_choices(vault)


# --- mass messages ----------------------------------------------------------------------------


class MassMessageForm(Form):
    body = TextAreaField(
        "Message",
        default="",
        validators=[
            Length(max=MAX_MESSAGE, message=f"Messages can be up to {MAX_MESSAGE:,} characters.")
        ],
        render_kw={"rows": 3},
    )
    media_id = RadioField(
        "Attach a photo or video from your vault (optional)",
        coerce=_id_or_none,
        invalid_value_message="Pick a photo or video from your vault, or none.",
        invalid_choice_message="Pick a photo or video from your vault, or none.",
    )
    price = _price(
        "Price to unlock the photo (credits, 0 = free)",
        "The unlock price is a whole number of credits.",
        validators=[Optional()],
        default=0,
    )

    def __init__(self, *args, vault: Iterable = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.media_id.choices = [SelectChoice("", "None"), *_vault_choices(vault)]

    @property
    def price_credits(self) -> int:
        return self.price.data or 0


# --- growth -----------------------------------------------------------------------------------


def _count(label: str, default: int, high: int, what: str) -> WholeNumberField:
    return WholeNumberField(
        label,
        validators=[InputRequired(f"Enter {what}.")],
        default=default,
        message=f"Enter {what} as a whole number.",
        render_kw={"min": 1, "max": high, "class": "short"},
    )


class TrialLinkForm(Form):
    days = _count("Free days", 7, MAX_TRIAL_DAYS, "how many days are free")
    max_uses = _count("Uses", 100, MAX_TRIAL_USES, "how many fans may use the link")
    valid_days = _count(
        "Link works for (days)", 30, MAX_TRIAL_LINK_DAYS, "how many days the link works"
    )


class BundlesForm(Form):
    """One field per bundle length, `bundle_<months>`: its discount in whole percent (0 or empty:
    not offered). The fields are added below, one per `growth.BUNDLE_MONTHS`."""

    def percent_off(self) -> dict[int, int]:
        return {months: self[f"bundle_{months}"].data or 0 for months in BUNDLE_MONTHS}

    @staticmethod
    def data_of(settings) -> dict[str, int]:
        """The form's values from the creator's settings."""
        return {
            f"bundle_{months}": getattr(settings, f"bundle_{months}_bps") // 100
            for months in BUNDLE_MONTHS
        }


for _months in BUNDLE_MONTHS:
    setattr(
        BundlesForm,
        f"bundle_{_months}",
        WholeNumberField(
            f"{_months} months: % off",
            validators=[Optional()],
            default=0,
            message=f"The {_months}-month discount is a whole number (%).",
            render_kw={"min": 0, "max": MAX_BUNDLE_BPS // 100, "class": "short"},
        ),
    )


class PromotionForm(Form):
    audience = SelectField(
        "For",
        choices=[SelectChoice(value, label) for value, label in PROMOTION_AUDIENCES.items()],
        invalid_choice_message="Choose who gets the discount.",
    )
    discount = WholeNumberField(
        "Discount on the first month (%)",
        validators=[InputRequired("Enter the discount in percent.")],
        default=20,
        message="The discount is a whole number (%).",
        render_kw={"min": 1, "max": MAX_PROMOTION_PERCENT},
    )
    starts = DateField(
        "From",
        validators=[InputRequired("Give a start date.")],
        invalid_value_message="Give a start date, like 2026-05-01.",
    )
    ends = DateField(
        "Until",
        validators=[InputRequired("Give an end date.")],
        invalid_value_message="Give an end date, like 2026-05-31.",
    )


class BundlePurchaseForm(Form):
    """A fan's click on one of a creator's bundles (a hidden `months`)."""

    months = SelectField(
        coerce=int,
        choices=[SelectChoice(months, f"{months} months") for months in BUNDLE_MONTHS],
        invalid_value_message="That bundle is not offered.",
        invalid_choice_message="That bundle is not offered.",
    )


# --- Settings → Creator -----------------------------------------------------------------------


def _required_price(label: str, message: str) -> WholeNumberField:
    return _price(
        label,
        message,
        validators=[InputRequired("Enter a number of credits (0 for none).")],
        default=0,
    )


class CreatorSettingsForm(Form):
    headline = StringField(
        "Headline",
        default="",
        validators=[
            Length(
                max=MAX_HEADLINE,
                message=f"The headline can be up to {MAX_HEADLINE} characters.",
            )
        ],
        description="One line fans see on your page.",
    )
    subscription_price = _required_price(
        "Monthly subscription (credits, 0 = free to follow)",
        "A subscription price is a whole number of credits.",
    )
    message_price = _required_price(
        "Price of a message from a fan (credits, 0 = free)",
        "A message price is a whole number of credits.",
    )
    call_price = _required_price(
        "Call price per minute (credits)", "A call price is a whole number of credits."
    )
    blocked_countries = StringField(
        "Hide my page and content from these countries (two-letter codes, e.g. DE, FR)",
        default="",
        render_kw={"maxlength": 300},  # the service says what is wrong with a longer list
    )
    # Sent with the box below: an unticked box sends nothing, so only then does its absence
    # mean "off".
    watermark_shown = HiddenField(render_kw={"value": "1"})
    watermark = BooleanField("Put my handle on the photos fans see (new uploads)", default=True)
    adult_shown = HiddenField(render_kw={"value": "1"})
    adult = BooleanField(
        "All my content is for adults (18+)",
        description="Where the law requires it, only viewers who passed an age check see your "
        "posts, subscribe or buy; you can also mark single posts.",
    )
    referral_code = StringField(
        "Referral code (if a creator invited you; optional)",
        default="",
        validators=[Length(max=20, message="A referral code is at most 20 characters.")],
    )

    @staticmethod
    def data_of(settings, referral_code: str | None, adult: bool = False) -> dict:
        """The form's values from the member's settings (None: creator mode never on) and
        whether their content is marked adult."""
        data: dict = {"referral_code": referral_code or "", "adult": adult}
        if settings is not None:
            data |= {
                "headline": settings.headline,
                "subscription_price": settings.subscription_price,
                "message_price": settings.message_price,
                "call_price": settings.call_price,
                "blocked_countries": settings.blocked_countries,
                "watermark": settings.watermark,
            }
        return data

    @property
    def watermark_choice(self) -> bool | None:
        """The box's state, None (leave it) when the post did not come from the page."""
        return self.watermark.data if self.watermark_shown.data else None

    @property
    def adult_choice(self) -> bool | None:
        return self.adult.data if self.adult_shown.data else None


# --- co-performers ------------------------------------------------------------------------------


class TagPerformerForm(Form):
    who = StringField(
        "Their handle, as on their photos (e.g. @luna12)",
        id="co-performer-who",
        validators=[Length(max=60, message="A handle is at most 60 characters.")],
    )


class ReleaseForm(Form):
    """Someone who is not a verified creator here: their document and the release they signed
    (what makes the files acceptable is `identity.image`'s answer)."""

    legal_name = StringField(
        "Their full legal name, as on their document",
        id="release-name",
        validators=[Length(max=120, message="A name is at most 120 characters.")],
    )
    id_document = FileField(
        "Their identity document (photo page or front)",
        id="release-id",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    release_form = FileField(
        "The release they signed (a photo or scan of every page's signature)",
        id="release-form",
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )


class TagAnswerForm(Form):
    """A tagged creator's answer: the buttons send `answer`."""

    answer = SelectField(
        choices={"accept": "Accept", "decline": "Decline", "withdraw": "Withdraw consent"},
        invalid_choice_message="Choose Accept, Decline or Withdraw.",
    )
