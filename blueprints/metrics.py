"""`/metrics` for Prometheus, and the request timing behind its latency histogram.

Who may read it: with `METRICS_TOKEN` set, a request carrying `Authorization: Bearer <token>`;
without one, only a request from this machine (a loopback address, as the app sees it after
`TRUST_PROXY_HOPS`). Anyone else gets the same 404 as an unknown page.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request, request_started

from extensions import csrf, limiter
from services import metrics

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)

# Headers a reverse proxy adds. Without TRUST_PROXY_HOPS the app cannot tell the client behind
# them, and the proxy's own loopback address must not pass for a local scraper.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


@bp.get("/metrics")
@limiter.exempt
def scrape():
    if not _allowed():
        abort(404)
    registry = current_app.extensions["amora_metrics_registry"]
    body = metrics.exposition(registry)
    return Response(body, mimetype="text/plain", content_type=metrics.CONTENT_TYPE)


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        return _bearer_matches(token)
    return _from_this_machine()


def _bearer_matches(token: str) -> bool:
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(offered.strip().encode(), token.encode())


def _from_this_machine() -> bool:
    if not current_app.config.get("TRUST_PROXY_HOPS") and any(
        header in request.headers for header in PROXY_HEADERS
    ):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _start_timer(_app: Flask, **_extra) -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    # A WebSocket's "request" lasts as long as the chat is open: not a latency.
    if started is not None and request.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        metrics.observe_request(
            request.endpoint, request.method, response.status_code, time.perf_counter() - started
        )
    return response


def register(app: Flask) -> None:
    """Serve /metrics and time every request of `app`."""
    app.extensions["amora_metrics_registry"] = metrics.registry_for(app)
    # The signal comes before every before_request hook, so a request the rate limiter refuses
    # is timed too.
    request_started.connect(_start_timer, app)
    app.after_request(_observe)
    app.register_blueprint(bp)
