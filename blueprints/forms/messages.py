"""The compose form of a conversation (`POST /messages/<id>`).

The form reads the shape: the text, which photo goes with it (from the vault, or just uploaded)
and a whole number for the price to unlock it. Whether the text may be empty or that long,
whether the photo is the sender's own and ready, whether it may be sold and for how much are
the rules of `services/messaging.py: send`, which takes these values typed. The socket's `send`
frame (`blueprints/chat_protocol.py`) carries text only and reaches the same function.
"""

from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import Optional
from wtforms.widgets import HiddenInput

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField, optional_id
from services.messaging import MAX_LENGTH, MAX_UNLOCK_PRICE

NO_SUCH_PHOTO = "Choose a photo or video from your vault, or none."


class MessageForm(Form):
    body = TextAreaField(
        "Message",
        render_kw={"rows": 2, "maxlength": MAX_LENGTH, "placeholder": "Write a message"},
    )
    # A radio per vault item (creators only), rendered by templates/messages/_vault_choice.html.
    media_id = WholeNumberField(
        "From your vault", optional_id(NO_SUCH_PHOTO), message=NO_SUCH_PHOTO
    )
    # A photo just uploaded from the device (templates/messages/_attachment.html).
    upload_id = WholeNumberField(
        widget=HiddenInput(),
        validators=optional_id("That photo upload is not valid. Attach it again."),
        message="That photo upload is not valid. Attach it again.",
    )
    unlock_price = WholeNumberField(
        "Price to unlock (credits, 0 = free)",
        [Optional()],
        message="The unlock price is a whole number of credits.",
        default=0,
        render_kw={"min": 0, "max": MAX_UNLOCK_PRICE, "inputmode": "numeric"},
    )

    @property
    def attachment_id(self) -> int | None:
        """The photo to send: one from the vault, else the one just uploaded."""
        return self.media_id.data or self.upload_id.data or None
