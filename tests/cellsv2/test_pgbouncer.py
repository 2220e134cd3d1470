"""cellsv2 behind PgBouncer in transaction mode (CELLSV2_DB_POOLER=pgbouncer), real processes.

PgBouncer holds ``POOL_SIZE`` server connections per database and hands one to a client per
transaction, so nothing a process leaves on a server session may be relied on: the lock of
cellsv2/locks.py, migrate's statement timeout, Django's holdable cursors. Each test drives the
product's own processes (gunicorn, the conductor, manage.py) through the bouncer.
"""

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

from benchmarks.pgbouncer import PgBouncer
from cellsv2.dburls import apply_connection_limits, parse_database_url
from tests.fixtures.pgbouncer import CELL_TIMEOUT_MS
from tests.support import BIN, ROOT, GunicornApi, manage

IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
LIMITS = {"connect_timeout": 5, "tcp_user_timeout": 30, "pool_size": 10, "pool_timeout": 5, "pool_max_idle": 60}


def shell(env: dict, code: str, **kwargs) -> subprocess.CompletedProcess:
    """``manage.py shell -c CODE`` in a process of its own (its result, whatever the exit code)."""
    return subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def call(url: str, method: str, path: str, body=None, *, token="alice:demo"):
    request = urllib.request.Request(
        url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Auth-Token": token, "Content-Type": "application/json", "X-OpenStack-Nova-API-Version": "2.37"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- the settings (no database needed) ---------------------------------------------------------


def test_behind_pgbouncer_a_connection_sends_no_startup_options_and_opens_no_server_side_cursor():
    url = "postgresql://postgres@127.0.0.1:6432/cell1"
    direct = apply_connection_limits(parse_database_url(url), {**LIMITS, "pooler": ""}, statement_timeout=30)
    assert direct["OPTIONS"]["options"] == "-c statement_timeout=30000"
    assert not direct.get("DISABLE_SERVER_SIDE_CURSORS")

    pooled = apply_connection_limits(parse_database_url(url), {**LIMITS, "pooler": "pgbouncer"}, statement_timeout=30)
    assert "options" not in pooled["OPTIONS"]  # PgBouncer refuses a connection that sends them
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["OPTIONS"]["prepare_threshold"] is None
    assert pooled["OPTIONS"]["pool"]["max_size"] == 10  # the process's own pool is kept


def test_a_url_through_the_bouncer_keeps_its_user_database_and_query(tmp_path):
    bouncer = PgBouncer(tmp_path)
    bouncer.port = 6543
    assert bouncer.url("postgresql://nova:secret@db1:5432/nova_cell1?sslmode=disable") == (
        "postgresql://nova:secret@127.0.0.1:6543/nova_cell1?sslmode=disable"
    )
    assert bouncer.url("postgresql://127.0.0.1/nova_api") == "postgresql://127.0.0.1:6543/nova_api"


def test_an_unknown_pooler_is_refused_at_start():
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CELLSV2_DB_POOLER": "pgpool"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CELLSV2_DB_POOLER must be empty or pgbouncer, not 'pgpool'" in done.stderr


# --- real processes through the bouncer (PostgreSQL run) ----------------------------------------


def test_the_api_serves_servers_and_key_pairs_across_cells_and_the_conductor_places_them(pgbouncer_deployment):
    env = pgbouncer_deployment.env
    api = GunicornApi(env, "api", pgbouncer_deployment.data)
    try:
        api.wait_ready()
        created = {}
        # Forced onto node1 (cell1), node2 (cell2), and a host that does not exist (buried in cell0).
        for zone in ("nova:node1", "nova:node2", "nova:node1", "nova:node2", "nova:nowhere"):
            body = {"server": {"name": zone, "flavorRef": "1", "imageRef": IMAGE, "networks": "none"}}
            body["server"]["availability_zone"] = zone
            status, answer = call(api.url, "POST", "/v2.1/servers", body, token="admin:demo")
            assert status == 202, answer
            created[answer["server"]["id"]] = zone

        # The conductor places the waiting build requests through the bouncer too.
        manage(env, "conductor", "--once")

        # Many requests at once (2 workers x 2 threads, each listing queries every cell in threads):
        # far more client connections than the bouncer's server connections.
        results, errors = [], []

        def listing():
            try:
                for _ in range(3):
                    results.append(call(api.url, "GET", "/v2.1/servers/detail", token="admin:demo"))
            except Exception as exc:  # the assertion below shows it
                errors.append(exc)

        threads = [threading.Thread(target=listing) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert len(results) == 18
        for status, answer in results:
            assert status == 200, answer
            assert {s["id"] for s in answer["servers"]} == set(created)

        for uuid, zone in created.items():
            status, answer = call(api.url, "GET", f"/v2.1/servers/{uuid}", token="admin:demo")
            assert status == 200, answer
            expected = "ERROR" if zone == "nova:nowhere" else "ACTIVE"
            assert answer["server"]["status"] == expected, (zone, answer["server"])
            if expected == "ACTIVE":
                assert answer["server"]["OS-EXT-SRV-ATTR:host"] == zone.split(":")[1]

        # Key pairs (the API database): created, listed, shown, deleted.
        for name in ("k1", "k2", "k3"):
            status, answer = call(api.url, "POST", "/v2.1/os-keypairs", {"keypair": {"name": name}})
            assert status == 201, answer
        status, answer = call(api.url, "GET", "/v2.1/os-keypairs")
        assert status == 200 and sorted(k["keypair"]["name"] for k in answer["keypairs"]) == ["k1", "k2", "k3"]
        status, answer = call(api.url, "GET", "/v2.1/os-keypairs/k2")
        assert status == 200 and answer["keypair"]["name"] == "k2"
        assert call(api.url, "DELETE", "/v2.1/os-keypairs/k2")[0] == 204
        assert call(api.url, "GET", "/v2.1/os-keypairs/k2")[0] == 404
    finally:
        api.stop()
    assert "Traceback" not in api.log.read_text()


HOLD_LOCK = (
    "import sys\n"
    "from cellsv2.locks import runner_lock\n"
    "with runner_lock('online_data_migrations'):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


def test_the_runner_lock_held_by_one_process_is_refused_to_another(pgbouncer_deployment):
    env = pgbouncer_deployment.env
    holder = subprocess.Popen(
        [str(BIN / "python"), "manage.py", "shell", "--no-imports", "-c", HOLD_LOCK],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read() if holder.poll() is not None else ""
        # The bouncer hands the other process whichever server connection is free: the one the
        # holder last used, with a session-level lock, would "hold" it as well.
        for _ in range(2):
            refused = subprocess.run(
                [str(BIN / "python"), "manage.py", "online_data_migrations"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert refused.returncode == 3, refused.stdout + refused.stderr
            assert "already running elsewhere" in refused.stderr
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert holder.returncode == 0, holder.stderr.read()
    # Released with its holder: the next run takes it.
    manage(env, "online_data_migrations")


SEED_LEGACY_KEYPAIRS = (
    "from cellsv2.context import target_cell\n"
    "from keypairs import crypto\n"
    "from keypairs.models import LegacyKeyPair\n"
    "for cell in ('cell1', 'cell2'):\n"
    "    with target_cell(cell):\n"
    "        for i in range(40):\n"
    "            public_key = crypto.generate_ssh_keypair()[0]\n"
    "            LegacyKeyPair.objects.create(user_id=f'u{i % 3}', name=f'{cell}-{i}', public_key=public_key,\n"
    "                fingerprint=crypto.ssh_fingerprint(public_key))\n"
)


def test_online_data_migrations_move_key_pairs_through_the_bouncer(pgbouncer_deployment):
    env = pgbouncer_deployment.env
    seeded = shell(env, SEED_LEGACY_KEYPAIRS)
    assert seeded.returncode == 0, seeded.stderr
    partial = subprocess.run(
        [str(BIN / "python"), "manage.py", "online_data_migrations", "--max-count", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert partial.returncode == 1, partial.stdout + partial.stderr  # Nova's "more to do"
    assert "7 migrated" in partial.stdout
    manage(env, "online_data_migrations")
    counted = shell(
        env,
        "from keypairs.models import KeyPair\nprint(KeyPair.objects.filter(name__startswith='cell').count())",
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip().splitlines()[-1] == "80"


SLEEP_IN_CELL = (
    "from django.db import DatabaseError\n"
    "from cellsv2.db import sql\n"
    "for attempt in range(3):\n"
    "    try:\n"
    "        sql.fetch_value('cell1', 'SELECT pg_sleep(%s)', [{seconds}])\n"
    "        print('finished')\n"
    "    except DatabaseError as exc:\n"
    "        print('cancelled' if 'statement timeout' in str(exc) else f'failed: {{exc}}')\n"
)


def test_the_cells_statement_timeout_still_applies_after_migrate(pgbouncer_deployment):
    env = pgbouncer_deployment.env
    seconds = CELL_TIMEOUT_MS / 1000 + 1
    # migrate lifts the timeout for its schema changes; behind the bouncer that must not stay on
    # the server connections the cells' queries get next.
    manage(env, "migrate")
    manage(env, "migrate", "--database", "cell1")
    started = time.monotonic()
    done = shell(env, SLEEP_IN_CELL.format(seconds=seconds))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cancelled"] * 3, done.stdout
    assert time.monotonic() - started < 3 * seconds + 30


ITERATE_WHILE_ANOTHER_TRANSACTION_RUNS = (
    "import threading, time\n"
    "from django.db import connections, transaction\n"
    "from django.db.migrations.recorder import MigrationRecorder\n"
    "from cellsv2.db import sql\n"
    "rows = MigrationRecorder(connections['cell1']).migration_qs.iterator(chunk_size=1)\n"
    "first = next(rows)\n"
    "def busy():\n"
    "    with transaction.atomic(using='cell1'):\n"
    "        sql.fetch_value('cell1', 'SELECT pg_sleep(1)')\n"
    "    connections.close_all()\n"
    "other = threading.Thread(target=busy)\n"
    "other.start()\n"
    "time.sleep(0.3)\n"
    "print(1 + sum(1 for _ in rows))\n"
    "other.join()\n"
)


def test_an_iterator_survives_another_transaction_taking_its_server_connection(pgbouncer_deployment):
    """Django's ``.iterator()`` would keep a holdable cursor on the server connection it started
    on; the bouncer gives that connection to the other thread's transaction meanwhile."""
    done = shell(pgbouncer_deployment.env, ITERATE_WHILE_ANOTHER_TRANSACTION_RUNS)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 5


def test_the_bouncer_shares_its_server_connections(pgbouncer_deployment):
    """The setting the tests above rely on: a handful of server connections per database."""
    import psycopg

    with psycopg.connect(f"{pgbouncer_deployment.direct}/postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname, count(*) FROM pg_stat_activity WHERE datname LIKE %s GROUP BY datname",
            [pgbouncer_deployment.names["api"].rsplit("_", 1)[0] + "%"],
        ).fetchall()
    assert all(count <= 2 for _, count in rows), rows
