"""Server group services and selectors across the API database and the legacy cell tables."""

import json

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cellsv2.context import target_cell
from cellsv2.quotas import OverQuota, quota_usage
from mappings.models import CellMapping
from servergroups import selectors, services
from servergroups.exceptions import CellsUnavailable, InvalidServerGroup, ServerGroupExists, ServerGroupNotFound
from servergroups.models import (
    InstanceGroup,
    InstanceGroupMember,
    InstanceGroupPolicy,
    LegacyInstanceGroup,
    LegacyInstanceGroupMember,
    LegacyInstanceGroupPolicy,
)
from tests.factories import (
    InstanceFactory,
    InstanceGroupFactory,
    InstanceMappingFactory,
    LegacyInstanceGroupFactory,
    new_uuid,
)
from tests.servergroups.helpers import legacy_rows
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]


@pytest.fixture
def broken_cell():
    """A mapped cell whose database cannot be used: every scatter-gather reports it as failed."""
    return CellMapping.objects.create(uuid=new_uuid(), name="broken", transport_url="none:///", database_connection="")


# --- lookups ----------------------------------------------------------------------------------------------


class TestGet:
    def test_an_api_group_is_found_with_its_policy_rules_and_members(self):
        member = new_uuid()
        row = InstanceGroupFactory(name="web", members=[member])
        group = selectors.servergroup_get(uuid=row.uuid)
        assert (group.uuid, group.name, group.policy, group.rules) == (
            row.uuid,
            "web",
            "anti-affinity",
            {"max_server_per_host": 2},
        )
        assert group.members == (member,) and not group.is_legacy

    def test_a_legacy_group_is_found_in_its_cell_with_live_children_only(self, cells):
        row = LegacyInstanceGroupFactory(
            cell="cell2",
            policies=["affinity"],
            deleted_policies=["anti-affinity"],
            members=["m1"],
            deleted_members=["m0"],
        )
        group = selectors.servergroup_get(uuid=row.uuid)
        assert group.cell_uuid == cells["cell2"].uuid and group.is_legacy
        assert (group.policies, group.members, group.rules) == (("affinity",), ("m1",), {})

    def test_the_api_copy_wins_over_a_legacy_copy(self):
        row = InstanceGroupFactory(name="api copy")
        LegacyInstanceGroupFactory(cell="cell1", uuid=row.uuid, name="cell copy")
        group = selectors.servergroup_get(uuid=row.uuid)
        assert (group.name, group.is_legacy) == ("api copy", False)

    def test_a_soft_deleted_legacy_group_is_not_found(self):
        row = LegacyInstanceGroupFactory(cell="cell1")
        with target_cell("cell1"):
            row.soft_delete()
        with pytest.raises(ServerGroupNotFound, match=f"Instance group {row.uuid} could not be found."):
            selectors.servergroup_get(uuid=row.uuid)

    @pytest.mark.parametrize("where", ["api", "cell1"])
    def test_another_projects_group_is_not_found_when_scoped(self, where):
        row = (
            InstanceGroupFactory(project_id="proj2")
            if where == "api"
            else LegacyInstanceGroupFactory(cell=where, project_id="proj2")
        )
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get(uuid=row.uuid, project_id="proj1")
        assert selectors.servergroup_get(uuid=row.uuid, project_id="proj2").uuid == row.uuid
        assert selectors.servergroup_get(uuid=row.uuid).uuid == row.uuid

    @pytest.mark.parametrize("bad", ["invalid", "", "x" * 300, "00000000-0000-0000-0000-00000000000Z"])
    def test_non_uuid_ids_are_simply_not_found(self, bad):
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get(uuid=bad)

    def test_a_failing_cell_is_skipped(self, broken_cell):
        row = LegacyInstanceGroupFactory(cell="cell1")
        assert selectors.servergroup_get(uuid=row.uuid).uuid == row.uuid

    def test_by_name_takes_the_first_api_group_then_the_cells(self):
        first = InstanceGroupFactory(name="dup")
        InstanceGroupFactory(name="dup")
        legacy = LegacyInstanceGroupFactory(cell="cell2", name="only in a cell")
        assert selectors.servergroup_get_by_name(name="dup").uuid == first.uuid
        assert selectors.servergroup_get_by_name(name="only in a cell").uuid == legacy.uuid
        with pytest.raises(ServerGroupNotFound, match="Instance group nothing could not be found."):
            selectors.servergroup_get_by_name(name="nothing")
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get_by_name(name="dup", project_id="proj2")

    def test_by_instance_looks_at_members_in_the_api_then_live_legacy_members(self):
        in_api, in_cell, gone = new_uuid(), new_uuid(), new_uuid()
        api_row = InstanceGroupFactory(members=[in_api])
        legacy_row = LegacyInstanceGroupFactory(cell="cell1", members=[in_cell], deleted_members=[gone])
        assert selectors.servergroup_get_by_instance(instance_uuid=in_api).uuid == api_row.uuid
        assert selectors.servergroup_get_by_instance(instance_uuid=in_cell).uuid == legacy_row.uuid
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get_by_instance(instance_uuid=gone)

    def test_by_hint_is_by_uuid_for_uuids_and_by_name_otherwise(self):
        row = InstanceGroupFactory(name="hinted")
        assert selectors.servergroup_get_by_hint(hint=row.uuid).uuid == row.uuid
        assert selectors.servergroup_get_by_hint(hint="hinted").uuid == row.uuid


