"""SQL helpers shared by services."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import functools
import json
import weakref

import psycopg
from sqlalchemy import (
    Connection,
    Integer,
    Select,
    TextClause,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy import inspect as inspect_mapped
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import attributes
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import JSON

from core.connections import in_transaction_from_here, is_plain_read
from extensions import db


def insert_ignore(model, values: dict, index_elements: list[str], index_where=None) -> None:
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike: for rows that two
    requests may create at the same moment (the loser simply reads the winner's row)."""
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(model).values(**values)
    db.session.execute(
        statement.on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    )


SQLITE_MAX_LISTED = 30_000  # below SQLite's limit of 32,766 bind parameters per statement


def in_form(dialect: str, count: int) -> str:
    """How a list of `count` values travels in one parameter: a PostgreSQL "array", or on
    SQLite a "list" of bind parameters (up to SQLITE_MAX_LISTED) or a "json" text."""
    if dialect == "postgresql":
        return "array"
    return "list" if count <= SQLITE_MAX_LISTED else "json"


def in_param(column, name: str | None, form: str, element_type=Integer, **value):
    """`column IN :name` in the given form (`in_form`). Without `value=`, the values come with
    each execution, through `in_param_value`: for a statement built once and run many times."""
    if form == "array":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(element_type), **value))
    if form == "list":
        # SQLite looks up an index once per listed value only for listed values: from
        # json_each it may scan every answer to a question instead (seconds at 1M people).
        return column.in_(bindparam(name, expanding=True, **value))
    listed = func.json_each(bindparam(name, **value)).table_valued("value")
    return column.in_(select(listed.c.value))


def in_param_value(values: list, form: str):
    return json.dumps(list(values)) if form == "json" else list(values)


def in_values(column, values: list, element_type=Integer):
    """`column IN values` sent as one parameter — a PostgreSQL array (`= ANY(:values)`) or a
    JSON list on SQLite (`IN (SELECT value FROM json_each(:values))`) — rather than one bind
    parameter per value, which costs driver and SQLAlchemy work per id for long lists."""
    form = in_form(db.session.get_bind().dialect.name, len(values))
    return in_param(column, None, form, element_type, value=in_param_value(values, form))


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


def lock_until_commit(key: str) -> None:
    """Hold a lock named `key` until this transaction ends, so that work on one thing runs one
    transaction at a time: a PostgreSQL advisory lock. Nothing on SQLite, which has one writer at
    a time: a transaction that has written holds the whole database until it ends."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_ADVISORY_LOCK, {"key": key})


_DRIVER_SQL: dict[tuple[int, str], tuple[str, tuple[str, ...] | None]] = {}
_ROW_TYPES: dict[str, type] = {}  # by SQL: a statement's columns are the same every time


def _driver_sql(statement: TextClause, dialect) -> tuple[str, tuple[str, ...] | None]:
    """The SQL of `statement` for the driver, built once: on psycopg with `$1…` placeholders,
    each name once, and the names in their order (the values then go as a list to a raw
    cursor, which neither parses the SQL for placeholders nor reorders a dict on every
    execution); elsewhere the dialect's own SQL and None."""
    key = (id(statement), dialect.name)
    found = _DRIVER_SQL.get(key)
    if found is None:
        if dialect.driver == "psycopg":
            compiled = statement.compile(dialect=type(dialect)(paramstyle="numeric_dollar"))
            found = (compiled.string, tuple(compiled.positiontup or ()))
        else:
            found = (statement.compile(dialect=dialect).string, None)
        _DRIVER_SQL[key] = found
    return found


