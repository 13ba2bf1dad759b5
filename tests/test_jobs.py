"""The job facade: after-commit dispatch, inline in embedded mode, RQ with Redis; periodic jobs."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from core import clock
from extensions import db
from models import EmailToken, Outbox, User, UserSession
from services import accounts, housekeeping, mail, sessions
from workers.queue import (
    InlineJobWorker,
    JobWorker,
    enqueue,
    get_queue,
    redis_connection,
    set_worker_app,
)
from workers.schedule import PeriodicEnqueuer

GOOD = "plum-orbit-kettle-42"


def _user(email="ana@example.com") -> User:
    return accounts.sign_up(email, GOOD, "Ana", dt.date(1990, 1, 1))


def test_embedded_mode_delivers_mail_inline_after_commit(ctx):
    _user()
    message = db.session.scalars(select(Outbox)).one()
    assert message.status == "logged" and message.sent_at is not None


def test_a_rolled_back_transaction_sends_nothing(ctx):
    user = _user()
    mail.send(user, user.email, "test", "Never", "verify_email", link="x", hours=1)
    db.session.rollback()
    assert [m.kind for m in db.session.scalars(select(Outbox))] == ["verify_email"]


@pytest.mark.redis
def test_with_redis_mail_goes_through_rq_and_the_worker_delivers_it(redis_app):
    app = redis_app
    with app.app_context():
        _user()
        message = db.session.scalars(select(Outbox)).one()
        assert message.status == "queued"  # nothing delivered in the web process
        queue = get_queue(app)
        assert queue.count == 1
        set_worker_app(app)
        InlineJobWorker([queue], connection=redis_connection(app)).work(burst=True)
        db.session.expire_all()
        assert db.session.get(Outbox, message.id).status == "logged"
        assert queue.count == 0


@pytest.mark.redis
def test_a_stopping_worker_does_not_wait_a_minute_for_its_command_thread(redis_app):
    """The end of `flask worker --burst`, or a SIGTERM: RQ's command thread polls every 60 s,
    and when it had read the unsubscribe reply before being told to stop, the exit waited for
    that poll (a burst run in the suite took exactly 60 s)."""
    worker = JobWorker([get_queue(redis_app)], connection=redis_connection(redis_app))
    worker.subscribe()
    worker.pubsub.unsubscribe()  # the thread reads the reply and waits for a subscription
    deadline = time.monotonic() + 5
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.pubsub.subscribed
    started = time.monotonic()
    worker.unsubscribe()
    assert time.monotonic() - started < 10
    assert not worker.pubsub_thread.is_alive()


@pytest.mark.redis
def test_nothing_is_queued_before_the_commit(redis_app):
    app = redis_app
    with app.app_context():
        user = _user()
        queue = get_queue(app)
        queue.empty()
        mail.send(user, user.email, "test", "Later", "verify_email", link="x", hours=1)
        assert queue.count == 0
        db.session.commit()
        assert queue.count == 1


def test_mail_delivery_is_idempotent(ctx):
    _user()
    message = db.session.scalars(select(Outbox)).one()
    sent_at = message.sent_at
    mail.deliver(message.id)
    mail.deliver(message.id)
    db.session.refresh(message)
    assert message.attempts == 1 and message.sent_at == sent_at


def test_housekeeping_purges_old_tokens_and_sessions(ctx):
    start = dt.datetime(2026, 1, 1, 12)
    with clock.frozen(start):
        user = _user()
        sessions.start_session(user, None, "old")
    with clock.frozen(start + dt.timedelta(days=100)):
        fresh = sessions.start_session(user, None, "new")
        housekeeping.purge_expired()
        assert db.session.scalars(select(EmailToken)).all() == []
        remaining = db.session.scalars(select(UserSession)).all()
        assert [s.user_agent for s in remaining] == ["new"]
        assert sessions.load_session_user(user.id, fresh) is not None


def test_embedded_periodic_jobs_run_once_per_period(ctx):
    runs = []

    def job():
        runs.append(1)

    job.__module__ = __name__
    globals()["_probe_job"] = job
    job.__qualname__ = "_probe_job"
    scheduler = PeriodicEnqueuer(ctx, [(job, 60)])
    assert scheduler.run_due(at=1000.0) == [f"{__name__}:_probe_job"]
    assert scheduler.run_due(at=1030.0) == []
    assert scheduler.run_due(at=1061.0) != []
    assert len(runs) == 2


@pytest.mark.redis
def test_with_redis_each_period_is_queued_once_across_schedulers(redis_app):
    app = redis_app
    with app.app_context():
        first = PeriodicEnqueuer(app, [(housekeeping.purge_expired, 3600)])
        second = PeriodicEnqueuer(app, [(housekeeping.purge_expired, 3600)])
        assert first.run_due() and not second.run_due() and not first.run_due()
        assert get_queue(app).count == 1


def test_enqueue_outside_a_transaction_runs_at_once(ctx):
    user = _user()
    db.session.commit()
    enqueue(housekeeping.purge_expired)  # no open transaction: dispatched immediately
    assert db.session.get(User, user.id) is not None


def test_the_periodic_thread_stops_and_joins_cleanly(ctx):
    """threading.Thread calls its own `_stop()` when the thread ends (and in a forked child,
    such as RQ's work horse): the scheduler must not hide it behind an attribute."""
    scheduler = PeriodicEnqueuer(ctx, [])
    scheduler.start()
    scheduler.stop()
    scheduler.join(timeout=10)  # raised "'Event' object is not callable" when shadowed
    assert not scheduler.is_alive()
