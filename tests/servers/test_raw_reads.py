"""The hot reads written as SQL (servers, mappings, build requests) give exactly what the ORM gives,
and the show, delete and create of a server keep their fixed number of queries.

``orm_load_from_cell`` and ``orm_mapping_lookup`` are the queryset versions these reads replaced:
every value (types included) and every response body must stay the same on both databases.
"""

import json
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models import OuterRef, Subquery
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from cellsv2.context import NoCellTargeted, target_cell
from mappings.models import InstanceMapping
from mappings.selectors import INSTANCE_MIGRATION_MARKER, instance_mapping_read
from servergroups.models import InstanceGroupMember
from servers.models import (
    BuildRequest,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    RequestSpec,
    Tag,
)
from servers.selectors import show as server_selectors
from servers.selectors.show import ServerView, _load_from_cell, build_request_read
from servers.serialization import request_spec_load
from servers.services.create import _flavor_totals, count_instances
from tests.fixtures.compute import ADMIN, MEMBER, place_all, seed_build_request, seed_instance
from tests.support import ALL_DATABASES, on_postgres

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


# --- the queryset versions, for comparison ------------------------------------------------------


def orm_load_from_cell(uuids, *, include_deleted=False) -> dict:
    extras = InstanceExtra.objects.select_related("instance").filter(
        instance__uuid__in=uuids, **({} if include_deleted else {"instance__deleted": 0})
    )
    servers = {}
    for extra in extras:
        instance = {f.attname: getattr(extra.instance, f.attname) for f in Instance._meta.concrete_fields}
        flavor = json.loads(extra.flavor or "{}").get("cur") or {}
        servers[extra.instance.uuid] = ServerView(
            uuid=extra.instance.uuid, instance=instance, source="cell", flavor=flavor
        )
        instance["keypairs"] = extra.keypairs
    for item in InstanceMetadata.objects.live().filter(instance_id__in=list(servers)):
        servers[item.instance_id].metadata[item.key] = item.value
    for item in InstanceSystemMetadata.objects.live().filter(instance_id__in=list(servers)):
        servers[item.instance_id].system_metadata[item.key] = item.value
    for tag in Tag.objects.filter(resource_id__in=list(servers)):
        servers[tag.resource_id].tags.append(tag.tag)
    errored = [u for u, s in servers.items() if s.instance["vm_state"] == "error"]
    for fault in InstanceFault.objects.live().filter(instance_id__in=errored).order_by("instance_id", "-created_at"):
        servers[fault.instance_id].fault = servers[fault.instance_id].fault or {
            "code": fault.code,
            "message": fault.message,
            "details": fault.details,
            "created": fault.created_at,
        }
    for server in servers.values():
        server.tags.sort()
        groups = server.system_metadata.get("security_groups")
        server.instance["security_groups"] = json.loads(groups) if groups else []
    return servers


def orm_mapping_lookup(uuid):
    return InstanceMapping.objects.select_related("cell").filter(instance_uuid=uuid).first()


