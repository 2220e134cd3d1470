"""Moving rows in bulk between databases on PostgreSQL (online data migrations, ``map_instances``).

With psycopg 3, Django binds parameters on the client: every value is quoted into the SQL text,
and result rows come back as text. For a batch of thousands of rows passed as arrays
(``unnest(%b::text[], ...)``) that quoting and parsing costs several times the statement itself.
``binary_cursor`` binds ``%b`` parameters on the server and reads results in binary. It is still
a Django cursor wrapper, so query logging, execute wrappers and error translation apply.
``insert_missing`` inserts such a batch, skipping the rows already there; ``second_connection``
runs part of a move on another connection at the same time.
"""

import concurrent.futures
from contextlib import contextmanager, nullcontext

from django.db import IntegrityError, connections, transaction

from cellsv2.db import sql


def binary_cursor(alias: str):
    """A cursor on the PostgreSQL database ``alias`` with server-side binding and binary results.

    Use it as a context manager, like ``sql.cursor(alias)``; it runs in the
    connection's current transaction (if any).
    """
    import psycopg

    db = sql.connection(alias)
    raw = sql.server_bound_cursor(db)
    raw.format = psycopg.pq.Format.BINARY
    return sql.wrapped(db, raw)


def insert_missing(alias: str, insert: str, params: list, *, where_missing: str, on_conflict: str) -> int:
    """Run ``insert`` (an ``INSERT ... SELECT`` on PostgreSQL) for the rows not there yet; how many went in.

    ``where_missing`` filters out the rows already there with one unique-index probe per row,
    which costs less than ``on_conflict`` (``ON CONFLICT DO NOTHING``, a speculative insertion
    of every row: a fifth more per key pair). Write it as a scalar subquery, ``WHERE (SELECT 1
    FROM t WHERE <unique key> = ...) IS NULL``: the planner may turn ``NOT EXISTS`` into an
    anti-join that reads the whole table for every batch. A row another transaction inserts
    meanwhile still raises a unique violation: the statement then runs again with
    ``on_conflict`` instead.
    """
    db = sql.connection(alias)
    try:
        # Inside a transaction the failed attempt must not abort it: a savepoint; else autocommit.
        with transaction.atomic(using=alias) if db.in_atomic_block else nullcontext(), binary_cursor(alias) as cursor:
            cursor.execute(f"{insert} {where_missing}", params)
            return cursor.rowcount
    except IntegrityError:
        with binary_cursor(alias) as cursor:
            cursor.execute(f"{insert} {on_conflict}", params)
            return cursor.rowcount


@contextmanager
def second_connection(*aliases: str, name: str):
    """A one-thread executor whose thread has its own connections (closed at the end), or None.

    For moves bound by the database's CPU: two statements at once, on two connections, use two
    cores. None unless every alias is PostgreSQL in autocommit: another connection could not
    see, and would wait on, rows an open transaction of the caller holds. ``name`` names the
    thread.
    """
    if any(not sql.is_postgresql(alias) or sql.connection(alias).in_atomic_block for alias in aliases):
        yield None
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        try:
            yield pool
        finally:
            pool.submit(connections.close_all).result()
