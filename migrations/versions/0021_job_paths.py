"""jobs are addressed by the service function that does the work

Before, a job's row named a thin wrapper in `workers/` (`workers.mail:deliver`); the wrappers are
gone and each service queues its own function. Rows still pending (or kept for a week once done)
are renamed so that the sweeper can still run them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 08:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

# old path -> new path
RENAMED = {
    "workers.mail:deliver": "services.mail:deliver",
    "workers.media:process": "services.media:process",
    "workers.messaging:send_mass_message": "services.mass_messages:deliver",
    "workers.ledger:run_check": "services.reconciliation:run",
    "workers.ledger:release_earnings": "services.ledger:release_matured_earnings",
    "workers.payments:deliver_webhook": "services.payments.orders:deliver_webhook",
    "workers.payments:flag_long_waiting": "services.payments.orders:flag_long_waiting",
    "workers.payouts:route": "services.payouts:route",
    "workers.payouts:execute": "services.payouts:execute",
    "workers.payouts:retry_due": "services.payouts:retry_due",
    "workers.risk:score_purchase": "services.risk:assess_purchase",
    "workers.risk:sweep": "services.risk:sweep",
    "workers.creator:renew_subscriptions": "services.subscriptions:renew_due",
    "workers.creator:publish_scheduled_posts": "services.posts:publish_due",
    "workers.random_chat:purge_transcripts": "services.random_chat:purge_transcripts",
    "workers.random_chat:sweep_calls": "services.calls:sweep",
    "workers.housekeeping:purge_expired": "services.housekeeping:purge_expired",
    "workers.housekeeping:settle_discover_weeks": "services.housekeeping:settle_discover_weeks",
    "workers.accounts:send_password_reset": "services.accounts:send_password_reset",
    "workers.accounts:build_export": "services.data_export:build_export",
    "workers.accounts:expire_exports": "services.data_export:expire_exports",
    "workers.accounts:erase_due_accounts": "services.erasure:erase_due_accounts",
}

jobs = sa.table("background_jobs", sa.column("path", sa.String))


def _rename(pairs) -> None:
    for old, new in pairs:
        op.execute(jobs.update().where(jobs.c.path == old).values(path=new))


def upgrade():
    _rename(RENAMED.items())


def downgrade():
    _rename((new, old) for old, new in RENAMED.items())
