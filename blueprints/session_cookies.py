"""The browser's session cookie, verified once per process and re-signed once a day
(docs/security.md#sessions-and-devices).

Flask's signed-cookie session checks the cookie's HMAC and parses its JSON on every request: a
serializer built anew, a key derived, the signature checked, the tagged JSON walked, some 5 % of
a page (BENCHMARKS.md, the pages entries). A cookie is the same string on every page of a
session, and what it says cannot change: each process keeps what the cookies it verified hold,
with the time they were signed, and gives each request its own copy. The age is checked on every
request against that time, as Flask does; a cookie that was changed by a byte is another string
and is verified as any new one.

A permanent session's cookie was also signed again on every response, so that it expires 30 days
after the last request. Here it is signed again once it is a day old: it expires 29 to 30 days
after the member's last day here. Any change to the session (a login, a flash) writes it at once,
as before. The login itself lives on the server (`UserSession`): revoking it ends it everywhere
at once, whatever the cookie says."""

from __future__ import annotations

import time

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from core import kept

TABLE = "amora_verified_cookies"
KEPT = 10_000  # cookies per process (core/kept.py: put)
REFRESH_AFTER_SECONDS = 24 * 60 * 60
_PLAIN = (str, int, float, bool, type(None))  # values a copy of the dict cannot share


class Session(SecureCookieSession):
    signed_at: float | None = None  # when its cookie was signed (None: no cookie yet)


class KeptCookieSessions(SecureCookieSessionInterface):
    session_class = Session

    def open_session(self, app: Flask, request: Request) -> Session | None:
        value = request.cookies.get(self.get_cookie_name(app))
        max_age = app.permanent_session_lifetime.total_seconds()
        verified = kept.table(TABLE).get(value) if value else None
        if verified is not None and time.time() - verified[0] <= max_age:
            return self._session(verified[1], verified[0])  # the session is a dict of its own
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        if not value:
            return self.session_class()
        try:
            data, signed = serializer.loads(value, max_age=int(max_age), return_timestamp=True)
        except BadSignature:
            return self.session_class()
        signed_at = signed.timestamp()
        if isinstance(data, dict) and all(isinstance(v, _PLAIN) for v in data.values()):
            kept.put(TABLE, value, (signed_at, dict(data)), KEPT)
        return self._session(data, signed_at)

    def _session(self, data: dict, signed_at: float) -> Session:
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app: Flask, session: Session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or time.time() - signed_at >= REFRESH_AFTER_SECONDS
