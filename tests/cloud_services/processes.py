"""Processes of the services under test: one-shot commands and gunicorn servers in their own process groups.

Every server runs in a new session (its own process group) and is stopped by signalling the whole group, so its
workers go with it. Its master also gets SIGTERM from the kernel if the pytest process dies (PR_SET_PDEATHSIG;
the kernel means the starting *thread*, so start services from the main thread, as fixtures run), and an atexit
hook stops whatever is still running, so no run leaves servers behind.
"""

import atexit
import contextlib
import ctypes
import errno
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
WSGI_DIR = Path(__file__).resolve().parent / "wsgi"  # the entry modules gunicorn imports (--pythonpath)

WORKER_EXIT = re.compile(r"\] Worker \(pid:\d+\) exited with code (\d+)")
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # resolved here: a child between fork and exec must not look it up
_running: set["GunicornServer"] = set()
_running_lock = threading.Lock()


class ServiceFailed(RuntimeError):
    """A service command failed or a server did not come up; the message carries the tail of its log."""


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    # Eventlet (pulled in by oslo.service) prints a multi-line deprecation banner at every start.
    noise = (
        "EventletDeprecationWarning",
        "Eventlet is deprecated",
        "we strongly recommend against",
        "If you are already using Eventlet",
        "framework.  For more detail",
        "https://eventlet.readthedocs.io",
        "from eventlet import",
    )
    kept = [line for line in text if line.strip() and not any(n in line for n in noise)]
    return "\n".join(kept[-lines:])


class Commands:
    """Independent one-shot commands started at once, each appending its output to `log_path`.

    `wait()` raises ServiceFailed naming the failed ones, with the tails of `log_path` and of `related_logs`
    (the service's own log file, where oslo.log writes the actual error).
    """

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        related_logs: Sequence[Path] = (),
    ):
        self.log_path = log_path
        self.related_logs = related_logs
        self.started: list[tuple[Sequence[str], subprocess.Popen]] = []
        with open(log_path, "ab") as log:
            for argv in commands:
                log.write(f"$ {' '.join(argv)}\n".encode())
                log.flush()
                process = subprocess.Popen(
                    list(argv),
                    env=dict(env),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
                self.started.append((argv, process))

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        failures = []
        for argv, process in self.started:
            try:
                returncode = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process.pid, signal.SIGKILL)
                process.wait()
                returncode = f"timed out after {timeout} s"
            if returncode != 0:
                failures.append(f"{_command_name(argv)} failed (exit {returncode})")
        if failures:
            tails = [f"--- {path}\n{log_tail(path)}" for path in (self.log_path, *self.related_logs)]
            raise ServiceFailed("; ".join(failures) + "; last lines of the logs:\n" + "\n".join(tails))


def run_commands(commands: Sequence[Sequence[str]], **options) -> None:
    """Run independent commands at once and wait for all of them (options as for Commands)."""
    Commands(commands, **options).wait()


def _command_name(argv: Sequence[str]) -> str:
    """'keystone-manage db_sync' for '/venv/bin/keystone-manage --config-file X db_sync'."""
    words = [Path(argv[0]).name]
    rest = list(argv[1:])
    while rest and rest[0].startswith("--"):
        rest = rest[2:] if rest[0] == "--config-file" else rest[1:]
    return " ".join(words + rest[:1])


