"""The job outbox's sweeper: dispatch again every job that is overdue, and forget old ones.

A `BackgroundJob` row still pending past its `run_after` was dispatched and then lost (Redis
was down at the commit or restarted empty, a worker was killed mid-job) or failed and waited
out its backoff. With Redis, RQ is asked first: a job it still holds queued or running is left
alone, so a long queue is not doubled. docs/jobs.md.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from redis.exceptions import RedisError
from rq.job import Job as RqJob
from rq.job import JobStatus
from sqlalchemy import delete, select, update

from extensions import db
from models import BackgroundJob
from services import clock
from workers.queue import LEASE, MAX_ATTEMPTS, _dispatch, _give_up, redis_connection, rq_job_id

log = logging.getLogger("amora.jobs")

BATCH = 200
KEEP_DONE = dt.timedelta(days=7)
# A job RQ says is running whose worker has not said it is alive for this long is taken for dead.
STALE_HEARTBEAT = dt.timedelta(minutes=10)
_ALIVE = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def sweep() -> int:
    """Dispatch the overdue pending jobs (a batch per run); returns how many were dispatched."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = clock.now()
    overdue = db.session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.status == "pending", BackgroundJob.run_after <= now)
        .order_by(BackgroundJob.run_after)
        .limit(BATCH)
    ).all()
    alive = _held_by_rq([job.id for job in overdue]) if app.config.get("REDIS_URL") else set()
    claimed = []
    for job in overdue:
        if _claim(job, now, still_held=job.id in alive):
            claimed.append((job.id, job.path, tuple(job.args), dict(job.kwargs)))
    db.session.commit()
    for record_id, path, args, kwargs in claimed:
        log.info("dispatching overdue job %s #%s again", path, record_id)
        try:
            _dispatch(app, (path, args, kwargs), record_id)
        except RedisError:
            log.warning("Redis is unreachable: overdue jobs wait for the next sweep")
            break
        except Exception:
            log.exception("overdue job %s #%s failed again", path, record_id)
    _forget_done(now)
    return len(claimed)


def _claim(job: BackgroundJob, now: dt.datetime, still_held: bool) -> bool:
    """Move the job's `run_after` on, only if no other sweeper did first; True when this sweep
    is to dispatch it."""
    values: dict = {"run_after": now + LEASE}
    if not still_held:
        values["dispatches"] = BackgroundJob.dispatches + 1
    claimed = db.session.execute(
        update(BackgroundJob)
        .where(
            BackgroundJob.id == job.id,
            BackgroundJob.status == "pending",
            BackgroundJob.run_after == job.run_after,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed or still_held:
        return False
    if job.dispatches + 1 > MAX_ATTEMPTS * 2:  # lost again and again: stop and tell someone
        db.session.refresh(job)
        job.last_error = job.last_error or "dispatched again and again without finishing"
        _give_up(job)
        return False
    return True


def _held_by_rq(record_ids: list[int]) -> set[int]:
    """The jobs RQ still has queued, or running on a worker that is alive."""
    if not record_ids:
        return set()
    try:
        rq_jobs = RqJob.fetch_many(
            [rq_job_id(i) for i in record_ids], connection=redis_connection()
        )
    except RedisError:
        return set(record_ids)  # cannot tell: dispatching would fail anyway
    held = set()
    stale_before = clock.now() - STALE_HEARTBEAT
    for record_id, rq_job in zip(record_ids, rq_jobs, strict=True):
        if rq_job is None:
            continue
        status = rq_job.get_status(refresh=False)
        beat = rq_job.last_heartbeat
        if status in _ALIVE or (
            status == JobStatus.STARTED
            and beat is not None
            and beat.replace(tzinfo=None) >= stale_before
        ):
            held.add(record_id)
            continue
        try:  # finished, failed or abandoned: out of RQ's registries before it is queued again
            rq_job.delete()
        except RedisError:
            return set(record_ids)
    return held


def _forget_done(now: dt.datetime) -> None:
    db.session.execute(
        delete(BackgroundJob).where(
            BackgroundJob.status == "done", BackgroundJob.finished_at < now - KEEP_DONE
        )
    )
    db.session.commit()
