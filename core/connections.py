"""How the app uses its PostgreSQL connections (docs/architecture.md#transactions).

- Checked before use only after sitting idle in the pool (docs/jobs.md#database-connection-lost).
  A connection given back less than `seconds` ago is handed out as it is: under load that is
  nearly every checkout, and a check on each one was a round trip that cost a spend a tenth of a
  millisecond of CPU on both sides (BENCHMARKS.md). A connection that sat longer is pinged
  first; if the server is gone, every connection of the pool is replaced and the request carries
  on with a new one. A connection that dies while in use is the error handlers' business.
- Plain reads run outside a transaction; the first statement that needs one opens it
  (`reads_outside_transactions`).
- A cursor's column descriptions are built only when read (`describe_columns_when_read`).
- Under gevent, psycopg waits for the server on gevent's hub directly
  (`cooperative_postgres_waits`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg
from psycopg import pq
from sqlalchemy import Engine, event, exc

_IDLE_SINCE = "amora_idle_since"
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open


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


# --- reads outside a transaction -------------------------------------------------------------

# What a statement may hold and still run outside a transaction: a plain SELECT. Row locks and
# advisory locks last until the transaction ends, `set_config(..., true)` holds for the rest of
# it, and a sequence or a NOTIFY is a write.
_NEEDS_TRANSACTION = (
    "FOR UPDATE",
    "FOR NO KEY UPDATE",
    "FOR SHARE",
    "FOR KEY SHARE",
    "pg_advisory",
    "set_config",
    "nextval",
    "setval",
    "pg_notify",
)
_KNOWN_READS_MAX = 4096


def is_plain_read(statement: str) -> bool:
    """Whether this SQL may run outside a transaction: a SELECT that holds nothing."""
    return statement.lstrip()[:6].upper() == "SELECT" and not any(
        marker in statement for marker in _NEEDS_TRANSACTION
    )


def reads_outside_transactions(engine: Engine) -> None:
    """PostgreSQL: run plain SELECTs in autocommit and open the transaction with the first
    statement that needs one (docs/architecture.md#transactions).

    Under READ COMMITTED, PostgreSQL's level here, every statement of a transaction reads its
    own snapshot anyway: a SELECT outside a transaction sees exactly what it would have seen
    inside one. What differs is only what a transaction holds until it ends (row and advisory
    locks, `set_config(..., true)`) and what it writes; such a statement, and every statement
    after it until the commit or rollback, runs in a transaction as before. A page that only
    reads then costs no BEGIN and no ROLLBACK: two round trips of its four or five."""
    reads: dict[str, bool] = {}

    def is_read(statement: str) -> bool:
        known = reads.get(statement)
        if known is None:
            known = is_plain_read(statement)
            if len(reads) >= _KNOWN_READS_MAX:
                reads.clear()
            reads[statement] = known
        return known

    dialect = engine.dialect

    def read_committed(dbapi_connection) -> bool:
        # The server's default level (read at the first connection) and no other asked for.
        return dialect.default_isolation_level == "READ COMMITTED" and (
            dbapi_connection.isolation_level in (None, psycopg.IsolationLevel.READ_COMMITTED)
        )

    @event.listens_for(engine, "checkout")
    def _reads_in_autocommit(dbapi_connection, _record, _proxy) -> None:
        if not dbapi_connection.autocommit and read_committed(dbapi_connection):
            dbapi_connection.autocommit = True

    @event.listens_for(engine, "before_cursor_execute")
    def _transaction_when_needed(connection, _cursor, statement, _params, context, _many):
        if "isolation_level" in connection.get_execution_options():
            return  # the caller chose (AUTOCOMMIT for CREATE INDEX CONCURRENTLY, say)
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection.autocommit:
            if not is_read(statement) or (
                context is not None and context.execution_options.get("stream_results")
            ):
                dbapi_connection.autocommit = False  # psycopg sends BEGIN before this one
        elif (
            dbapi_connection.info.transaction_status == _IDLE
            and is_read(statement)
            and read_committed(dbapi_connection)
        ):
            dbapi_connection.autocommit = True  # committed or rolled back: reads again


# --- column descriptions when read -------------------------------------------------------------


def describe_columns_when_read(engine: Engine) -> None:
    """PostgreSQL: a cursor's `description` builds its column objects only when something reads
    them. SQLAlchemy reads a statement's columns once, the first time it runs, and keeps what it
    learnt with the compiled statement; after that it only asks whether there are columns at
    all. psycopg built a column object per column per statement for that question: a fifth of
    the client's cost of loading a member's row (40 columns)."""

    @event.listens_for(engine, "connect")
    def _lazy_cursors(dbapi_connection, _record) -> None:
        dbapi_connection.cursor_factory = _Cursor


class _Cursor(psycopg.Cursor):
    __module__ = "core.connections"

    @property
    def description(self):
        result = self.pgresult
        if not result or not (result.nfields or result.status in _TUPLES):
            return None
        return _Columns(result, self._encoding, self.adapters)


_TUPLES = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK)


class _Columns(Sequence):
    """psycopg's columns of one result, built on first use."""

    __slots__ = ("pgresult", "_encoding", "adapters", "_built")

    def __init__(self, pgresult, encoding, adapters) -> None:
        self.pgresult, self._encoding, self.adapters = pgresult, encoding, adapters
        self._built = None

    def __len__(self) -> int:
        return self.pgresult.nfields

    def __getitem__(self, index):
        if self._built is None:
            # psycopg's Column reads the result, encoding and adapters of what it is given.
            self._built = [psycopg.Column(self, i) for i in range(self.pgresult.nfields)]
        return self._built[index]


def in_transaction_from_here(connection) -> None:
    """Run what comes next on `connection` in a transaction: for a write that goes straight to
    the driver (`core.sql.driver_row`), past the event that would have opened one."""
    raw = connection.connection.dbapi_connection
    if isinstance(raw, psycopg.Connection) and raw.autocommit:
        raw.autocommit = False  # psycopg sends BEGIN before the next statement


# --- waiting for the server under gevent -------------------------------------------------------


def cooperative_postgres_waits() -> None:
    """Under gevent (the production worker, gunicorn.conf.py): psycopg waits for its socket
    with one gevent watcher on the hub, as gevent's own sockets do, rather than through the
    patched `select.poll`, which builds a poll object, a watcher per call and a timeout for
    every wait: 15–18 µs of CPU of every statement's 75 (BENCHMARKS.md). A wait with a timeout
    (psycopg's connect and cancel) keeps psycopg's own. Other greenlets run meanwhile, and a
    gevent timeout or kill interrupts the wait, as before."""
    from gevent import get_hub  # noqa: PLC0415 (only a gevent process has it)
    from psycopg import waiting  # noqa: PLC0415

    fallback = waiting.wait
    if getattr(fallback, "amora_cooperative", False):
        return
    # libev/libuv event masks (gevent's READ and WRITE) for what psycopg waits for, and what
    # it is told back: a wait for both reports both (libpq tolerates a spurious readiness).
    events = {waiting.WAIT_R: 1, waiting.WAIT_W: 2, waiting.WAIT_RW: 3}
    ready = {
        waiting.WAIT_R: waiting.READY_R,
        waiting.WAIT_W: waiting.READY_W,
        waiting.WAIT_RW: waiting.READY_RW,
    }

    def wait(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
        if timeout is not None:
            return fallback(gen, fileno, interval, timeout)
        hub = get_hub()
        io = hub.loop.io
        try:
            state = next(gen)
            while True:
                watcher = io(fileno, events[state])
                try:
                    hub.wait(watcher)
                finally:
                    watcher.close()
                state = gen.send(ready[state])
        except StopIteration as done:
            return done.value

    wait.amora_cooperative = True
    waiting.wait = wait  # read by psycopg's Connection.wait at every wait
