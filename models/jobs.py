"""The job outbox: every background job is written here in the transaction that needs it.

A row is the durable copy of a job; the queue (RQ on Redis, or the web process inline) only
carries it. Redis keeps nothing on disk and a worker can be killed mid-job, so a row that is not
`done` by its `run_after` is dispatched again by the sweeper (workers/jobs.py). Jobs are
idempotent: running one twice does what running it once did. See docs/jobs.md.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from extensions import db
from models.checks import one_of


class BackgroundJobStatus(StrEnum):
    PENDING = "pending"  # queued, running, or lost: the sweeper looks at it after run_after
    DONE = "done"
    FAILED = "failed"  # out of attempts


class BackgroundJob(db.Model):
    __tablename__ = "background_jobs"
    __table_args__ = (
        one_of("status", BackgroundJobStatus),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The sweeper's one question: which pending jobs are overdue?
        Index("ix_background_jobs_due", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))  # "services.mail:deliver"
    args: Mapped[list] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=BackgroundJobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)  # runs that raised
    dispatches: Mapped[int] = mapped_column(default=0)  # times the sweeper queued it again
    run_after: Mapped[dt.datetime]  # pending and not done by then: the sweeper looks at it
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[dt.datetime | None]