def driver_row(connection: Connection, statement: TextClause, values: dict):
    """Run SQL text straight on the connection's driver cursor and return its first row
    (attribute access by column name; None when there is none), in the connection's
    transaction. For the hottest statements only (a ledger spend): it skips SQLAlchemy's
    execution context, result metadata and events, which cost a sixth of the client's CPU per
    spend (BENCHMARKS.md). Errors arrive as
    SQLAlchemy's, through SQLAlchemy's own error path (`Connection._handle_dbapi_exception`,
    SQLAlchemy's private method, the one its `execute` uses; pinned by pyproject's range): an
    `OperationalError` whose `connection_invalidated` says whether the connection was lost,
    which the error handlers read, and a lost connection replaces the pool's older ones. Values
    go to the driver as they are: plain ints, strings, datetimes and None."""
    if not connection.in_transaction():
        connection.begin()  # as `execute` would: never a write outside a transaction
    in_transaction_from_here(connection)  # it skips the event that would say so
    sql, order = _driver_sql(statement, connection.dialect)
    if order is None:
        cursor, parameters = connection.connection.cursor(), values
    else:
        cursor = psycopg.RawCursor(connection.connection.dbapi_connection)
        parameters = [values[name] for name in order]
    try:
        cursor.execute(sql, parameters)
        # (psycopg's raw cursor builds its description anew each time it is asked)
        rows = cursor.pgresult.nfields if order is not None else cursor.description is not None
        found = cursor.fetchone() if rows else None
        row_type = _ROW_TYPES.get(sql)
        if row_type is None and found is not None:
            names = [column.name for column in cursor.description]
            row_type = _ROW_TYPES[sql] = collections.namedtuple("DriverRow", names)
    except BaseException as error:  # a timeout or GreenletExit mid-statement too
        connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
    finally:
        cursor.close()
    return None if found is None else row_type._make(found)


# --- reads straight through the driver ----------------------------------------------------------


class _Plan:
    """How one statement runs on one dialect without SQLAlchemy's execution: its SQL, the
    order and conversions of its parameters, the conversions of its columns, its row type and
    the span of each ORM entity among its columns."""

    __slots__ = (
        "statement",  # held: the plan is found by its id
        "compiled",
        "sql",
        "positional",
        "expanding",
        "binds",
        "columns",
        "row_type",
        "entities",
        "holds",
        "late",
        "fixed",
    )

    def __init__(self, statement, dialect) -> None:
        self.statement = statement
        compiled = self.compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.holds = not is_plain_read(self.sql)  # FOR UPDATE, say: in the transaction
        self.positional = compiled.positiontup if compiled.positional else None
        late = compiled.post_compile_params | compiled.literal_execute_params
        self.expanding = bool(late)
        # Parameters rendered into the SQL at each run: IN lists, whether given with each run
        # (`bindparam(..., expanding=True)`) or fixed in the statement (`.in_(("a", "b"))`).
        self.late = tuple(sorted(compiled.bind_names[parameter] for parameter in late))
        self.fixed: dict = {}  # the rendered SQL by the lengths of the lists (`_expand`)
        self.binds = compiled._bind_processors  # noqa: SLF001 (what Core applies, pinned range)
        entries = compiled._result_columns  # noqa: SLF001
        self.columns = None  # (index, converter) of the columns to convert: at the first run
        self.row_type = collections.namedtuple(
            "Row", [entry.keyname for entry in entries], rename=True
        )
        self.entities = _entity_spans(statement, entries)

    def parameters(self, values: dict | None) -> tuple[str, object]:
        compiled = self.compiled
        given = compiled.construct_params(values, _no_postcompile=True)
        sql, binds, order = self.sql, self.binds, self.positional
        if self.expanding:
            sql, order, binds, given = self._expand(given)
        if binds:
            given = {
                name: (binds[name](value) if name in binds else value)
                for name, value in given.items()
            }
        if order is not None:
            return sql, tuple(given[name] for name in order)
        return sql, given

    def _expand(self, given: dict) -> tuple:
        """The SQL with its IN lists rendered, as SQLAlchemy renders them at each run: kept per
        length of the lists (the SQL differs only by those), the values put in place here."""
        compiled = self.compiled
        lengths = tuple(
            len(value) if isinstance(value, (list, tuple)) else None
            for value in (given[name] for name in self.late)
        )
        kept = self.fixed.get(lengths) if None not in lengths else None
        if kept is None:
            state = compiled._process_parameters_for_postcompile(dict(given))  # noqa: SLF001
            expansion = state.parameter_expansion
            if None in lengths or any(  # a scalar rendered into the SQL, or tuples: not kept
                len(expansion.get(name, ())) != len(given[name]) for name in self.late
            ):
                binds = {**self.binds, **state.processors}
                return state.statement, state.positiontup, binds, state.parameters
            if len(self.fixed) >= 64:
                self.fixed.clear()
            kept = self.fixed[lengths] = (
                state.statement,
                state.positiontup,
                {**self.binds, **state.processors},
                {name: expansion[name] for name in self.late},
            )
        sql, order, binds, expansion = kept
        expanded = {name: value for name, value in given.items() if name not in expansion}
        for name, names in expansion.items():
            expanded.update(zip(names, given[name], strict=True))
        return sql, order, binds, expanded

    def learn_columns(self, description, dialect) -> tuple:
        """What converts each column, as SQLAlchemy decides it: by the column's type and the
        driver's type code for it (PostgreSQL's numeric types), read once."""
        entries = self.compiled._result_columns  # noqa: SLF001
        self.columns = tuple(
            (index, converter)
            for index, (entry, described) in enumerate(zip(entries, description, strict=True))
            if (converter := entry.type._cached_result_processor(dialect, described[1])) is not None
        )
        return self.columns


