"""Ledger jobs."""

from __future__ import annotations

from services import ledger


def release_earnings() -> int:
    """Daily (and safe more often): pending creator earnings past the hold become available."""
    return ledger.release_matured_earnings()