# --- lists ------------------------------------------------------------------------------------------------


class TestList:
    def test_api_only_cell_only_and_both_are_each_listed_once(self):
        api_only = InstanceGroupFactory(name="api only")
        cell_only = LegacyInstanceGroupFactory(cell="cell1", name="cell only")
        # A group copied to the API database whose cell copy was not yet soft-deleted (a crash).
        both = InstanceGroupFactory(name="both (api)")
        LegacyInstanceGroupFactory(cell="cell2", uuid=both.uuid, name="both (cell)")
        groups = selectors.servergroup_list(project_id="proj1")
        assert [(g.uuid, g.name) for g in groups] == [
            (api_only.uuid, "api only"),
            (both.uuid, "both (api)"),
            (cell_only.uuid, "cell only"),
        ]

    def test_a_project_sees_only_its_groups_and_none_means_every_project(self):
        mine, theirs = InstanceGroupFactory(), InstanceGroupFactory(project_id="proj2")
        legacy_mine, legacy_theirs = (
            LegacyInstanceGroupFactory(cell="cell0"),
            LegacyInstanceGroupFactory(cell="cell1", project_id="proj2"),
        )
        assert {g.uuid for g in selectors.servergroup_list(project_id="proj1")} == {mine.uuid, legacy_mine.uuid}
        assert {g.uuid for g in selectors.servergroup_list()} == {
            mine.uuid,
            theirs.uuid,
            legacy_mine.uuid,
            legacy_theirs.uuid,
        }

    def test_api_groups_come_first_then_cells_in_cell_order(self):
        uuids = [InstanceGroupFactory(name=f"a{i}").uuid for i in range(2)]
        uuids += [LegacyInstanceGroupFactory(cell=alias, name=alias).uuid for alias in ("cell0", "cell1", "cell2")]
        assert [g.uuid for g in selectors.servergroup_list()] == uuids

    @pytest.mark.parametrize(
        "offset,limit,expected",
        [
            (0, None, range(6)),
            (0, 2, range(2)),
            (2, 2, range(2, 4)),  # one API row and one legacy row
            (3, 2, range(3, 5)),  # past the API rows
            (5, 10, range(5, 6)),
            (6, 10, range(0)),
            (40, 10, range(0)),
        ],
    )
    def test_offset_paging_spans_both_databases_without_duplicates(self, offset, limit, expected):
        uuids = [InstanceGroupFactory(name=f"a{i}").uuid for i in range(3)]
        duplicate = LegacyInstanceGroupFactory(
            cell="cell1", uuid=uuids[1]
        )  # already copied: listed once, as the API row
        uuids += [LegacyInstanceGroupFactory(cell="cell1", name=f"c{i}").uuid for i in range(3)]
        page = selectors.servergroup_list(offset=offset, limit=limit)
        assert [g.uuid for g in page] == [uuids[i] for i in expected]
        assert duplicate.uuid not in [g.uuid for g in page if g.is_legacy]

    def test_a_page_filled_by_the_api_database_does_not_ask_the_cells(self):
        for i in range(3):
            InstanceGroupFactory(name=f"a{i}")
        with CaptureQueriesContext(connections["cell1"]) as cell_queries:
            assert len(selectors.servergroup_list(limit=2)) == 2
        assert len(cell_queries) == 0

    def test_a_failing_cell_is_logged_and_skipped(self, broken_cell, caplog):
        row = LegacyInstanceGroupFactory(cell="cell2")
        assert [g.uuid for g in selectors.servergroup_list()] == [row.uuid]
        assert "broken" in caplog.text


