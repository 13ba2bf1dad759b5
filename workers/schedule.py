"""Periodic jobs (docs/jobs.md, docs/architecture.md#how-a-job-flows): the same functions whichever
way they run.

The table of jobs is `services/schedule.py: PERIODIC_JOBS`, handed in by whoever starts the
scheduler (this package sits below the services and imports none of them).

* With Redis: `flask worker` runs a `PeriodicEnqueuer` thread beside the RQ worker. A Redis
  `SET NX EX` per job and period makes sure that, however many workers run, each job is queued
  once per period.
* Embedded (no Redis): the web process runs a `PeriodicEnqueuer` thread that runs the jobs
  inline, so `make run` alone is a complete product.

Add a job by appending `(function, every_seconds)` to `services/schedule.py: PERIODIC_JOBS`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask
from redis.exceptions import RedisError

from workers.queue import _dispatch, job_path, redis_connection

log = logging.getLogger("amora.jobs")

PeriodicJobs = list[tuple[Callable[[], object], int]]

TICK_SECONDS = 5


class PeriodicEnqueuer(threading.Thread):
    def __init__(self, app: Flask, jobs: PeriodicJobs):
        super().__init__(name="amora-periodic", daemon=True)
        self.app = app
        self.jobs = jobs
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


def start_embedded(app: Flask, jobs: PeriodicJobs) -> None:
    """Start the in-process scheduler once per process (called on the first request)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = PeriodicEnqueuer(app, jobs)
            _embedded.start()
            log.info("embedded scheduler started (%d periodic jobs)", len(_embedded.jobs))
