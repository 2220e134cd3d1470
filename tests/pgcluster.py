"""A PostgreSQL cluster of a test's own (initdb + pg_ctl on a free loopback port): settings the shared
server cannot take (a low max_connections), and a postmaster a test may kill and restart."""

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

BIN = Path(os.environ.get("CELLSV2_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> bool:
    return (BIN / "initdb").exists() and (os.geteuid() != 0 or _has_postgres_user())


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """``start()`` makes and starts it, ``url(dbname)`` names a database in it, ``kill()`` ends its
    postmaster with SIGKILL, ``stop()`` removes it. Runs as the postgres user when started as root."""

    def __init__(self, *, max_connections: int = 100, port: int | None = None):
        # Under /tmp itself: the postgres user cannot enter pytest's per-user temporary directories.
        self.directory = Path(tempfile.mkdtemp(prefix="cellsv2-pg-"))
        self.data = self.directory / "data"
        self.port = port or _free_port()
        self.max_connections = max_connections
        self.log = self.directory / "postgres.log"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(a) for a in argv]
        if os.geteuid() == 0:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> "PostgresCluster":
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.directory, "postgres", "postgres")
            self._run(BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.directory}'\n"
                    f"max_connections = {self.max_connections}\nsuperuser_reserved_connections = 0\n"
                    # fsync off: the OS keeps what a killed postmaster wrote (the test kills
                    # processes, never the machine). synchronous_commit stays on: an acknowledged
                    # commit must survive SIGKILL, or a test would see data loss it caused itself.
                    "fsync = off\nfull_page_writes = off\n"
                )
        self._run(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")
        return self

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash would."""
        pid = self.pid()
        if pid is not None:
            subprocess.run(["pkill", "-KILL", "-P", str(pid)], check=False)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._run(BIN / "pg_ctl", "-D", self.data, "status", check=False)

    def stop(self) -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        argv = [BIN / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", dbname, "-Atc", sql]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
