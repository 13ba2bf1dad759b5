"""The payout queue in the admin console: review, approve (one or many), reject, mark paid
(docs/payouts.md; on the `admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.actions import settled
from blueprints.admin.blueprint import bp
from blueprints.forms.admin import (
    ApprovePayoutForm,
    BulkApproveForm,
    MarkPaidForm,
    PayoutQueueQuery,
    RejectPayoutForm,
)
from blueprints.forms.fields import first_error
from blueprints.guards import admin_required
from blueprints.htmx import redirect_to
from blueprints.links import safe_next
from extensions import limiter
from models import PayoutStatus
from services import payouts


def _queue(status: str, code: int = 200, bulk: BulkApproveForm | None = None):
    """The queue of payouts in `status` ("all": every one); `bulk`, a bulk approval just
    posted, is shown with its ticks and errors."""
    if bulk is None:
        bulk = BulkApproveForm(formdata=None, next=request.full_path)
    return render_template(
        "admin/payouts.html",
        rows=payouts.queue(None if status == "all" else status),
        status=status,
        statuses=list(payouts.TRANSITIONS),
        labels=payouts.LABELS,
        method_labels=payouts.METHOD_LABELS,
        bulk=bulk,
    ), code


@bp.get("/payouts")
@admin_required
def payout_queue():
    query = PayoutQueueQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    return _queue(query.status.data)


def _detail(payout_id: int, code: int = 200, **posted):
    """A payout and its actions; a form in `posted` (approve, reject, paid) was just sent and
    is shown with its input and errors."""
    review = payouts.review(payout_id)
    forms = {
        "approve": ApprovePayoutForm(formdata=None),
        "reject": RejectPayoutForm(formdata=None),
        "paid": MarkPaidForm(formdata=None),
        **posted,
    }
    return render_template(
        "admin/payout.html",
        payout=review.payout,
        creator=review.creator,
        method=review.method,
        events=review.events,
        assessment=review.assessment,
        labels=payouts.LABELS,
        method_labels=payouts.METHOD_LABELS,
        mask=payouts.mask,
        forms=forms,
    ), code


@bp.get("/payouts/<int:payout_id>")
@admin_required
def payout_detail(payout_id: int):
    return _detail(payout_id)


def _back_to(payout_id: int):
    return redirect_to(url_for("admin.payout_detail", payout_id=payout_id))


@bp.post("/payouts/<int:payout_id>/approve")
@admin_required
@limiter.limit("300 per hour")
def approve_payout(payout_id: int):
    form = ApprovePayoutForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: payouts.approve(current_user, payout_id, form.note.data.strip() or None),
        f"Payout {payout_id} approved.",
    ):
        return _back_to(payout_id)
    return _detail(payout_id, 422, approve=form)


@bp.post("/payouts/bulk-approve")
@admin_required
@limiter.limit("60 per hour")
def bulk_approve():
    form = BulkApproveForm()
    if not form.validate_on_submit():
        return _queue(PayoutStatus.REQUESTED, 422, bulk=form)
    ids = list(dict.fromkeys(form.payout_id.data))  # each once, in the order ticked
    approved, problems = payouts.bulk_approve(current_user, ids)
    flash(f"{approved} payout(s) approved.", "success")
    for problem in problems:
        flash(problem, "error")
    target = safe_next(form.next.data)
    if target is None or not target.startswith("/admin"):
        target = url_for("admin.payout_queue")
    return redirect_to(target)


@bp.post("/payouts/<int:payout_id>/reject")
@admin_required
@limiter.limit("300 per hour")
def reject_payout(payout_id: int):
    form = RejectPayoutForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: payouts.reject(current_user, payout_id, form.reason.data),
        f"Payout {payout_id} rejected; the credits went back to the creator.",
    ):
        return _back_to(payout_id)
    return _detail(payout_id, 422, reject=form)


@bp.post("/payouts/<int:payout_id>/mark-paid")
@admin_required
@limiter.limit("300 per hour")
def mark_paid(payout_id: int):
    form = MarkPaidForm()
    if form.validate_on_submit() and settled(
        form,
        lambda: payouts.mark_paid(current_user, payout_id, form.reference.data),
        f"Payout {payout_id} marked paid.",
    ):
        return _back_to(payout_id)
    return _detail(payout_id, 422, paid=form)
