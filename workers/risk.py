"""Risk jobs: purchase scoring on the worker, and the periodic sweep."""

from __future__ import annotations

from services import risk


def score_purchase(order_id: int) -> None:
    risk.assess_purchase(order_id)


def sweep() -> int:
    return risk.sweep()
