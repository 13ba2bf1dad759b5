"""What `/metrics` reports, in the Prometheus text format.

Two kinds of numbers:

* counted as they happen, in this process: request latency (`observe_request`) and open chat
  sockets (`socket_opened`/`socket_closed`). With several gunicorn workers each process counts
  its own, and a scrape reaches one of them (docs/deployment.md).
* read when scraped, for the whole site: the job queue, the outboxes and the last ledger check.
  Each is one small query; a part that cannot be read reports `amora_collector_up 0` instead of
  failing the scrape.

Another outbox joins the backlog metrics by appending a function to `BACKLOGS`.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Flask
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from core import clock
from extensions import db
from models import (
    BackgroundJob,
    BackgroundJobStatus,
    LedgerCheck,
    LedgerCheckStatus,
    Outbox,
    OutboxStatus,
)

log = logging.getLogger("amora.metrics")

# Not in prometheus_client's global registry: each app builds its own (the tests build many).
REQUEST_SECONDS = Histogram(
    "amora_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint, method and status class.",
    ["endpoint", "method", "status"],
    registry=None,
)
OPEN_SOCKETS = Gauge(
    "amora_websockets_open",
    "Chat sockets (/ws) open in this process.",
    registry=None,
)

# Anything else a client sends would make a new time series per made-up method.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request. The endpoint name, not the path, keeps the series bounded
    (`/creators/<id>` is one series, not one per creator); no endpoint means no route matched."""
    REQUEST_SECONDS.labels(
        endpoint or "unmatched",
        method if method in KNOWN_METHODS else "other",
        f"{status // 100}xx",
    ).observe(seconds)


def socket_opened() -> None:
    OPEN_SOCKETS.inc()


def socket_closed() -> None:
    OPEN_SOCKETS.dec()


# --- read at scrape time ------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """Rows of an outbox still waiting to be handled, and when the oldest was written."""

    outbox: str
    waiting: int
    oldest_at: dt.datetime | None


def mail_backlog() -> Backlog:
    queued = Outbox.status == OutboxStatus.QUEUED
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(Outbox.created_at)).where(queued)
    ).one()
    return Backlog("mail", waiting, oldest)


def _jobs(status: BackgroundJobStatus, outbox: str) -> Backlog:
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(BackgroundJob.created_at)).where(
            BackgroundJob.status == status
        )
    ).one()
    return Backlog(outbox, waiting, oldest)


def job_backlog() -> Backlog:
    """Background jobs not done yet (queued, running, or waiting out a retry)."""
    return _jobs(BackgroundJobStatus.PENDING, "jobs")


def failed_jobs() -> Backlog:
    """Background jobs that gave up (each also raised an admin alert)."""
    return _jobs(BackgroundJobStatus.FAILED, "jobs_failed")


BACKLOGS: list[Callable[[], Backlog]] = [mail_backlog, job_backlog, failed_jobs]


@dataclass(frozen=True)
class QueueState:
    name: str
    queued: int
    oldest_enqueued_at: dt.datetime | None
    failed: int


# A scrape must not hang on a Redis that stopped answering: short timeouts, its own client.
REDIS_TIMEOUT_SECONDS = 1.0


@functools.cache
def _redis(url: str) -> Redis:
    return Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def queue_state(redis_url: str, queue_name: str) -> QueueState:
    queue = Queue(queue_name, connection=_redis(redis_url))
    oldest = None
    for job_id in queue.get_job_ids(0, 1):  # the head of the queue: the job waiting longest
        job = queue.fetch_job(job_id)
        oldest = job.enqueued_at if job is not None else None
    return QueueState(queue_name, queue.count, _naive_utc(oldest), queue.failed_job_registry.count)


def _naive_utc(at: dt.datetime | None) -> dt.datetime | None:
    """RQ's times are UTC, with or without a zone depending on its version; ours have none."""
    if at is None or at.tzinfo is None:
        return at
    return at.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LedgerCheckState:
    finished_at: dt.datetime
    clean: bool
    violations: int


