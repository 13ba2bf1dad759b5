"""Provider webhooks: payments at `POST /webhooks/<provider>`, identity services at
`POST /webhooks/identity/<provider>` (no CSRF: providers sign instead)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.errors import NotFound
from extensions import csrf, limiter
from services import identity
from services.payments import orders
from services.payments.base import InvalidSignature
from services.payments.malformed import MalformedWebhook

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/identity/<provider>")
@limiter.limit("600 per minute")
def identity_result(provider: str):
    """An identity service's signed result (docs/identity.md#identity-services)."""
    body = request.get_data(cache=False)
    try:
        outcome = identity.handle_webhook(provider, body, dict(request.headers))
    except InvalidSignature as exc:
        return jsonify(error=exc.message), 400
    except NotFound as exc:
        return jsonify(error=exc.message), 404
    return jsonify(ok=True, outcome=outcome)


@bp.post("/<provider>")
@limiter.limit("600 per minute")
def receive(provider: str):
    body = request.get_data(cache=False)
    try:
        outcome = orders.handle_webhook(provider, body, dict(request.headers))
    except (InvalidSignature, MalformedWebhook) as exc:
        return jsonify(error=exc.message), 400
    except NotFound as exc:
        return jsonify(error=exc.message), 404
    return jsonify(ok=True, outcome=outcome)