def service_environment(venv: Path, workdir: Path) -> dict[str, str]:
    """A service's environment: its venv first on PATH, nothing of the test run's own (OS_*, PYTHONPATH, ...)."""
    return {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
    }


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def port_refuses(port: int) -> bool:
    """True when a TCP connection to 127.0.0.1:`port` is refused (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect((LOOPBACK, port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


class GunicornServer:
    """A WSGI app of a service venv served by that venv's gunicorn on 127.0.0.1:`port`.

    `port` 0 picks a free one at the first start; later starts reuse it. The listening socket is bound here and
    handed to gunicorn (fd://), so no other process can take the port between choosing it and serving it.
    """

    def __init__(
        self,
        name: str,
        *,
        venv: Path,
        app: str,
        env: Mapping[str, str],
        workdir: Path,
        port: int = 0,
        ready_path: str = "/",
        workers: int = 1,
        threads: int = 4,
    ):
        self.name = name
        self.venv = venv
        self.app = app
        self.env = dict(env)
        self.workdir = workdir
        self.port = port
        self.ready_path = ready_path
        self.workers = workers
        self.threads = threads
        self.log_path = workdir / f"{name}-gunicorn.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reserve_port(self) -> int:
        """Choose the port now (a service may need its own URL in its database before it serves)."""
        if not self.port:
            self.port = free_port()
        return self.port

    def start(self, timeout: float = 90) -> None:
        """Start gunicorn and wait until `ready_path` answers; on failure raise ServiceFailed with the log tail."""
        if self.running:
            return
        listener = self._listen()
        argv = [
            str(self.venv / "bin" / "gunicorn"),
            "--bind",
            f"fd://{listener.fileno()}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--worker-class",
            "gthread",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--name",
            f"cellsv2-test-{self.name}",
            "--pythonpath",
            str(WSGI_DIR),
            "--chdir",
            str(self.workdir),
            self.app,
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} starting {' '.join(argv)}\n".encode())
            log.flush()
            log_offset = log.tell()
            try:
                self.process = subprocess.Popen(
                    argv,
                    env={**service_environment(self.venv, self.workdir), **self.env, "PYTHONUNBUFFERED": "1"},
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(listener.fileno(),),
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            finally:
                # gunicorn holds the socket now; keeping a copy here would let connections queue after a stop.
                listener.close()
        with _running_lock:
            _running.add(self)
        try:
            self._wait_ready(timeout, log_offset)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15) -> None:
        """Stop the whole process group; return once the port refuses connections."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                _kill_group(process.pid, signal.SIGINT)  # gunicorn's quick shutdown (TERM would drain for 5 s)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            _kill_group(process.pid, signal.SIGKILL)  # whatever of the group is left (a stuck worker)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            with _running_lock:
                _running.discard(self)
        if self.port:
            deadline = time.monotonic() + timeout
            while not port_refuses(self.port):
                if time.monotonic() > deadline:
                    raise ServiceFailed(f"{self.name} stopped but 127.0.0.1:{self.port} still accepts connections")
                time.sleep(0.05)

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((LOOPBACK, self.port))
        except OSError as error:
            listener.close()
            if error.errno == errno.EADDRINUSE:
                raise ServiceFailed(
                    f"cannot start {self.name}: 127.0.0.1:{self.port} is taken by another process"
                ) from error
            raise
        listener.listen(128)
        self.port = listener.getsockname()[1]
        return listener

    def _wait_ready(self, timeout: float, log_offset: int) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceFailed(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"last lines of its logs:\n{self.logs_tail()}"
                )
            # gunicorn's master respawns a worker that dies with any code but 3 (boot error), forever: a
            # service that exits on a bad setup (Keystone without its keys) would otherwise only time out.
            crashed = WORKER_EXIT.search(self._log_since(log_offset))
            if crashed:
                raise ServiceFailed(
                    f"{self.name}'s worker exited with code {crashed.group(1)} while starting; "
                    f"last lines of its logs:\n{self.logs_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as response:
                    if response.status < 500:
                        return
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return
                last_error = f"HTTP {error.code}"
            except (OSError, urllib.error.URLError) as error:
                last_error = str(error)
            time.sleep(0.1)
        raise ServiceFailed(
            f"{self.name} did not answer {self.url}{self.ready_path} within {timeout} s ({last_error}); "
            f"last lines of its logs:\n{self.logs_tail()}"
        )

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def logs_tail(self) -> str:
        """The gunicorn log's tail plus the service's own log files in the work directory."""
        parts = [f"--- {self.log_path}\n{log_tail(self.log_path)}"]
        for path in sorted(self.workdir.glob("*.log")):
            if path != self.log_path:
                parts.append(f"--- {path}\n{log_tail(path)}")
        return "\n".join(parts)


def stop_all() -> None:
    """Stop every server still running (atexit, and the fixtures' last resort)."""
    with _running_lock:
        servers = list(_running)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop(timeout=5)


atexit.register(stop_all)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the child leads its own session, so its pgid is its pid


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux prctl)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
