"""PostgreSQL connections are checked before use only when they have sat idle in the pool
(docs/jobs.md#database-connection-lost).

A connection given back less than `seconds` ago is handed out as it is: under load that is nearly
every checkout, and a check on each one was a round trip that cost a spend a tenth of a
millisecond of CPU on both sides (BENCHMARKS.md). A connection that sat longer is pinged first;
if the server is gone, every connection of the pool is replaced and the request carries on with
a new one. A connection that dies while in use is the error handlers' business, as before."""

from __future__ import annotations

import time

from sqlalchemy import Engine, event, exc

_IDLE_SINCE = "amora_idle_since"


def ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a connection on checkout when it has been idle for `seconds` or more."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from_now(dbapi_connection, record) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        # A new connection has no stamp (the pool clears `info` when it replaces one).
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The server restarted or dropped us: the other pooled connections are gone
                # too. The pool replaces them all and hands out a new one.
                raise exc.InvalidatePoolError(str(error)) from error
            raise
