"""``manage.py online_data_migrations``: batching, the summary table and exit codes.

The registry is replaced by fake migrations over in-memory rows that keep the real contract:
called as ``fn(max_count=N)``, they touch at most N rows and return ``(found, done)`` (or
``(found, done, conflicts)``).
"""

import threading
from contextlib import contextmanager

import pytest
from django.db import connections

from cellsv2 import online_migrations
from cellsv2.locks import runner_lock
from cellsv2.management.commands import online_data_migrations as command_module
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def fake_migration(name: str, pending: int = 0, *, stuck: int = 0, conflicting: int = 0, broken: bool = False):
    """A migration of ``pending`` in-memory rows.

    ``stuck`` rows are found but cannot be migrated yet; ``conflicting`` rows are set aside the
    first time they are found and reported as conflicts (until resolved) on every later call.
    """
    rows = ["stuck"] * stuck + ["conflict"] * conflicting + ["pending"] * pending

    def migrate(*, max_count):
        migrate.calls.append(max_count)
        if broken:
            raise RuntimeError(f"{name} is broken")
        candidates = [i for i, state in enumerate(rows) if state in ("pending", "stuck", "conflict")][:max_count]
        done = 0
        for i in candidates:
            if rows[i] == "pending":
                rows[i] = "migrated"
                done += 1
            elif rows[i] == "conflict":
                rows[i] = "set aside"
        if conflicting:
            return len(candidates), done, rows.count("set aside")
        return len(candidates), done

    migrate.__name__ = name
    migrate.calls = []
    migrate.rows = rows
    return migrate


@pytest.fixture
def register(monkeypatch):
    """Install fake migrations as the registry (in the order given)."""

    def install(*migrations):
        monkeypatch.setattr(online_migrations, "ONLINE_MIGRATIONS", tuple(migrations))
        return migrations

    return install


@pytest.fixture
def batch_size(monkeypatch):
    def set_size(size: int):
        monkeypatch.setattr(command_module, "BATCH_SIZE", size)

    return set_size


def run(*args: str):
    return run_command("online_data_migrations", *args)


