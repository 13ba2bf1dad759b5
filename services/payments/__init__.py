"""Payments (docs/payments.md): providers behind one interface, and the order pipeline.

Use `services.payments.orders` for creating orders and handling webhooks; `providers()` for the
ones this deployment has keys for.
"""

from __future__ import annotations

from flask import Flask, current_app

from services.payments.base import Provider
from services.payments.dev import DevProvider
from services.payments.razorpay_provider import RazorpayProvider
from services.payments.stripe_provider import StripeProvider

ALL_PROVIDERS: dict[str, Provider] = {
    "stripe": StripeProvider(),
    "razorpay": RazorpayProvider(),
    "dev": DevProvider(),
}


def providers(app: Flask | None = None) -> list[Provider]:
    """The providers with keys (and `dev` outside production), in display order."""
    app = app or current_app
    return [p for p in ALL_PROVIDERS.values() if p.enabled(app)]


def get_provider(name: str) -> Provider | None:
    provider = ALL_PROVIDERS.get(name)
    if provider is None or not provider.enabled(current_app):
        return None
    return provider
