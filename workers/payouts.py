"""Payout jobs: score and route new requests, send approved payouts, retry the due ones."""

from __future__ import annotations

from services import payouts


def route(payout_id: int) -> str:
    """Risk-score a new request; small low-risk ones are approved (and sent) at once."""
    return payouts.route(payout_id)


def execute(payout_id: int) -> str:
    """Send one approved payout through its provider (idempotent, safe to rerun)."""
    return payouts.execute(payout_id)


def retry_due() -> dict[str, int]:
    """Periodic: payouts whose retry time came, or whose worker died mid-call."""
    return payouts.retry_due()
