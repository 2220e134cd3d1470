"""Counting quotas: one count under the lock, a caller's own usage, the lock row itself."""

import threading

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from cellsv2.models import QuotaLock
from cellsv2.quotas import OverQuota, _lock, quota_counter, quota_reserve, quota_set
from tests.support import ALL_DATABASES, on_postgres, requires_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

RESOURCE = "test_gadgets"
MESSAGE = "Quota exceeded, too many gadgets."
counted: list[tuple] = []


@quota_counter(RESOURCE)
def gadget_count(project_id: str, user_id: str | None) -> int:
    counted.append((project_id, user_id))
    return 1


@pytest.fixture(autouse=True)
def gadget_quota(settings):
    settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, RESOURCE: 2}
    counted.clear()


def reserve(**kwargs):
    return quota_reserve(project_id="proj1", resource=RESOURCE, message=MESSAGE, **kwargs)


class TestReserve:
    def test_the_registered_counter_is_asked_once(self):
        with reserve(user_id="alice"):
            pass
        assert counted == [("proj1", "alice")]

    def test_a_scope_is_counted_for_itself_against_the_projects_limit(self):
        quota_set(project_id="proj1", resource=RESOURCE, hard_limit=1)
        with pytest.raises(OverQuota):
            with reserve(scope="group-1"):
                pytest.fail("entered over the limit")
        assert counted == [("group-1", None)]

    def test_over_the_limit_the_block_is_not_entered(self):
        with pytest.raises(OverQuota) as caught:
            with reserve(delta=2):
                pytest.fail("entered over the limit")
        assert str(caught.value) == MESSAGE
        assert (caught.value.requested, caught.value.used, caught.value.limit) == (2, 1, 2)

    def test_a_callers_usage_replaces_the_counter_and_runs_in_the_transaction(self):
        calls = []

        def usage():
            calls.append(connections["api"].in_atomic_block)
            return 2

        with pytest.raises(OverQuota) as caught:
            with reserve(usage=usage):
                pytest.fail("entered over the limit")
        assert (caught.value.used, caught.value.limit) == (2, 2)
        assert calls == [True] and counted == []

    def test_without_a_limit_nothing_is_counted(self):
        quota_set(project_id="proj1", resource=RESOURCE, hard_limit=-1)

        def usage():
            pytest.fail("counted without a limit")

        with reserve(usage=usage):
            pass
        assert counted == []


class TestLock:
    def test_the_lock_is_one_statement_and_one_row(self):
        with transaction.atomic(using="api"):
            with CaptureQueriesContext(connections["api"]) as first:
                _lock("gadgets:proj1:")
            with CaptureQueriesContext(connections["api"]) as second:
                _lock("gadgets:proj1:")
        if on_postgres():
            assert [len(first), len(second)] == [1, 1]
            assert "ON CONFLICT" in second.captured_queries[0]["sql"]
            (lock,) = QuotaLock.objects.all()
            assert lock.scope == "gadgets:proj1:" and lock.created_at is not None
        else:
            # BEGIN IMMEDIATE already took SQLite's write lock: nothing more to do.
            assert [len(first), len(second)] == [0, 0]
            assert not QuotaLock.objects.exists()

    @pytest.mark.skipif(on_postgres(), reason="SQLite transaction modes")
    def test_sqlite_without_immediate_transactions_still_writes_the_lock_row(self, monkeypatch):
        monkeypatch.setattr(connections["api"], "transaction_mode", None)
        with transaction.atomic(using="api"):
            with CaptureQueriesContext(connections["api"]) as captured:
                _lock("gadgets:proj1:")
        assert len(captured) == 1
        (lock,) = QuotaLock.objects.all()
        assert lock.scope == "gadgets:proj1:" and lock.created_at is not None


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_a_second_reserve_of_the_same_scope_waits_for_the_first():
    holding, release = threading.Event(), threading.Event()
    entered: list[str] = []

    def hold():
        try:
            with reserve(user_id="alice", usage=lambda: 0):
                entered.append("first")
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    def follow(user_id: str, name: str):
        try:
            with reserve(user_id=user_id, usage=lambda: entered.append(name) or 0):
                pass
        finally:
            connections.close_all()

    first = threading.Thread(target=hold)
    first.start()
    assert holding.wait(30)
    other = threading.Thread(target=follow, args=("bob", "another scope"))
    same = threading.Thread(target=follow, args=("alice", "same scope"))
    other.start()
    other.join(30)
    same.start()
    same.join(1)
    # The other scope went through; the same scope is still waiting for the first lock.
    assert entered == ["first", "another scope"] and same.is_alive()
    release.set()
    first.join(30)
    same.join(30)
    assert entered == ["first", "another scope", "same scope"]


class TestLevels:
    """Nova's order: the user's row, the project's, the default class's, the setting."""

    def test_each_level_overrides_the_next(self):
        from cellsv2.models import QuotaClass
        from cellsv2.quotas import quota_limit

        assert quota_limit(project_id="proj1", resource=RESOURCE) == 2
        QuotaClass.objects.create(class_name="default", resource=RESOURCE, hard_limit=5)
        assert quota_limit(project_id="proj1", resource=RESOURCE, user_id="alice") == 5
        quota_set(project_id="proj1", resource=RESOURCE, hard_limit=7)
        assert quota_limit(project_id="proj1", resource=RESOURCE, user_id="alice") == 7
        quota_set(project_id="proj1", user_id="alice", resource=RESOURCE, hard_limit=None)
        assert quota_limit(project_id="proj1", resource=RESOURCE, user_id="alice") == -1
        assert quota_limit(project_id="proj1", resource=RESOURCE, user_id="bob") == 7
        assert quota_limit(project_id="proj2", resource=RESOURCE) == 5

    def test_a_users_own_row_holds_the_users_count_of_a_project_resource(self):
        quota_set(project_id="proj1", user_id="alice", resource=RESOURCE, hard_limit=1)
        with reserve():  # the project's count (1) against the project's limit (2)
            pass
        with pytest.raises(OverQuota), reserve(check_user="alice"):
            pass
        with reserve(check_user="bob"):  # no row: the project's limit only
            pass

    def test_a_limit_check_bounds_one_requests_value(self):
        from cellsv2.quotas import quota_limit_check

        quota_limit_check(project_id="proj1", **{RESOURCE: 2})
        with pytest.raises(OverQuota, match="^at most 2$"):
            quota_limit_check(project_id="proj1", messages={RESOURCE: "at most {allowed}"}, **{RESOURCE: 3})
        quota_set(project_id="proj1", user_id="alice", resource=RESOURCE, hard_limit=-1)
        quota_limit_check(project_id="proj1", user_id="alice", **{RESOURCE: 300})