def _entity_spans(statement, entries) -> tuple:
    """(first column, after last, mapper, attribute keys, where the primary key is among them)
    of each ORM entity the statement selects, e.g. `select(User)`: the compiled statement lists
    the entity's columns in a run."""
    spans, at = [], 0
    descriptions = getattr(statement, "column_descriptions", None) or ()
    for described in descriptions:
        entity, expression = described.get("entity"), described.get("expr")
        if (
            entity is None
            or expression is None
            or not (
                expression is entity or described.get("aliased") and described["type"] is entity
            )
        ):
            at += 1
            continue
        info = inspect_mapped(expression)
        mapper = info.mapper
        table = mapper.local_table
        count = len(mapper.column_attrs)
        keys = []
        for entry in entries[at : at + count]:
            # The column itself, or (labelled apart from another of the same name) among
            # what the label stands for.
            column = next(
                (o for o in entry.objects if getattr(o, "table", None) is info.selectable), None
            )
            original = table.c.get(column.key) if column is not None else None
            if original is None:
                raise ValueError(f"{mapper.class_.__name__}: its columns are not in one run")
            keys.append(mapper.get_property_by_column(original).key)
        spans.append((at, at + count, mapper, tuple(keys), _identity(mapper, keys)))
        at += count
    if at and at != len(entries):
        raise ValueError("a statement's columns could not be matched to what it selects")
    return tuple(spans)


def _identity(mapper, keys) -> tuple:
    """Where the primary key's columns are among `keys`, the attribute keys of a row's span."""
    return tuple(keys.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)


_PLANS: dict[tuple[int, str], _Plan] = {}
_PLANS_MAX = 2048


def _plan(statement, dialect) -> _Plan:
    plan = _PLANS.get((id(statement), dialect.name))
    if plan is None:
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()  # statements built per call, misused here: never grow without end
        plan = _PLANS[(id(statement), dialect.name)] = _Plan(statement, dialect)
    return plan


def read(statement, values: dict | None = None) -> list:
    """The rows of a SELECT built once (a module constant, or cached per shape), run straight on
    the session connection's driver cursor: no execution context, result object or events,
    which cost a small statement about as much as the driver and the database together
    (BENCHMARKS.md). Values and columns are converted as SQLAlchemy would (enums, JSON and dates
    on SQLite); rows are tuples with the columns' keys as attributes. Pending changes are flushed
    first, and errors arrive as SQLAlchemy's, as with `Session.execute`. For the pages read
    most; `load` makes the ORM entities a statement selects into objects."""
    return _run(statement, values)[1]


