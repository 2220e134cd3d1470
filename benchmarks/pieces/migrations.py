"""Piece 4 (PostgreSQL): online data migrations against a raw COPY of the same rows.

Legacy rows are seeded in the cells with SQL (so the Python process holds none of them), then:

1. the baseline: the same live rows copied cell -> API database with ``COPY ... TO STDOUT`` piped
   into ``COPY ... FROM STDIN`` (psycopg), into scratch tables shaped like the targets
   (``LIKE ... INCLUDING ALL``: same indexes), dropped afterwards; no soft delete in the cells;
2. ours: ``manage.py online_data_migrations`` (batches of its default size until done), in-process.

Each timed phase starts right after a CHECKPOINT, so neither pays for the other's writes.

Memory: peak RSS of the process (getrusage) and its RSS sampled every 20 ms during the run.
"""

import threading
import time
from io import StringIO

from django.core.management import call_command
from django.db import connections

from benchmarks.common import current_rss_mb, peak_rss_mb

PUBKEY = "ssh-rsa " + "A" * 372 + " bench@legacy"
FINGERPRINT = "1e:2c:9b:56:79:4b:45:77:f9:ca:7a:98:2c:b0:d5:3c"


def _ordinals(index: int, of: int, per_cell: int) -> str:
    return f"SELECT (g - 1) * {int(of)} + {int(index)} AS o FROM generate_series(1, {int(per_cell)}) g"


def seed_keypairs(cells: list[str], per_cell: int, users: int) -> None:
    for index, alias in enumerate(cells, start=1):
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type, created_at, deleted)
                SELECT 'key-' || o, 'user-' || (o %% {int(users)}), %s, %s, 'ssh',
                       timestamptz '2025-01-01 00:00:00+00' + o * interval '1 second', 0
                FROM ({_ordinals(index, len(cells), per_cell)}) s
                """,
                [FINGERPRINT, PUBKEY],
            )
            cursor.execute("ANALYZE")


def seed_groups(cells: list[str], per_cell: int, members: int) -> None:
    for index, alias in enumerate(cells, start=1):
        with connections[alias].cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO instance_groups (uuid, name, project_id, user_id, created_at, deleted)
                SELECT md5('group-' || o)::uuid::text, 'group-' || o, 'project-' || (o % 1000),
                       'user-' || (o % 1000), timestamptz '2025-01-01 00:00:00+00' + o * interval '1 second', 0
                FROM ({_ordinals(index, len(cells), per_cell)}) s
                """
            )
            cursor.execute(
                "INSERT INTO instance_group_policy (policy, group_id, created_at, deleted) "
                "SELECT 'anti-affinity', id, created_at, 0 FROM instance_groups"
            )
            cursor.execute(
                f"""
                INSERT INTO instance_group_member (instance_id, group_id, created_at, deleted)
                SELECT md5(g.uuid || '-' || m)::uuid::text, g.id, g.created_at, 0
                FROM instance_groups g, generate_series(1, {int(members)}) m
                """
            )
            cursor.execute("ANALYZE")


def checkpoint() -> None:
    """Flush the PostgreSQL server's dirty buffers (every database here lives on it).

    Called right before each timed phase, so that neither the COPY baseline nor ours pays for a
    checkpoint the writes before it (seeding, the other phase, earlier pieces) made due.
    """
    with connections["api"].cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _copy(cells: list[str], select: str, table: str, columns: str) -> int:
    """COPY the rows of ``select`` from every cell into a scratch copy of ``table`` in the API database."""
    scratch = f"bench_copy_{table}"
    api = connections["api"]
    api.ensure_connection()
    with api.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{scratch}"')
        cursor.execute(f'CREATE TABLE "{scratch}" (LIKE "{table}" INCLUDING ALL)')
    rows = 0
    try:
        for alias in cells:
            source = connections[alias]
            source.ensure_connection()
            with (
                source.connection.cursor() as src_cursor,
                api.connection.cursor() as dst_cursor,
                src_cursor.copy(f"COPY ({select}) TO STDOUT") as src,
                dst_cursor.copy(f'COPY "{scratch}" ({columns}) FROM STDIN') as dst,
            ):
                for data in src:
                    dst.write(data)
            with api.cursor() as cursor:
                cursor.execute(f'SELECT count(*) FROM "{scratch}"')
                rows = cursor.fetchone()[0]
    finally:
        with api.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{scratch}"')
    return rows


