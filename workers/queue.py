"""The job facade: `enqueue(func, *args, **kwargs)`, durable through the job outbox.

`enqueue` writes a `BackgroundJob` row in the caller's transaction, so the job exists exactly
when the change that needs it does: a rolled-back request queues nothing, a committed one can
never lose its job. Once the transaction commits the job is dispatched:

* through RQ on `REDIS_URL` when Redis is configured (`flask worker` executes it), or
* inline in the same process, right after the commit, in a fresh app context and session, when
  Redis is not configured (the embedded default of `make run`).

A dispatch may be lost (Redis down at the commit, Redis restarted empty, a worker killed
mid-job); the row is not. `workers.jobs.sweep` dispatches again every row still pending past its
`run_after`. Jobs are plain service functions (a service enqueues its own), addressed by their
dotted path, and must be idempotent: the sweeper, and RQ, may run one twice. docs/jobs.md tells
the whole story.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, SimpleWorker, Worker
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from core import clock
from extensions import db
from models import Alert, BackgroundJob, BackgroundJobStatus

log = logging.getLogger("amora.jobs")
_PENDING_KEY = "amora_pending_jobs"

# A dispatched job not done within this long is looked at again by the sweeper (with Redis, it
# first asks RQ whether the job is still queued or running).
LEASE = dt.timedelta(minutes=2)
# Seconds to wait before running a job again after its Nth failure; after the last, the job is
# given up ("failed") and an operator alerted.
RETRY_BACKOFF = (10, 30, 60, 300, 900, 1800, 3600)
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
# Without Redis a job runs in the web process; it is taken for lost (the process died) when it
# has not finished within this long.
INLINE_LEASE = dt.timedelta(minutes=30)

# A long job (`long_running`) run without Redis says it is alive this often, by moving its
# row's `run_after` this far on: a process that dies mid-job leaves a row the sweeper takes up
# again within minutes, and one that lives is never started twice.
HEARTBEAT_SECONDS = 30
HEARTBEAT_LEASE = dt.timedelta(minutes=3)

Job = tuple[str, tuple, dict]  # (path, args, kwargs)


def long_running(seconds: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a job that may take up to `seconds` (a video's processing): RQ gives it that long
    instead of its default of three minutes, and without Redis it runs on a thread of its own
    (the request that queued it is not held) that keeps its row's lease fresh."""

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func.job_timeout = seconds  # type: ignore[attr-defined]
        return func

    return mark


def job_path(func: Callable[..., Any]) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def rq_job_id(record_id: int) -> str:
    """The RQ id of a recorded job: one id however often it is dispatched."""
    return f"amora-job-{record_id}"


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run `func(*args, **kwargs)` as a background job once the current transaction commits.

    Arguments must be JSON values (ids, strings, small dicts): they are stored in the row."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = job_path(func)
    record = BackgroundJob(
        path=path, args=list(args), kwargs=dict(kwargs), run_after=clock.now() + LEASE
    )
    session = db.session()
    if session.in_transaction():
        session.add(record)
        session.flush()  # the row's id names the RQ job
        session.info.setdefault(_PENDING_KEY, []).append((app, record.id, (path, args, kwargs)))
        return
    session.add(record)
    session.commit()
    _dispatch_committed(app, record.id, (path, args, kwargs))


@event.listens_for(Session, "after_commit")
def _run_pending_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    for app, record_id, job in pending:
        _dispatch_committed(app, record_id, job)


def _dispatch_committed(app: Flask, record_id: int, job: Job) -> None:
    """Dispatch a job whose row is committed. The caller's change is committed with it: a Redis
    outage must not turn that into an error page; the sweeper dispatches the row again."""
    try:
        _dispatch(app, job, record_id)
    except Exception:
        if not app.config.get("REDIS_URL"):
            if app.config.get("JOBS_RAISE"):
                raise  # an inline job failed (logged and recorded on its row already)
            return
        log.warning("could not queue job %s #%s; the sweeper will retry it", job[0], record_id)


