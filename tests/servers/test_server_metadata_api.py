"""``/servers/{id}/metadata[/{key}]``: a server's user metadata through the API (Nova's
server_metadata controller), kept in its cell's ``instance_metadata`` once placed, read from the
build request before; with Nova's bodies, limits, conflicts and faults, in cell0 and two cells."""

from datetime import UTC, datetime

import pytest

from cellsv2.context import target_cell
from cellsv2.quotas import quota_set
from mappings.models import InstanceMapping
from servers.models import Instance, InstanceMetadata
from tests.factories import new_uuid
from tests.fixtures.compute import (
    ADMIN,
    MEMBER_SAME_PROJECT,
    OTHER,
    cells_holding,
    fault,
    metadata_of,
    place_all,
    seed_build_request,
    seed_instance,
)
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

LAUNCHED = datetime(2024, 1, 1, tzinfo=UTC)
READER = {"HTTP_X_USER_ID": "alice", "HTTP_X_PROJECT_ID": "proj1", "HTTP_X_ROLES": "reader"}


def placed(api, metadata=None, **server) -> tuple[str, str]:
    """A server created through the API and placed by the conductor: (uuid, the alias of its cell)."""
    uuid = api.create_uuid(metadata=metadata or {}, **server)
    place_all()
    [alias] = cells_holding(uuid)
    return uuid, alias


def path(uuid, key=None):
    return f"/servers/{uuid}/metadata" + (f"/{key}" if key is not None else "")


def set_instance(alias, uuid, **fields):
    with target_cell(alias):
        Instance.objects.filter(uuid=uuid).update(**fields)


def conflict(response, message):
    assert response.status_code == 409, response.content
    assert fault(response) == ("conflictingRequest", 409, message)


def bad_request(response, message=None):
    assert response.status_code == 400, response.content
    name, code, text = fault(response)
    assert (name, code) == ("badRequest", 400)
    if message is not None:
        assert text == message


class TestPlacedServer:
    def test_list_set_update_show_replace_delete(self, api, topology):
        uuid, alias = placed(api, {"key1": "value1", "key2": "value2"})

        response = api("get", path(uuid))
        assert response.status_code == 200
        assert response.json() == {"metadata": {"key1": "value1", "key2": "value2"}}

        # POST merges and answers the whole result (200, as Nova does for compatibility).
        response = api("post", path(uuid), body={"metadata": {"key2": "new2", "key3": "value3"}})
        assert response.status_code == 200
        assert response.json() == {"metadata": {"key1": "value1", "key2": "new2", "key3": "value3"}}
        assert metadata_of(alias, uuid) == {"key1": "value1", "key2": "new2", "key3": "value3"}

        # PUT of one item answers that item.
        response = api("put", path(uuid, "key4"), body={"meta": {"key4": "value4"}})
        assert response.status_code == 200
        assert response.json() == {"meta": {"key4": "value4"}}
        response = api("get", path(uuid, "key4"))
        assert response.status_code == 200
        assert response.json() == {"meta": {"key4": "value4"}}

        # PUT of the collection replaces everything.
        response = api("put", path(uuid), body={"metadata": {"only": "one"}})
        assert response.status_code == 200
        assert response.json() == {"metadata": {"only": "one"}}
        assert metadata_of(alias, uuid) == {"only": "one"}
        # The removed items are soft-deleted rows, as Nova leaves them.
        with target_cell(alias):
            assert InstanceMetadata.objects.filter(instance_id=uuid).exclude(deleted=0).count() == 4

        response = api("delete", path(uuid, "only"))
        assert response.status_code == 204
        assert response.content == b""
        assert api("get", path(uuid)).json() == {"metadata": {}}
        assert metadata_of(alias, uuid) == {}

        # The show of the server agrees with the metadata API.
        api("post", path(uuid), body={"metadata": {"a": "1"}})
        assert api.show(uuid).json()["server"]["metadata"] == {"a": "1"}

    def test_empty_post_answers_the_current_metadata(self, api, topology):
        uuid, _ = placed(api, {"key1": "value1"})
        response = api("post", path(uuid), body={"metadata": {}})
        assert response.status_code == 200
        assert response.json() == {"metadata": {"key1": "value1"}}

    def test_put_of_an_empty_collection_removes_everything(self, api, topology):
        uuid, alias = placed(api, {"key1": "value1"})
        response = api("put", path(uuid), body={"metadata": {}})
        assert response.status_code == 200
        assert response.json() == {"metadata": {}}
        assert metadata_of(alias, uuid) == {}

    def test_the_same_key_set_twice_keeps_one_live_row(self, api, topology):
        uuid, alias = placed(api, {"k": "1"})
        for value in ("2", "3"):
            assert api("put", path(uuid, "k"), body={"meta": {"k": value}}).status_code == 200
        with target_cell(alias):
            assert list(InstanceMetadata.objects.live().filter(instance_id=uuid).values_list("value")) == [("3",)]

    def test_unknown_item_is_404(self, api, topology):
        uuid, _ = placed(api, {"k": "1"})
        for method in ("get", "delete"):
            response = api(method, path(uuid, "nope"))
            assert response.status_code == 404
            assert fault(response) == ("itemNotFound", 404, "Metadata item was not found")

    def test_a_server_in_each_cell(self, api, cells, topology):
        for alias in ("cell1", "cell2"):
            instance = seed_instance(cells[alias], host=f"compute{alias[-1]}", launched_at=LAUNCHED)
            assert api("put", path(instance.uuid), body={"metadata": {"cell": alias}}).status_code == 200
            assert metadata_of(alias, instance.uuid) == {"cell": alias}
            assert api("get", path(instance.uuid, "cell")).json() == {"meta": {"cell": alias}}

    def test_another_user_of_the_project_may_change_it(self, api, topology):
        uuid, _ = placed(api)
        response = api("post", path(uuid), token=MEMBER_SAME_PROJECT, body={"metadata": {"k": "v"}})
        assert response.status_code == 200


