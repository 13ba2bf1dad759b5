"""Forms for money: buying credits, the test and Razorpay checkouts, the wallet's query string,
payout methods and payout requests.

The forms check shape: a whole number typed as digits (never a float), one of the packs,
providers and payout methods the page offers, not absurdly long. The rules stay in the services
(services/payments/orders.py, services/payouts.py): the minimum payout and the creator's
balance, whose method it is, the second factor, which providers have keys.
"""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
)

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField, cursor_field
from services import payouts
from services.payments import orders, providers

# --- buying credits -------------------------------------------------------------------------------


class BuyCreditsForm(Form):
    """One button of the wallet's packs: hidden fields, so errors are flashed, not shown on a
    field."""

    pack_id = SelectField(
        choices=lambda: [pack["id"] for pack in orders.packs()],
        invalid_choice_message=orders.UNKNOWN_PACK,
    )
    provider = SelectField(
        choices=lambda: [provider.name for provider in providers()],
        invalid_choice_message=orders.UNAVAILABLE_PROVIDER,
    )


class DevCheckoutForm(Form):
    """Pay or Decline on the test checkout (the two buttons send `outcome`)."""

    outcome = SelectField(
        choices={"pay": "Pay", "decline": "Decline"},
        invalid_choice_message="Choose Pay or Decline.",
    )


RAZORPAY_RETURN = (
    "Razorpay did not send the payment back to us. If you paid, this order updates by itself "
    "once Razorpay confirms."
)


class RazorpayReturnForm(Form):
    """What Razorpay Checkout hands the browser after paying (static/razorpay-checkout.js)."""

    razorpay_payment_id = HiddenField(
        validators=[DataRequired(RAZORPAY_RETURN), Length(max=100, message=RAZORPAY_RETURN)]
    )
    razorpay_signature = HiddenField(
        validators=[DataRequired(RAZORPAY_RETURN), Length(max=200, message=RAZORPAY_RETURN)]
    )


class HistoryQuery(Form):
    """The wallet history's next page: entries before this one."""

    before = cursor_field("before")


class OrderQuery(Form):
    """`?cancelled=1`: the buyer came back from the provider's checkout without paying."""

    cancelled = BooleanField(false_values=("", "0", "false"))


# --- payouts --------------------------------------------------------------------------------------


WHOLE_CREDITS = "Ask for a whole number of credits."


class PayoutRequestForm(Form):
    """Ask for a payout. The view offers the creator's own methods (`method_id.choices`)."""

    credits = WholeNumberField(
        "Credits to pay out", validators=[InputRequired(WHOLE_CREDITS)], message=WHOLE_CREDITS
    )
    method_id = SelectField(
        "Pay to",
        coerce=int,
        choices={},
        invalid_value_message=payouts.CHOOSE_METHOD,
        invalid_choice_message=payouts.CHOOSE_METHOD,
    )
    code = StringField(
        "Code from your authenticator app (or a recovery code)",
        default="",
        validators=[
            DataRequired("Enter the code from your authenticator app, or a recovery code."),
            Length(max=20, message="That code is too long: check it and try again."),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )

    def offer(self, methods, mask, minimum: int) -> PayoutRequestForm:
        """The creator's `methods` to choose from (shown as `mask` shows them), and the
        smallest amount the browser should accept."""
        self.method_id.choices = {method.id: mask(method) for method in methods}
        self.credits.render_kw = {"min": minimum}
        return self


class PayoutMethodForm(Form):
    """A new payout method; which fields count depends on `kind` (services/payouts.py). A blank
    form starts on a bank transfer: `PayoutMethodForm(formdata=None, kind="manual")` (a post
    without a kind is refused, not taken for one)."""

    kind = RadioField(
        "How do you want to be paid?",
        choices=dict(payouts.METHOD_LABELS),
        invalid_choice_message=payouts.CHOOSE_KIND,
    )
    account_ref = StringField(
        "Stripe Connect account id (acct_…) or RazorpayX fund account id (fa_…)",
        default="",
        description="Only for Stripe Connect or RazorpayX.",
    )
    holder = StringField("Account holder (bank transfer)", default="")
    account = StringField("Account number or IBAN (bank transfer)", default="")
    bank_code = StringField("SWIFT/BIC, IFSC or sort code (bank transfer)", default="")
