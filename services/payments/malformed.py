"""Webhooks correctly signed but not shaped like the provider's events: an array or a string
for a body, a number where an id belongs, ids past any row's, text the database cannot store.
Providers retry an answer of 500 for days; such an event is refused once, with a 400 and the
reason, and logged as a warning for the operator."""

from __future__ import annotations

import logging
import math
from typing import Any

from core.errors import DomainError
from services.input import MAX_ID, has_unstorable_text
from services.payments.base import ProviderEvent

log = logging.getLogger("amora.payments")

# What walking an unexpected shape raises inside a provider's parser (`.get` on a list, a
# string indexed by a key, nesting deeper than the JSON decoder follows).
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, RecursionError)

# Text fields and their longest sensible value (the columns some are stored in).
TEXT_LIMITS = {
    "event_id": 200,
    "raw_type": 80,
    "provider_order_id": 200,
    "payment_id": 200,
    "currency": 8,
    "refund_id": 200,
    "dispute_id": 200,
    "reason": 2000,
}
MAX_AMOUNT = 2**63 - 1


class MalformedWebhook(DomainError):
    status = 400


def refuse(provider_name: str, problem: str) -> MalformedWebhook:
    log.warning("refused a signed %s webhook: %s", provider_name, problem)
    return MalformedWebhook(f"Malformed event: {problem}.")


def problem_with(event: ProviderEvent) -> str | None:
    """What makes a normalized event unusable, or None when it can be applied."""
    if not isinstance(event.event_id, str) or not event.event_id:
        return "no event id"
    for name, limit in TEXT_LIMITS.items():
        value = getattr(event, name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return f"{name} is not a string of at most {limit} characters"
    if event.order_id is not None and not 0 < event.order_id <= MAX_ID:
        return "order_id is not one of our order ids"
    for name in ("amount_minor", "refunded_minor"):
        value = getattr(event, name)
        if value is not None and not 0 <= value <= MAX_AMOUNT:
            return f"{name} is out of range"
    if has_unstorable_text(event.payload) or has_unstorable_text(
        [getattr(event, name) for name in TEXT_LIMITS]
    ):
        return "it contains NUL bytes or broken characters"
    if not _finite(event.payload):
        return "it contains NaN or Infinity"
    return None


def _finite(value: Any) -> bool:
    """JSON columns refuse NaN and Infinity, which Python's JSON decoder accepts."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True
