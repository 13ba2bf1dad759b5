"""Stripe: Checkout Sessions through the `stripe` SDK; webhooks verified with
`stripe.Webhook.construct_event` (docs/payments.md#stripe)."""

from __future__ import annotations

import stripe
from flask import Flask, current_app, url_for

from models import Order
from services.payments.base import (
    Checkout,
    InvalidSignature,
    ProviderEvent,
    ProviderUnavailable,
    as_int,
)


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        current_app.config["STRIPE_SECRET_KEY"],
        base_addresses={"api": current_app.config["STRIPE_API_BASE"]},
        max_network_retries=2,
    )


def _external(endpoint: str, **values) -> str:
    return current_app.config["BASE_URL"] + url_for(endpoint, **values)


class StripeProvider:
    name = "stripe"
    label = "Card (Stripe)"
    currency = "USD"

    def enabled(self, app: Flask) -> bool:
        return bool(app.config.get("STRIPE_SECRET_KEY") and app.config.get("STRIPE_WEBHOOK_SECRET"))

    def start(self, order: Order) -> Checkout:
        params = {
            "mode": "payment",
            "client_reference_id": str(order.id),
            "customer_email": order.user.email,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.amount_minor,
                        "product_data": {"name": f"{order.credits} Amora credits"},
                    },
                }
            ],
            "metadata": {
                "order_id": str(order.id),
                "user_id": str(order.user_id),
                "credits": str(order.credits),
            },
            "payment_intent_data": {"metadata": {"order_id": str(order.id)}},
            "success_url": _external("wallet.order", order_id=order.id),
            "cancel_url": _external("wallet.order", order_id=order.id, cancelled=1),
        }
        try:
            session = _client().v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"amora-order-{order.id}"}
            )
        except stripe.StripeError as exc:
            raise ProviderUnavailable(
                "Stripe could not start the payment. Please try again in a moment."
            ) from exc
        order.provider_order_id = session.id
        return Checkout(redirect_url=session.url)

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        try:
            event = stripe.Webhook.construct_event(
                body, headers.get("Stripe-Signature"), current_app.config["STRIPE_WEBHOOK_SECRET"]
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature("Bad Stripe signature.") from exc
        raw = event.to_dict()
        obj = raw.get("data", {}).get("object", {}) or {}
        kind = raw.get("type", "")
        common = {"event_id": raw.get("id", ""), "raw_type": kind, "payload": raw}
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            if obj.get("payment_status") != "paid":
                return ProviderEvent(type="ignored", reason="payment not settled yet", **common)
            return ProviderEvent(
                type="paid",
                order_id=as_int(obj.get("client_reference_id")),
                provider_order_id=obj.get("id"),
                payment_id=obj.get("payment_intent"),
                amount_minor=as_int(obj.get("amount_total")),
                currency=(obj.get("currency") or "").upper(),
                **common,
            )
        if kind == "checkout.session.async_payment_failed":
            return ProviderEvent(
                type="failed",
                order_id=as_int(obj.get("client_reference_id")),
                provider_order_id=obj.get("id"),
                reason="The bank declined the payment.",
                **common,
            )
        if kind == "charge.refunded":
            return ProviderEvent(
                type="refunded",
                payment_id=obj.get("payment_intent"),
                amount_minor=as_int(obj.get("amount")),
                currency=(obj.get("currency") or "").upper(),
                refunded_minor=as_int(obj.get("amount_refunded")),
                **common,
            )
        if kind == "charge.dispute.created":
            return ProviderEvent(
                type="disputed",
                payment_id=obj.get("payment_intent"),
                dispute_id=obj.get("id"),
                amount_minor=as_int(obj.get("amount")),
                reason=obj.get("reason"),
                **common,
            )
        return ProviderEvent(type="ignored", **common)
