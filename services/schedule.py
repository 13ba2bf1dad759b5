"""What runs on a timer, and how often (docs/jobs.md#periodic-jobs).

The scheduler (`workers/schedule.py`) is handed this table by whoever starts it: `flask worker`
with Redis, the web process in the embedded mode. Each entry is a service function that takes
no arguments and is safe to run again (a missed or doubled run changes nothing).
"""

from __future__ import annotations

from services import (
    calls,
    data_export,
    erasure,
    housekeeping,
    identity,
    ledger,
    media,
    payouts,
    posts,
    random_chat,
    risk,
    subscriptions,
)
from services.payments import orders
from workers import jobs as job_outbox
from workers.schedule import PeriodicJobs

PERIODIC_JOBS: PeriodicJobs = [
    (job_outbox.sweep, 30),  # jobs lost by Redis or a killed worker run again
    (housekeeping.purge_expired, 60 * 60),
    (housekeeping.settle_discover_weeks, 60 * 60),
    (ledger.release_matured_earnings, 60 * 60),  # idempotent per day; hourly catches up
    (risk.sweep, 15 * 60),
    (subscriptions.renew_due, 15 * 60),
    (posts.publish_due, 30),
    (payouts.retry_due, 60),
    (orders.flag_long_waiting, 60 * 60),
    (random_chat.purge_transcripts, 60 * 60),
    (calls.sweep, 10),
    (erasure.erase_due_accounts, 60 * 60),
    (data_export.expire_exports, 60 * 60),
    (media.abort_abandoned_uploads, 60 * 60),
    (identity.purge_decided_files, 60 * 60),
]
