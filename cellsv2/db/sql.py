"""Raw SQL: the one module that opens cursors by alias (besides the cells registry and the router).

Hot reads and bulk writes are plain SQL where the ORM's per-call query building cost more than
the statement (each such use names the measurement in its commit). They all go through here, in
one of three shapes:

- ``fetch_one`` / ``fetch_all`` / ``execute``: a statement on a database, Django's cursor (so
  query logging and ``execute_wrapper`` see it); rows can be converted to the ORM's values with
  a ``RawColumns`` (``fetch_one(..., columns=...)``);
- ``cursor(alias)``: Django's cursor for several statements in a row;
- ``connection(alias)``: the connection wrapper itself, for its features and operations
  (``vendor``, ``ops.adapt_datetimefield_value``, ``features.max_query_params``) and for code
  that drives the driver (COPY, binary cursors: ``cellsv2.bulk``);
- ``CompiledValues``: one ``values()`` queryset compiled once and run on many databases of one
  kind (the same page query in every cell).

Hot reads of fixed text ask for ``prepare=True`` (or use ``fetch_sets``): on PostgreSQL they are
then prepared statements of the connection, so that each later run skips parsing and planning.
"""

import functools
import hashlib
import re
import threading
import weakref
from contextlib import contextmanager
from types import SimpleNamespace

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections


def connection(alias: str):
    """The Django connection (wrapper) of ``alias`` for this thread."""
    return connections[alias]


def connection_probe(alias: str) -> None:
    """Open one new connection to ``alias`` outside any pool and close it.

    Raises Django's DatabaseError with the driver's reason when the database cannot be opened
    (through a pool a failure is only "couldn't get a connection after N sec", after the pool's
    timeout, with the reasons logged by the pool's threads).
    """
    wrapper = connections[alias]
    with wrapper.wrap_database_errors:
        wrapper.Database.connect(**wrapper.get_connection_params()).close()


@contextmanager
def dedicated_connection(alias: str):
    """A new driver connection to ``alias`` of its own, outside Django's connection of the thread
    and outside any pool, closed on exit.

    For a session that must outlive the thread's transactions: a lock held for a whole command
    while the command's own work commits batch after batch on the thread's connection.
    """
    wrapper = connections[alias]
    with wrapper.wrap_database_errors:
        opened = wrapper.Database.connect(**wrapper.get_connection_params())
    try:
        yield opened
    finally:
        opened.close()


def is_postgresql(alias: str) -> bool:
    return connections[alias].vendor == "postgresql"


@contextmanager
def cursor(alias: str):
    """Django's cursor on ``alias`` (closed on exit)."""
    with connections[alias].cursor() as opened:
        yield opened


# --- prepared statements (PostgreSQL) ---------------------------------------------------------
# Planning cost PostgreSQL more than running the hot reads: a show's cell read is three statements
# of about 0.09 ms of planning and 0.03 ms of execution each, and under load PostgreSQL spent 0.85 ms
# of CPU per show against 0.10 for the floor's primary-key read. Prepared once per connection, a
# statement is parsed and planned once (pgbench, the show's cell read: 0.74 -> 0.34 ms). Django
# turns psycopg's automatic preparing off (prepare_threshold=None, for transaction-mode poolers), so
# only the statements asked for here are prepared, and only on connections that may keep session
# state: not behind such a pooler (DISABLE_SERVER_SIDE_CURSORS, which cellsv2.dburls sets for
# PgBouncer; there these reads run as before, with client-side binding).


def prepares(alias: str) -> bool:
    """True when reads on ``alias`` are prepared (PostgreSQL, not behind a transaction pooler)."""
    db = connections[alias]
    return db.vendor == "postgresql" and not db.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")


# SQLSTATE 0A000 from a prepared statement whose tables changed under it (a migration altered a
# column it reads): PostgreSQL re-plans it, but refuses when its result type would change.
_PLAN_CHANGED = "cached plan must not change result type"
_preparing_cursor_class = None
_server_bound_cursor_class = None


