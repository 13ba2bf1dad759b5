"""Ledger jobs."""

from __future__ import annotations

from services import ledger


def release_earnings() -> int:
    """Daily (and safe more often): pending creator earnings past the hold become available."""
    return ledger.release_matured_earnings()


def run_check(check_id: int) -> None:
    """The admin's "check the ledger now": every invariant, with progress."""
    from services import reconciliation

    reconciliation.run(check_id)