def table(out: str) -> list[list[str]]:
    """The summary table's rows, header first."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("|")] for line in out.splitlines() if line.startswith("|")
    ]


@contextmanager
def lock_held_by_another_runner(name: str):
    """Hold runner_lock(name) in another thread (its own database connection) inside the block."""
    held, release = threading.Event(), threading.Event()
    errors = []

    def hold():
        try:
            with runner_lock(name):
                held.set()
                release.wait(30)
        except Exception as exc:
            errors.append(exc)
            held.set()
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30) and errors == [], errors
        yield
    finally:
        release.set()
        holder.join(30)


class TestUnlimitedRun:
    def test_runs_batches_sharing_the_budget_until_a_batch_migrates_nothing(self, register, batch_size):
        batch_size(4)
        alpha, beta = register(fake_migration("alpha", 5), fake_migration("beta", 5))

        result = run()

        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[0] == "Running batches of 4 until complete"
        assert [line for line in lines if "rows matched" in line] == [
            "4 rows matched query alpha, 4 migrated",  # batch 1: alpha used the whole budget
            "1 rows matched query alpha, 1 migrated",  # batch 2: beta got what alpha left
            "3 rows matched query beta, 3 migrated",
            "2 rows matched query beta, 2 migrated",  # batch 3; batch 4 finds nothing and ends the run
        ]
        assert alpha.calls == [4, 4, 4, 4]
        assert beta.calls == [3, 4, 4]
        assert set(alpha.rows) == set(beta.rows) == {"migrated"}

    def test_the_batch_size_line_names_the_default_batch(self, register):
        register(fake_migration("alpha", 3))

        result = run()

        assert result.out.splitlines()[0] == f"Running batches of {command_module.BATCH_SIZE} until complete"
        assert result.code == 0

    def test_nothing_to_migrate_prints_no_row_lines_and_exits_0(self, register):
        register(fake_migration("alpha"), fake_migration("beta"))

        result = run()

        assert result.code == 0
        assert "rows matched" not in result.out
        assert table(result.out)[1:] == [["alpha", "0", "0"], ["beta", "0", "0"]]

    def test_rows_that_cannot_be_migrated_yet_end_the_run_instead_of_looping(self, register, batch_size):
        batch_size(10)
        waiting = register(fake_migration("waiting", stuck=3))[0]

        result = run()

        assert result.code == 0
        assert "3 rows matched query waiting, 0 migrated" in result.out
        assert waiting.calls == [10]
        assert table(result.out)[1:] == [["waiting", "3", "0"]]


class TestMaxCount:
    def test_one_batch_runs_and_a_migration_past_the_budget_waits(self, register):
        alpha, beta = register(fake_migration("alpha", 5), fake_migration("beta", 5))

        result = run("--max-count", "3")

        assert result.code == 1
        assert "Running batches" not in result.out
        assert alpha.calls == [3] and beta.calls == []
        assert table(result.out)[1:] == [["alpha", "3", "3"], ["beta", "0", "0"]]

    def test_the_next_migration_gets_the_budget_left_over(self, register):
        alpha, beta = register(fake_migration("alpha", 5), fake_migration("beta", 5))

        result = run("--max-count", "7")

        assert result.code == 1
        assert alpha.calls == [7] and beta.calls == [2]
        assert result.out.splitlines()[:2] == [
            "5 rows matched query alpha, 5 migrated",
            "2 rows matched query beta, 2 migrated",
        ]

    def test_exits_1_while_work_was_done_then_0(self, register):
        register(fake_migration("alpha", 5), fake_migration("beta", 5))

        codes = [run("--max-count", "4").code for _ in range(4)]

        assert codes == [1, 1, 1, 0]

    @pytest.mark.parametrize("value", ["0", "-1", "ten", "2.5", ""])
    def test_a_max_count_that_is_not_a_positive_integer_exits_127_and_runs_nothing(self, register, value):
        alpha = register(fake_migration("alpha", 5))[0]

        result = run("--max-count", value)

        assert result.code == 127
        assert "Must supply a positive value for max_number" in result.err
        assert alpha.calls == []


class TestSummaryTable:
    def test_has_one_row_per_migration_sorted_by_name_with_totals_across_batches(self, register, batch_size):
        batch_size(3)
        register(fake_migration("zeta", 4), fake_migration("alpha", 2), fake_migration("middle"))

        result = run()

        assert result.code == 0
        assert table(result.out) == [
            ["Migration", "Total Needed", "Completed"],
            ["alpha", "2", "2"],
            ["middle", "0", "0"],
            ["zeta", "4", "4"],
        ]
        assert result.out.rstrip().endswith("+")

    def test_total_needed_counts_rows_found_even_when_not_migrated(self, register):
        register(fake_migration("mixed", 2, stuck=1))

        result = run("--max-count", "10")

        assert result.code == 1
        assert table(result.out)[1:] == [["mixed", "3", "2"]]


class TestFailures:
    def test_a_raising_migration_in_an_unlimited_run_exits_2_after_the_others_finish(self, register, batch_size):
        batch_size(2)
        broken, good = register(fake_migration("broken", broken=True), fake_migration("good", 5))

        result = run()

        assert result.code == 2
        assert "Error attempting to run broken" in result.out
        assert "Some migrations failed unexpectedly. Check log for details." in result.err
        assert set(good.rows) == {"migrated"}
        assert len(broken.calls) == len(good.calls) == 4
        assert table(result.out)[1:] == [["broken", "0", "0"], ["good", "5", "5"]]

    def test_with_max_count_a_failure_exits_1_while_others_did_work(self, register):
        register(fake_migration("broken", broken=True), fake_migration("good", 5))

        result = run("--max-count", "2")

        assert result.code == 1
        assert "Error attempting to run broken" in result.out

    def test_with_max_count_a_failure_exits_2_when_nothing_was_migrated(self, register):
        register(fake_migration("broken", broken=True), fake_migration("good"))

        result = run("--max-count", "2")

        assert result.code == 2
        assert "Some migrations failed unexpectedly" in result.err

    def test_a_second_runner_exits_3_while_the_lock_is_held(self, register):
        alpha = register(fake_migration("alpha", 5))[0]

        with lock_held_by_another_runner("online_data_migrations"):
            result = run()

        assert result.code == 3
        assert "already running" in result.err
        assert alpha.calls == []
        assert run().code == 0
        assert set(alpha.rows) == {"migrated"}

    def test_duplicate_names_in_the_registry_are_refused_before_anything_runs(self, register):
        first, second = register(fake_migration("same", 3), fake_migration("same", 3))

        with pytest.raises(RuntimeError, match="must be unique"):
            online_migrations.registered_migrations()
        result = run()

        assert result.code == 255
        assert "same" in result.err and "unique" in result.err
        assert first.calls == second.calls == []


class TestConflicts:
    def test_rows_set_aside_exit_4_with_a_conflicts_column(self, register, batch_size):
        batch_size(3)
        register(fake_migration("clean", 2), fake_migration("movers", 4, conflicting=2))

        result = run()

        assert result.code == 4
        assert "2 rows were set aside as conflicts" in result.err
        assert table(result.out) == [
            ["Migration", "Total Needed", "Completed", "Conflicts"],
            ["clean", "2", "2", "0"],
            ["movers", "6", "4", "2"],
        ]

    def test_the_run_keeps_exiting_4_until_the_conflicts_are_resolved(self, register):
        movers = register(fake_migration("movers", 1, conflicting=1))[0]
        assert run().code == 4

        again = run()

        assert again.code == 4
        assert "Conflicts" in table(again.out)[0]
        movers.rows[:] = ["migrated" if state == "set aside" else state for state in movers.rows]
        resolved = run()
        assert resolved.code == 0
        assert table(resolved.out)[0] == ["Migration", "Total Needed", "Completed"]

    def test_a_failure_wins_over_conflicts(self, register):
        register(fake_migration("broken", broken=True), fake_migration("movers", conflicting=1))

        assert run().code == 2
