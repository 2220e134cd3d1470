"""A PgBouncer of its own, in front of the PostgreSQL the benchmarks and the tests use.

``PgBouncer(workdir)`` writes a ``pgbouncer.ini`` and a user list into a directory under
``workdir``, starts Debian's ``/usr/sbin/pgbouncer`` on a free port of 127.0.0.1 (as the
``postgres`` user when run as root: PgBouncer refuses to run as root) and waits until it accepts
connections; ``url(postgres_url)`` is the same database reached through it. Every database of
the upstream server is reachable (a ``*`` fallback entry); ``databases`` adds entries of their
own (a ``connect_query``, a pool size). Used as a context manager, it stops on exit.

    with PgBouncer(tmp_path, default_pool_size=2) as bouncer:
        url = bouncer.url("postgresql://postgres@127.0.0.1:5432/cellsv2_api")
"""

import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BINARY = "pgbouncer"
RUN_AS = "postgres"


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (PATH, then Debian's /usr/sbin), or None when not installed."""
    return shutil.which(BINARY) or (f"/usr/sbin/{BINARY}" if os.access(f"/usr/sbin/{BINARY}", os.X_OK) else None)


def _raise_open_files_limit() -> None:
    # Each client and server connection is a descriptor: up to max_client_conn + the pools.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """One PgBouncer process: ``pool_mode`` (transaction, session or statement) in front of
    ``upstream`` (host:port), ``default_pool_size`` server connections per database and user.

    ``databases`` maps a database name to the rest of its ``[databases]`` line
    (``"connect_query='SET statement_timeout = 2000'"``); host, port and dbname are added.
    ``settings`` adds or overrides lines of the ``[pgbouncer]`` section.
    """

    def __init__(
        self,
        workdir: Path,
        pool_mode: str = "transaction",
        upstream: str = "127.0.0.1:5432",
        *,
        default_pool_size: int = 20,
        max_client_conn: int = 2000,
        databases: dict[str, str] | None = None,
        settings: dict[str, str | int] | None = None,
        start_timeout: float = 15,
    ):
        self.workdir = Path(workdir)
        self.pool_mode = pool_mode
        self.upstream_host, _, port = upstream.rpartition(":")
        self.upstream_port = int(port)
        self.default_pool_size = default_pool_size
        self.max_client_conn = max_client_conn
        self.databases = dict(databases or {})
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.directory: Path | None = None
        self.log: Path | None = None
        self.process: subprocess.Popen | None = None

    # --- configuration ------------------------------------------------------------------------

    def _ini(self) -> str:
        upstream = f"host={self.upstream_host} port={self.upstream_port}"
        lines = ["[databases]"]
        for name, extra in self.databases.items():
            lines.append(f"{name} = {upstream} dbname={name} {extra}".rstrip())
        lines.append(f"* = {upstream}")
        section = {
            "listen_addr": self.host,
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(self.directory / "userlist.txt"),
            "pool_mode": self.pool_mode,
            "default_pool_size": self.default_pool_size,
            "max_client_conn": self.max_client_conn,
            "max_db_connections": 0,
            # A client waits this long for a server connection before it is refused.
            "query_wait_timeout": 60,
            "server_reset_query": "DISCARD ALL",
            "ignore_startup_parameters": "extra_float_digits",
            "admin_users": RUN_AS,
            "log_connections": 0,
            "log_disconnections": 0,
            **self.settings,
        }
        lines += ["", "[pgbouncer]", *(f"{key} = {value}" for key, value in section.items())]
        return "\n".join(lines) + "\n"

    # --- process ------------------------------------------------------------------------------

    def start(self) -> "PgBouncer":
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
        self.port = _free_port()
        self.directory = self.workdir / f"pgbouncer-{self.port}"
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "userlist.txt").write_text(f'"{RUN_AS}" ""\n')
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(self._ini())
        command = [binary, str(ini)]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; it reads its files again as that user on RELOAD.
            account = pwd.getpwnam(RUN_AS)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
            command[1:1] = ["-u", RUN_AS]
        self.log = self.directory / "pgbouncer.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_raise_open_files_limit,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not listen on {self.port}:\n{self.log.read_text()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # immediate shutdown: clients are cut
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------------

    def url(self, postgres_url: str) -> str:
        """``postgres_url`` with its host and port replaced by this bouncer's (user, database and
        query string kept)."""
        parts = urlsplit(postgres_url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))