def _server_bound_cursor_type():
    global _server_bound_cursor_class
    if _server_bound_cursor_class is None:
        import psycopg

        class ServerBoundCursor(psycopg.Cursor):
            def execute(self, query, params=None, **kwargs):
                super().execute(query, params, **kwargs)
                self._query = SimpleNamespace(query=str(query).encode())
                return self

        _server_bound_cursor_class = ServerBoundCursor
    return _server_bound_cursor_class


def server_bound_cursor(db):
    """A psycopg cursor with server-side binding on ``db``'s (PostgreSQL) connection, whose
    statements Django's query log reads back as written: its PostgreSQL ``last_executed_query``
    reads the cursor's ``_query``, which psycopg leaves empty after a server-side binding (the log,
    and tests counting queries, saw None)."""
    db.ensure_connection()
    return _server_bound_cursor_type()(db.connection)


def _deallocate_all(raw) -> None:
    """Drop every statement prepared on a psycopg connection's session, psycopg's own (it forgets
    them when it sees the command run with preparing on) and fetch_sets' (PostgreSQL re-plans a
    statement whose tables changed, but refuses when its result type would change)."""
    import psycopg

    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        psycopg.Cursor(raw).execute("DEALLOCATE ALL", prepare=False)
    finally:
        raw.prepare_threshold = threshold
    _prepared_names(raw).clear()


def _preparing_cursor(db):
    """A server-bound cursor (``server_bound_cursor``) on ``db``'s connection whose statements are
    prepared: ``execute(sql, params)`` prepares ``sql`` on the connection the first time and reuses
    it after."""
    global _preparing_cursor_class
    if _preparing_cursor_class is None:
        import psycopg

        class PreparingCursor(_server_bound_cursor_type()):
            def execute(self, query, params=None, **kwargs):
                connection = self.connection
                # None (Django's default) turns preparing off on the connection; 0 prepares what is
                # asked for at its first run. Statements prepared before stay known to psycopg.
                threshold = connection.prepare_threshold
                connection.prepare_threshold = 0
                try:
                    try:
                        super().execute(query, params, prepare=True)
                    except psycopg.errors.FeatureNotSupported as exc:
                        if _PLAN_CHANGED not in str(exc):
                            raise
                        if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                            raise  # the transaction is lost; the next read outside one recovers
                        _deallocate_all(connection)
                        super().execute(query, params, prepare=True)
                finally:
                    connection.prepare_threshold = threshold
                return self

        _preparing_cursor_class = PreparingCursor
    db.ensure_connection()
    return _preparing_cursor_class(db.connection)


def wrapped(db, raw):
    """Django's wrapper of a driver cursor: execute wrappers, query logging, error translation."""
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


@contextmanager
def _read_cursor(db, prepare: bool):
    if prepare and prepares(db.alias):
        with wrapped(db, _preparing_cursor(db)) as opened:
            yield opened
    else:
        with db.cursor() as opened:
            yield opened


def fetch_one(alias: str, sql: str, params=(), *, columns: "RawColumns | None" = None, prepare: bool = False):
    """The first row of a query (None for none), converted with ``columns`` when given.

    ``prepare``: a prepared statement on PostgreSQL (see above); for statements of fixed text.
    """
    db = connections[alias]
    with _read_cursor(db, prepare) as opened:
        opened.execute(sql, params)
        row = opened.fetchone()
    if row is None or columns is None:
        return row
    return columns.convert(db, row)


def fetch_all(alias: str, sql: str, params=(), *, columns: "RawColumns | None" = None, prepare: bool = False) -> list:
    """Every row of a query, converted with ``columns`` when given (``prepare`` as ``fetch_one``)."""
    db = connections[alias]
    with _read_cursor(db, prepare) as opened:
        opened.execute(sql, params)
        rows = opened.fetchall()
    if columns is None:
        return rows
    return [columns.convert(db, row) for row in rows]


def fetch_value(alias: str, sql: str, params=(), *, prepare: bool = False):
    """The first column of the first row (None for no row)."""
    row = fetch_one(alias, sql, params, prepare=prepare)
    return None if row is None else row[0]


# fetch_sets' statements: prepared with SQL's PREPARE once per connection, then run as one text of
# EXECUTEs with client-side binding (the simple protocol, Django's default). The same statements
# prepared at the protocol level and sent in one psycopg pipeline cost the client 150 us of CPU per
# pair against 66 for the EXECUTE text (and 58 for the plain text, which PostgreSQL plans at each
# run): under load on 2 cores the pipeline's bookkeeping was a sixth of the API process's CPU.
_PLACEHOLDER = re.compile(r"%([%s])")
_MISSING_STATEMENT = "26000"  # invalid_sql_statement_name: not prepared on this session


