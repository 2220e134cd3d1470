"""Smoke run of the boot_storm piece at a tiny size (PostgreSQL only): its own databases, gunicorn
and conductor processes, as in a benchmark run. Shapes and invariants only, never timings."""

import pytest

from benchmarks.pieces import boot_storm
from benchmarks.report import table
from benchmarks.world import Run, pg_available
from tests.support import on_postgres

needs_postgres = pytest.mark.skipif(
    not (on_postgres() and pg_available()), reason="the boot storm runs on PostgreSQL (row locks, several processes)"
)


@needs_postgres
def test_boot_storm_piece_and_its_figures(tmp_path):
    run = Run("postgres", tmp_path / "logs")
    try:
        result = boot_storm.piece_boot_storm(
            run, "postgres", {"servers": 6, "clients": 2, "rounds": 1, "nova_storm": None}
        )
    finally:
        run.cleanup()
    assert set(result["storms"]) == {"1", "2"}
    for storms in result["storms"].values():
        [storm] = storms
        assert storm["problems"] == [] and storm["invariants_hold"]
        assert storm["errors"] == 0 and storm["active"] == 6 and storm["not_active"] == 0
        assert storm["vm_states"] == {"active": 6}
        assert sum(storm["per_cell"].values()) == 6 and set(storm["per_cell"]) <= {"cell1", "cell2"}
        assert storm["nodes_checked"] == 8
        assert storm["ttl_median_s"] is not None and storm["active_per_s"] is not None
        assert {"gunicorn", "conductors", "postgres", "clients"} <= set(storm["cpu"]["cpu_s"])
    assert result["ratio_2_to_1"] is not None
    figures = boot_storm.storm_figures(result)
    assert [f.figure for f in figures if f.passed is not None][-2:] == [
        "invariants after every storm",
        "HTTP errors + servers not ACTIVE",
    ]
    assert all(f.passed for f in figures[-2:])
    assert "| boot_storm | servers ACTIVE/s, 2 conductors vs 1" in table(figures)


def test_nova_storm_figures_from_a_json(tmp_path):
    path = tmp_path / "nova_storm.json"
    path.write_text(
        '{"servers": 6, "clients": 2, "wall_s": 3.0, "active_per_s": 2.0, "ttl_median_s": 1.0, '
        '"ttl_p95_s": 2.0, "errors": 0}'
    )
    nova = boot_storm.nova_storm(None, 6, 2, str(path))
    assert nova["available"] and nova["active_per_s"] == 2.0
    pooled = {
        "runs": 1,
        "active_per_s": 30.0,
        "wall_s": 0.2,
        "ttl_median_s": 0.1,
        "ttl_p95_s": 0.2,
        "errors": 0,
        "not_active": 0,
        "problems": [],
    }
    result = {
        "servers": 6,
        "clients": 2,
        "nova": nova,
        "one": pooled,
        "two": pooled,
        "storms": {"1": [], "2": []},
        "ratio_2_to_1": 1.0,
    }
    [rate] = [f for f in boot_storm.storm_figures(result) if f.figure.startswith("servers ACTIVE/s, 2 conductors (")]
    assert rate.ratio == 15.0 and rate.passed is True
