"""Security analytics in the admin console: charts with their numbers, per range (its own
blueprint, `admin_analytics`, under /admin/analytics)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from blueprints.forms.admin import AnalyticsQuery
from blueprints.forms.fields import first_error
from blueprints.guards import admin_required
from core import clock
from services import analytics

bp = Blueprint("admin_analytics", __name__, url_prefix="/admin/analytics")


@bp.get("")
@admin_required
def index():
    query = AnalyticsQuery(request.args)
    if not query.validate():
        abort(400, description=first_error(query))
    return render_template(
        "admin/analytics.html", **analytics.dashboard(clock.now(), query.range.data)
    )
