"""Benchmark-only prototypes of the fixes proposed for two missed targets (never used by the app).

They do what the application's functions do, set-based in SQL instead of through model instances,
so that the report can show what the proposed change would bring, measured in the same run on
the same rows. PostgreSQL only.

- ``keypairs_move``: ``migrate_keypairs_to_api_db`` with keyset paging (``id > last``, not
  ``deleted = 0 ORDER BY id``, which re-reads every row already soft-deleted), one
  ``INSERT ... SELECT FROM unnest(...) ON CONFLICT (user_id, name) DO NOTHING RETURNING``, one
  exact-pair lookup of the rows that were not inserted (conflict candidates), and one
  ``UPDATE ... WHERE id = ANY(...)`` soft delete per batch.
- ``instances_map``: ``instances_map`` with one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT
  (instance_uuid) DO NOTHING`` per batch instead of ``bulk_create`` of model instances, and the
  same resume marker row written in the same transaction.
"""

from django.db import connections, transaction

API = "api"


def keypairs_move(cells: list[str], batch: int = 1000) -> dict:
    api = connections[API]
    moved = conflicts = 0
    for alias in cells:
        cell = connections[alias]
        last = 0
        while True:
            with cell.cursor() as cursor:
                cursor.execute(
                    "SELECT id, name, user_id, fingerprint, public_key, type, created_at FROM key_pairs "
                    "WHERE deleted = 0 AND id > %s ORDER BY id LIMIT %s",
                    [last, batch],
                )
                rows = cursor.fetchall()
            if not rows:
                break
            movable = [r for r in rows if r[2]]
            with transaction.atomic(using=API), api.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type, created_at)
                    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                                         %s::timestamptz[])
                    ON CONFLICT (user_id, name) DO NOTHING
                    RETURNING user_id, name
                    """,
                    [[r[i] for r in movable] for i in range(1, 7)],
                )
                inserted = set(cursor.fetchall())
                candidates = [r for r in movable if (r[2], r[1]) not in inserted]
                if candidates:
                    cursor.execute(
                        "SELECT k.user_id, k.name, k.public_key FROM key_pairs k "
                        "JOIN unnest(%s::text[], %s::text[]) AS c(user_id, name) USING (user_id, name)",
                        [[r[2] for r in candidates], [r[1] for r in candidates]],
                    )
                    in_api = {(u, n): key for u, n, key in cursor.fetchall()}
                    conflicts += sum(
                        1 for r in candidates if (in_api.get((r[2], r[1])) or "").strip() != (r[4] or "").strip()
                    )
            with transaction.atomic(using=alias), cell.cursor() as cursor:
                cursor.execute(
                    "UPDATE key_pairs SET deleted = id, deleted_at = now() WHERE id = ANY(%s) AND deleted = 0",
                    [[r[0] for r in rows]],
                )
            moved += len(rows)
            last = rows[-1][0]
    return {"moved": moved, "conflicts": conflicts}


def instances_map(cell_alias: str, cell_id: int, batch: int = 2000) -> int:
    from mappings.selectors import INSTANCE_MIGRATION_MARKER

    api, cell = connections[API], connections[cell_alias]
    last, processed = 0, 0
    while True:
        with cell.cursor() as cursor:
            cursor.execute(
                "SELECT id, uuid, project_id, user_id FROM instances WHERE id > %s ORDER BY id LIMIT %s",
                [last, batch],
            )
            rows = cursor.fetchall()
        more = len(rows) == batch
        with transaction.atomic(using=API), api.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO instance_mappings (instance_uuid, cell_id, project_id, user_id, queued_for_delete,
                                               created_at)
                SELECT u, %s, coalesce(p, ''), us, false, now()
                FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(u, p, us)
                ON CONFLICT (instance_uuid) DO NOTHING
                """,
                [cell_id, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
            )
            cursor.execute("DELETE FROM instance_mappings WHERE project_id = %s", [INSTANCE_MIGRATION_MARKER])
            if more:
                cursor.execute(
                    "INSERT INTO instance_mappings (instance_uuid, project_id, user_id, queued_for_delete, "
                    "created_at) VALUES (%s, %s, %s, false, now())",
                    [rows[-1][1].replace("-", " "), INSTANCE_MIGRATION_MARKER, INSTANCE_MIGRATION_MARKER],
                )
        processed += len(rows)
        if not more:
            return processed
        last = rows[-1][0]
