"""Forms of the admin console: acting on payouts, users, reports, alerts, posts in review and
takedown notices, and the filters of its lists (query strings).

The forms check shape: one of the offered choices, a whole number, not longer than the
service keeps. The rules (a reason is needed to suspend, the adjustment's range, states that
may change) stay in the services, which refuse with a field's message.
"""

from __future__ import annotations

import datetime as dt

from wtforms import (
    DateField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from blueprints.forms.base import Form
from blueprints.forms.fields import WholeNumberField, cursor_field
from models import (
    AlertStatus,
    OrderStatus,
    PayoutStatus,
    ReportStatus,
    TakedownStatus,
    UserStatus,
)
from services import (
    admin_users,
    alerts,
    analytics,
    compliance,
    identity,
    moderation,
    payouts,
    takedowns,
)
from services.input import parse_id


def too_long(what: str, limit: int) -> Length:
    return Length(max=limit, message=f"Keep {what} under {limit:,} characters.")


def for_row(form: Form, row_id: int) -> Form:
    """One form per row of a list page (a report, a post, a notice): each field's id, and its
    label's `for`, end with the row's id, so the page's ids stay unique."""
    for field in form:
        field.id = f"{field.id}-{row_id}"
        field.label.field_id = field.id
    return form


# --- payouts --------------------------------------------------------------------------------------


class ApprovePayoutForm(Form):
    note = StringField(
        "Note (optional)", default="", validators=[too_long("the note", payouts.NOTE_MAX)]
    )


class RejectPayoutForm(Form):
    reason = StringField(
        "Reason (the creator sees it)",
        default="",
        validators=[
            InputRequired(payouts.REJECT_REASON),
            too_long("the reason", payouts.REASON_MAX),
        ],
    )


class MarkPaidForm(Form):
    reference = StringField(
        "Bank transfer reference",
        default="",
        validators=[
            InputRequired(payouts.BANK_REFERENCE),
            too_long("the reference", payouts.REFERENCE_MAX),
        ],
    )


def _payout_id(value: object) -> int:
    found = parse_id(str(value))
    if found is None:
        raise ValueError("not a payout")
    return found


CHOOSE_PAYOUTS = "Select the payouts to approve."


class BulkApproveForm(Form):
    """The ticked rows of the payout queue (whose states the service checks one by one)."""

    payout_id = SelectMultipleField(
        coerce=_payout_id,
        validate_choice=False,
        invalid_value_message=CHOOSE_PAYOUTS,
        validators=[
            DataRequired(CHOOSE_PAYOUTS),
            Length(
                max=payouts.QUEUE_LIMIT,
                message=f"Approve at most {payouts.QUEUE_LIMIT} payouts at a time.",
            ),
        ],
    )
    next = HiddenField(default="")


class PayoutQueueQuery(Form):
    status = SelectField(
        choices={**{str(s): payouts.LABELS[s] for s in PayoutStatus}, "all": "All"},
        default=PayoutStatus.REQUESTED,
        invalid_choice_message="Unknown status: choose " + ", ".join([*PayoutStatus, "all"]) + ".",
    )


# --- users ----------------------------------------------------------------------------------------

STATUS_ACTIONS = {
    UserStatus.SUSPENDED: ("Suspend", "suspended"),
    UserStatus.BANNED: ("Ban", "banned"),
    UserStatus.ACTIVE: ("Reactivate", "reactivated"),
}


class UserStatusForm(Form):
    """Suspend, ban or reactivate: the buttons send `status`."""

    status = SelectField(
        choices={str(status): button for status, (button, _) in STATUS_ACTIONS.items()},
        invalid_choice_message="Choose Suspend, Ban or Reactivate.",
    )
    reason = StringField(
        "Reason (the member sees it)",
        id="status-reason",
        default="",
        validators=[too_long("the reason", admin_users.REASON_MAX)],
    )


class AdultContentForm(Form):
    """Mark a creator's content adult or not: the buttons send `adult`."""

    adult = SelectField(
        choices={"1": "Mark adult", "0": "Not adult"},
        invalid_choice_message="Choose whether the content is adult.",
    )


class UserRoleForm(Form):
    role = SelectField(
        "Role",
        id="user-role",
        choices=[(str(role), label) for role, label in admin_users.ASSIGNABLE_ROLES.items()],
        invalid_choice_message="Choose Member or Moderator.",
    )


class AdjustCreditsForm(Form):
    amount = WholeNumberField(
        "Credits (+ or −)",
        id="adjust-amount",
        message=admin_users.WHOLE_CREDITS,
        validators=[InputRequired(admin_users.WHOLE_CREDITS)],
        # The browser's hint (the service decides): with a `min`, its steps count from a whole
        # number, not from a 1.5 typed back into the field after an error.
        render_kw={"min": -admin_users.MAX_ADJUSTMENT, "max": admin_users.MAX_ADJUSTMENT},
    )
    reason = StringField(
        "Reason",
        id="adjust-reason",
        default="",
        validators=[
            InputRequired(admin_users.ADJUSTMENT_REASON),
            too_long("the reason", admin_users.REASON_MAX),
        ],
    )


class UnfreezeForm(Form):
    reason = StringField(
        "Reason",
        id="unfreeze-reason",
        default="",
        validators=[
            InputRequired("Say why the wallet is cleared."),
            too_long("the reason", admin_users.REASON_MAX),
        ],
    )


class UserSearchQuery(Form):
    q = StringField(
        "Find by email, name, id, IP or device hash",
        default="",
        validators=[too_long("the search", 200)],
        render_kw={"autofocus": True},
    )


# --- moderation and alerts ------------------------------------------------------------------------


class DecideReportForm(Form):
    """A report's decision: the buttons send `outcome`."""

    outcome = SelectField(
        choices=dict(moderation.OUTCOMES),
        invalid_choice_message="Choose what to do: dismiss, remove, warn, suspend or ban.",
    )
    note = StringField(
        "Note (required to warn, suspend or ban: the member sees it)",
        default="",
        validators=[too_long("the note", moderation.NOTE_MAX)],
    )


class ReportQueueQuery(Form):
    status = SelectField(
        choices=[*ReportStatus, "all"],
        default=ReportStatus.OPEN,
        invalid_choice_message="Unknown status: choose " + ", ".join([*ReportStatus, "all"]) + ".",
    )


class TriageAlertForm(Form):
    status = SelectField(
        "Status",
        choices={str(status): label for status, label in alerts.STATUSES.items()},
        validators=[Optional()],  # a note alone keeps the status
        invalid_choice_message="Choose a status.",
    )
    body = TextAreaField(
        "Note",
        default="",
        validators=[Length(max=alerts.NOTE_MAX, message=alerts.NOTE_TOO_LONG)],
        render_kw={"rows": 4},
    )


class AlertQueueQuery(Form):
    status = SelectField(
        choices=[*AlertStatus, "all"],
        default=AlertStatus.OPEN,
        invalid_choice_message="Unknown status: choose " + ", ".join([*AlertStatus, "all"]) + ".",
    )
    kind = StringField(default="", validators=[too_long("the kind", 100)])


# --- content --------------------------------------------------------------------------------------


class ReviewPostForm(Form):
    """A post waiting for review: the buttons send `decision`."""

    decision = SelectField(
        choices={"approve": "Approve", "reject": "Reject"},
        invalid_choice_message="Choose Approve or Reject.",
    )
    note = StringField(
        "Note (required to reject)",
        default="",
        validators=[too_long("the note", compliance.REVIEW_NOTE_MAX)],
    )


class DecideVerificationForm(Form):
    """An identity check's decision: the buttons send `decision`."""

    decision = SelectField(
        choices={"approve": "Approve", "reject": "Reject"},
        invalid_choice_message="Choose Approve or Reject.",
    )
    reason = TextAreaField(
        "Reason (required to reject: the member reads it)",
        id="verification-reason",
        default="",
        render_kw={"rows": 2},
        validators=[too_long("the reason", identity.REASON_MAX)],
    )


class DecideAppealForm(Form):
    """An appeal's decision: the buttons send `decision`."""

    decision = SelectField(
        choices={"uphold": "Uphold", "overturn": "Overturn"},
        invalid_choice_message="Choose Uphold or Overturn.",
    )
    note = TextAreaField(
        "Answer (the member gets it by mail)",
        id="appeal-note",
        default="",
        validators=[too_long("the answer", 1000)],
        render_kw={"rows": 2},
    )


class DecideReleaseForm(Form):
    """A co-performer's release: approve or reject one waiting, revoke one accepted (the
    buttons send `decision`)."""

    decision = SelectField(
        choices={"approve": "Approve", "reject": "Reject", "revoke": "Revoke"},
        invalid_choice_message="Choose Approve, Reject or Revoke.",
    )
    reason = TextAreaField(
        "Reason (required to reject or revoke: the creator reads it)",
        id="release-reason",
        default="",
        validators=[too_long("the reason", identity.REASON_MAX)],
        render_kw={"rows": 2},
    )


class TakedownDecisionForm(Form):
    """A copyright notice's answer: the buttons send `decision`."""

    decision = SelectField(
        choices={"remove": "Remove the content", "reject": "Reject the notice"},
        invalid_choice_message="Choose to remove the content or reject the notice.",
    )
    reply = TextAreaField(
        "Reply to the claimant",
        default="",
        validators=[
            InputRequired("Write the reply the claimant will receive."),
            too_long("the reply", takedowns.REPLY_MAX),
        ],
        render_kw={"rows": 3},
    )


class TakedownQueueQuery(Form):
    status = SelectField(
        choices=[*TakedownStatus, "all"],
        default=TakedownStatus.OPEN,
        invalid_choice_message="Unknown status: choose "
        + ", ".join([*TakedownStatus, "all"])
        + ".",
    )


# --- orders, the audit log, analytics -------------------------------------------------------------


class OrdersQuery(Form):
    status = SelectField(
        choices={"": "All", **{str(s): str(s).capitalize() for s in OrderStatus}},
        default="",
        invalid_choice_message="Unknown status: choose " + ", ".join(OrderStatus) + ".",
    )
    q = StringField(
        "Order id, buyer email or provider reference",
        default="",
        validators=[too_long("the search", 200)],
    )


DATES = "Dates look like 2026-11-25, up to 9999-12-30."


def _has_a_next_day(form: Form, field: DateField) -> None:
    """`until` includes its whole day: the search ends at the next midnight."""
    if field.data is not None and field.data >= dt.date.max:
        raise ValidationError(DATES)


class AuditQuery(Form):
    action = StringField(
        "Action starts with",
        default="",
        validators=[too_long("the action", 100)],
        render_kw={"placeholder": "payout."},
    )
    actor = StringField("Actor (id or email)", default="", validators=[too_long("the actor", 254)])
    target = StringField(
        "Target (type or type:id)",
        default="",
        validators=[too_long("the target", 100)],
        render_kw={"placeholder": "user:42"},
    )
    since = DateField("From", validators=[Optional()], invalid_value_message=DATES)
    until = DateField("To", validators=[Optional(), _has_a_next_day], invalid_value_message=DATES)
    before = cursor_field("before")


class AnalyticsQuery(Form):
    range = SelectField(
        choices=list(analytics.RANGES),
        default="7d",
        invalid_choice_message=f"Unknown range: choose one of {', '.join(analytics.RANGES)}.",
    )
