"""Admin → Ledger (docs/ledger.md#reconciliation): the invariants of `flask ledger verify`, run on
demand by the worker with progress an admin can watch, and the system accounts' balances."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core import clock
from core.errors import Conflict, NotFound
from extensions import db
from models import LedgerCheck, LedgerCheckStatus, User
from models.ledger import SYSTEM_KINDS
from services import audit, ledger
from workers.queue import enqueue

log = logging.getLogger("amora.ledger")


def start(admin: User) -> LedgerCheck:
    running = db.session.scalar(select(LedgerCheck).where(LedgerCheck.is_in_progress))
    if running is not None:
        raise Conflict("A check is already running; watch it below.")
    check = LedgerCheck(requested_by=admin.id)
    db.session.add(check)
    db.session.flush()
    audit.record("ledger.check_started", actor_id=admin.id, target=("ledger_check", check.id))
    enqueue(run, check.id)
    db.session.commit()
    return check


def run(check_id: int) -> None:
    """Worker: run every invariant, committing progress as it goes."""
    check = db.session.get(LedgerCheck, check_id)
    if check is None or not check.is_in_progress:
        return
    check.status = LedgerCheckStatus.RUNNING
    db.session.commit()

    def progress(percent: int, _label: str) -> None:
        db.session.execute(
            LedgerCheck.__table__.update()
            .where(LedgerCheck.id == check_id)
            .values(progress=percent)
        )
        db.session.commit()

    try:
        violations = ledger.verify(progress)
    except Exception as exc:
        db.session.rollback()
        log.exception("ledger check %s failed", check_id)
        check = db.session.get(LedgerCheck, check_id)
        check.status, check.error = LedgerCheckStatus.FAILED, f"{exc.__class__.__name__}: {exc}"
        check.finished_at = clock.now()
        db.session.commit()
        return
    check = db.session.get(LedgerCheck, check_id)
    check.status = LedgerCheckStatus.DONE
    check.progress = 100
    check.violations = [{"invariant": v.invariant, "detail": v.detail} for v in violations]
    check.finished_at = clock.now()
    db.session.commit()


def latest(limit: int = 10) -> list[LedgerCheck]:
    return list(
        db.session.scalars(select(LedgerCheck).order_by(LedgerCheck.id.desc()).limit(limit))
    )


def get(check_id: int) -> LedgerCheck:
    check = db.session.get(LedgerCheck, check_id)
    if check is None:
        raise NotFound("There is no such check.")
    return check


def system_balances() -> list[tuple[str, int]]:
    return [(kind, ledger.system_balance(kind)) for kind in SYSTEM_KINDS]