@functools.lru_cache(maxsize=1024)
def _statement_name(sql: str) -> str:
    return "cellsv2_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()


def _numbered(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered ``$1``, ``$2``, ... (``%%`` read as ``%``)."""
    count = 0

    def number(match):
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def _prepared_names(raw) -> set:
    """The statements fetch_sets prepared on a psycopg connection (they live as long as it does)."""
    names = getattr(raw, "_cellsv2_prepared", None)
    if names is None:
        names = raw._cellsv2_prepared = set()
    return names


_sets_cursor_class = None


def _sets_cursor(db, text: str):
    """A client-side binding cursor on ``db``'s connection that runs ``text`` whatever it is asked
    to execute: Django's wrapper (its execute wrappers, its query log) is handed the statements as
    written, the session runs their EXECUTEs."""
    global _sets_cursor_class
    if _sets_cursor_class is None:
        import psycopg

        class SetsCursor(psycopg.ClientCursor):
            text = ""

            def execute(self, query, params=None, **kwargs):
                super().execute(self.text, params, **kwargs)
                self._query = SimpleNamespace(query=str(query).encode())  # for the query log
                return self

        _sets_cursor_class = SetsCursor
    raw = _sets_cursor_class(db.connection)
    raw.text = text
    return raw


def _execute_sets(db, statements: list[tuple[str, list]]) -> list[list]:
    prepared = _prepared_names(db.connection)
    names = [_statement_name(sql) for sql, _ in statements]
    # The first run on a connection prepares them in the same round trip.
    missing = {name: sql for name, (sql, _) in zip(names, statements, strict=True) if name not in prepared}
    text = "; ".join(
        [f"PREPARE {name} AS {_numbered(sql)}" for name, sql in missing.items()]
        + [
            f"EXECUTE {name}" + (f"({', '.join(['%s'] * len(values))})" if values else "")
            for name, (_, values) in zip(names, statements, strict=True)
        ]
    )
    # Recorded before the run: a PREPARE outlives the failure of the text it came in (an EXECUTE
    # that fails after it), and sent again it would be refused ("already exists") on this
    # connection for good. One that failed itself is found missing at the next run, and made again.
    prepared.update(missing)
    with wrapped(db, _sets_cursor(db, text)) as opened:
        opened.execute(
            "; ".join(sql for sql, _ in statements), [value for _, values in statements for value in values]
        )
        for _ in missing:  # the PREPAREs' results: no rows
            opened.nextset()
        sets = [opened.fetchall()]
        while opened.nextset():
            sets.append(opened.fetchall())
    return sets


def fetch_sets(alias: str, statements: list[tuple[str, list]]) -> list[list]:
    """The rows of each ``(sql, params)``, the statements prepared on the connection and run together
    in one round trip. PostgreSQL with ``prepares(alias)`` only; for statements of fixed text whose
    parameters PostgreSQL can type from their context (``col = %s``, ``col = ANY(%s)``).

    Django sees one query (its execute wrappers, its query log): the statements as written, joined
    by "; "; the session runs ``EXECUTE cellsv2_<hash>(...)`` for each (the first use on a
    connection adds their PREPAREs). Outside a transaction, a statement that the session no longer
    knows, or whose plan PostgreSQL refuses after a migration changed a column's type, is prepared
    anew and the read runs again.
    """
    import psycopg

    db = connections[alias]
    db.ensure_connection()
    try:
        return _execute_sets(db, statements)
    except DatabaseError as exc:
        cause = exc.__cause__
        stale = isinstance(cause, psycopg.errors.FeatureNotSupported) and _PLAN_CHANGED in str(cause)
        missing = isinstance(cause, psycopg.Error) and cause.sqlstate == _MISSING_STATEMENT
        if not (stale or missing) or db.in_atomic_block:
            raise
    _deallocate_all(db.connection)
    return _execute_sets(db, statements)


def execute(alias: str, sql: str, params=()) -> int:
    """Run one statement; returns the rows it touched (the driver's rowcount)."""
    with connections[alias].cursor() as opened:
        opened.execute(sql, params)
        return opened.rowcount


def table_row_estimate(alias: str, table: str) -> int | None:
    """PostgreSQL's planner estimate of a table's rows (pg_class.reltuples), None elsewhere or unknown.

    Costs one catalog lookup whatever the table's size; -1 (never analysed) reads as unknown.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class RawColumns:
    """Model fields read with raw SQL: their select list, and the ORM's conversion of their values.

    ``convert`` applies the converters the ORM's compiler would (the backend's, then the
    field's own: SQLite returns datetimes as text and booleans as integers; PostgreSQL needs
    none), so a raw row holds exactly the values a queryset gives. Converters are looked up once
    per connection (each thread has its own). Instances are meant to be module constants.
    """

    def __init__(self, fields):
        self.fields = tuple(fields)
        # Quoted the same way on SQLite and PostgreSQL.
        self.sql = ", ".join(f'"{f.model._meta.db_table}"."{f.column}"' for f in self.fields)
        self._converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __add__(self, other: "RawColumns") -> "RawColumns":
        return RawColumns(self.fields + other.fields)

    def _converters_for(self, connection) -> list[tuple[int, list, object]]:
        found = self._converters.get(connection)
        if found is None:
            found = []
            for position, field in enumerate(self.fields):
                column = field.get_col(field.model._meta.db_table)
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if functions:
                    found.append((position, functions, column))
            self._converters[connection] = found
        return found

    def convert(self, connection, row) -> list:
        """A raw row of these columns (read on ``connection``) as a list of the ORM's values."""
        row = list(row)
        for position, functions, column in self._converters_for(connection):
            value = row[position]
            for function in functions:
                value = function(value, column, connection)
            row[position] = value
        return row


class CompiledValues:
    """A ``values()`` queryset compiled once per database vendor, then run on any alias.

    Running the same query in many databases (a listing's page query in each of 75 cells) through
    the ORM builds, compiles and iterates it once per database; the building and compiling cost
    more than the statement itself. Here the SQL and its parameters are made once per vendor (on
    the first connection of that vendor that runs it), and each run is one execute on the alias's
    connection, the rows converted as the ORM would (its converters, looked up per connection) into
    the same dicts ``values()`` gives. Thread-safe: one instance serves every cell thread.
    """

    def __init__(self, queryset):
        self.query = queryset.query
        self.names = [*self.query.extra_select, *self.query.values_select, *self.query.annotation_select]
        self._lock = threading.Lock()
        # vendor -> (sql, params, selected expressions), or None when the query selects nothing
        self._compiled: dict[str, tuple | None] = {}
        self._converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compile(self, connection):
        vendor = connection.vendor
        with self._lock:
            if vendor not in self._compiled:
                compiler = self.query.get_compiler(connection=connection)
                try:
                    sql, params = compiler.as_sql()
                except EmptyResultSet:  # e.g. uuid__in=[]: what the ORM answers without a query
                    self._compiled[vendor] = None
                else:
                    expressions = [selected[0] for selected in compiler.select]
                    self._compiled[vendor] = (sql, tuple(params), expressions) if sql else None
            return self._compiled[vendor]

    def _converters_for(self, connection, expressions) -> list:
        found = self._converters.get(connection)
        if found is None:
            found = []
            for position, expression in enumerate(expressions):
                functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
                if functions:
                    found.append((position, functions, expression))
            self._converters[connection] = found
        return found

    def rows(self, alias: str) -> list[dict]:
        """The query's rows in database ``alias`` (one statement), as ``values()`` dicts."""
        connection = connections[alias]
        compiled = self._compile(connection)
        if compiled is None:
            return []
        sql, params, expressions = compiled
        with connection.cursor() as opened:
            opened.execute(sql, params)
            rows = opened.fetchall()
        converters = self._converters_for(connection, expressions)
        names = self.names
        if not converters:
            return [dict(zip(names, row, strict=True)) for row in rows]
        result = []
        for raw in rows:
            row = list(raw)
            for position, functions, expression in converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            result.append(dict(zip(names, row, strict=True)))
        return result
