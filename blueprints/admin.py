"""The admin console (SPEC §11): admins with 2FA only; every action audited by its service."""

from __future__ import annotations

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.guards import admin_required
from blueprints.htmx import redirect_to
from extensions import limiter
from services import payouts
from services.errors import DomainError, NotFound

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("")
@admin_required
def index():
    return render_template(
        "admin/index.html",
        requested=len(payouts.queue("requested")),
        approved_manual=sum(1 for p, _ in payouts.queue("approved") if p.method_kind == "manual"),
    )


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
    try:
        payout = payouts.get(payout_id)
    except NotFound:
        abort(404)
    from extensions import db
    from models import PayoutMethod, User

    return render_template(
        "admin/payout.html",
        payout=payout,
        creator=db.session.get(User, payout.creator_id),
        method=db.session.get(PayoutMethod, payout.method_id),
        events=payouts.timeline(payout.id),
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
    try:
        payouts.approve(current_user, payout_id, request.form.get("note") or None)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Payout {payout_id} approved.", "success")
    return _back(payout_id)


@bp.post("/payouts/bulk-approve")
@admin_required
@limiter.limit("60 per hour")
def bulk_approve():
    ids = [int(value) for value in request.form.getlist("payout_id") if value.isdigit()]
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
    try:
        payouts.reject(current_user, payout_id, request.form.get("reason", ""))
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Payout {payout_id} rejected; the credits went back to the creator.", "success")
    return _back(payout_id)


@bp.post("/payouts/<int:payout_id>/mark-paid")
@admin_required
@limiter.limit("300 per hour")
def mark_paid(payout_id: int):
    try:
        payouts.mark_paid(current_user, payout_id, request.form.get("reference", ""))
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(f"Payout {payout_id} marked paid.", "success")
    return _back(payout_id)
