"""Virtualenvs of the OpenStack services the tests run, built once from pinned files and cached outside the repo.

Each service has its own venv (its pins never touch cellsv2's .venv nor each other), made with the interpreter
cellsv2's .venv was made from. A venv is keyed by the sha256 of its requirements file, so editing the file
builds a new one; a build runs under a file lock, so parallel pytest processes build it once and the others wait.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Tempest is no service but is installed the same way (scripts/tempest runs it against a running cellsv2).
SERVICES = ("keystone", "glance", "tempest")
COMPLETE_MARKER = ".cellsv2-venv-complete"  # written last: a venv without it is a half-built one
BUILD_TIMEOUT = 20 * 60  # seconds for `pip install` of one venv
LOCK_TIMEOUT = 30 * 60  # seconds to wait for another process building the same venv


class VenvUnavailable(RuntimeError):
    """A service's venv could not be built (no package registry, a failed install).

    The fixtures turn it into a skip, or into a failure under CI=true.
    """


def cache_root() -> Path:
    """Where the venvs live: $CELLSV2_CLOUD_VENVS, else $XDG_CACHE_HOME/cellsv2/venvs (~/.cache/cellsv2/venvs)."""
    configured = os.environ.get("CELLSV2_CLOUD_VENVS", "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(cache_home) / "cellsv2" / "venvs"


def requirements_file(name: str) -> Path:
    """The pinned requirements of service `name` (tests/cloud_services/<name>-requirements.txt)."""
    if name not in SERVICES:
        raise ValueError(f"unknown service venv {name!r} (known: {', '.join(SERVICES)})")
    return HERE / f"{name}-requirements.txt"


def venv_path(name: str, requirements: Path | None = None) -> Path:
    """The venv of `name` for the current content of its requirements file."""
    requirements = requirements or requirements_file(name)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    return cache_root() / f"{name}-{digest}"


def base_python() -> str:
    """The interpreter cellsv2's own venv was made from (so the services run on the same Python 3.11)."""
    candidate = getattr(sys, "_base_executable", "") or sys.executable
    if candidate and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}")
    if found is None:
        raise VenvUnavailable(f"no python{sys.version_info.major}.{sys.version_info.minor} to build service venvs")
    return found


def announce(message: str) -> None:
    """One line on the real stderr: a first build takes a minute, and pytest would otherwise hide why."""
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"[cloud_services] {message}\n")
    stream.flush()


def ensure_venv(name: str, requirements: Path | None = None) -> Path:
    """Return the venv of `name`, building it first if its requirements file (content) has none yet.

    `requirements` replaces the service's own file (the tooling's tests build a venv of nothing with it).
    """
    requirements = requirements or requirements_file(name)
    path = venv_path(name, requirements)
    if _is_complete(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path.with_name(path.name + ".lock"), name):
        if not _is_complete(path):  # another process may have built it while this one waited
            _build(name, path, requirements)
    return path


def venv_info(path: Path) -> dict:
    """What the build of the venv at `path` recorded (seconds, python, size), or {} for no complete venv there."""
    marker = path / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}


def clear(name: str | None = None) -> list[Path]:
    """Remove the cached venvs (every version) of one service, or of all of them; return the removed paths."""
    root = cache_root()
    if name is not None:
        requirements_file(name)  # an unknown name is an error, not "nothing to clear"
    services = SERVICES if name is None else (name,)
    removed = []
    for service in services:
        for venv in sorted(root.glob(f"{service}-*")) if root.is_dir() else ():
            if not venv.is_dir():
                continue
            with _build_lock(venv.with_name(venv.name + ".lock"), service):  # never under a running build
                shutil.rmtree(venv)
            venv.with_name(venv.name + ".build.log").unlink(missing_ok=True)
            removed.append(venv)
    return removed


def _is_complete(path: Path) -> bool:
    if not (path / COMPLETE_MARKER).is_file():
        return False
    # A venv links to its base interpreter; one removed or upgraded since leaves a venv that cannot start.
    python = path / "bin" / "python"
    try:
        return subprocess.run([python, "-c", ""], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def _build_lock(lock_path: Path, name: str) -> Iterator[None]:
    """An exclusive flock on `lock_path` (released by the kernel if the holder dies)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    announce(f"waiting for another process building the {name} venv ({lock_path})")
                    waiting = True
                if time.monotonic() > deadline:
                    raise VenvUnavailable(
                        f"gave up after {LOCK_TIMEOUT} s waiting for another process building the {name} venv "
                        f"(lock {lock_path})"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(name: str, path: Path, requirements: Path) -> None:
    """Create the venv at `path` and pip-install the pinned requirements (caller holds the lock)."""
    log_path = path.with_name(path.name + ".build.log")
    if path.exists():
        shutil.rmtree(path)  # a half-built one (interrupted build) or one whose interpreter is gone
    python = base_python()
    announce(f"building the {name} venv {path} from {requirements.name} (first use, about a minute)")
    started = time.monotonic()
    with open(log_path, "w") as log:
        steps = [
            [python, "-m", "venv", str(path)],
            [
                str(path / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--no-input",
                "--disable-pip-version-check",
                "--retries",
                "2",  # an unreachable registry fails in seconds, not after pip's default 5 x 180 s
                "--timeout",
                "60",
                "-r",
                str(requirements),
            ],
        ]
        for argv in steps:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            try:
                result = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT
                )
                returncode = result.returncode
            except subprocess.TimeoutExpired:
                returncode = f"timed out after {BUILD_TIMEOUT} s"
            except OSError as error:
                returncode = str(error)
            if returncode != 0:
                log.flush()
                shutil.rmtree(path, ignore_errors=True)
                raise VenvUnavailable(
                    f"could not build the {name} venv ({argv[2] if argv[1] == '-m' else argv[0]}: {returncode}); "
                    f"last lines of {log_path}:\n{_relevant_tail(log_path)}"
                )
    seconds = time.monotonic() - started
    info = {
        "service": name,
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "python": python,
        "python_version": subprocess.run(
            [path / "bin" / "python", "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "build_seconds": round(seconds, 1),
        "size_bytes": _tree_size(path),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (path / COMPLETE_MARKER).write_text(json.dumps(info, indent=2) + "\n")
    announce(f"built the {name} venv in {seconds:.1f} s ({info['size_bytes'] / 2**20:.0f} MiB, log {log_path})")


def _relevant_tail(log_path: Path, lines: int = 25) -> str:
    # The machine's pip configuration may name local index folders that do not exist; pip warns about each
    # one on every lookup, which would push the actual error out of the tail.
    text = log_path.read_text(errors="replace").splitlines()
    kept = [line for line in text if "is ignored: it is neither a file nor a directory" not in line]
    return "\n".join(kept[-lines:])


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, file)).st_size
    return total