def last_ledger_check() -> LedgerCheckState | None:
    """The newest check that finished; a failed run (an error, not a violation) is not clean."""

    check = db.session.scalars(
        select(LedgerCheck)
        .where(LedgerCheck.finished_at.is_not(None))
        .order_by(LedgerCheck.finished_at.desc(), LedgerCheck.id.desc())
        .limit(1)
    ).first()
    if check is None:
        return None
    violations = len(check.violations or [])
    clean = check.status == LedgerCheckStatus.DONE and violations == 0
    return LedgerCheckState(check.finished_at, clean, violations)


def _age_seconds(at: dt.datetime | None) -> float:
    return max(0.0, (clock.now() - at).total_seconds()) if at is not None else 0.0


def _epoch_seconds(at: dt.datetime) -> float:
    return at.replace(tzinfo=dt.UTC).timestamp()


class SiteCollector(Collector):
    """The numbers read when Prometheus scrapes, for the app it was made with."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "amora_collector_up",
            "1 when this part of /metrics could be read on this scrape, 0 when it failed.",
            labels=["collector"],
        )
        with self.app.app_context():
            for name, part in self._parts():
                try:
                    yield from part()
                    up.add_metric([name], 1)
                except Exception:
                    log.exception("metrics: could not read %s", name)
                    db.session.rollback()
                    up.add_metric([name], 0)
            db.session.remove()
        yield up

    def _parts(self) -> list[tuple[str, Callable[[], Iterator[Metric]]]]:
        parts = [("outbox", self._backlogs), ("ledger_check", self._ledger_check)]
        if self.app.config.get("REDIS_URL"):
            parts.append(("queue", self._queue))
        return parts

    def _backlogs(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "amora_outbox_backlog", "Outbox rows still waiting to be handled.", labels=["outbox"]
        )
        age = GaugeMetricFamily(
            "amora_outbox_oldest_age_seconds",
            "Age of the oldest waiting outbox row (0 when none waits).",
            labels=["outbox"],
        )
        for read in BACKLOGS:
            backlog = read()
            waiting.add_metric([backlog.outbox], backlog.waiting)
            age.add_metric([backlog.outbox], _age_seconds(backlog.oldest_at))
        yield from (waiting, age)

    def _queue(self) -> Iterator[Metric]:
        state = queue_state(self.app.config["REDIS_URL"], self.app.config["RQ_QUEUE"])
        for name, doc, value in (
            ("amora_queue_jobs", "Jobs waiting in the RQ queue.", state.queued),
            (
                "amora_queue_oldest_job_age_seconds",
                "How long the job at the head of the RQ queue has waited (0 when empty).",
                _age_seconds(state.oldest_enqueued_at),
            ),
            ("amora_queue_failed_jobs", "Jobs in the RQ failed-job registry.", state.failed),
        ):
            metric = GaugeMetricFamily(name, doc, labels=["queue"])
            metric.add_metric([state.name], value)
            yield metric

    def _ledger_check(self) -> Iterator[Metric]:
        state = last_ledger_check()
        if state is None:
            return  # no check has finished yet: absent, which alerting rules can tell apart
        yield GaugeMetricFamily(
            "amora_ledger_check_finished_timestamp_seconds",
            "When the last finished ledger check (flask ledger verify's invariants) ended.",
            value=_epoch_seconds(state.finished_at),
        )
        yield GaugeMetricFamily(
            "amora_ledger_check_clean",
            "1 when the last finished ledger check found no violation, 0 otherwise.",
            value=1 if state.clean else 0,
        )
        yield GaugeMetricFamily(
            "amora_ledger_check_violations",
            "Violations the last finished ledger check found.",
            value=state.violations,
        )


def registry_for(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # this process's CPU, memory and open files
    registry.register(REQUEST_SECONDS)
    registry.register(OPEN_SOCKETS)
    registry.register(SiteCollector(app))
    return registry


CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
