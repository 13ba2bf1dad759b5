"""A local HTTP server standing in for the Stripe and Razorpay APIs.

The real SDKs talk to it over HTTP (their base URL is configurable), so the tests check exactly
what we sent — path, form/JSON body, auth, idempotency headers — and the SDKs parse real JSON
answers. Webhooks are signed with the providers' real schemes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    form: dict
    json: dict | None


@dataclass
class ProviderStub:
    requests: list[Recorded] = field(default_factory=list)
    fail_next: int = 0
    payments: dict[str, dict] = field(default_factory=dict)
    # Payouts: what the provider really created, by idempotency key (a replayed key gets the
    # first answer back, as Stripe and RazorpayX do).
    created: dict[str, dict] = field(default_factory=dict)
    refuse_next: int = 0  # answer the next payout calls with a 400 (a bad account)
    stall: threading.Event | None = None  # hold payout calls until set (a worker killed mid-call)
    payout_status: str = "processing"  # what a new RazorpayX payout reports

    def __post_init__(self):
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()

    @Request.application
    def _app(self, request: Request) -> Response:
        raw = request.get_data(as_text=True)
        form = (
            {k: v[0] for k, v in parse_qs(raw).items()}
            if request.mimetype.endswith("x-www-form-urlencoded")
            else {}
        )
        body = json.loads(raw) if request.mimetype == "application/json" and raw else None
        self.requests.append(
            Recorded(request.method, request.path, dict(request.headers), form, body)
        )
        if self.fail_next:
            self.fail_next -= 1
            return Response(
                json.dumps({"error": {"message": "boom", "type": "api_error"}}),
                status=500,
                mimetype="application/json",
            )
        return self._answer(request, form, body)

    def _json(self, data: dict, status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, mimetype="application/json")

    def _payout_call(self, key: str | None, make) -> Response:
        if self.refuse_next:
            self.refuse_next -= 1
            return self._json(
                {
                    "error": {
                        "message": "No such destination",
                        "type": "invalid_request_error",
                        "code": "BAD_REQUEST_ERROR",
                        "description": "Invalid fund account",
                    }
                },
                400,
            )
        if self.stall is not None:
            self.stall.wait(30)  # the client may be gone by now; the provider goes on
        if key and key in self.created:
            return self._json(self.created[key])
        data = make(len(self.created) + 1)
        if key:
            self.created[key] = data
        return self._json(data)

    def _answer(self, request: Request, form: dict, body: dict | None) -> Response:
        if request.path == "/v1/transfers" and request.method == "POST":
            return self._payout_call(
                request.headers.get("Idempotency-Key"),
                lambda n: {
                    "id": f"tr_test_{n}",
                    "object": "transfer",
                    "amount": int(form["amount"]),
                    "currency": form["currency"],
                    "destination": form["destination"],
                },
            )
        if request.path == "/v1/payouts" and request.method == "POST":
            return self._payout_call(
                request.headers.get("X-Payout-Idempotency"),
                lambda n: {
                    "id": f"pout_test_{n}",
                    "entity": "payout",
                    "fund_account_id": body["fund_account_id"],
                    "amount": body["amount"],
                    "currency": body["currency"],
                    "status": self.payout_status,
                },
            )
        if request.path.startswith("/v1/payouts/") and request.method == "GET":
            payout_id = request.path.rsplit("/", 1)[1]
            for data in self.created.values():
                if data["id"] == payout_id:
                    return self._json({**data, "status": self.payout_status})
            return self._json({"error": {"description": "no such payout"}}, 400)
        if request.path == "/v1/checkout/sessions" and request.method == "POST":
            order_id = form.get("client_reference_id")
            data = {
                "id": f"cs_test_{order_id}",
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/cs_test_{order_id}",
                "client_reference_id": order_id,
                "payment_status": "unpaid",
                "status": "open",
            }
            return Response(json.dumps(data), mimetype="application/json")
        if request.path == "/v1/orders" and request.method == "POST":
            data = {
                "id": f"order_rzp_{body['notes']['order_id']}",
                "entity": "order",
                "amount": body["amount"],
                "currency": body["currency"],
                "receipt": body["receipt"],
                "status": "created",
            }
            return Response(json.dumps(data), mimetype="application/json")
        if request.path.startswith("/v1/payments/") and request.method == "GET":
            payment_id = request.path.rsplit("/", 1)[1]
            payment = self.payments.get(payment_id)
            if payment is None:
                return Response(
                    json.dumps(
                        {"error": {"code": "BAD_REQUEST_ERROR", "description": "no such payment"}}
                    ),
                    status=400,
                    mimetype="application/json",
                )
            return Response(json.dumps(payment), mimetype="application/json")
        return Response(
            json.dumps({"error": {"message": "unknown path"}}),
            status=404,
            mimetype="application/json",
        )


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def razorpay_signature(message: bytes | str, secret: str) -> str:
    """Razorpay's scheme: hex HMAC-SHA256 of the body (webhooks) or "order|payment" (returns)."""
    if isinstance(message, str):
        message = message.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def stripe_event(event_type: str, obj: dict, event_id: str = "evt_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "api_version": "2025-01-01",
            "data": {"object": obj},
        }
    ).encode()
