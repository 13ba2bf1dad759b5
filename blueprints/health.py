"""`/healthz`: is the database reachable, and Redis when it is configured?"""

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
    return jsonify(report), 200 if report["status"] == "ok" else 503
