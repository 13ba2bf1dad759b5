"""What every payment provider offers the order pipeline.

A provider turns an order into a checkout (a redirect or a page of ours), and turns a webhook
request into normalized `ProviderEvent`s after verifying its signature. Everything else — amount
checks, granting credits once, refunds, disputes — is the same for all providers and lives in
`services/payments/orders.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask

from core.errors import DomainError
from models import Order


class InvalidSignature(DomainError):
    """The webhook was not signed by the provider with our secret (forged, replayed, or old)."""


class ProviderUnavailable(DomainError):
    status = 502


@dataclass
class Checkout:
    """Where to send the buyer: `redirect_url`, or our own page `template` with `context`."""

    redirect_url: str | None = None
    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProviderEvent:
    """One webhook, normalized.

    type: "paid", "failed", "refunded", "disputed", or "ignored" (unknown or not actionable).
    The order is found by our id (`order_id`), the provider's order id, or the payment id.
    `refunded_minor` is cumulative: everything refunded on this payment so far.
    """

    event_id: str
    type: str
    raw_type: str
    order_id: int | None = None
    provider_order_id: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    refunded_minor: int | None = None
    refund_id: str | None = None
    dispute_id: str | None = None
    reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str
    label: str
    currency: str

    def enabled(self, app: Flask) -> bool: ...

    def start(self, order: Order) -> Checkout: ...

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent: ...


def as_int(value: Any) -> int | None:
    """An integer amount from a JSON payload, or None (never a float)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