@event.listens_for(Session, "after_rollback")
def _drop_pending_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending_after_close(session: Session, transaction) -> None:
    """A transaction ended without a commit (closed, not rolled back): its rows never were,
    so neither are its jobs. (After a commit, `after_commit` has taken them already.)"""
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def _dispatch(app: Flask, job: Job, record_id: int | None = None) -> None:
    """Hand a job to RQ (with Redis) or run it now in a fresh app context (without)."""
    path, args, kwargs = job
    timeout = getattr(_resolve(path), "job_timeout", None)
    if app.config.get("REDIS_URL"):
        options: dict[str, Any] = {"description": path}
        if record_id is not None:
            options["job_id"] = rq_job_id(record_id)
        if timeout:
            options["job_timeout"] = timeout
        get_queue(app).enqueue(
            run_job,
            args=(path, *args),
            kwargs={"job_kwargs": kwargs, "record_id": record_id},
            **options,
        )
        return
    if timeout and app.config.get("JOBS_LONG_IN_THREAD", True):
        threading.Thread(
            target=_run_inline,
            args=(app, path, args, kwargs, record_id, True),
            name=f"amora-job-{record_id}",
            daemon=True,
        ).start()
        return
    _run_inline(app, path, args, kwargs, record_id, bool(timeout))


def _run_inline(
    app: Flask, path: str, args: tuple, kwargs: dict, record_id: int | None, long: bool
) -> None:
    try:
        # A fresh app context gives the job its own database session, as on a worker.
        with app.app_context():
            lease = HEARTBEAT_LEASE if long else INLINE_LEASE
            if record_id is not None and not _claim_inline(record_id, lease):
                return  # done already, or running in another thread or process
            with _Heartbeat(app, record_id if long else None):
                execute(path, tuple(args), kwargs, record_id)
    except Exception:
        log.exception("inline job %s failed", path)
        if app.config.get("JOBS_RAISE"):
            raise


