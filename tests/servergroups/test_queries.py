"""Round trips of the server group operations once no cell holds legacy groups, and the reads behind them.

A show or a list is one query of the API database, a delete one transaction there, and no cell is
asked (legacy_groups_present remembers that none holds live legacy groups). The raw reads and
writes are checked against what the ORM stores and reads, on SQLite and PostgreSQL alike.
"""

import logging
import threading
from contextlib import ExitStack, contextmanager

import pytest
from django.db import connections, transaction

from cellsv2.quotas import quota_usage
from servergroups import selectors, services
from servergroups.exceptions import ServerGroupExists, ServerGroupNotFound
from servergroups.models import InstanceGroup, InstanceGroupMember, InstanceGroupPolicy, LegacyInstanceGroup
from tests.factories import InstanceGroupFactory, InstanceMappingFactory, LegacyInstanceGroupFactory, new_uuid
from tests.servergroups.helpers import ADMIN, Api, legacy_rows
from tests.support import ALL_DATABASES, CELL_ALIASES, requires_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


@pytest.fixture
def no_legacy_groups():
    """The cells have been asked once (as the first request of a process does) and hold no legacy group."""
    assert selectors.legacy_groups_present() is False


@pytest.fixture
def budget(no_legacy_groups, django_assert_max_num_queries, django_assert_num_queries):
    """``with budget(api=n):`` at most n queries of the API database and none in any cell."""

    @contextmanager
    def within(*, api: int):
        with ExitStack() as stack:
            stack.enter_context(django_assert_max_num_queries(api, connection=connections["api"]))
            for alias in CELL_ALIASES:
                stack.enter_context(django_assert_num_queries(0, connection=connections[alias]))
            yield

    return within


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


# --- the API operations -----------------------------------------------------------------------------------


class TestApiRoundTrips:
    def test_show_is_one_query_plus_one_for_its_members(self, api, budget):
        plain, with_member = (
            InstanceGroupFactory(),
            InstanceGroupFactory(members=[InstanceMappingFactory().instance_uuid]),
        )
        with budget(api=1):
            assert api("get", f"/os-server-groups/{plain.uuid}", version="2.64").status_code == 200
        # The members' liveness: instance_mappings (a build request has no cell to ask).
        with budget(api=2):
            response = api("get", f"/os-server-groups/{with_member.uuid}", version="2.64")
        assert len(response.json()["server_group"]["members"]) == 1

    def test_a_list_is_one_query_whatever_the_number_of_groups(self, api, budget):
        for i in range(30):
            InstanceGroupFactory(name=f"g{i}")
        with budget(api=1):
            response = api("get", "/os-server-groups", version="2.64")
        assert [g["name"] for g in response.json()["server_groups"]] == [f"g{i}" for i in range(30)]

    def test_a_list_with_members_adds_one_query_for_all_of_them(self, api, budget):
        for i in range(10):
            InstanceGroupFactory(
                name=f"g{i}", members=[InstanceMappingFactory().instance_uuid, InstanceMappingFactory().instance_uuid]
            )
        with budget(api=2):
            groups = api("get", "/os-server-groups").json()["server_groups"]
        assert [len(g["members"]) for g in groups] == [2] * 10

    def test_delete_is_the_lookup_and_one_transaction_of_three_statements(self, api, budget):
        row = InstanceGroupFactory(members=[new_uuid(), new_uuid()])
        # Lookup; then SAVEPOINT (BEGIN outside tests), three DELETEs, RELEASE (COMMIT).
        with budget(api=6):
            assert api("delete", f"/os-server-groups/{row.uuid}").status_code == 204
        assert not InstanceGroup.objects.exists()
        assert not InstanceGroupPolicy.objects.exists() and not InstanceGroupMember.objects.exists()

    def test_delete_of_an_unknown_group_is_one_query(self, api, budget):
        with budget(api=1):
            assert api("delete", f"/os-server-groups/{new_uuid()}").status_code == 404

    def test_create_asks_no_cell(self, api, budget):
        # Quota lock and check (limit, one COUNT), the group and its policy; savepoints in tests.
        with budget(api=7):
            response = api.create(version="2.64", name="new", policy="anti-affinity")
        assert response.status_code == 200
        assert InstanceGroup.objects.get().uuid == response.json()["server_group"]["id"]


# --- the reads: one query, as the ORM would have read them --------------------------------------------------