# --- create -----------------------------------------------------------------------------------------------


def create(**kwargs):
    values = {"project_id": "proj1", "user_id": "alice", "name": "g", "policy": "anti-affinity"}
    return services.servergroup_create(**{**values, **kwargs})


class TestCreate:
    def test_writes_the_group_and_one_policy_row_with_json_rules(self):
        group = create(rules={"max_server_per_host": "3"})
        row = InstanceGroup.objects.get(uuid=group.uuid)
        (policy,) = row.policies.all()
        assert (row.project_id, row.user_id, row.name) == ("proj1", "alice", "g")
        assert (policy.policy, json.loads(policy.rules)) == ("anti-affinity", {"max_server_per_host": 3})
        assert group.rules == {"max_server_per_host": 3} and group.members == ()

    def test_no_rules_are_stored_as_an_empty_object(self):
        group = create(policy="soft-affinity")
        assert InstanceGroupPolicy.objects.get(group__uuid=group.uuid).rules == "{}"

    @pytest.mark.parametrize(
        "policy,rules,message",
        [
            ("affinity", {"max_server_per_host": 2}, "Only anti-affinity policy supports rules."),
            ("anti-affinity", {"unknown_key": "3"}, "Unknown server group rules"),
            ("anti-affinity", {"max_server_per_host": 0}, "positive integer"),
            ("anti-affinity", {"max_server_per_host": "-1"}, "positive integer"),
            ("anti-affinity", {"max_server_per_host": "foo"}, "positive integer"),
            ("storage-affinity", None, "Invalid policy"),
        ],
    )
    def test_invalid_policies_and_rules_write_nothing(self, policy, rules, message):
        with pytest.raises(InvalidServerGroup, match=message):
            create(policy=policy, rules=rules)
        assert InstanceGroup.objects.count() == 0

    def test_a_uuid_live_in_a_cell_is_refused(self):
        row = LegacyInstanceGroupFactory(cell="cell2")
        with pytest.raises(ServerGroupExists, match=f"Instance group {row.uuid} already exists."):
            create(uuid=row.uuid)
        assert InstanceGroup.objects.count() == 0

    def test_a_uuid_only_soft_deleted_in_a_cell_is_free(self):
        row = LegacyInstanceGroupFactory(cell="cell1")
        with target_cell("cell1"):
            row.soft_delete()
        assert create(uuid=row.uuid).uuid == row.uuid

    def test_a_uuid_taken_in_the_api_database_is_refused(self):
        row = InstanceGroupFactory()
        with pytest.raises(ServerGroupExists):
            create(uuid=row.uuid)
        assert InstanceGroup.objects.count() == 1

    def test_a_given_uuid_is_refused_while_a_cell_cannot_be_asked(self, broken_cell):
        with pytest.raises(CellsUnavailable):
            create(uuid=new_uuid())
        assert InstanceGroup.objects.count() == 0

    def test_names_need_not_be_unique(self):
        assert create(name="same").uuid != create(name="same").uuid

    def test_over_quota_raises_novas_message_and_writes_nothing(self, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_groups": 2}
        create()
        LegacyInstanceGroupFactory(cell="cell1")  # a legacy group of the project counts too
        with pytest.raises(OverQuota, match=r"^Quota exceeded, too many server groups\.$"):
            create()
        assert InstanceGroup.objects.count() == 1
        assert create(project_id="proj2").project_id == "proj2"


# --- members, update --------------------------------------------------------------------------------------


class TestMembers:
    def test_adding_is_add_only_and_idempotent(self):
        group = create()
        a, b, c = new_uuid(), new_uuid(), new_uuid()
        assert services.servergroup_add_members(group_uuid=group.uuid, instance_uuids=[a, b, a]).members == (a, b)
        assert services.servergroup_add_members(group_uuid=group.uuid, instance_uuids=[b, c]).members == (a, b, c)
        assert InstanceGroupMember.objects.filter(group__uuid=group.uuid).count() == 3

    def test_the_database_refuses_a_duplicate_member(self):
        from django.db import IntegrityError, transaction

        row = InstanceGroupFactory(members=["m1"])
        with pytest.raises(IntegrityError), transaction.atomic(using="api"):
            InstanceGroupMember.objects.create(group=row, instance_uuid="m1")

    def test_a_legacy_group_gets_its_members_in_its_cell(self):
        row = LegacyInstanceGroupFactory(cell="cell1", members=["m1"])
        group = services.servergroup_add_members(group_uuid=row.uuid, instance_uuids=["m1", "m2"])
        assert group.is_legacy and group.members == ("m1", "m2")
        assert legacy_rows("cell1", LegacyInstanceGroupMember) == 2
        assert InstanceGroupMember.objects.count() == 0

    def test_an_unknown_group_is_not_found(self):
        with pytest.raises(ServerGroupNotFound):
            services.servergroup_add_members(group_uuid=new_uuid(), instance_uuids=["m1"])

    def test_the_member_quota_counts_live_members_of_the_group(self, settings, cells):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_group_members": 2}
        group = create()
        live, gone = (
            InstanceFactory(cell=cells["cell1"], mapped=True, host="host1").uuid,
            InstanceFactory(cell=cells["cell1"], mapped=True, host="host1", deleted=True).uuid,
        )
        services.servergroup_add_members(group_uuid=group.uuid, instance_uuids=[live, gone])
        assert quota_usage(project_id=group.uuid, resource="server_group_members") == 1
        services.servergroup_add_members(
            group_uuid=group.uuid, instance_uuids=[InstanceMappingFactory().instance_uuid]
        )
        with pytest.raises(OverQuota, match=r"^Quota exceeded, too many servers in group$"):
            services.servergroup_add_members(
                group_uuid=group.uuid, instance_uuids=[InstanceMappingFactory().instance_uuid]
            )
        assert InstanceGroupMember.objects.count() == 3

    def test_update_renames_and_adds_members_where_the_group_lives(self):
        api_row, legacy_row = (
            InstanceGroupFactory(name="old", members=["m1"]),
            LegacyInstanceGroupFactory(cell="cell2", name="old"),
        )
        assert services.servergroup_update(uuid=api_row.uuid, name="new", members=["m2"]).members == ("m1", "m2")
        assert InstanceGroup.objects.get(uuid=api_row.uuid).name == "new"
        assert services.servergroup_update(uuid=legacy_row.uuid, name="renamed").name == "renamed"
        with target_cell("cell2"):
            assert LegacyInstanceGroup.objects.get(uuid=legacy_row.uuid).updated_at is not None


# --- delete -----------------------------------------------------------------------------------------------


class TestDelete:
    def test_an_api_group_is_hard_deleted_with_its_children(self):
        row = InstanceGroupFactory(members=["m1", "m2"])
        other = InstanceGroupFactory(members=["m1"])
        services.servergroup_delete(uuid=row.uuid)
        assert list(InstanceGroup.objects.values_list("uuid", flat=True)) == [other.uuid]
        assert InstanceGroupPolicy.objects.count() == InstanceGroupMember.objects.count() == 1

    def test_a_legacy_group_is_soft_deleted_with_its_children(self):
        row = LegacyInstanceGroupFactory(cell="cell1", policies=["affinity"], members=["m1", "m2"])
        services.servergroup_delete(uuid=row.uuid)
        for model, count in ((LegacyInstanceGroup, 1), (LegacyInstanceGroupPolicy, 1), (LegacyInstanceGroupMember, 2)):
            assert legacy_rows("cell1", model) == 0
            assert legacy_rows("cell1", model, live=False) == count
        with target_cell("cell1"):
            deleted = LegacyInstanceGroup.objects.get(uuid=row.uuid)
        assert deleted.deleted == deleted.id and deleted.deleted_at is not None

    def test_both_copies_go_so_the_migration_cannot_bring_the_group_back(self):
        row = InstanceGroupFactory()
        LegacyInstanceGroupFactory(cell="cell2", uuid=row.uuid)
        services.servergroup_delete(uuid=row.uuid)
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get(uuid=row.uuid)
        assert legacy_rows("cell2", LegacyInstanceGroup) == 0

    def test_another_projects_group_is_not_deleted_when_scoped(self):
        row, legacy = (
            InstanceGroupFactory(project_id="proj2"),
            LegacyInstanceGroupFactory(cell="cell1", project_id="proj2"),
        )
        for uuid in (row.uuid, legacy.uuid):
            with pytest.raises(ServerGroupNotFound):
                services.servergroup_delete(uuid=uuid, project_id="proj1")
        assert InstanceGroup.objects.count() == 1 and legacy_rows("cell1", LegacyInstanceGroup) == 1

    def test_an_unknown_group_is_not_found(self):
        with pytest.raises(ServerGroupNotFound):
            services.servergroup_delete(uuid=new_uuid())


# --- counters, live members, hosts --------------------------------------------------------------------------


class TestCounters:
    def test_server_groups_counts_each_uuid_once_across_databases(self):
        both = InstanceGroupFactory()
        LegacyInstanceGroupFactory(cell="cell1", uuid=both.uuid)
        InstanceGroupFactory()
        LegacyInstanceGroupFactory(cell="cell2")
        LegacyInstanceGroupFactory(cell="cell2", project_id="proj2")
        assert quota_usage(project_id="proj1", resource="server_groups") == 3
        assert selectors.servergroup_count("proj1", "bob") == 0


class TestLiveMembersAndHosts:
    def test_members_in_two_cells_and_a_build_request_with_one_query_per_database(self, cells):
        on_1a = InstanceFactory(cell=cells["cell1"], mapped=True, host="h1").uuid
        on_1b = InstanceFactory(cell=cells["cell1"], mapped=True, host="h2").uuid
        on_2 = InstanceFactory(cell=cells["cell2"], mapped=True, host="h1").uuid
        gone = InstanceFactory(cell=cells["cell2"], mapped=True, host="h3", deleted=True).uuid
        building = InstanceMappingFactory().instance_uuid
        never_mapped = new_uuid()
        row = InstanceGroupFactory(members=[on_1a, gone, building, on_1b, never_mapped, on_2])
        group = selectors.servergroup_get(uuid=row.uuid)

        counters = {alias: CaptureQueriesContext(connections[alias]) for alias in ALL_DATABASES}
        for counter in counters.values():
            counter.__enter__()
        try:
            hosts = selectors.servergroup_hosts(group=group)
            live = selectors.servergroup_live_members(instance_uuids=group.members)
        finally:
            for counter in counters.values():
                counter.__exit__(None, None, None)
        assert hosts == ["h1", "h2"]
        assert list(live) == [on_1a, building, on_1b, on_2]
        assert live[building].host is None
        # Each call: one instance_mappings query, one query per cell that holds members, none in cell0.
        assert len(counters["api"]) == 2
        assert (len(counters["cell1"]), len(counters["cell2"]), len(counters["cell0"])) == (2, 2, 0)

    def test_get_hosts_stays_bounded_as_members_grow(self, cells, django_assert_max_num_queries):
        members = [
            InstanceFactory(cell=cells[alias], mapped=True, host=f"h{i}").uuid
            for i in range(6)
            for alias in ("cell1", "cell2")
        ]
        members.append(InstanceMappingFactory().instance_uuid)
        group = selectors.servergroup_get(uuid=InstanceGroupFactory(members=members).uuid)
        for alias, budget in (("api", 1), ("cell1", 1), ("cell2", 1), ("cell0", 0)):
            with django_assert_max_num_queries(budget, connection=connections[alias]):
                assert selectors.servergroup_hosts(group=group) == [f"h{i}" for i in range(6)]

    def test_exclude_leaves_out_the_instance_being_scheduled(self, cells):
        a, b = (
            InstanceFactory(cell=cells["cell1"], mapped=True, host="ha").uuid,
            InstanceFactory(cell=cells["cell1"], mapped=True, host="hb").uuid,
        )
        group = selectors.servergroup_get(uuid=InstanceGroupFactory(members=[a, b]).uuid)
        assert selectors.servergroup_hosts(group=group, exclude=[b]) == ["ha"]

    def test_members_of_a_cell_that_does_not_answer_are_presumed_live(self, cells, monkeypatch):
        from cellsv2.cells import CellRaised

        a, b = (
            InstanceFactory(cell=cells["cell1"], mapped=True, host="ha").uuid,
            InstanceFactory(cell=cells["cell2"], mapped=True, host="hb").uuid,
        )
        real = selectors.scatter_gather_cells

        def cell2_down(cell_list, fn, *args, **kwargs):
            results = real([c for c in cell_list if c.name != "cell2"], fn, *args, **kwargs)
            results.update({c.uuid: CellRaised(OSError("down")) for c in cell_list if c.name == "cell2"})
            return results

        monkeypatch.setattr(selectors, "scatter_gather_cells", cell2_down)
        live = selectors.servergroup_live_members(instance_uuids=[a, b])
        assert list(live) == [a, b] and live[b].host is None


# --- the entry points the servers API uses ------------------------------------------------------------------


class TestServersEntryPoints:
    def test_get_with_a_context_is_scoped_like_novas_get_by_uuid(self):
        from cellsv2.api.authentication import ComputeContext

        row = InstanceGroupFactory(project_id="proj2")
        member = ComputeContext(user_id="alice", project_id="proj1", roles=frozenset({"member", "reader"}))
        admin = ComputeContext(user_id="admin", project_id="admin", roles=frozenset({"admin", "member", "reader"}))
        with pytest.raises(ServerGroupNotFound):
            selectors.servergroup_get(uuid=row.uuid, context=member)
        assert selectors.servergroup_get(uuid=row.uuid, context=admin).uuid == row.uuid

    def test_add_members_checks_the_member_quota_of_the_contexts_user(self, settings):
        from cellsv2.api.authentication import ComputeContext

        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "server_group_members": 1}
        group = create()
        alice = ComputeContext(user_id="alice", project_id="proj1", roles=frozenset({"member"}))
        bob = ComputeContext(user_id="bob", project_id="proj1", roles=frozenset({"member"}))
        services.servergroup_add_members(
            context=alice, group_uuid=group.uuid, instance_uuids=[InstanceMappingFactory().instance_uuid]
        )
        with pytest.raises(OverQuota):
            services.servergroup_add_members(
                context=alice,
                group_uuid=group.uuid,
                instance_uuids=[InstanceMappingFactory(user_id="alice").instance_uuid],
            )
        # Nova counts members per user of the group.
        other = InstanceMappingFactory(user_id="bob").instance_uuid
        assert (
            other
            in services.servergroup_add_members(context=bob, group_uuid=group.uuid, instance_uuids=[other]).members
        )

    def test_members_remove_takes_cancelled_servers_out_of_api_and_legacy_groups(self):
        a, b, c = new_uuid(), new_uuid(), new_uuid()
        row = InstanceGroupFactory(members=[a, b])
        legacy = LegacyInstanceGroupFactory(cell="cell2", members=[c])
        assert services.servergroup_members_remove(instance_uuids=[a, c, new_uuid()]) == 2
        assert selectors.servergroup_get(uuid=row.uuid).members == (b,)
        assert selectors.servergroup_get(uuid=legacy.uuid).members == ()
        assert services.servergroup_members_remove(instance_uuids=[]) == 0

    def test_uuids_of_instance(self):
        member = new_uuid()
        row = InstanceGroupFactory(members=[member])
        assert selectors.servergroup_uuids_of_instance(instance_uuid=member) == [row.uuid]
        assert selectors.servergroup_uuids_of_instance(instance_uuid=new_uuid()) == []

    def test_member_hosts_counts_live_members_per_host(self, cells):
        on_h1 = [
            InstanceFactory(cell=cells["cell1"], mapped=True, host="h1").uuid,
            InstanceFactory(cell=cells["cell2"], mapped=True, host="h1").uuid,
        ]
        on_h2 = InstanceFactory(cell=cells["cell1"], mapped=True, host="h2").uuid
        gone = InstanceFactory(cell=cells["cell1"], mapped=True, host="h3", deleted=True).uuid
        row = InstanceGroupFactory(members=[*on_h1, on_h2, gone, InstanceMappingFactory().instance_uuid])
        assert selectors.servergroup_member_hosts(group_uuid=row.uuid) == {"h1": 2, "h2": 1}
        assert selectors.servergroup_member_hosts(group_uuid=row.uuid, exclude=[on_h2]) == {"h1": 2}
        assert selectors.servergroup_member_hosts(group_uuid=new_uuid()) == {}


def test_create_refuses_what_the_columns_cannot_hold():
    with pytest.raises(InvalidServerGroup, match="name"):
        create(name="x" * 256)
    with pytest.raises(InvalidServerGroup, match="uuid"):
        create(uuid="u" * 37)
    assert InstanceGroup.objects.count() == 0
