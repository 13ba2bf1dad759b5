"""The `dev` provider: our own checkout page with Pay and Decline (docs/payments.md#dev).

Pressing a button produces a webhook signed with HMAC-SHA256, delivered by a job to the same
pipeline as real providers (and accepted at `POST /webhooks/dev`). Refused in production.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from flask import Flask, current_app, url_for

from models import Order
from services.payments.base import Checkout, InvalidSignature, ProviderEvent, as_int

SIGNATURE_HEADER = "X-Amora-Signature"


def _secret() -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"amora dev payments webhook", hashlib.sha256).digest()


def sign(body: bytes) -> str:
    return hmac.new(_secret(), body, hashlib.sha256).hexdigest()


class DevProvider:
    name = "dev"
    label = "Test payment (dev)"
    currency = "USD"

    def enabled(self, app: Flask) -> bool:
        return bool(app.config.get("DEV_PAYMENTS")) and app.config["APP_ENV"] != "production"

    def start(self, order: Order) -> Checkout:
        order.provider_order_id = f"devorder_{order.id}"
        return Checkout(redirect_url=url_for("wallet.dev_checkout", order_id=order.id))

    def event_body(self, order: Order, outcome: str, **extra) -> bytes:
        """The webhook body the dev checkout sends for `outcome` (paid, failed, refunded…)."""
        payload = {
            "id": f"evt_dev_{secrets.token_hex(8)}",
            "type": f"payment.{outcome}",
            "order_id": order.id,
            "payment_id": f"devpay_{order.id}",
            "amount_minor": order.amount_minor,
            "currency": order.currency,
            **extra,
        }
        return json.dumps(payload, sort_keys=True).encode()

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(sign(body).encode(), signature.encode()):
            raise InvalidSignature("Bad signature.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidSignature("The body is not JSON.") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise InvalidSignature("The event has no id.")
        kinds = {
            "payment.succeeded": "paid",
            "payment.failed": "failed",
            "payment.refunded": "refunded",
            "payment.disputed": "disputed",
        }
        raw_type = str(payload.get("type", ""))
        return ProviderEvent(
            event_id=payload["id"],
            type=kinds.get(raw_type, "ignored"),
            raw_type=raw_type,
            order_id=as_int(payload.get("order_id")),
            payment_id=payload.get("payment_id"),
            amount_minor=as_int(payload.get("amount_minor")),
            currency=payload.get("currency"),
            refunded_minor=as_int(payload.get("refunded_minor")),
            refund_id=payload.get("refund_id"),
            dispute_id=payload.get("dispute_id"),
            reason=payload.get("reason"),
            payload=payload,
        )