class TestApiReads:
    def test_a_group_reads_as_the_orm_stores_it(self, budget):
        a, b = new_uuid(), new_uuid()
        row = InstanceGroupFactory(name="web", members=[a, b])
        with budget(api=1):
            group = selectors.servergroup_get(uuid=row.uuid)
        row.refresh_from_db()
        assert (group.id, group.uuid, group.name, group.project_id, group.user_id) == (
            row.id,
            row.uuid,
            "web",
            "proj1",
            "alice",
        )
        assert (group.policies, group.rules, group.members) == (("anti-affinity",), {"max_server_per_host": 2}, (a, b))
        # Timestamps as the ORM returns them: aware, on either database.
        assert (group.created_at, group.updated_at) == (row.created_at, None)
        assert group.created_at.utcoffset() is not None

    def test_several_policies_and_members_are_each_read_once_in_id_order(self, caplog):
        # Groups migrated from the cells may have several policy rows: the join repeats members.
        members = [new_uuid() for _ in range(3)]
        row = InstanceGroupFactory(policy="affinity", policy__rules=None, members=members)
        InstanceGroupPolicy.objects.create(group=row, policy="anti-affinity", rules='{"max_server_per_host": 1}')
        with caplog.at_level(logging.WARNING, logger="servergroups.selectors"):
            group = selectors.servergroup_get(uuid=row.uuid)
        assert (group.policies, group.policy, group.rules) == (("affinity", "anti-affinity"), "affinity", {})
        assert group.members == tuple(members)
        assert "has 2 policy rows; using the first" in caplog.text

    def test_a_group_without_policy_or_members_is_still_found(self):
        row = InstanceGroup.objects.create(uuid=new_uuid(), project_id="proj1", user_id="alice", name="bare")
        group = selectors.servergroup_get(uuid=row.uuid)
        assert (group.policies, group.policy, group.rules, group.members) == ((), None, {}, ())

    def test_a_list_page_is_one_query_in_id_order_with_each_groups_children(self, budget):
        rows = [InstanceGroupFactory(name=f"g{i}", members=[new_uuid() for _ in range(i % 3)]) for i in range(6)]
        InstanceGroupFactory(name="theirs", project_id="proj2")
        with budget(api=1):
            page = selectors.servergroup_list(project_id="proj1")
        assert [g.uuid for g in page] == [r.uuid for r in rows]
        assert [len(g.members) for g in page] == [0, 1, 2, 0, 1, 2]
        assert len(selectors.servergroup_list()) == 7

    @pytest.mark.parametrize(
        "offset,limit,expected",
        [(0, 2, [0, 1]), (2, 2, [2, 3]), (3, None, [3, 4]), (4, 10, [4]), (5, 1, []), (0, 0, [])],
    )
    def test_offset_and_limit_page_in_the_database(self, budget, offset, limit, expected):
        uuids = [InstanceGroupFactory(name=f"g{i}", members=[new_uuid(), new_uuid()]).uuid for i in range(5)]
        with budget(api=1):
            page = selectors.servergroup_list(offset=offset, limit=limit)
        assert [g.uuid for g in page] == [uuids[i] for i in expected]
        assert all(len(g.members) == 2 for g in page)

    def test_by_name_is_the_lowest_id_of_the_scope(self, budget):
        InstanceGroupFactory(name="same", project_id="proj2")
        first = InstanceGroupFactory(name="same", members=[new_uuid()])
        InstanceGroupFactory(name="same")
        with budget(api=1):
            group = selectors.servergroup_get_by_name(name="same", project_id="proj1")
        assert (group.uuid, len(group.members)) == (first.uuid, 1)
        with pytest.raises(ServerGroupNotFound, match="Instance group same could not be found."):
            selectors.servergroup_get_by_name(name="same", project_id="proj3")

    def test_by_instance_reads_every_member_of_the_group_and_respects_the_scope(self, budget):
        member, other = new_uuid(), new_uuid()
        row = InstanceGroupFactory(members=[other, member], project_id="proj2")
        with budget(api=1):
            group = selectors.servergroup_get_by_instance(instance_uuid=member)
        assert (group.uuid, group.members) == (row.uuid, (other, member))
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get_by_instance(instance_uuid=member, project_id="proj1")

    def test_the_server_groups_quota_is_one_count(self, budget):
        InstanceGroupFactory(), InstanceGroupFactory(user_id="bob"), InstanceGroupFactory(project_id="proj2")
        with budget(api=1):
            assert quota_usage(project_id="proj1", resource="server_groups") == 2
        with budget(api=1):
            assert quota_usage(project_id="proj1", resource="server_groups", user_id="bob") == 1


# --- the writes ---------------------------------------------------------------------------------------------


