"""The admin console's front page, orders, the ledger's checks and the audit log (on the `admin`
blueprint, `blueprints/admin/blueprint.py`)."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user

from blueprints.admin.blueprint import bp
from blueprints.forms.admin import AuditQuery, OrdersQuery
from blueprints.forms.fields import first_error
from blueprints.guards import admin_required
from blueprints.htmx import redirect_to
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
    query = OrdersQuery(request.args)
    if not query.validate():
        if query.status.errors:  # a tab, not a field the page shows
            abort(400, description=first_error(query))
        return render_template("admin/orders.html", rows=[], query=query, status=None), 400
    status = query.status.data or None
    return render_template(
        "admin/orders.html",
        rows=order_service.admin_list(status, query.q.data),
        query=query,
        status=status,
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
    query = AuditQuery(request.args)
    if not query.validate():
        return render_template("admin/audit.html", rows=[], query=query, more_url=None), 400
    until = query.until.data
    rows = audit.search(
        action=query.action.data,
        actor=query.actor.data,
        target=query.target.data,
        since=_midnight(query.since.data),
        until=_midnight(until + dt.timedelta(days=1)) if until else None,  # the whole day
        before_id=query.before.data,
    )
    kept = {k: v for k, v in query.data.items() if k != "before" and v}
    more_url = (
        url_for("admin.audit_log", **kept, before=rows[-1][0].id) if len(rows) == 50 else None
    )
    return render_template("admin/audit.html", rows=rows, query=query, more_url=more_url)


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time()) if day else None
