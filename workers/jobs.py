"""The job outbox's sweeper: dispatch again every job that is overdue, and forget old ones.

A `BackgroundJob` row still pending past its `run_after` was dispatched and then lost (Redis
was down at the commit or restarted empty, a worker was killed mid-job) or failed and waited
out its backoff. With Redis, RQ is asked first: a job it still holds queued or running is left
alone, so a long queue is not doubled. docs/jobs.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus
from sqlalchemy import delete, select, update

from core import clock
from extensions import db
from models import BackgroundJob, BackgroundJobStatus
from workers.queue import LEASE, MAX_ATTEMPTS, _dispatch, _give_up, redis_connection, rq_job_id

log = logging.getLogger("amora.jobs")

BATCH = 200
KEEP_DONE = dt.timedelta(days=7)
# A job RQ says is running whose worker has not said it is alive for this long is taken for dead.
# (RQ's work horse beats every 30 s while a job runs.)
STALE_HEARTBEAT = dt.timedelta(minutes=3)
# Dispatched this often and never finished (nor failed): something loses it every time.
MAX_DISPATCHES = 2 * MAX_ATTEMPTS
_ALIVE = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def sweep() -> int:
    """Dispatch the overdue pending jobs (a batch per run); returns how many were dispatched."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    now = clock.now()
    overdue = db.session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.status == BackgroundJobStatus.PENDING, BackgroundJob.run_after <= now)
        .order_by(BackgroundJob.run_after)
        .limit(BATCH)
    ).all()
    claimed = [job for job in overdue if _claim(job, now)]
    db.session.commit()
    with_redis = bool(app.config.get("REDIS_URL"))
    dispatched = 0
    for job in claimed:
        if with_redis and _held_by_rq(job.id):
            continue  # still queued, or running on a live worker: its claim just waits longer
        if job.dispatches >= MAX_DISPATCHES:  # lost again and again: stop and tell someone
            job.last_error = job.last_error or "dispatched again and again without finishing"
            _give_up(job)
            db.session.commit()
            continue
        log.info("dispatching overdue job %s #%s again", job.path, job.id)
        try:
            _dispatch(app, (job.path, tuple(job.args), dict(job.kwargs)), job.id)
        except RedisError:
            log.warning("Redis is unreachable: overdue jobs wait for the next sweep")
            break
        except Exception:
            log.exception("overdue job %s #%s failed again", job.path, job.id)
        _count_dispatch(job.id)
        dispatched += 1
    _forget_done(now)
    return dispatched


def _claim(job: BackgroundJob, now: dt.datetime) -> bool:
    """Move the job's `run_after` on, unless another sweeper did first: the job is then this
    sweep's to look at, and no one else's until the new `run_after`."""
    return bool(
        db.session.execute(
            update(BackgroundJob)
            .where(
                BackgroundJob.id == job.id,
                BackgroundJob.status == BackgroundJobStatus.PENDING,
                BackgroundJob.run_after == job.run_after,
            )
            .values(run_after=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def _count_dispatch(record_id: int) -> None:
    db.session.rollback()
    db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == record_id)
        .values(dispatches=BackgroundJob.dispatches + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _held_by_rq(record_id: int) -> bool:
    """Whether RQ still has the job queued, or running on a worker that is alive. A job it
    finished, failed or abandoned is taken out of RQ's registries, to be queued afresh."""
    connection = redis_connection()
    try:
        rq_job = RqJob.fetch(rq_job_id(record_id), connection=connection)
    except NoSuchJobError:
        return False
    except RedisError:
        return True  # cannot tell; dispatching would fail anyway
    except Exception:  # a hash RQ cannot read back (half-written, an older RQ's)
        log.warning("RQ job of #%s is unreadable; queueing it afresh", record_id)
        return False
    status = rq_job.get_status(refresh=False)
    beat = rq_job.last_heartbeat
    if status in _ALIVE or (
        status == JobStatus.STARTED
        and beat is not None
        and beat.replace(tzinfo=None) >= clock.now() - STALE_HEARTBEAT
    ):
        return True
    with contextlib.suppress(Exception):  # gone meanwhile: nothing to take out
        rq_job.delete()
    return False


def _forget_done(now: dt.datetime) -> None:
    db.session.execute(
        delete(BackgroundJob).where(
            BackgroundJob.status == BackgroundJobStatus.DONE,
            BackgroundJob.finished_at < now - KEEP_DONE,
        )
    )
    db.session.commit()
