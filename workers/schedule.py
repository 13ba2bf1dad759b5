"""Periodic jobs (docs/jobs.md, docs/architecture.md#how-a-job-flows): the same functions whichever
way they run.

* With Redis: `flask worker` runs a `PeriodicEnqueuer` thread beside the RQ worker. A Redis
  `SET NX EX` per job and period makes sure that, however many workers run, each job is queued
  once per period.
* Embedded (no Redis): the web process runs a `PeriodicEnqueuer` thread that runs the jobs
  inline, so `make run` alone is a complete product.

Add a job by appending `(function, every_seconds)` to `PERIODIC_JOBS`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask
from redis.exceptions import RedisError

from workers import accounts as account_jobs
from workers import creator as creator_jobs
from workers import housekeeping
from workers import jobs as job_outbox
from workers import ledger as ledger_jobs
from workers import payments as payment_jobs
from workers import payouts as payout_jobs
from workers import random_chat as random_chat_jobs
from workers import risk as risk_jobs
from workers.queue import _dispatch, job_path, redis_connection

log = logging.getLogger("amora.jobs")

PERIODIC_JOBS: list[tuple[Callable[[], None], int]] = [
    (job_outbox.sweep, 30),  # jobs lost by Redis or a killed worker run again
    (housekeeping.purge_expired, 60 * 60),
    (housekeeping.settle_discover_weeks, 60 * 60),
    (ledger_jobs.release_earnings, 60 * 60),  # idempotent per day; hourly catches up after downtime
    (risk_jobs.sweep, 15 * 60),
    (creator_jobs.renew_subscriptions, 15 * 60),
    (creator_jobs.publish_scheduled_posts, 30),
    (payout_jobs.retry_due, 60),
    (payment_jobs.flag_long_waiting, 60 * 60),
    (random_chat_jobs.purge_transcripts, 60 * 60),
    (random_chat_jobs.sweep_calls, 10),
    (account_jobs.erase_due_accounts, 60 * 60),
    (account_jobs.expire_exports, 60 * 60),
]

TICK_SECONDS = 5


class PeriodicEnqueuer(threading.Thread):
    def __init__(self, app: Flask, jobs: list[tuple[Callable[[], None], int]] | None = None):
        super().__init__(name="amora-periodic", daemon=True)
        self.app = app
        self.jobs = jobs if jobs is not None else PERIODIC_JOBS
        self._next_run: dict[str, float] = {}
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run_due(self, at: float | None = None) -> list[str]:
        """Start every job whose period has come; returns the paths started."""
        at = time.time() if at is None else at
        started = []
        for func, every in self.jobs:
            path = job_path(func)
            if self.app.config.get("REDIS_URL"):
                # One enqueue per period across every process that runs a scheduler.
                key = f"amora:periodic:{path}"
                if not redis_connection(self.app).set(key, int(at), nx=True, ex=every):
                    continue
            elif at < self._next_run.get(path, 0):
                continue
            self._next_run[path] = at + every
            _dispatch(self.app, (path, (), {}))
            started.append(path)
        return started

    def run(self) -> None:
        redis_down = False
        while not self._halt.is_set():
            try:
                self.run_due()
                if redis_down:
                    log.warning("periodic jobs: Redis is back")
                redis_down = False
            except RedisError:
                if not redis_down:  # once per outage, not every tick
                    log.warning("periodic jobs wait: Redis is unreachable")
                redis_down = True
            except Exception:
                log.exception("periodic scheduler tick failed")
            self._halt.wait(TICK_SECONDS)


_embedded_lock = threading.Lock()
_embedded: PeriodicEnqueuer | None = None


def start_embedded(app: Flask) -> None:
    """Start the in-process scheduler once per process (called on the first request)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = PeriodicEnqueuer(app)
            _embedded.start()
            log.info("embedded scheduler started (%d periodic jobs)", len(_embedded.jobs))
