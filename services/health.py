"""Health of the parts Amora depends on, for `/healthz` and operators."""

from __future__ import annotations

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from workers.queue import redis_connection


def check(app: Flask) -> dict:
    """`{"status": "ok"|"degraded"|"down", "database": ..., "redis": ..., ...}`.

    The database is required: without it the status is "down" (503). Redis is reported as
    "disabled" in embedded mode; configured but unreachable, the site keeps working without it
    and the status is "degraded" (still 200, so a load balancer keeps sending traffic): rate
    limits count in each process's memory, live events reach the sockets of the process that
    published them, and jobs wait in the database's job outbox until Redis is back.
    """
    report: dict = {"database": _database()}
    if app.config.get("REDIS_URL"):
        report.update(_redis_parts(app))
    else:
        report["redis"] = "disabled"
    if report["database"] != "ok":
        report["status"] = "down"
    elif report["redis"] in ("ok", "disabled"):
        report["status"] = "ok"
    else:
        report["status"] = "degraded"
    return report


def _database() -> str:
    """ "ok" or the error; a pooled connection found dead is replaced once before answering."""
    for may_retry in (True, False):
        try:
            db.session.execute(text("SELECT 1"))
            return "ok"
        except SQLAlchemyError as exc:
            db.session.rollback()
            if not (may_retry and getattr(exc, "connection_invalidated", False)):
                return f"error: {type(exc).__name__}"
    raise AssertionError("unreachable")


def _redis_parts(app: Flask) -> dict:
    try:
        redis_connection(app).ping()
    except (RedisError, OSError) as exc:
        return {
            "redis": f"error: {type(exc).__name__}",
            "rate_limits": "memory of each process (Redis unreachable)",
            "realtime": "this process's sockets only (Redis unreachable)",
            "jobs": "kept in the job outbox until Redis is back",
        }
    return {"redis": "ok", "rate_limits": "redis", "realtime": "redis", "jobs": "redis"}
