"""Periodic clean-up of rows that have no use once expired."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, or_

from core import clock
from extensions import db
from models import EmailToken, UserSession
from services import discover

log = logging.getLogger("amora.jobs")

TOKEN_KEEP = dt.timedelta(days=7)
SESSION_KEEP = dt.timedelta(days=90)


def purge_expired() -> None:
    """Delete email tokens a week after they expired or were used, and sessions revoked or idle
    for 90 days (the session list and audit needs are served well before that)."""
    now = clock.now()
    tokens = db.session.execute(
        delete(EmailToken).where(
            or_(EmailToken.expires_at < now - TOKEN_KEEP, EmailToken.used_at < now - TOKEN_KEEP)
        )
    ).rowcount
    sessions = db.session.execute(
        delete(UserSession).where(
            or_(
                UserSession.revoked_at < now - SESSION_KEEP,
                UserSession.last_seen_at < now - SESSION_KEEP,
            )
        )
    ).rowcount
    db.session.commit()
    if tokens or sessions:
        log.info("purged %d old email tokens and %d old sessions", tokens, sessions)


def settle_discover_weeks() -> int:
    """Fold the weeks of recency older than discover.RECENT_WEEKS into week 0, so that the
    match pool lists a few weeks (hourly: a week's worth of people folds at most once)."""
    changed = discover.settle_recent_weeks()
    if changed:
        log.info("folded %d profiles' week of recency into week 0", changed)
    return changed
