"""Identity services an operator may plug in instead of the manual review (docs/identity.md#
identity-services): the member is sent to the service's page, and the service's result comes
back as a signed webhook (`POST /webhooks/identity/<name>`), which decides the request as a
reviewer would.

A provider has `name`, `label`, `enabled(app)`, `start(request) -> URL` (it records its session
id on the request, `provider_ref`) and `parse_webhook(body, headers) -> Result` (which refuses a
bad signature with `InvalidSignature`). `dev` is built in: a page of our own that plays the
service, with Approve and Reject, whose webhook is signed with HMAC-SHA256 and delivered by a
job, like the `dev` payment provider. Refused in production.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from flask import Flask, current_app, url_for

from models import VerificationRequest
from services.payments.base import InvalidSignature

SIGNATURE_HEADER = "X-Amora-Signature"


@dataclass(frozen=True)
class Result:
    """What an identity service decided about one of its sessions."""

    event_id: str
    session: str  # the provider's session id: `VerificationRequest.provider_ref`
    approved: bool
    reason: str | None = None  # a rejection's reason, shown to the member
    document_type: str | None = None


def _secret() -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"amora dev identity webhook", hashlib.sha256).digest()


def sign(body: bytes) -> str:
    return hmac.new(_secret(), body, hashlib.sha256).hexdigest()


class DevIdentityProvider:
    name = "dev"
    label = "the test identity service (dev)"

    def enabled(self, app: Flask) -> bool:
        chosen = app.config.get("IDENTITY_PROVIDER") == "dev"
        return chosen and app.config["APP_ENV"] != "production"

    def start(self, request: VerificationRequest) -> str:
        request.provider_ref = request.provider_ref or f"devid_{secrets.token_hex(12)}"
        return url_for("settings.dev_identity", ref=request.provider_ref)

    def event_body(self, request: VerificationRequest, approved: bool, reason: str | None) -> bytes:
        payload = {
            "id": f"evt_devid_{secrets.token_hex(8)}",
            "type": "check.approved" if approved else "check.rejected",
            "session": request.provider_ref,
            "document_type": "passport" if approved else None,
            "reason": reason,
        }
        return json.dumps(payload, sort_keys=True).encode()

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> Result:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(sign(body).encode(), signature.encode()):
            raise InvalidSignature("Bad signature.")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidSignature("The body is not JSON.") from exc
        if not isinstance(payload, dict):
            raise InvalidSignature("The body is not an event.")
        kind, session = payload.get("type"), payload.get("session")
        if kind not in ("check.approved", "check.rejected") or not isinstance(session, str):
            raise InvalidSignature("Not a check result.")
        reason = payload.get("reason")
        document = payload.get("document_type")
        return Result(
            event_id=str(payload.get("id", "")),
            session=session,
            approved=kind == "check.approved",
            reason=reason if isinstance(reason, str) else None,
            document_type=document if isinstance(document, str) else None,
        )


PROVIDERS = {provider.name: provider for provider in (DevIdentityProvider(),)}


def active() -> DevIdentityProvider | None:
    """The identity service the operator switched on (IDENTITY_PROVIDER), or None: manual."""
    provider = PROVIDERS.get(current_app.config.get("IDENTITY_PROVIDER") or "manual")
    return provider if provider is not None and provider.enabled(current_app) else None


def get(name: str) -> DevIdentityProvider | None:
    provider = PROVIDERS.get(name)
    return provider if provider is not None and provider.enabled(current_app) else None