def _run(statement, values: dict | None) -> tuple[_Plan, list]:
    session = db.session()
    if session.new or session.dirty or session.deleted:
        session.flush()
    connection = _connection(session)
    plan = _plan(statement, connection.dialect)
    sql, parameters = plan.parameters(values)
    if plan.holds:
        if not connection.in_transaction():
            connection.begin()
        in_transaction_from_here(connection)  # past the event that would open it
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, parameters)
        fetched = cursor.fetchall()
        columns = plan.columns
        if columns is None:
            columns = plan.learn_columns(cursor.description, connection.dialect)
    except BaseException as error:  # a timeout or GreenletExit mid-statement too
        connection._handle_dbapi_exception(error, sql, parameters, cursor, None)  # noqa: SLF001
    finally:
        cursor.close()
    row_type = plan.row_type
    if columns:
        converted = []
        for found in fetched:
            found = list(found)
            for index, converter in columns:
                found[index] = converter(found[index])
            converted.append(row_type._make(found))
        return plan, converted
    return plan, [row_type._make(found) for found in fetched]


def _connection(session):
    """`session.connection()`, kept with the session's transaction: asking again costs a page
    about as much as a statement's parameters."""
    transaction = session.get_transaction()
    held = session.info.get("amora_connection")
    if held is not None and transaction is not None and held[0]() is transaction:
        connection = held[1]
        if not connection.closed:
            return connection
    connection = session.connection()
    # The transaction weakly: held strongly, the session (its transaction's) would hold itself
    # in a cycle, and each request's session, connection and their objects would wait for the
    # garbage collector instead of going when the request ends (a full collection of a
    # million of them stalled the process for 1.2 s, BENCHMARKS.md).
    session.info["amora_connection"] = (weakref.ref(session.get_transaction()), connection)
    return connection


def load(statement, values: dict | None = None) -> list[tuple]:
    """`read`, with each ORM entity the statement selects (`select(Post, …)`, aliased too) as
    one object in the row, in the session as if the ORM had loaded it: the one the session
    already holds, or a new persistent object with its columns loaded and nothing changed
    (None for an outer join that found none). For plain mapped classes: no deferred columns,
    loader options or inheritance."""
    plan, found = _run(statement, values)
    spans = plan.entities
    if not spans:
        return found
    session = db.session()  # the request's own, not its registry
    loaded = []
    for row in found:
        values_of = list(row)
        for start, stop, mapper, keys, identity in reversed(spans):
            span = values_of[start:stop]
            values_of[start:stop] = [_persistent(session, mapper, keys, identity, span)]
        loaded.append(tuple(values_of))
    return loaded


def _persistent(session, mapper, keys: tuple, identity: tuple, values: list):
    primary_key = tuple(values[index] for index in identity)
    if primary_key[0] is None:
        return None  # an outer join that found no row
    key = mapper.identity_key_from_primary_key(primary_key)
    held = session.identity_map.get(key)
    if held is not None:
        # As the ORM does: what the session holds stays, and what it let expire (at a commit)
        # is taken from the row rather than read again when used.
        expired = attributes.instance_state(held).expired_attributes
        for name, value in zip(keys, values, strict=True):
            if name in expired:
                attributes.set_committed_value(held, name, value)
        return held
    # What the ORM does with a row it loads (sqlalchemy/orm/loading.py, `_instance`; the
    # attributes are SQLAlchemy's own, pinned by pyproject's range and held by
    # tests/test_sql_reads.py): a new object with its key, in the session's identity map, its
    # columns in its dict with no history. `make_transient_to_detached` and `Session.add` did
    # the same at four times the cost, a tenth of a page of posts.
    instance = mapper.class_manager.new_instance()
    state = attributes.instance_state(instance)
    state.key, state.identity_token = key, key[2]
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, key)  # noqa: SLF001
    state.dict.update(zip(keys, values, strict=True))
    return instance


@functools.cache
def _by_key(model) -> Select:
    (column,) = model.__table__.primary_key.columns
    return select(model).where(column == bindparam("key"))


def get(model, key):
    """`db.session.get(model, key)` for a model with a one-column primary key, on the pages
    read most: an object the session holds comes from its identity map as with `get`, else one
    statement built once per model, run straight on the driver (`load`). (`Session.get` builds
    its load anew on every miss: some 40 µs of a page per object, BENCHMARKS.md.)"""
    found = db.session.identity_map.get(identity_key(model, key))
    if found is not None and not attributes.instance_state(found).expired:
        return found
    rows = load(_by_key(model), {"key": key})
    return rows[0][0] if rows else None


