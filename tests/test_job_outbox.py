"""The job outbox: a committed change never loses its job, whatever happens to the queue.

Every `enqueue` writes a `background_jobs` row in the caller's transaction; the sweeper
dispatches again what is overdue. These tests lose jobs the ways production loses them (Redis
down at the commit, Redis restarted empty, a worker killed mid-job) and watch them come back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from rq.job import Job as RqJob
from sqlalchemy import select

from core import clock
from extensions import db
from models import Alert, BackgroundJob, Outbox
from services import accounts, mail
from tests.conftest import work_jobs
from workers import jobs as job_outbox
from workers import queue as job_queue
from workers.queue import get_queue, redis_connection, rq_job_id

GOOD = "plum-orbit-kettle-42"
LATER = dt.timedelta(minutes=3)  # past the lease


def _user(email="ana@example.com"):
    return accounts.sign_up(email, GOOD, "Ana", dt.date(1990, 1, 1))


def _mail_job() -> BackgroundJob:
    return db.session.scalars(
        select(BackgroundJob).where(BackgroundJob.path == "services.mail:deliver")
    ).one()


def test_a_job_is_a_row_written_in_the_same_transaction(ctx):
    user = _user()
    db.session.commit()
    mail.send(user, user.email, "test", "Never", "verify_email", link="x", hours=1)
    db.session.rollback()
    rows = db.session.scalars(select(BackgroundJob)).all()
    assert [r.path for r in rows] == ["services.mail:deliver"]  # the sign-up's mail, not this one
    assert rows[0].status == "done" and rows[0].finished_at is not None


@pytest.mark.redis
def test_a_job_lost_with_redis_at_the_commit_runs_once_redis_answers(redis_app):
    """Redis unreachable when the sign-up commits: the account exists, its mail waits in the
    outbox, and the sweeper queues it again once Redis answers."""
    app = redis_app
    reachable = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with app.app_context():
        user = _user()
        assert db.session.get(type(user), user.id) is not None
        assert _mail_job().status == "pending"
    app.config["REDIS_URL"] = reachable
    with app.app_context():
        assert get_queue(app).count == 0
        assert job_outbox.sweep() == 0  # not overdue yet: it may still be on its way
        with clock.frozen(clock.now() + LATER):
            assert job_outbox.sweep() == 1
        work_jobs(app)
        db.session.expire_all()
        assert db.session.scalars(select(Outbox)).one().status == "logged"
        assert _mail_job().status == "done"


@pytest.mark.redis
def test_a_job_redis_forgot_is_queued_again_and_runs_once(redis_app):
    """Redis restarted empty (it keeps nothing on disk): the queued job is gone from RQ."""
    app = redis_app
    with app.app_context():
        _user()
        record = _mail_job()
        assert get_queue(app).count == 1
        redis_connection(app).flushdb()
        with clock.frozen(clock.now() + LATER):
            assert job_outbox.sweep() == 1
            assert job_outbox.sweep() == 0  # claimed: a second sweeper does not double it
        work_jobs(app)
        work_jobs(app)
        db.session.expire_all()
        message = db.session.scalars(select(Outbox)).one()
        assert message.status == "logged" and message.attempts == 1
        assert db.session.get(BackgroundJob, record.id).status == "done"


@pytest.mark.redis
def test_a_job_still_waiting_in_the_queue_is_not_queued_twice(redis_app):
    app = redis_app
    with app.app_context():
        _user()
        with clock.frozen(clock.now() + LATER):
            assert job_outbox.sweep() == 0
        assert get_queue(app).count == 1


def _started_on_a_worker(app, last_beat: dt.timedelta) -> None:
    """The sign-up's mail job, taken by a worker whose heart beat `last_beat` before the sweep
    (which runs LATER than now)."""
    _user()
    rq_job = RqJob.fetch(rq_job_id(_mail_job().id), connection=redis_connection(app))
    get_queue(app).remove(rq_job)
    rq_job.set_status("started")
    rq_job.heartbeat(dt.datetime.now(dt.UTC) + LATER - last_beat, ttl=60)


@pytest.mark.redis
def test_a_job_whose_worker_died_mid_job_runs_again(redis_app):
    """RQ still says "started", but the worker has not beaten its heart for long."""
    app = redis_app
    with app.app_context():
        _started_on_a_worker(app, last_beat=dt.timedelta(minutes=30))
        with clock.frozen(clock.now() + LATER):
            assert job_outbox.sweep() == 1
        work_jobs(app)
        db.session.expire_all()
        assert db.session.scalars(select(Outbox)).one().status == "logged"


@pytest.mark.redis
def test_a_job_running_on_a_live_worker_is_left_alone(redis_app):
    app = redis_app
    with app.app_context():
        _started_on_a_worker(app, last_beat=dt.timedelta(0))
        with clock.frozen(clock.now() + LATER):
            assert job_outbox.sweep() == 0


def _failing_job(fail: bool = True) -> None:
    if fail:
        raise OSError("the mail server said no")


def test_a_failing_job_is_retried_with_backoff_then_given_up_and_an_admin_alerted(ctx):
    ctx.config["JOBS_RAISE"] = False
    start = clock.now()
    with clock.frozen(start):
        job_queue.enqueue(_failing_job)
        db.session.commit()
    record = db.session.scalars(select(BackgroundJob)).one()
    assert record.status == "pending" and record.attempts == 1
    assert record.run_after == start + dt.timedelta(seconds=job_queue.RETRY_BACKOFF[0])
    assert "the mail server said no" in record.last_error
    at = start
    for _ in range(job_queue.MAX_ATTEMPTS + 2):
        at += dt.timedelta(hours=2)
        with clock.frozen(at):
            job_outbox.sweep()
    db.session.expire_all()
    record = db.session.get(BackgroundJob, record.id)
    assert record.status == "failed" and record.attempts == job_queue.MAX_ATTEMPTS
    alert = db.session.scalars(select(Alert).where(Alert.kind == "job_failed")).one()
    assert alert.severity == "high" and alert.detail["path"].endswith(":_failing_job")


def test_a_job_that_succeeds_on_a_retry_is_done(ctx):
    ctx.config["JOBS_RAISE"] = False
    job_queue.enqueue(_failing_job)
    db.session.commit()
    record = db.session.scalars(select(BackgroundJob)).one()
    record.args = [False]  # the mail server is back
    db.session.commit()
    with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
        assert job_outbox.sweep() == 1
    db.session.expire_all()
    assert db.session.get(BackgroundJob, record.id).status == "done"


def test_done_jobs_are_forgotten_after_a_week(ctx):
    _user()
    db.session.commit()
    assert db.session.scalars(select(BackgroundJob)).one().status == "done"
    with clock.frozen(clock.now() + dt.timedelta(days=8)):
        job_outbox.sweep()
    assert db.session.scalars(select(BackgroundJob)).all() == []


RUNS: list[int] = []


def _long_job(job_tag: int) -> None:
    """Runs past its lease: the sweeper comes by while it is still running."""
    RUNS.append(job_tag)
    if len(RUNS) == 1:
        with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
            job_outbox.sweep()


def test_without_redis_a_job_still_running_is_not_started_again_by_the_sweeper(ctx):
    RUNS.clear()
    job_queue.enqueue(_long_job, 7)
    db.session.commit()
    assert RUNS == [7]
    assert db.session.scalars(select(BackgroundJob)).one().status == "done"


def test_a_closed_session_does_not_dispatch_its_jobs_at_a_later_commit(ctx):
    RUNS.clear()
    db.session.scalars(select(BackgroundJob)).all()  # a transaction is open
    job_queue.enqueue(_long_job, 1)
    db.session.close()  # no commit, no rollback event: the row was never written
    _user()
    db.session.commit()
    assert RUNS == []
    assert [j.path for j in db.session.scalars(select(BackgroundJob))] == ["services.mail:deliver"]


LONG_RUNS: list[str] = []
RELEASE = threading.Event()


@job_queue.long_running(3600)
def _transcode_like_job(tag: str) -> None:
    """A job that takes long (a video's processing): it runs until the test releases it."""
    LONG_RUNS.append(tag)
    assert RELEASE.wait(10), "never released"


def _job_row() -> BackgroundJob:
    db.session.expire_all()
    return db.session.scalars(select(BackgroundJob)).one()


def test_without_redis_a_long_job_runs_on_its_own_thread_and_keeps_its_lease(ctx, monkeypatch):
    """The request that queues a long job is not held by it; while it runs its heartbeat keeps
    the sweeper off it, and once it ends it is done."""
    monkeypatch.setattr(job_queue, "HEARTBEAT_SECONDS", 0.05)
    ctx.config["JOBS_LONG_IN_THREAD"] = True
    LONG_RUNS.clear()
    RELEASE.clear()
    job_queue.enqueue(_transcode_like_job, "a")
    db.session.commit()  # returns at once: the job waits for RELEASE on its thread
    deadline = time.monotonic() + 5
    while not LONG_RUNS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert LONG_RUNS == ["a"] and _job_row().status == "pending"
    leased = _job_row().run_after
    time.sleep(0.3)  # a few heartbeats
    assert _job_row().run_after > leased  # renewed while it runs
    with clock.frozen(clock.now() + dt.timedelta(minutes=1)):
        assert job_outbox.sweep() == 0  # alive: not started a second time
    RELEASE.set()
    deadline = time.monotonic() + 5
    while _job_row().status != "done" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _job_row().status == "done" and LONG_RUNS == ["a"]


def test_without_redis_a_long_job_whose_process_died_runs_again(ctx):
    """No heartbeat (its process is gone): past the short lease the sweeper starts it again."""
    ctx.config["JOBS_LONG_IN_THREAD"] = False
    LONG_RUNS.clear()
    RELEASE.set()
    with clock.frozen(clock.now() - dt.timedelta(hours=1)):
        record = BackgroundJob(
            path=job_queue.job_path(_transcode_like_job),
            args=["b"],
            kwargs={},
            run_after=clock.now() + job_queue.HEARTBEAT_LEASE,  # claimed, then its beat stopped
        )
        db.session.add(record)
        db.session.commit()
    assert job_outbox.sweep() == 1
    assert LONG_RUNS == ["b"] and _job_row().status == "done"


@pytest.mark.redis
def test_rq_gives_a_long_job_its_own_time_limit(redis_app):
    app = redis_app
    with app.app_context():
        job_queue.enqueue(_transcode_like_job, "c")
        db.session.commit()
        record = db.session.scalars(select(BackgroundJob)).one()
        rq_job = RqJob.fetch(rq_job_id(record.id), connection=redis_connection())
        assert rq_job.timeout == 3600  # RQ's default of 180 s would kill a transcode