class _RssSampler:
    def __init__(self, interval: float = 0.02):
        self.samples: list[float] = []
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(current_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _run_command() -> tuple[float, list[float], float, float]:
    rss_before = current_rss_mb()
    with _RssSampler() as sampler:
        t0 = time.perf_counter()
        call_command("online_data_migrations", stdout=StringIO(), stderr=StringIO())
        elapsed = time.perf_counter() - t0
    return elapsed, sampler.samples, rss_before, peak_rss_mb()


def keypairs(*, cells: list[str], per_cell: int, users: int = 10000) -> dict:
    """Child task: seed legacy key pairs, COPY baseline, then the online data migration."""
    from benchmarks.pieces.setup import map_cells
    from keypairs.models import KeyPair, LegacyKeyPair

    map_cells(cells)
    t0 = time.perf_counter()
    seed_keypairs(cells, per_cell, users)
    seed_s = time.perf_counter() - t0
    checkpoint()
    t0 = time.perf_counter()
    copied = _copy(
        cells,
        "SELECT name, user_id, fingerprint, public_key, type, created_at FROM key_pairs WHERE deleted = 0",
        "key_pairs",
        "name, user_id, fingerprint, public_key, type, created_at",
    )
    copy_s = time.perf_counter() - t0
    checkpoint()
    elapsed, rss, rss_before, peak = _run_command()
    moved = KeyPair.objects.count()
    from cellsv2.context import target_cell

    left = 0
    for alias in cells:
        with target_cell(alias):
            left += LegacyKeyPair.objects.live().count()
    total = per_cell * len(cells)
    assert copied == total, (copied, total)
    assert moved == total and left == 0, (moved, left)
    return {
        "rows": total,
        "seed_s": round(seed_s, 2),
        "copy_s": round(copy_s, 3),
        "copy_rows_per_s": round(total / copy_s),
        "migrate_s": round(elapsed, 3),
        "migrate_rows_per_s": round(total / elapsed),
        "rss_before_mb": rss_before,
        "rss_max_sampled_mb": max(rss) if rss else None,
        "peak_rss_mb": peak,
    }


def groups(*, cells: list[str], per_cell: int, members: int = 3) -> dict:
    """Child task: seed legacy server groups (1 policy, ``members`` members), COPY baseline, migrate.

    The baseline copies the same live rows as the move writes (groups, their policies, their
    members: ``1 + 1 + members`` rows a group), each table into its scratch twin; it keeps the
    cells' group ids where the move maps them to API ids.
    """
    from benchmarks.pieces.setup import map_cells
    from cellsv2.context import target_cell
    from servergroups.models import InstanceGroup, InstanceGroupMember, InstanceGroupPolicy, LegacyInstanceGroup

    map_cells(cells)
    seed_groups(cells, per_cell, members)
    checkpoint()
    t0 = time.perf_counter()
    copied = _copy(
        cells,
        "SELECT uuid, name, project_id, user_id, created_at FROM instance_groups WHERE deleted = 0",
        "instance_groups",
        "uuid, name, project_id, user_id, created_at",
    )
    copied_policies = _copy(
        cells,
        "SELECT policy, group_id, created_at FROM instance_group_policy WHERE deleted = 0",
        "instance_group_policy",
        "policy, group_id, created_at",
    )
    copied_members = _copy(
        cells,
        "SELECT instance_id, group_id, created_at FROM instance_group_member WHERE deleted = 0",
        "instance_group_member",
        "instance_uuid, group_id, created_at",
    )
    copy_s = time.perf_counter() - t0
    checkpoint()
    elapsed, rss, rss_before, peak = _run_command()
    total = per_cell * len(cells)
    left = 0
    for alias in cells:
        with target_cell(alias):
            left += LegacyInstanceGroup.objects.live().count()
    assert (copied, copied_policies, copied_members) == (total, total, total * members)
    assert InstanceGroup.objects.count() == InstanceGroupPolicy.objects.count() == total
    assert InstanceGroupMember.objects.count() == total * members
    assert left == 0, left
    return {
        "groups": total,
        "members": total * members,
        "copy_rows": copied + copied_policies + copied_members,
        "copy_s": round(copy_s, 3),
        "copy_groups_per_s": round(total / copy_s),
        "migrate_s": round(elapsed, 3),
        "migrate_groups_per_s": round(total / elapsed),
        "rss_before_mb": rss_before,
        "rss_max_sampled_mb": max(rss) if rss else None,
        "peak_rss_mb": peak,
    }
