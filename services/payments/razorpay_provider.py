"""Razorpay: Orders through the `razorpay` SDK, Razorpay Checkout on our page, the payment
signature verified on return, webhooks verified with the SDK's utility
(docs/payments.md#razorpay)."""

from __future__ import annotations

import json

import razorpay
import requests
from flask import Flask, current_app

from models import Order
from services.payments.base import (
    Checkout,
    InvalidSignature,
    ProviderEvent,
    ProviderUnavailable,
    as_int,
)

CHECKOUT_SCRIPT = "https://checkout.razorpay.com/v1/checkout.js"


def client() -> razorpay.Client:
    config = current_app.config
    return razorpay.Client(
        auth=(config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"]),
        base_url=config["RAZORPAY_API_BASE"],
    )


class RazorpayProvider:
    name = "razorpay"
    label = "UPI, cards, netbanking (Razorpay)"
    currency = "INR"

    def enabled(self, app: Flask) -> bool:
        config = app.config
        return bool(
            config.get("RAZORPAY_KEY_ID")
            and config.get("RAZORPAY_KEY_SECRET")
            and config.get("RAZORPAY_WEBHOOK_SECRET")
        )

    def start(self, order: Order) -> Checkout:
        try:
            created = client().order.create(
                {
                    "amount": order.amount_minor,
                    "currency": order.currency,
                    "receipt": f"order-{order.id}",
                    "notes": {"order_id": str(order.id), "user_id": str(order.user_id)},
                }
            )
        except (
            razorpay.errors.BadRequestError,
            razorpay.errors.ServerError,
            razorpay.errors.GatewayError,
            requests.RequestException,
        ) as exc:
            raise ProviderUnavailable(
                "Razorpay could not start the payment. Please try again in a moment."
            ) from exc
        order.provider_order_id = created["id"]
        return Checkout(
            template="wallet/razorpay_checkout.html",
            context={
                "key_id": current_app.config["RAZORPAY_KEY_ID"],
                "razorpay_order_id": created["id"],
                "checkout_script": CHECKOUT_SCRIPT,
            },
        )

    def verify_return(self, razorpay_order_id: str, payment_id: str, signature: str) -> None:
        """The signature Razorpay Checkout hands the browser after paying (HMAC of
        order_id|payment_id with our key secret)."""
        try:
            client().utility.verify_payment_signature(
                {
                    "razorpay_order_id": razorpay_order_id,
                    "razorpay_payment_id": payment_id,
                    "razorpay_signature": signature,
                }
            )
        except razorpay.errors.SignatureVerificationError as exc:
            raise InvalidSignature("The payment signature is not valid.") from exc

    def fetch_payment(self, payment_id: str) -> ProviderEvent:
        """Ask Razorpay about a payment (after a verified return) as a normalized event."""
        try:
            payment = client().payment.fetch(payment_id)
        except (
            razorpay.errors.BadRequestError,
            razorpay.errors.ServerError,
            razorpay.errors.GatewayError,
            requests.RequestException,
        ) as exc:
            raise ProviderUnavailable("Razorpay did not answer; your payment is safe.") from exc
        status = payment.get("status")
        return ProviderEvent(
            event_id=f"return:{payment_id}:{status}",
            type="paid" if status == "captured" else "ignored",
            raw_type=f"payment.fetch.{status}",
            provider_order_id=payment.get("order_id"),
            payment_id=payment.get("id"),
            amount_minor=as_int(payment.get("amount")),
            currency=payment.get("currency"),
            payload=payment,
        )

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> ProviderEvent:
        signature = headers.get("X-Razorpay-Signature", "")
        try:
            text = body.decode()
            client().utility.verify_webhook_signature(
                text, signature, current_app.config["RAZORPAY_WEBHOOK_SECRET"]
            )
            raw = json.loads(text)
        except (razorpay.errors.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidSignature("Bad Razorpay signature.") from exc
        kind = raw.get("event", "")
        payload = raw.get("payload", {}) or {}
        payment = (payload.get("payment") or {}).get("entity") or {}
        event_id = headers.get("X-Razorpay-Event-Id") or f"{kind}:{payment.get('id')}"
        common = {"event_id": event_id, "raw_type": kind, "payload": raw}
        notes = payment.get("notes") or {}
        if kind in ("payment.captured", "order.paid"):
            order = (payload.get("order") or {}).get("entity") or {}
            return ProviderEvent(
                type="paid",
                order_id=as_int(notes.get("order_id")) if isinstance(notes, dict) else None,
                provider_order_id=payment.get("order_id") or order.get("id"),
                payment_id=payment.get("id"),
                amount_minor=as_int(payment.get("amount")),
                currency=payment.get("currency"),
                **common,
            )
        if kind == "payment.failed":
            return ProviderEvent(
                type="failed",
                provider_order_id=payment.get("order_id"),
                payment_id=payment.get("id"),
                reason=payment.get("error_description") or "The payment failed.",
                **common,
            )
        if kind == "refund.processed":
            refund = (payload.get("refund") or {}).get("entity") or {}
            return ProviderEvent(
                type="refunded",
                payment_id=refund.get("payment_id") or payment.get("id"),
                refund_id=refund.get("id"),
                amount_minor=as_int(payment.get("amount")),
                currency=refund.get("currency") or payment.get("currency"),
                refunded_minor=as_int(payment.get("amount_refunded"))
                if payment.get("amount_refunded") is not None
                else as_int(refund.get("amount")),
                **common,
            )
        if kind == "payment.dispute.created":
            dispute = (payload.get("dispute") or {}).get("entity") or {}
            return ProviderEvent(
                type="disputed",
                payment_id=dispute.get("payment_id") or payment.get("id"),
                dispute_id=dispute.get("id"),
                amount_minor=as_int(dispute.get("amount")),
                reason=dispute.get("reason_code"),
                **common,
            )
        return ProviderEvent(type="ignored", **common)
