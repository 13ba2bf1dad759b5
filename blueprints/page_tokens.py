"""The signed CSRF token of a page, signed once per session rather than once per page.

Flask-WTF signs the session's CSRF secret (`session["csrf_token"]`) on every request that shows a
form, with a new timestamp each time: an HMAC, base64 and a serializer built anew, some 3 % of a
page (BENCHMARKS.md, the pages entries). Tokens do not expire here (`WTF_CSRF_TIME_LIMIT` is
None: a token lives as long as its session), so the token signed the first time serves every
later page of that session: each process keeps the signed token of the secrets it has seen and
puts it where Flask-WTF looks first (`g.csrf_token`). Validation is Flask-WTF's, unchanged: the
token checked on a POST is the same signed secret either way."""

from __future__ import annotations

from flask import Flask, current_app, g, session

from core import kept

TABLE = "amora_page_tokens"
KEPT = 10_000  # sessions per process (core/kept.py: put)


def _field(app: Flask) -> str:
    return app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")


def reuse_signed_token() -> None:
    """Before a request: the token this session's secret was signed into, if this process
    signed it before."""
    app = current_app._get_current_object()
    field = _field(app)
    raw = session.get(field)
    if raw:
        token = kept.table(TABLE).get(raw)
        if token is not None:
            setattr(g, field, token)


def keep_signed_token(response):
    """After a request: keep the token Flask-WTF signed, if it signed one."""
    app = current_app._get_current_object()
    field = _field(app)
    raw, token = session.get(field), g.get(field)
    if raw and token and raw not in kept.table(TABLE):
        kept.put(TABLE, raw, token, KEPT)
    return response


def register(app: Flask) -> None:
    if app.config.get("WTF_CSRF_TIME_LIMIT") is None:  # else a kept token would grow old
        app.before_request(reuse_signed_token)
        app.after_request(keep_signed_token)
