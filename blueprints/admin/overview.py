"""The admin console's front page, orders, the ledger's checks and the audit log (on the `admin`
blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

import datetime as dt

from flask import flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.blueprint import bp
from blueprints.guards import admin_required
from blueprints.htmx import redirect_to
from blueprints.input import query_int
from core.errors import DomainError
from extensions import limiter
from services import admin_overview, audit, reconciliation
from services.payments import orders as order_service


@bp.get("")
@admin_required
def index():
    return render_template("admin/index.html", today=admin_overview.today())


@bp.get("/orders")
@admin_required
def orders():
    status = request.args.get("status") or None
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
    return render_template("admin/_check.html", check=reconciliation.get(check_id))


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
