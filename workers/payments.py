"""Payment jobs."""

from __future__ import annotations

from services.payments import orders


def deliver_webhook(provider_name: str, body: str, headers: dict[str, str]) -> str:
    """Deliver a webhook body to the pipeline (the dev checkout sends its events this way)."""
    return orders.handle_webhook(provider_name, body.encode(), headers)


def flag_long_waiting() -> int:
    """Refunds and disputes still waiting for their payment after a day: an admin alert."""
    return orders.flag_long_waiting()