class json_rows(FunctionElement):  # noqa: N801 (used as a SQL function)
    """SQL: the rows of a (correlated) subquery as one JSON array of arrays, each holding the
    given columns in order: `select(json_rows(a, b)).where(…).scalar_subquery()` reads
    `[[a, b], …]` with its parent's row, instead of a statement of its own. A JSON column is
    nested as JSON. No rows read NULL on PostgreSQL and `[]` on SQLite (`json_rows_of` makes
    both `[]`); the order of the rows is the database's: sort them by a column."""

    type = JSON()
    inherit_cache = True
    name = "json_rows"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element, compiler, **kw):
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element, compiler, **kw):
    values = [
        f"json({compiler.process(column, **kw)})"  # stored as text: nested as JSON, not a string
        if isinstance(column.type, JSON)
        else compiler.process(column, **kw)
        for column in element.clauses.clauses
    ]
    return f"json_group_array(json_array({', '.join(values)}))"


def json_rows_of(value) -> list:
    """A `json_rows` value as a list (none: empty)."""
    return value or []


def _from_json(column_type):
    """What turns a column's value as JSON holds it back into the ORM's Python value: times
    and dates as ISO 8601 text, SQLite's flags as 0 and 1."""
    if isinstance(column_type, sqltypes.DateTime):
        return dt.datetime.fromisoformat
    if isinstance(column_type, sqltypes.Date):
        return dt.date.fromisoformat
    if isinstance(column_type, sqltypes.Time):
        return dt.time.fromisoformat
    if isinstance(column_type, sqltypes.Boolean):
        return bool
    if isinstance(column_type, sqltypes.Float):
        return float
    if isinstance(column_type, sqltypes.Numeric):
        return lambda value: decimal.Decimal(str(value))
    return None


_JSON_CONVERTERS: dict[int, tuple] = {}  # by id of the (held) tuple of columns


def _json_converters(columns: tuple) -> tuple:
    # Not functools.cache: comparing two tuples of columns builds SQL, not a bool.
    kept = _JSON_CONVERTERS.get(id(columns))
    if kept is None or kept[0] is not columns:
        converters = tuple(
            (index, converter)
            for index, column in enumerate(columns)
            if (converter := _from_json(column.type)) is not None
        )
        kept = _JSON_CONVERTERS[id(columns)] = (columns, converters)
    return kept[1]


def columns_of_json(columns: tuple, value) -> list[list]:
    """The rows of a `json_rows(*columns, …)` value with each of `columns` back in the Python
    value the ORM gives it (times, dates, flags; see `_from_json`); values past them as JSON
    has them."""
    converters = _json_converters(columns)
    found = []
    for row in json_rows_of(value):
        for index, converter in converters:
            if row[index] is not None:
                row[index] = converter(row[index])
        found.append(row)
    return found


@functools.cache
def _table_entity(model) -> tuple:
    mapper = inspect_mapped(model)
    columns = tuple(model.__table__.columns)
    keys = tuple(mapper.get_property_by_column(column).key for column in columns)
    return mapper, columns, keys, _identity(mapper, keys)


def entities_of_json(model, value) -> list[tuple]:
    """The rows of a `json_rows` value whose first columns are `model`'s table's columns in the
    table's order (`model.__table__.columns`), as (object, the row's other values…): each object
    in the session as `load` makes it. For a list a page reads inside another statement."""
    mapper, columns, keys, identity = _table_entity(model)
    count = len(keys)
    session = db.session()
    return [
        (_persistent(session, mapper, keys, identity, row[:count]), *row[count:])
        for row in columns_of_json(columns, value)
    ]


def written(model, values: dict):
    """The object of a row this transaction has just written with every column known (a ledger
    spend's transfer, from what its statement returned): in the session as `load` makes it,
    with no statement. `make_transient_to_detached` and `Session.add` cost a spend a tenth of
    its client CPU (BENCHMARKS.md)."""
    mapper, _columns, keys, identity = _table_entity(model)
    return _persistent(db.session(), mapper, keys, identity, [values[key] for key in keys])
