"""The payout queue in the admin console: review, approve (one or many), reject, mark paid
(docs/payouts.md; on the `admin` blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.blueprint import bp
from blueprints.guards import admin_required
from blueprints.htmx import flash_outcome, redirect_to
from extensions import limiter
from services import payouts
from services.input import parse_id


@bp.get("/payouts")
@admin_required
def payout_queue():
    status = request.args.get("status", "requested")
    if status not in (*payouts.TRANSITIONS, "all"):
        abort(400, description="Unknown status.")
    return render_template(
        "admin/payouts.html",
        rows=payouts.queue(None if status == "all" else status),
        status=status,
        statuses=list(payouts.TRANSITIONS),
        labels=payouts.LABELS,
        method_labels=payouts.METHOD_LABELS,
    )


@bp.get("/payouts/<int:payout_id>")
@admin_required
def payout_detail(payout_id: int):
    review = payouts.review(payout_id)
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
    )


def _back(payout_id: int | None = None):
    target = request.form.get("next") or (
        url_for("admin.payout_detail", payout_id=payout_id)
        if payout_id
        else url_for("admin.payout_queue")
    )
    if not target.startswith("/admin"):
        target = url_for("admin.payout_queue")
    return redirect_to(target)


@bp.post("/payouts/<int:payout_id>/approve")
@admin_required
@limiter.limit("300 per hour")
def approve_payout(payout_id: int):
    flash_outcome(
        lambda: payouts.approve(current_user, payout_id, request.form.get("note") or None),
        f"Payout {payout_id} approved.",
    )
    return _back(payout_id)


@bp.post("/payouts/bulk-approve")
@admin_required
@limiter.limit("60 per hour")
def bulk_approve():
    ids = [i for i in map(parse_id, request.form.getlist("payout_id")) if i is not None]
    if not ids:
        flash("Select the payouts to approve.", "warning")
        return _back()
    approved, problems = payouts.bulk_approve(current_user, ids)
    flash(f"{approved} payout(s) approved.", "success")
    for problem in problems:
        flash(problem, "error")
    return _back()


@bp.post("/payouts/<int:payout_id>/reject")
@admin_required
@limiter.limit("300 per hour")
def reject_payout(payout_id: int):
    flash_outcome(
        lambda: payouts.reject(current_user, payout_id, request.form.get("reason", "")),
        f"Payout {payout_id} rejected; the credits went back to the creator.",
    )
    return _back(payout_id)


@bp.post("/payouts/<int:payout_id>/mark-paid")
@admin_required
@limiter.limit("300 per hour")
def mark_paid(payout_id: int):
    flash_outcome(
        lambda: payouts.mark_paid(current_user, payout_id, request.form.get("reference", "")),
        f"Payout {payout_id} marked paid.",
    )
    return _back(payout_id)
