"""Database URLs: parsing, identity and masking.

This module is imported by settings, so it must not touch Django's configured state.
Nova stores SQLAlchemy URLs (``mysql+pymysql://``, ``postgresql+psycopg2://``) in
``cell_mappings.database_connection``; the ``+driver`` part is dropped so a Nova dump reads.
"""

import functools
import re
import select
import sys
from pathlib import Path

import dj_database_url

# Applied to every SQLite database: WAL lets cell readers in scatter-gather threads run while
# another connection writes, and IMMEDIATE transactions avoid the lock-upgrade deadlock SQLite
# hits when two writers both start as readers.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

# The key under which the URL a database was configured from is kept in its settings dict,
# so a CellMapping's database_connection can be matched to a configured alias even after the
# test runner renamed the database.
URL_KEY = "CELLSV2_URL"

# CELLSV2_DB_POOLER values: nothing between the processes and PostgreSQL, or PgBouncer in
# transaction mode.
POOLERS = ("", "pgbouncer")

_PASSWORD_RE = re.compile(r":[^:@/]*@")


class InvalidDatabaseUrl(ValueError):
    """A database URL that cannot be turned into a Django database configuration."""


def _strip_driver(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidDatabaseUrl(f"Invalid database URL {mask_password(url)!r}: expected scheme://...")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def parse_database_url(url: str, *, conn_max_age: int = 0) -> dict:
    """Return a Django DATABASES entry for ``url``; raise InvalidDatabaseUrl when it is not one."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidDatabaseUrl("Empty database URL")
    url = url.strip()
    try:
        conf = dj_database_url.parse(_strip_driver(url), conn_max_age=conn_max_age)
    except InvalidDatabaseUrl:
        raise
    except Exception as exc:  # dj-database-url raises several unrelated types
        raise InvalidDatabaseUrl(f"Invalid database URL {mask_password(url)!r}: {exc}") from None
    if not conf.get("NAME"):
        raise InvalidDatabaseUrl(f"Invalid database URL {mask_password(url)!r}: no database name")
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        conf["OPTIONS"] = {**SQLITE_OPTIONS, **conf.get("OPTIONS", {})}
    else:
        conf["CONN_HEALTH_CHECKS"] = True
        if conf["ENGINE"] == "django.db.backends.postgresql":
            # An unreachable cell must fail in seconds, not hang a request or a command.
            conf.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    conf[URL_KEY] = url
    return conf


def apply_connection_limits(conf: dict, limits: dict, *, statement_timeout: int = 0) -> dict:
    """Bound a PostgreSQL DATABASES entry in time and in number, from ``limits``
    (settings.CELLSV2_DATABASE_LIMITS); other engines are returned unchanged.

    Time: ``connect_timeout``; TCP keepalives and ``tcp_user_timeout``, so a connection whose peer
    vanished (a partition, a dead host) fails within about ``tcp_user_timeout`` seconds instead of
    being held forever; and, when ``statement_timeout`` (seconds) is not 0, PostgreSQL's
    ``statement_timeout`` on every connection. Number: with ``pool_size`` not 0, a psycopg pool
    per database per process of at most that many connections (idle ones closed after
    ``pool_max_idle`` seconds; a thread waits at most ``pool_timeout`` seconds for one), which
    replaces the persistent per-thread connections (CONN_MAX_AGE is 0 then, as Django requires).
    Options already in the URL's query string win.

    Behind PgBouncer in transaction mode (``limits["pooler"] == "pgbouncer"``) a client's
    consecutive transactions may run on different server connections, so nothing may rely on a
    server session: no startup ``options`` (PgBouncer refuses the connection; the cells'
    statement timeout is then set by PgBouncer's ``connect_query``, see docs/operators-guide.md),
    no server-side cursors (Django keeps a holdable one open across transactions for
    ``.iterator()``) and no prepared statements.
    """
    if conf.get("ENGINE") != "django.db.backends.postgresql":
        return conf
    options = conf.setdefault("OPTIONS", {})
    if "connect_timeout" not in conf.get(URL_KEY, ""):
        options["connect_timeout"] = limits["connect_timeout"]
    if limits["tcp_user_timeout"]:
        idle = max(1, limits["tcp_user_timeout"] // 3)
        options.setdefault("keepalives", 1)
        options.setdefault("keepalives_idle", idle)
        options.setdefault("keepalives_interval", max(1, idle // 3))
        options.setdefault("keepalives_count", 3)
        options.setdefault("tcp_user_timeout", limits["tcp_user_timeout"] * 1000)
    pooled = limits.get("pooler") == "pgbouncer"
    if pooled:
        conf["DISABLE_SERVER_SIDE_CURSORS"] = True
        # Django's default too; forced so that a URL's query string cannot turn it back on.
        options["prepare_threshold"] = None
    if statement_timeout and not pooled:
        extra = f"-c statement_timeout={int(statement_timeout * 1000)}"
        options["options"] = f"{options['options']} {extra}" if options.get("options") else extra
    if limits["pool_size"] and "pool" not in options:
        options["pool"] = {
            "min_size": 0,
            "max_size": limits["pool_size"],
            "timeout": limits["pool_timeout"],
            "max_idle": limits["pool_max_idle"],
            "name": conf.get("NAME"),
            # A connection that fails is tried once more at once, then the pool gives up and
            # pool_connect_failed tells whoever waits for one why (psycopg_pool's default retries
            # with a growing backoff for five minutes while they wait out ``timeout``).
            "reconnect_timeout": 0,
            "reconnect_failed": pool_connect_failed,
        }
        conf["CONN_MAX_AGE"] = 0
    return conf


def database_identity(conf: dict) -> tuple:
    """What makes two configurations the same database (engine, host, port, name)."""
    engine = conf.get("ENGINE", "")
    name = str(conf.get("NAME", ""))
    if engine.endswith("sqlite3") and name and not name.startswith("file:") and name != ":memory:":
        name = str(Path(name).resolve())
    host = conf.get("HOST") or ""
    if host in ("localhost", "::1"):
        host = "127.0.0.1"
    return (engine, host, str(conf.get("PORT") or ""), name)


@functools.lru_cache(maxsize=4096)
def url_identity(url: str) -> tuple:
    """database_identity() of a URL; raises InvalidDatabaseUrl.

    Remembered per URL (a pure function of the string): resolving every cell mapping compares its
    URL with every configured database, cells x cells identities at each cell cache refresh.
    """
    return database_identity(parse_database_url(url))


def mask_password(url: str | None) -> str | None:
    """Mask the password in a URL the way nova-manage list_cells does (``:****@``)."""
    if not url:
        return url
    return _PASSWORD_RE.sub(":****@", url)


def sqlite_url(path: Path | str) -> str:
    """The URL of an SQLite file at an absolute path."""
    return f"sqlite:///{Path(path).resolve()}"


def parse_cell_urls(value: str) -> dict[str, str]:
    """Parse ``name=url,name=url`` (CELLSV2_CELL_DATABASE_URLS) into an ordered dict."""
    cells: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, url = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"cell\w*", name):
            raise InvalidDatabaseUrl(
                f"CELLSV2_CELL_DATABASE_URLS entry {mask_password(item)!r} is not name=url with a name like cell1"
            )
        if name in cells:
            raise InvalidDatabaseUrl(f"CELLSV2_CELL_DATABASE_URLS names {name!r} twice")
        cells[name] = url.strip()
    return cells


def pooled_connection_check(conn) -> None:
    """The check a psycopg pool runs on an idle connection before handing it out; raises when the
    connection is not usable (the pool then discards it and hands out another).

    psycopg_pool's own check (the one Django gives a pool under CONN_HEALTH_CHECKS) is a round
    trip, an empty query, and a pooled connection is taken once per request and once per cell
    task. A connection the server closed while it sat in the pool (a restart,
    ``pg_terminate_backend``, an idle timeout) has something to read: the server's message, then
    the end of the stream. So one with nothing to read is handed out as it is, and one with
    something to read gets the round trip.
    """
    if conn.closed:
        raise conn.OperationalError("the connection is closed")
    # poll, not select: a process with many cells may hold descriptors above select's 1024.
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        conn.execute("")


def pool_connect_failed(pool) -> None:
    """The ``reconnect_failed`` callback of every pool: psycopg_pool gave up making a connection
    (the database refused it, or did not answer within ``connect_timeout``).

    The threads waiting for a connection would otherwise wait out the pool's ``timeout`` for
    nothing (``couldn't get a connection after 5.00 sec``, the reason only in psycopg's log), and
    after an outage the pool's next attempt could come minutes after the database was back. When
    the pool holds no connection that could come back to them, they fail now, with the reason;
    the next request asks the pool again and makes a new attempt at once. When it holds some (busy
    ones), they keep waiting for those.
    """
    import psycopg

    # psycopg_pool calls this from the ``except`` block of the failed connect, in the same thread.
    reason = sys.exc_info()[1]
    error = psycopg.OperationalError(str(reason) if reason else f"could not connect to {pool.name}")
    with pool._lock:
        if pool._nconns > 0:
            return
        while pool._waiting:
            pool._waiting.popleft().fail(error)


def use_pooled_connection_check(sender, connection, **kwargs) -> None:
    """connection_created receiver: the pool of a PostgreSQL alias checks the connections it hands
    out with pooled_connection_check instead of psycopg_pool's round trip (Django builds the pool
    with the latter and offers no setting for it)."""
    pool = getattr(connection, "pool", None) if connection.vendor == "postgresql" else None
    if pool is not None and getattr(pool, "_check", None) is not None:
        pool._check = pooled_connection_check