class TestFaults:
    @pytest.mark.parametrize("server_id", ["not-a-uuid", new_uuid()])
    def test_unknown_server_is_404(self, api, topology, server_id):
        for method, key, body in (
            ("get", None, None),
            ("post", None, {"metadata": {"k": "v"}}),
            ("put", None, {"metadata": {"k": "v"}}),
            ("get", "k", None),
            ("put", "k", {"meta": {"k": "v"}}),
            ("delete", "k", None),
        ):
            response = api(method, path(server_id, key), body=body)
            assert response.status_code == 404, (method, key)
            assert fault(response) == ("itemNotFound", 404, f"Instance {server_id} could not be found.")

    def test_another_projects_server_is_404_and_an_admin_may_change_it(self, api, topology):
        uuid, alias = placed(api, {"k": "v"}, token=OTHER)
        assert api("get", path(uuid)).status_code == 404
        assert api("put", path(uuid), body={"metadata": {}}).status_code == 404
        assert metadata_of(alias, uuid) == {"k": "v"}
        response = api("put", path(uuid, "by"), token=ADMIN, body={"meta": {"by": "admin"}})
        assert response.status_code == 200
        assert metadata_of(alias, uuid) == {"k": "v", "by": "admin"}

    @pytest.mark.parametrize(
        "body",
        [
            {"metadata": {"": "blank key"}},
            {"metadata": {"k" * 256: "key too long"}},
            {"metadata": {"k": "v" * 256}},
            {"metadata": {"k": 1}},
            {"metadata": {"meta": {}}},
            {"metadata": {"bad/key": "v"}},
            {"metadata": []},
            {"meta": {"k": "v"}},
            {"metadata": {"k": "v"}, "extra": 1},
            {},
        ],
    )
    def test_bad_collection_bodies_are_400(self, api, topology, body):
        uuid, alias = placed(api, {"keep": "me"})
        for method in ("post", "put"):
            bad_request(api(method, path(uuid), body=body))
        assert metadata_of(alias, uuid) == {"keep": "me"}

    def test_no_body_is_400(self, api, topology):
        uuid, _ = placed(api)
        bad_request(api("put", path(uuid)))

    @pytest.mark.parametrize(
        "body",
        [{"meta": {}}, {"meta": {"k": "v", "k2": "v"}}, {"metadata": {"k": "v"}}, {"meta": {"k": "v" * 256}}],
    )
    def test_bad_item_bodies_are_400(self, api, topology, body):
        uuid, _ = placed(api)
        bad_request(api("put", path(uuid, "k"), body=body))

    def test_item_body_must_name_the_key_of_the_url(self, api, topology):
        uuid, alias = placed(api)
        bad_request(
            api("put", path(uuid, "testkey"), body={"meta": {"key": "value"}}), "Request body and URI mismatch"
        )
        assert metadata_of(alias, uuid) == {}

    def test_unknown_query_parameters_are_refused_from_2_102(self, api, topology):
        uuid, _ = placed(api, {"k": "v"})
        assert api("get", path(uuid) + "?foo=1", version="2.101").status_code == 200
        assert api("get", path(uuid, "k") + "?foo=1", version="2.101").status_code == 200
        bad_request(api("get", path(uuid) + "?foo=1", version="2.102"))
        bad_request(api("get", path(uuid, "k") + "?foo=1", version="2.102"))


