"""Security analytics in the admin console: charts with their numbers, per range (its own
blueprint, `admin_analytics`, under /admin/analytics)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from blueprints.guards import admin_required
from core import clock
from services import analytics

bp = Blueprint("admin_analytics", __name__, url_prefix="/admin/analytics")


@bp.get("")
@admin_required
def index():
    range_key = request.args.get("range", "7d")
    try:
        page = analytics.dashboard(clock.now(), range_key)
    except analytics.UnknownRange:
        abort(400, description=f"Unknown range: choose one of {', '.join(analytics.RANGES)}.")
    return render_template("admin/analytics.html", **page)
