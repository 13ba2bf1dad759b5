"""Health of the parts Amora depends on, for `/healthz` and operators."""

from __future__ import annotations

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from extensions import db


def check(app: Flask) -> dict:
    """`{"status": "ok"|"degraded"|"down", "database": ..., "redis": ...}`.

    The database is required (down → 503); Redis is reported as "disabled" in embedded mode and
    as an error when configured but unreachable (also 503: jobs and rate limits depend on it).
    """
    report: dict = {}
    try:
        db.session.execute(text("SELECT 1"))
        report["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        report["database"] = f"error: {type(exc).__name__}"
    if app.config.get("REDIS_URL"):
        from workers.queue import redis_connection

        try:
            redis_connection(app).ping()
            report["redis"] = "ok"
        except (RedisError, OSError) as exc:
            report["redis"] = f"error: {type(exc).__name__}"
    else:
        report["redis"] = "disabled"
    healthy = report["database"] == "ok" and report["redis"] in ("ok", "disabled")
    report["status"] = "ok" if healthy else "down"
    return report