def typed(value):
    """A value with its type, so 1 == True and a naive == an aware datetime never pass unnoticed."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def same_server(a: ServerView, b: ServerView) -> None:
    for name in ("uuid", "source", "flavor", "fault", "spec"):
        assert typed(getattr(a, name)) == typed(getattr(b, name)), name
    assert typed(a.instance) == typed(b.instance)
    # Dict order is response order (metadata is rendered as read).
    for name in ("metadata", "system_metadata"):
        assert list(getattr(a, name).items()) == list(getattr(b, name).items()), name
    assert a.tags == b.tags


def model_values(obj) -> dict:
    return typed({f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields})


# --- a server with everything -------------------------------------------------------------------


@pytest.fixture
def rich(cells):
    """Servers in cell1: one with metadata, system metadata, tags, faults, a locked flag and a key; one
    deleted; one plain. Returns their uuids."""
    cell = cells["cell1"]
    now = timezone.now()
    full = seed_instance(
        cell,
        vm_state="error",
        locked=True,
        locked_by="admin",
        auto_disk_config=True,
        launched_at=now,
        key_name="k",
        display_description="described",
        host="compute1",
        node="compute1",
    ).uuid
    deleted = seed_instance(cell, deleted=True).uuid
    plain = seed_instance(cell).uuid
    with target_cell(cell):
        InstanceExtra.objects.filter(instance_id=full).update(keypairs='{"objects": []}')
        for key, value in (("zeta", "1"), ("alpha", "2"), ("mid", "")):
            InstanceMetadata.objects.create(instance_id=full, key=key, value=value)
        gone = InstanceMetadata.objects.create(instance_id=full, key="gone", value="x")
        InstanceMetadata.objects.filter(pk=gone.pk).soft_delete()
        InstanceSystemMetadata.objects.create(instance_id=full, key="security_groups", value='["default", "web"]')
        InstanceSystemMetadata.objects.create(instance_id=full, key="locked_reason", value="maintenance")
        for tag in ("tag-b", "tag-a"):
            Tag.objects.create(resource_id=full, tag=tag)
        InstanceFault.objects.create(instance_id=full, code=500, message="old", details="trace", created_at=now)
        InstanceFault.objects.create(
            instance_id=full, code=404, message="newest", details="d", created_at=now + timedelta(seconds=1)
        )
        InstanceMetadata.objects.create(instance_id=deleted, key="k", value="v")
    return {"full": full, "deleted": deleted, "plain": plain}


class TestTheSameValuesAsTheOrm:
    @pytest.mark.parametrize("include_deleted", [False, True])
    # faults_with_rows=False is what a listing asks of a cell where its page query saw no server
    # in ERROR: a server in ERROR (here, one that went since) still gets its fault.
    @pytest.mark.parametrize("faults_with_rows", [True, False])
    def test_servers_of_a_cell(self, rich, include_deleted, faults_with_rows):
        uuids = list(rich.values())
        with target_cell("cell1"):
            expected = orm_load_from_cell(uuids, include_deleted=include_deleted)
            found = _load_from_cell(uuids, include_deleted=include_deleted, faults_with_rows=faults_with_rows)
        assert sorted(found) == sorted(expected)
        assert (rich["deleted"] in found) is include_deleted
        for uuid in expected:
            same_server(found[uuid], expected[uuid])
        full = found[rich["full"]]
        assert full.fault["message"] == "newest" and full.tags == ["tag-a", "tag-b"]
        assert "gone" not in full.metadata and full.instance["security_groups"] == ["default", "web"]
        assert full.instance["locked"] is True and timezone.is_aware(full.instance["created_at"])

    @pytest.mark.parametrize("which", ["full", "deleted", "plain"])
    def test_one_server_as_a_show_reads_it(self, rich, which):
        """A show reads one uuid (its own statement text on PostgreSQL): the same values."""
        with target_cell("cell1"):
            expected = orm_load_from_cell([rich[which]], include_deleted=True)
            found = _load_from_cell([rich[which]], include_deleted=True)
            live = _load_from_cell([rich[which]])
        assert list(found) == [rich[which]]
        same_server(found[rich[which]], expected[rich[which]])
        assert list(live) == ([] if which == "deleted" else [rich[which]])

    @pytest.mark.parametrize("faults_with_rows", [True, False])
    def test_servers_none_in_error_in_one_round_trip(self, cells, faults_with_rows):
        """Servers of which none is in ERROR: one statement on PostgreSQL (two on SQLite, where
        the items are read for the servers found), whether the fault query goes along or not."""
        uuids = [seed_instance(cells["cell1"]).uuid for _ in range(3)]
        with target_cell("cell1"), CaptureQueriesContext(connections["cell1"]) as queries:
            found = _load_from_cell(uuids, faults_with_rows=faults_with_rows)
        assert sorted(found) == sorted(uuids) and all(s.fault is None for s in found.values())
        statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
        assert len(statements) == (1 if on_postgres() else 2)
        assert ("instance_faults" in statements[0]) is (on_postgres() and faults_with_rows)

    def test_no_uuids_is_no_query(self, cells, django_assert_num_queries):
        with target_cell("cell1"), django_assert_num_queries(0, connection=connections["cell1"]):
            assert _load_from_cell([]) == {}

    def test_a_cell_must_be_targeted(self, rich):
        with pytest.raises(NoCellTargeted):
            _load_from_cell([rich["plain"]])

    def test_instance_mappings(self, rich, django_assert_num_queries):
        build = seed_build_request()
        for uuid in (rich["full"], rich["deleted"], build.instance_uuid):
            expected = orm_mapping_lookup(uuid)
            with django_assert_num_queries(1, connection=connections["api"]):
                found = instance_mapping_read(uuid)
                # The cell comes with the mapping, as with select_related: no second query.
                cell = found.cell
            assert model_values(found) == model_values(expected)
            assert (cell is None) == (expected.cell is None)
            if cell is not None:
                assert model_values(cell) == model_values(expected.cell)
            assert found._state.db == "api" and not found._state.adding
        assert instance_mapping_read("00000000-0000-0000-0000-00000000abcd") is None

    def test_request_spec_and_server_group(self, api, topology):
        body = {"server_group": {"name": "g", "policies": ["anti-affinity"]}}
        group = api("post", "/os-server-groups", body=body).json()["server_group"]["id"]
        member, alone = api.create_uuid(hints={"group": group}), api.create_uuid()
        for uuid in (member, alone):
            membership = InstanceGroupMember.objects.filter(instance_uuid=OuterRef("instance_uuid"))
            expected = (
                RequestSpec.objects.filter(instance_uuid=uuid)
                .annotate(group_uuid=Subquery(membership.values("group__uuid")[:1]))
                .values_list("spec", "group_uuid")
                .first()
            )
            assert server_selectors.request_spec_and_group_read(instance_uuid=uuid) == expected
            assert server_selectors.request_spec_read(instance_uuid=uuid) == expected[0]
        assert server_selectors.request_spec_and_group_read(instance_uuid=member)[1] == group
        assert server_selectors.request_spec_and_group_read(instance_uuid=alone)[1] is None
        unknown = "00000000-0000-0000-0000-00000000abcd"
        assert server_selectors.request_spec_and_group_read(instance_uuid=unknown) is None
        assert server_selectors.request_spec_read(instance_uuid=unknown) is None

    def test_quota_usage_of_a_project(self, api, topology):
        uuids = [api.create_uuid(flavorRef=flavorid) for flavorid in ("1", "2", "3")]
        place_all()
        api.create_uuid(flavorRef="2")  # a build request counts too
        api("delete", f"/servers/{uuids[0]}")  # queued for delete: no more
        InstanceMapping.objects.create(instance_uuid=INSTANCE_MIGRATION_MARKER, project_id=INSTANCE_MIGRATION_MARKER)
        live = InstanceMapping.objects.filter(project_id="proj1", queued_for_delete=False)
        assert count_instances("proj1", None) == live.exclude(project_id=INSTANCE_MIGRATION_MARKER).count() == 3
        specs = RequestSpec.objects.filter(instance_uuid__in=live.values("instance_uuid")).values_list(
            "spec", flat=True
        )
        flavors = [request_spec_load(text)["flavor"] for text in specs]
        expected = (sum(f["vcpus"] for f in flavors), sum(f["memory_mb"] for f in flavors))
        assert _flavor_totals("proj1") == expected == (1 + 2 + 1, 2048 + 4096 + 2048)
        assert count_instances("nobody", None) == 0 and _flavor_totals("nobody") == (0, 0)
        assert count_instances(INSTANCE_MIGRATION_MARKER, None) == 0  # map_instances' marker row is no server

    def test_build_requests(self, cells):
        build = seed_build_request(metadata={"a": "b"})
        found = build_request_read(build.instance_uuid)
        assert model_values(found) == model_values(BuildRequest.objects.get(pk=build.pk))
        assert build_request_read("00000000-0000-0000-0000-00000000abcd") is None


# --- the responses ---------------------------------------------------------------------------------


@contextmanager
def orm_reads(monkeypatch):
    """Serve the reads with the queryset versions inside the block."""
    with monkeypatch.context() as patch:
        patch.setattr(server_selectors, "_load_from_cell", orm_load_from_cell)
        patch.setattr(server_selectors, "instance_mapping_lookup", orm_mapping_lookup)
        yield


@pytest.mark.parametrize("version", ["2.1", "2.3", "2.16", "2.26", "2.47", "2.71", "2.73", "2.96", "2.100", MAX])
@pytest.mark.parametrize("token", [MEMBER, ADMIN])
def test_show_bodies_are_byte_for_byte_those_of_the_orm_reads(api, rich, monkeypatch, version, token):
    # The API's project for MEMBER is proj1, which owns the seeded servers.
    for uuid in (rich["full"], rich["plain"]):
        with orm_reads(monkeypatch):
            expected = api.show(uuid, token=token, version=version)
        found = api.show(uuid, token=token, version=version)
        assert found.status_code == expected.status_code == 200
        assert found.content == expected.content
    assert api.show(rich["deleted"], token=token, version=version).status_code == 404


# --- query budgets ----------------------------------------------------------------------------------


def statements(fn) -> dict[str, list[str]]:
    """Run fn; the SQL it sent to each database, transaction control left out."""
    with ExitStack() as stack:
        captured = {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ALL_DATABASES}
        fn()
    return {
        alias: [q["sql"] for q in c.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]
        for alias, c in captured.items()
    }


def total(found: dict) -> int:
    return sum(len(v) for v in found.values())


@pytest.mark.usefixtures("worker_mode")
class TestQueryBudgets:
    @pytest.mark.parametrize("version", ["2.1", MAX])
    def test_show_of_a_placed_server(self, api, topology, version):
        """One API query (the mapping, with the request spec and group at 2.71+), then the cell:
        one round trip on PostgreSQL, two statements on SQLite."""
        uuid = api.create_uuid()
        place_all()
        assert api.show(uuid, version=version).status_code == 200  # per-process caches filled
        found = statements(lambda: api.show(uuid, version=version))
        assert len(found["api"]) == 1, found
        assert total(found) == (2 if on_postgres() else 3), found

    def test_delete_of_a_build_request_reads_it_once(self, api, topology):
        api("delete", f"/servers/{api.create_uuid()}")  # per-process caches filled
        uuid = api.create_uuid()
        found = statements(lambda: api("delete", f"/servers/{uuid}"))
        assert total(found) == len(found["api"]) == 5, found
        # The mapping and the build request are read once, then the build request deleted, the
        # mapping queued for delete and the server group membership dropped.
        assert [sql.split()[0] for sql in found["api"]] == ["SELECT", "SELECT", "DELETE", "UPDATE", "DELETE"]

    def test_create_counts_each_quota_usage_once_and_needs_no_savepoint(self, api, topology):
        api.create_uuid()
        with ExitStack() as stack:
            captured = stack.enter_context(CaptureQueriesContext(connections["api"]))
            api.create_uuid()
        sqls = [q["sql"] for q in captured.captured_queries]
        # The test's own transaction makes quota_reserve's transaction a savepoint: that one only.
        assert len([sql for sql in sqls if sql.upper().startswith("SAVEPOINT")]) == 1
        assert len([sql for sql in sqls if "COUNT(" in sql and "instance_mappings" in sql]) == 1
        assert len([sql for sql in sqls if "FROM request_specs" in sql]) == 1
        # the flavor with its extra specs, 3 limits + 1 repeated, 1 count, 1 spec read, 3 inserts, the
        # limits read from the quota tables (a user's row, the project's, the default class) in one
        # statement (+ the lock row upsert on PostgreSQL)
        assert len([sql for sql in sqls if "flavors" in sql]) == 1
        assert len([sql for sql in sqls if not sql.upper().startswith(TRANSACTION_CONTROL)]) <= 11 + on_postgres()
