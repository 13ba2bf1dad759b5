"""Sending money out (docs/payouts.md#sending): a Stripe Transfer to the creator's Connect account,
or a RazorpayX payout to their fund account. Each call carries the payout's idempotency key, so
however many times a payout is retried — after a timeout, or a worker killed mid-call — the provider
moves the money once.

Errors are sorted for the state machine: `Transient` (network, timeout, rate limit, the
provider's 5xx) is retried with backoff; `Permanent` (a bad account, a refused payout) fails the
payout and returns the credits.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
import stripe
from flask import current_app

from models import Payout, PayoutMethod

TIMEOUT_SECONDS = 20


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


@dataclass
class Result:
    state: str  # "paid" or "pending" (the provider is still moving it)
    ref: str


def idempotency_key(payout: Payout) -> str:
    return f"amora-payout-{payout.id}"


def send(payout: Payout, method: PayoutMethod) -> Result:
    if method.kind == "stripe":
        return _stripe_transfer(payout, method)
    if method.kind == "razorpayx":
        return _razorpayx_payout(payout, method)
    raise Permanent(f"{method.kind} payouts are made by hand")


def check(payout: Payout) -> Result | None:
    """Where a pending provider payout stands now (RazorpayX settles asynchronously)."""
    if payout.method_kind != "razorpayx" or not payout.provider_ref:
        return None
    data = _razorpayx("GET", f"/v1/payouts/{payout.provider_ref}")
    return _razorpayx_result(data)


# --- Stripe -----------------------------------------------------------------------------------


def _stripe_transfer(payout: Payout, method: PayoutMethod) -> Result:
    config = current_app.config
    if not config["STRIPE_SECRET_KEY"]:
        raise Transient("Stripe is not configured (STRIPE_SECRET_KEY)")
    client = stripe.StripeClient(
        config["STRIPE_SECRET_KEY"],
        base_addresses={"api": config["STRIPE_API_BASE"]},
        max_network_retries=0,  # our own retries keep the state machine's count
    )
    try:
        transfer = client.v1.transfers.create(
            params={
                "amount": payout.amount_minor,
                "currency": payout.currency.lower(),
                "destination": method.account_ref,
                "description": f"Amora payout {payout.id}",
                "metadata": {"payout_id": str(payout.id), "creator_id": str(payout.creator_id)},
            },
            options={"idempotency_key": idempotency_key(payout)},
        )
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise Transient(str(exc.user_message or exc)) from exc
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None) or 0
        message = str(getattr(exc, "user_message", None) or exc)
        if status >= 500 or status == 409:  # 409: the same key is still being processed
            raise Transient(message) from exc
        raise Permanent(message) from exc
    return Result(state="paid", ref=transfer.id)


# --- RazorpayX --------------------------------------------------------------------------------


def _razorpayx(method: str, path: str, body: dict | None = None, key: str | None = None) -> dict:
    config = current_app.config
    if not (config["RAZORPAY_KEY_ID"] and config["RAZORPAY_KEY_SECRET"]):
        raise Transient("Razorpay is not configured (RAZORPAY_KEY_ID/SECRET)")
    headers = {"X-Payout-Idempotency": key} if key else {}
    try:
        response = requests.request(
            method,
            config["RAZORPAY_API_BASE"].rstrip("/") + path,
            json=body,
            headers=headers,
            auth=(config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"]),
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise Transient(f"RazorpayX did not answer: {exc.__class__.__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"RazorpayX answered {response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise Transient("RazorpayX sent something that is not JSON") from exc
    if response.status_code >= 400:
        error = (data.get("error") or {}).get("description") or f"HTTP {response.status_code}"
        raise Permanent(f"RazorpayX refused the payout: {error}")
    return data


def _razorpayx_result(data: dict) -> Result:
    status = data.get("status")
    if status == "processed":
        return Result(state="paid", ref=data["id"])
    if status in ("queued", "pending", "processing", "scheduled"):
        return Result(state="pending", ref=data["id"])
    reason = (data.get("status_details") or {}).get("description") or status
    raise Permanent(f"RazorpayX payout {data.get('id')} {status}: {reason}")


def _razorpayx_payout(payout: Payout, method: PayoutMethod) -> Result:
    account_number = current_app.config["RAZORPAYX_ACCOUNT_NUMBER"]
    if not account_number:
        raise Transient("RazorpayX is not configured (RAZORPAYX_ACCOUNT_NUMBER)")
    data = _razorpayx(
        "POST",
        "/v1/payouts",
        {
            "account_number": account_number,
            "fund_account_id": method.account_ref,
            "amount": payout.amount_minor,
            "currency": payout.currency,
            "mode": "IMPS",
            "purpose": "payout",
            "queue_if_low_balance": True,
            "reference_id": f"amora-payout-{payout.id}",
            "narration": "Amora creator payout",
        },
        key=idempotency_key(payout),
    )
    return _razorpayx_result(data)
