"""The admin console: admins with 2FA only; every action audited by its service."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.guards import admin_required
from blueprints.htmx import flash_outcome, redirect_to
from blueprints.input import query_int
from core.errors import DomainError, NotFound
from extensions import limiter
from models import OrderStatus
from services import admin_overview, audit, payouts, reconciliation, risk
from services.input import parse_id
from services.payments import orders as order_service

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("")
@admin_required
def index():
    return render_template("admin/index.html", today=admin_overview.today())


@bp.get("/orders")
@admin_required
def orders():
    status = request.args.get("status") or None
    if status not in (None, *OrderStatus):
        abort(400, description="Unknown status.")
    query = request.args.get("q", "")
    return render_template(
        "admin/orders.html",
        rows=order_service.admin_list(status, query),
        status=status,
        q=query,
    )


@bp.get("/ledger")
@admin_required
def ledger_page():
    return render_template(
        "admin/ledger.html",
        checks=reconciliation.latest(),
        balances=reconciliation.system_balances(),
    )


@bp.post("/ledger/checks")
@admin_required
@limiter.limit("30 per hour")
def start_check():
    try:
        reconciliation.start(current_user)
    except DomainError as exc:
        flash(exc.message, "info")
    return redirect_to(url_for("admin.ledger_page"))


@bp.get("/ledger/checks/<int:check_id>")
@admin_required
def check_progress(check_id: int):
    try:
        check = reconciliation.get(check_id)
    except NotFound:
        abort(404)
    return render_template("admin/_check.html", check=check)


@bp.get("/audit")
@admin_required
def audit_log():
    args = request.args
    errors = {}
    since = until = None
    try:
        if args.get("since"):
            since = dt.datetime.fromisoformat(args["since"])
        if args.get("until"):
            until = dt.datetime.fromisoformat(args["until"]) + dt.timedelta(days=1)
    except (ValueError, OverflowError):  # 9999-12-31 has no day after it
        errors["since"] = "Dates look like 2026-11-25, up to 9999-12-30."
    before = query_int("before", minimum=1)
    rows = audit.search(
        action=args.get("action", ""),
        actor=args.get("actor", ""),
        target=args.get("target", ""),
        since=since,
        until=until,
        before_id=before,
    )
    kept = {k: v for k, v in args.items() if k != "before" and v}
    more_url = (
        url_for("admin.audit_log", **kept, before=rows[-1][0].id) if len(rows) == 50 else None
    )
    return render_template(
        "admin/audit.html", rows=rows, args=args, errors=errors, more_url=more_url
    ), (400 if errors else 200)


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
        assessment=risk.payout_assessment(payout),
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
