"""The job facade: `enqueue(func, *args, **kwargs)`.

A job is queued only when the caller's database transaction commits (a rolled-back request never
sends its mail), and it runs:

* through RQ on `REDIS_URL` when Redis is configured (`flask worker` executes it), or
* inline in the same process, right after the commit, in a fresh app context and session, when
  Redis is not configured (the embedded default of `make run`).

Jobs are plain functions in `workers/`, addressed by their dotted path, so a job behaves the same
either way. They must be idempotent: RQ retries them and the worker can die mid-job.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from extensions import db

log = logging.getLogger(__name__)
_PENDING_KEY = "amora_pending_jobs"


def job_path(func: Callable[..., Any]) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run `func(*args, **kwargs)` as a background job once the current transaction commits."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    job = (job_path(func), args, kwargs)
    session = db.session()
    if session.in_transaction():
        session.info.setdefault(_PENDING_KEY, []).append((app, job))
    else:
        _dispatch(app, job)


@event.listens_for(Session, "after_commit")
def _run_pending_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    for app, job in pending:
        try:
            _dispatch(app, job)
        except Exception:
            # The transaction is committed: a Redis outage must not turn it into an error page.
            # The job is lost from the queue; its Outbox/record row keeps what needs redoing.
            log.exception("could not queue job %s after commit", job[0])
            if app.config.get("JOBS_RAISE"):
                raise


@event.listens_for(Session, "after_rollback")
def _drop_pending_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def _dispatch(app: Flask, job: tuple[str, tuple, dict]) -> None:
    path, args, kwargs = job
    if app.config.get("REDIS_URL"):
        queue = get_queue(app)
        queue.enqueue(
            run_job,
            path,
            *args,
            job_kwargs=kwargs,
            retry=Retry(max=5, interval=[10, 30, 60, 300, 900]),
            description=path,
        )
        return
    try:
        # A fresh app context gives the job its own database session, as on a worker.
        with app.app_context():
            _resolve(path)(*args, **kwargs)
    except Exception:
        log.exception("inline job %s failed", path)
        if app.config.get("JOBS_RAISE"):
            raise


@functools.cache
def _redis(url: str) -> Redis:
    return Redis.from_url(url)


def redis_connection(app: Flask | None = None) -> Redis:
    app = app or current_app
    return _redis(app.config["REDIS_URL"])


def get_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(app.config["RQ_QUEUE"], connection=redis_connection(app))


def _resolve(path: str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


_worker_app: Flask | None = None


def run_job(path: str, *args: Any, job_kwargs: dict | None = None) -> Any:
    """Entry point RQ calls on the worker: run the job inside the worker's app context."""
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        return _resolve(path)(*args, **(job_kwargs or {}))


def set_worker_app(app: Flask) -> None:
    """Run RQ jobs in this process with `app` (used by `flask worker` and the tests)."""
    global _worker_app
    _worker_app = app
