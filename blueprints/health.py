"""`/healthz`: is the database reachable, and Redis when it is configured? 503 only when the
site cannot serve (no database); a Redis outage is "degraded", still 200."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from extensions import csrf, limiter
from services import health

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    report = health.check(current_app)
    return jsonify(report), 503 if report["status"] == "down" else 200