class TestApiWrites:
    def test_create_stores_what_the_orm_would(self):
        group = services.servergroup_create(
            project_id="proj1", user_id="alice", name="web", policy="anti-affinity", rules={"max_server_per_host": 2}
        )
        row = InstanceGroup.objects.get(uuid=group.uuid)
        (policy,) = row.policies.all()
        assert (row.id, row.name, row.project_id, row.user_id, row.updated_at) == (
            group.id,
            "web",
            "proj1",
            "alice",
            None,
        )
        assert row.created_at == group.created_at and policy.created_at is not None
        assert (policy.policy, policy.rules_dict) == ("anti-affinity", {"max_server_per_host": 2})
        assert policy.updated_at is None
        assert selectors.servergroup_get(uuid=group.uuid) == group

    def test_a_duplicate_uuid_rolls_back_and_leaves_the_database_usable(self):
        row = InstanceGroupFactory()
        with pytest.raises(ServerGroupExists):
            services.servergroup_create(
                project_id="proj1", user_id="alice", name="dup", policy="affinity", uuid=row.uuid
            )
        assert InstanceGroup.objects.count() == 1 and InstanceGroupPolicy.objects.count() == 1
        services.servergroup_create(project_id="proj1", user_id="alice", name="next", policy="affinity")
        assert InstanceGroup.objects.count() == 2

    def test_delete_takes_only_that_groups_rows(self, budget):
        gone, kept = InstanceGroupFactory(members=[new_uuid()]), InstanceGroupFactory(members=[new_uuid()])
        with budget(api=5):
            services.servergroup_delete(uuid=gone.uuid)
        assert list(InstanceGroup.objects.values_list("uuid", flat=True)) == [kept.uuid]
        assert InstanceGroupPolicy.objects.get().group_id == kept.id
        assert InstanceGroupMember.objects.get().group_id == kept.id

    def test_a_scoped_delete_of_another_projects_group_deletes_nothing(self):
        row = InstanceGroupFactory(project_id="proj2", members=[new_uuid()])
        with pytest.raises(ServerGroupNotFound):
            services.servergroup_delete(uuid=row.uuid, project_id="proj1")
        assert InstanceGroupPolicy.objects.filter(group=row).exists()
        assert InstanceGroupMember.objects.filter(group=row).exists()

    def test_members_remove_is_one_statement(self, budget):
        a, b = new_uuid(), new_uuid()
        row = InstanceGroupFactory(members=[a, b])
        with budget(api=1):
            assert services.servergroup_members_remove(instance_uuids=[a, new_uuid()]) == 1
        assert selectors.servergroup_get(uuid=row.uuid).members == (b,)


# --- while legacy groups remain, or a cell cannot say ---------------------------------------------------------


class TestLegacyStillAsked:
    def test_a_cell_that_cannot_answer_keeps_every_cell_asked(self, cells):
        from mappings.models import CellMapping

        CellMapping.objects.create(uuid=new_uuid(), name="broken", transport_url="none:///", database_connection="")
        assert selectors.legacy_groups_present() is True
        row = LegacyInstanceGroupFactory(cell="cell2")
        assert [g.uuid for g in selectors.servergroup_list()] == [row.uuid]
        assert selectors.servergroup_get(uuid=row.uuid).is_legacy

    def test_legacy_groups_are_shown_counted_and_deleted_through_the_api(self, client, settings):
        settings.CELLSV2_AUTH = "noauth"
        api = Api(client)
        mine = InstanceGroupFactory(name="mine")
        legacy = LegacyInstanceGroupFactory(cell="cell1", name="old")
        assert selectors.legacy_groups_present() is True
        names = [g["name"] for g in api("get", "/os-server-groups").json()["server_groups"]]
        assert names == ["mine", "old"]
        assert quota_usage(project_id="proj1", resource="server_groups") == 2
        assert api("delete", f"/os-server-groups/{legacy.uuid}", token=ADMIN).status_code == 204
        assert legacy_rows("cell1", LegacyInstanceGroup) == 0
        assert api("get", f"/os-server-groups/{mine.uuid}").status_code == 200


# --- concurrency (PostgreSQL: row locks) -----------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_add_members_waits_for_a_delete_in_progress_and_then_finds_no_group(cells):
    """The DELETE of the group row is the row lock add_members takes: no member outlives the group."""
    group = services.servergroup_create(project_id="proj1", user_id="alice", name="race", policy="affinity")
    outcome = []

    def add():
        try:
            services.servergroup_add_members(group_uuid=group.uuid, instance_uuids=[new_uuid()], check_quota=False)
            outcome.append("added")
        except ServerGroupNotFound:
            outcome.append("not found")
        finally:
            connections.close_all()

    thread = threading.Thread(target=add)
    with transaction.atomic(using="api"):
        services.servergroup_delete(uuid=group.uuid)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive()  # waiting for the row lock of the group being deleted
    thread.join(timeout=30)
    assert outcome == ["not found"]
    assert not InstanceGroup.objects.exists()
    assert not InstanceGroupMember.objects.exists() and not InstanceGroupPolicy.objects.exists()