class TestLimits:
    def test_128_items_by_default_then_403(self, api, topology):
        uuid, alias = placed(api)
        items = {f"key{n}": f"val{n}" for n in range(1, 129)}
        assert api("put", path(uuid), body={"metadata": items}).status_code == 200
        too_many = {**items, "key129": "val129"}
        for method in ("put", "post"):
            response = api(method, path(uuid), body={"metadata": too_many})
            assert response.status_code == 403
            assert fault(response) == ("forbidden", 403, "Maximum number of metadata items exceeds 128")
        response = api("put", path(uuid, "key129"), body={"meta": {"key129": "val129"}})
        assert fault(response) == ("forbidden", 403, "Maximum number of metadata items exceeds 128")
        assert len(metadata_of(alias, uuid)) == 128
        # Changing an existing key stays within the limit.
        assert api("put", path(uuid, "key1"), body={"meta": {"key1": "changed"}}).status_code == 200

    def test_the_projects_quota_sets_the_limit(self, api, topology):
        uuid, alias = placed(api, {"a": "1"})
        quota_set(project_id="proj1", resource="metadata_items", hard_limit=2)
        assert api("post", path(uuid), body={"metadata": {"b": "2"}}).status_code == 200
        response = api("post", path(uuid), body={"metadata": {"c": "3"}})
        assert fault(response) == ("forbidden", 403, "Maximum number of metadata items exceeds 2")
        assert metadata_of(alias, uuid) == {"a": "1", "b": "2"}
        quota_set(project_id="proj1", resource="metadata_items", hard_limit=-1)
        many = {f"k{n}": "v" for n in range(300)}
        assert api("put", path(uuid), body={"metadata": many}).status_code == 200


