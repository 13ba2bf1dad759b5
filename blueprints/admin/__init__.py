"""The admin console (`/admin`): staff with 2FA only: admins everywhere (`guards.admin_required`),
moderators on the safety pages (`guards.staff_required`); every action is audited by its
service. One blueprint, `admin` (`blueprint.py`), whose routes live by page family
in this package's modules; security analytics is its own blueprint, `admin_analytics`.

- `overview.py`: the front page, orders, the ledger's checks, the audit log;
- `payouts.py`: the payout queue;
- `users.py`: users, moderation reports, alerts;
- `content.py`: review before publication, copyright takedowns;
- `identity.py`: identity checks (documents and selfies, opened audited), releases;
- `appeals.py`: members' appeals against decisions;
- `analytics.py`: security analytics (`/admin/analytics`).
"""

from __future__ import annotations

from flask import Flask

from blueprints.admin import (  # noqa: F401 (routes)
    analytics,
    appeals,
    content,
    identity,
    overview,
    payouts,
    users,
)
from blueprints.admin.blueprint import bp


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(analytics.bp)