def _claim_inline(record_id: int, lease: dt.timedelta = INLINE_LEASE) -> bool:
    """Without Redis no queue says a job is running: move its `run_after` past any run's length
    (or, for a long job, past its next heartbeat) first, so that the sweeper (another thread,
    another process) does not start it again while this run lasts. (Whoever dispatched it had
    the row to itself until its old `run_after`.)"""
    now = clock.now()
    claimed = db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == record_id, BackgroundJob.status == BackgroundJobStatus.PENDING)
        .values(run_after=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


class _Heartbeat:
    """While a long inline job runs, a thread moves its row's `run_after` on every
    HEARTBEAT_SECONDS (in a session of its own), as RQ's heartbeat does for a worker's job."""

    def __init__(self, app: Flask, record_id: int | None) -> None:
        self.app, self.record_id = app, record_id
        self._done = threading.Event()

    def __enter__(self) -> _Heartbeat:
        if self.record_id is not None:
            threading.Thread(target=self._beat, name="amora-job-heartbeat", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()

    def _beat(self) -> None:
        while not self._done.wait(HEARTBEAT_SECONDS):
            try:
                with self.app.app_context():
                    _claim_inline(self.record_id, HEARTBEAT_LEASE)  # type: ignore[arg-type]
                    db.session.remove()
            except Exception:
                log.warning("job #%s: could not renew its lease", self.record_id, exc_info=True)


def execute(path: str, args: tuple, kwargs: dict, record_id: int | None) -> Any:
    """Run a job in the current app context and record its outcome on its row."""
    try:
        result = _resolve(path)(*args, **kwargs)
    except Exception as exc:
        if record_id is not None:
            _record_failure(record_id, path, exc)
        raise
    if record_id is not None:
        _record_done(record_id)
    return result


def _record_done(record_id: int) -> None:
    db.session.rollback()  # whatever the job left open is not ours to commit
    try:
        db.session.execute(
            update(BackgroundJob)
            .where(
                BackgroundJob.id == record_id, BackgroundJob.status == BackgroundJobStatus.PENDING
            )
            .values(status=BackgroundJobStatus.DONE, finished_at=clock.now(), last_error=None)
        )
        db.session.commit()
    except Exception:
        # The job ran; the sweeper will run it once more, which an idempotent job shrugs off.
        db.session.rollback()
        log.exception("job #%s ran but could not be marked done", record_id)


def _record_failure(record_id: int, path: str, exc: Exception) -> None:
    db.session.rollback()
    try:
        record = db.session.get(BackgroundJob, record_id)
        if record is None or record.status != BackgroundJobStatus.PENDING:
            return
        record.attempts += 1
        record.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if record.attempts >= MAX_ATTEMPTS:
            _give_up(record)
        else:
            wait = RETRY_BACKOFF[record.attempts - 1]
            record.run_after = clock.now() + dt.timedelta(seconds=wait)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record the failure of job #%s", record_id)


def _give_up(record: BackgroundJob) -> None:
    """No more retries: the job is marked failed and an admin alerted (Admin → Alerts)."""
    record.status = BackgroundJobStatus.FAILED
    record.finished_at = clock.now()
    log.error("job %s #%s gave up after %d attempts", record.path, record.id, record.attempts)
    db.session.add(
        Alert(
            kind="job_failed",
            severity="high",
            summary=f"A background job gave up: {record.path} #{record.id}"[:300],
            detail={
                "job": record.id,
                "path": record.path,
                "args": record.args,
                "attempts": record.attempts,
                "error": record.last_error,
            },
        )
    )


@functools.cache
def _redis(url: str, blocking: bool = False) -> Redis:
    if blocking:  # the worker's: it waits on Redis for the next job on purpose
        return Redis.from_url(url, socket_connect_timeout=2)
    # A Redis that is down or hung must fail an enqueue fast, not hold the request: the job is
    # in the outbox anyway.
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3)


def redis_connection(app: Flask | None = None) -> Redis:
    app = app or current_app
    return _redis(app.config["REDIS_URL"])


def worker_connection(app: Flask | None = None) -> Redis:
    """The connection `flask worker` waits for jobs on (no read timeout)."""
    app = app or current_app
    return _redis(app.config["REDIS_URL"], blocking=True)


def get_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(app.config["RQ_QUEUE"], connection=redis_connection(app))


class _PromptExit:
    """RQ's worker listens for commands (stop a job, shut down) on a pubsub channel in a
    thread that polls every 60 s. On the way out RQ unsubscribes and then stops that thread:
    when the thread reads the unsubscribe reply in between, it goes back to waiting for a
    subscription, and the end of a burst run, or a SIGTERM, waited up to a minute for it.
    Here the thread polls every second and is told to stop before the unsubscribe, whose
    reply then ends it at once."""

    POLL_SECONDS = 1

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=self.POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.pubsub_thread.stop(timeout=0)  # its loop ends at the next reply or poll
            self.pubsub.unsubscribe()
            self.pubsub_thread.join(timeout=self.POLL_SECONDS * 5)
            self.pubsub.close()


class JobWorker(_PromptExit, Worker):
    """`flask worker`: RQ's worker (a forked process per job) that exits promptly."""


class InlineJobWorker(_PromptExit, SimpleWorker):
    """RQ's worker that runs jobs in its own process (tests), exiting promptly."""


def _resolve(path: str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


_worker_app: Flask | None = None


def run_job(
    path: str, *args: Any, job_kwargs: dict | None = None, record_id: int | None = None
) -> Any:
    """Entry point RQ calls on the worker: run the job inside the worker's app context (the app
    `flask worker` built and handed over with `set_worker_app`; this layer builds none)."""
    if _worker_app is None:
        raise RuntimeError("no app to run jobs in: start workers with `flask worker`")
    with _worker_app.app_context():
        return execute(path, args, job_kwargs or {}, record_id)


def set_worker_app(app: Flask) -> None:
    """Run RQ jobs in this process with `app` (used by `flask worker` and the tests)."""
    global _worker_app
    _worker_app = app
