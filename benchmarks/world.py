"""Databases of a benchmark run, and the child processes that use them.

Parent side (no Django): ``Run`` owns a temporary directory and a run id. It migrates one API
database and one cell database once (``templates``), then gives every piece fresh copies
(``World``): ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL (127.0.0.1:5432, user postgres, or
``CELLSV2_BENCH_PG``), file copies on SQLite, in the temporary directory. Everything it created
is dropped at the end, also after a failure.

Child side: ``python -m benchmarks.child TASK CONFIG RESULT`` sets the world's CELLSV2_*
variables, then ``django.setup()`` with ``benchmarks.settings``, and runs one task function
(``module:function`` under benchmarks.pieces). Each piece runs in its own processes, so each
gets exactly the cells it asks for, and peak memory is measured per process.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("CELLSV2_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")

# Counted like Nova's harness (quotas still counted, never hit): a finite limit far above use.
QUOTA_ENV = {
    f"CELLSV2_QUOTA_{name}": "100000000"
    for name in ("INSTANCES", "CORES", "RAM", "KEY_PAIRS", "SERVER_GROUPS", "SERVER_GROUP_MEMBERS")
}


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(f"{PG_BASE}/postgres", connect_timeout=3):
            return True
    except Exception:
        return False


def _pg_admin():
    import psycopg

    return psycopg.connect(f"{PG_BASE}/postgres", autocommit=True)


class ChildFailed(RuntimeError):
    pass


@dataclass
class World:
    """A set of databases: ``api`` + ``cell0`` + the named cells, made from the templates."""

    run: "Run"
    kind: str
    tag: str
    cells: list[str]
    urls: dict[str, str] = field(default_factory=dict)

    def env(self, **extra) -> dict[str, str]:
        cell_urls = ",".join(f"{alias}={url}" for alias, url in self.urls.items() if alias != "api")
        env = {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "CELLSV2_API_DATABASE_URL": self.urls["api"],
            "CELLSV2_CELL_DATABASE_URLS": cell_urls,
            "CELLSV2_DATA_DIR": str(self.run.tmp),
            "CELLSV2_AUTH": "headers",
            "CELLSV2_DEBUG": "false",
            "CELLSV2_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "CELLSV2_CONN_MAX_AGE": "3600",
            "CELLSV2_CONDUCTOR_MODE": "worker",
            "CELLSV2_CELL_CACHE_SECONDS": "3600",
            "CELLSV2_LOG_LEVEL": "ERROR",
            **QUOTA_ENV,
        }
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def child(self, task: str, params: dict | None = None, *, env: dict | None = None, timeout: float = 1800):
        return self.run.child(task, params or {}, self.env(**(env or {})), timeout=timeout, label=self.tag)

    def drop(self):
        self.run.drop_world(self)


class Run:
    def __init__(self, kind: str, log_dir: Path):
        self.kind = kind
        self.id = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"cellsv2-bench-{self.id}-"))
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pg_names: list[str] = []
        self.template: dict[str, str] | None = None

    # --- names and URLs -------------------------------------------------------------------
    def _name(self, tag: str, alias: str) -> str:
        return f"cellsv2_bench_{self.id}_{tag}_{alias}".replace("-", "_").lower()

    def _url(self, kind: str, tag: str, alias: str) -> str:
        if kind == "postgres":
            return f"{PG_BASE}/{self._name(tag, alias)}"
        return f"sqlite:///{self.tmp / f'{tag}_{alias}.sqlite3'}"

    # --- templates ------------------------------------------------------------------------
    def templates(self, kind: str) -> dict[str, str]:
        """Migrated API and cell databases to copy from (made once per run and kind)."""
        key = f"_template_{kind}"
        if getattr(self, key, None) is None:
            urls = {"api": self._url(kind, "tpl", "api"), "cell0": self._url(kind, "tpl", "cell")}
            if kind == "postgres":
                with _pg_admin() as admin:
                    for url in urls.values():
                        name = url.rsplit("/", 1)[1]
                        admin.execute(f'CREATE DATABASE "{name}"')
                        self.pg_names.append(name)
            world = World(self, kind, "tpl", [], urls=urls)
            t0 = time.perf_counter()
            world.child("benchmarks.pieces.setup:migrate")
            print(f"  migrated {kind} templates in {time.perf_counter() - t0:.1f} s", flush=True)
            setattr(self, key, urls)
        return getattr(self, key)

    def world(self, kind: str, tag: str, cells: list[str]) -> World:
        """Fresh api + cell0 + ``cells`` databases copied from the migrated templates."""
        template = self.templates(kind)
        world = World(self, kind, tag, list(cells))
        for alias in ["api", "cell0", *cells]:
            source = template["api"] if alias == "api" else template["cell0"]
            url = self._url(kind, tag, alias)
            if kind == "postgres":
                name, source_name = url.rsplit("/", 1)[1], source.rsplit("/", 1)[1]
                with _pg_admin() as admin:
                    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source_name}"')
                self.pg_names.append(name)
            else:
                src = Path(source.removeprefix("sqlite:///"))
                dst = Path(url.removeprefix("sqlite:///"))
                shutil.copyfile(src, dst)
            world.urls[alias] = url
        return world

    def drop_world(self, world: World) -> None:
        for url in world.urls.values():
            if url.startswith("sqlite:///"):
                for suffix in ("", "-wal", "-shm"):
                    Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            else:
                name = url.rsplit("/", 1)[1]
                with _pg_admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if name in self.pg_names:
                    self.pg_names.remove(name)
        world.urls.clear()

    def cleanup(self) -> None:
        if self.pg_names:
            with _pg_admin() as admin:
                for name in list(self.pg_names):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.pg_names.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- child processes ------------------------------------------------------------------
    def child(self, task: str, params: dict, env: dict, *, timeout: float, label: str) -> dict:
        stamp = f"{label}-{task.rsplit(':', 1)[1]}-{secrets.token_hex(2)}"
        config = self.tmp / f"{stamp}.config.json"
        result = self.tmp / f"{stamp}.result.json"
        config.write_text(json.dumps({"task": task, "params": params}))
        log = self.log_dir / f"{stamp}.log"
        full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
        with open(log, "w") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.child", str(config), str(result)],
                cwd=REPO,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if proc.returncode != 0 or not result.exists():
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise ChildFailed(f"{task} ({label}) failed with exit {proc.returncode}; log {log}:\n{tail}")
        data = json.loads(result.read_text())
        config.unlink(missing_ok=True)
        result.unlink(missing_ok=True)
        return data