class TestStates:
    def test_locked_server_refuses_its_owner_but_not_an_admin(self, api, topology):
        uuid, alias = placed(api, {"k": "v"})
        set_instance(alias, uuid, locked=True, locked_by="admin")
        for method, key, body in (
            ("post", None, {"metadata": {"x": "1"}}),
            ("put", None, {"metadata": {}}),
            ("put", "k", {"meta": {"k": "w"}}),
            ("delete", "k", None),
        ):
            conflict(api(method, path(uuid, key), body=body), f"Instance {uuid} is locked")
        assert api("get", path(uuid)).json() == {"metadata": {"k": "v"}}
        assert api("put", path(uuid, "k"), token=ADMIN, body={"meta": {"k": "admin"}}).status_code == 200
        assert api("delete", path(uuid, "k"), token=ADMIN).status_code == 204

    @pytest.mark.parametrize("vm_state", ["active", "stopped", "paused", "suspended"])
    def test_allowed_vm_states(self, api, topology, vm_state):
        uuid, alias = placed(api)
        set_instance(alias, uuid, vm_state=vm_state)
        assert api("put", path(uuid, "k"), body={"meta": {"k": "v"}}).status_code == 200
        assert api("delete", path(uuid, "k")).status_code == 204

    def test_a_task_in_progress_does_not_matter_but_a_server_never_launched_does(self, api, topology):
        uuid, alias = placed(api, {"k": "v"})
        # Nova checks the vm_state only (update_instance_metadata: task_state=None).
        set_instance(alias, uuid, task_state="rebooting")
        assert api("post", path(uuid), body={"metadata": {"x": "1"}}).status_code == 200
        set_instance(alias, uuid, task_state=None, launched_at=None)
        conflict(
            api("post", path(uuid), body={"metadata": {"y": "1"}}),
            f"Instance {uuid} is in an invalid state for 'update metadata'",
        )
        conflict(api("delete", path(uuid, "k")), f"Instance {uuid} is in an invalid state for 'delete metadata'")
        assert metadata_of(alias, uuid) == {"k": "v", "x": "1"}

    def test_error_server_in_cell0_can_be_read_not_changed(self, api, cells, topology):
        instance = seed_instance(cells["cell0"], vm_state="error")
        with target_cell("cell0"):
            InstanceMetadata.objects.create(instance_id=instance.uuid, key="k", value="v")
        assert api("get", path(instance.uuid)).json() == {"metadata": {"k": "v"}}
        assert api("get", path(instance.uuid, "k")).json() == {"meta": {"k": "v"}}
        conflict(
            api("put", path(instance.uuid), body={"metadata": {}}),
            f"Cannot 'update metadata' instance {instance.uuid} while it is in vm_state error",
        )

    def test_build_request_reads_its_metadata_and_refuses_changes(self, api, topology):
        uuid = api.create_uuid(metadata={"k": "v"})
        assert api("get", path(uuid)).json() == {"metadata": {"k": "v"}}
        assert api("get", path(uuid, "k")).json() == {"meta": {"k": "v"}}
        for method, key, body, action in (
            ("post", None, {"metadata": {"x": "1"}}, "update metadata"),
            ("put", None, {"metadata": {}}, "update metadata"),
            ("put", "k", {"meta": {"k": "w"}}, "update metadata"),
            ("delete", "k", None, "delete metadata"),
        ):
            conflict(
                api(method, path(uuid, key), body=body),
                f"Cannot '{action}' instance {uuid} while it is in vm_state building",
            )
        place_all()
        [alias] = cells_holding(uuid)
        assert metadata_of(alias, uuid) == {"k": "v"}

    def test_seeded_build_request_without_metadata(self, api, topology):
        build = seed_build_request()
        assert api("get", path(build.instance_uuid)).json() == {"metadata": {}}
        response = api("get", path(build.instance_uuid, "k"))
        assert fault(response) == ("itemNotFound", 404, "Metadata item was not found")

    def test_down_cell_is_503(self, api, topology, down_cell):
        instance_uuid = new_uuid()
        InstanceMapping.objects.create(
            instance_uuid=instance_uuid, cell=down_cell, project_id="proj1", user_id="alice"
        )
        message = f"The cell holding server {instance_uuid} is unreachable; try again later."
        for version in ("2.1", "2.69", "2.102"):
            for method, key, body in (("get", None, None), ("put", None, {"metadata": {}}), ("delete", "k", None)):
                response = api(method, path(instance_uuid, key), body=body, version=version)
                assert response.status_code == 503, (version, method)
                assert fault(response) == ("serviceUnavailable", 503, message)


class TestPolicy:
    def test_nova_rule_names(self, api, topology, policy_file):
        uuid, _ = placed(api, {"k": "v"})
        rules = {
            "index": ("get", None, None),
            "show": ("get", "k", None),
            "create": ("post", None, {"metadata": {"x": "1"}}),
            "update_all": ("put", None, {"metadata": {"k": "v"}}),
            "update": ("put", "k", {"meta": {"k": "v"}}),
            "delete": ("delete", "k", None),
        }
        for name, (method, key, body) in rules.items():
            rule = f"os_compute_api:server-metadata:{name}"
            policy_file({rule: "role:admin"})
            response = api(method, path(uuid, key), body=body)
            assert response.status_code == 403, name
            assert fault(response) == ("forbidden", 403, f"Policy doesn't allow {rule} to be performed.")
            assert api(method, path(uuid, key), token=ADMIN, body=body).status_code in (200, 204), name
            if name == "delete":
                api("put", path(uuid, "k"), token=ADMIN, body={"meta": {"k": "v"}})

    def test_a_reader_reads_and_cannot_write(self, api, topology, settings):
        uuid, _ = placed(api, {"k": "v"})
        settings.CELLSV2_AUTH = "headers"
        assert api("get", path(uuid), token=None, headers=READER).status_code == 200
        assert api("get", path(uuid, "k"), token=None, headers=READER).status_code == 200
        response = api("post", path(uuid), token=None, headers=READER, body={"metadata": {"x": "1"}})
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:server-metadata:create to be performed.",
        )
