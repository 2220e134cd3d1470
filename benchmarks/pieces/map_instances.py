"""Piece 5 (PostgreSQL): ``cell_v2 map_instances`` over one cell, interrupted half-way and resumed.

Phase 1 runs ``instances_map(max_count=2000)`` (the command's ``--max-count``) again and again
until half the instances are mapped, as an operator who stops and restarts it would; phase 2
resumes from the marker with no limit to the end. Rate = instances / (phase 1 + phase 2).

The ceiling, measured right before on the same rows: a raw ``COPY`` of the instances' uuids,
project and user ids from the cell into a scratch copy of ``instance_mappings`` (``LIKE ...
INCLUDING ALL``: its six indexes), the least work that writes those mappings at all.
"""

import time

from django.db import connections


def seed_instances(alias: str, count: int) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO instances (uuid, user_id, project_id, vm_state, created_at, deleted)
            SELECT md5('map-' || g)::uuid::text, 'user-' || (g %% 1000), 'project-' || (g %% 500), 'active',
                   timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second', 0
            FROM generate_series(1, %s) g
            """,
            [count],
        )
        cursor.execute("ANALYZE")


def map_instances(*, count: int, step: int = 2000) -> dict:
    """Child task."""
    from benchmarks.pieces.setup import map_cells
    from mappings.models import InstanceMapping
    from mappings.selectors import INSTANCE_MIGRATION_MARKER
    from operators.services import instances_map

    cell = map_cells(["cell1"])["cell1"]
    seed_instances("cell1", count)
    from benchmarks.pieces.migrations import _copy, checkpoint

    checkpoint()
    t0 = time.perf_counter()
    copied = _copy(
        ["cell1"],
        f"SELECT uuid, {int(cell.id)}, project_id, user_id, false, now() FROM instances",
        "instance_mappings",
        "instance_uuid, cell_id, project_id, user_id, queued_for_delete, created_at",
    )
    copy_s = time.perf_counter() - t0
    checkpoint()
    processed = 0
    runs = 0
    t0 = time.perf_counter()
    while processed < count // 2:
        result = instances_map(cell_uuid=cell.uuid, max_count=step)
        processed += result.processed
        runs += 1
    phase1 = time.perf_counter() - t0
    half = InstanceMapping.objects.exclude(project_id=INSTANCE_MIGRATION_MARKER).count()
    t0 = time.perf_counter()
    result = instances_map(cell_uuid=cell.uuid)
    phase2 = time.perf_counter() - t0
    mapped = InstanceMapping.objects.exclude(project_id=INSTANCE_MIGRATION_MARKER).count()
    markers = InstanceMapping.objects.filter(project_id=INSTANCE_MIGRATION_MARKER).count()
    assert mapped == count and markers == 0 and result.complete, (mapped, markers, result)
    return {
        "instances": count,
        "phase1_runs": runs,
        "mapped_at_interruption": half,
        "phase1_s": round(phase1, 3),
        "phase2_s": round(phase2, 3),
        "rate_per_s": round(count / (phase1 + phase2)),
        "resume_rate_per_s": round((count - half) / phase2),
        "copy_rate_per_s": round(copied / copy_s),
    }
