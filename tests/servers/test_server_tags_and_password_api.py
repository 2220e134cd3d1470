"""``/servers/{id}/tags[/{tag}]`` (Nova's os-server-tags, 2.26) and
``/servers/{id}/os-server-password``: kept in the server's cell (``tags``, the system metadata's
password_0..3), with Nova's bodies (checked against tempest's schemas), limits, conflicts, policies
and faults; cell0 and two cells, build requests and a down cell."""

import pytest

from cellsv2.context import target_cell
from mappings.models import InstanceMapping
from servers.models import InstanceSystemMetadata, Tag
from tests.factories import new_uuid
from tests.fixtures.compute import (
    ADMIN,
    OTHER,
    cells_holding,
    fault,
    place_all,
    seed_build_request,
    seed_instance,
    system_metadata_of,
)
from tests.support import ALL_DATABASES
from tests.tempest_schemas import assert_matches_tempest

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

V = "2.26"
READER = {"HTTP_X_USER_ID": "alice", "HTTP_X_PROJECT_ID": "proj1", "HTTP_X_ROLES": "reader"}


def placed(api, **server) -> tuple[str, str]:
    uuid = api.create_uuid(**server)
    place_all()
    [alias] = cells_holding(uuid)
    return uuid, alias


def tags_in(alias, uuid) -> set:
    with target_cell(alias):
        return set(Tag.objects.filter(resource_id=uuid).values_list("tag", flat=True))


def tags(api, uuid, tag=None, method="get", **kwargs):
    kwargs.setdefault("version", V)
    return api(method, f"/servers/{uuid}/tags" + (f"/{tag}" if tag is not None else ""), **kwargs)


def faulted(response, status, name, message=None):
    assert response.status_code == status, response.content
    got = fault(response)
    assert got[:2] == (name, status)
    if message is not None:
        assert got[2] == message


class TestTags:
    def test_add_check_list_replace_delete_as_tempest_sees_them(self, api, topology):
        uuid, alias = placed(api)
        response = tags(api, uuid)
        assert_matches_tempest(response, "v2_26", "servers", "list_tags")
        assert response.json() == {"tags": []}

        response = tags(api, uuid, "blue", "put")
        # tempest's update_tag wants the Location header (its schema check sees no headers here).
        assert response.status_code == 201
        assert response["Location"] == f"http://testserver/v2.1/servers/{uuid}/tags/blue"
        assert tags(api, uuid, "blue", "put").status_code == 204  # already there
        assert tags_in(alias, uuid) == {"blue"}
        response = tags(api, uuid, "blue")
        assert_matches_tempest(response, "v2_26", "servers", "check_tag_existence")
        faulted(tags(api, uuid, "red"), 404, "itemNotFound", f"Server {uuid} has no tag 'red'")
        assert api.show(uuid, version=V).json()["server"]["tags"] == ["blue"]

        response = tags(api, uuid, method="put", body={"tags": ["a", "b", "a", "with space"]})
        assert_matches_tempest(response, "v2_26", "servers", "update_all_tags")
        assert response.json() == {"tags": ["a", "b", "with space"]}
        assert tags_in(alias, uuid) == {"a", "b", "with space"}

        response = tags(api, uuid, "a", "delete")
        assert_matches_tempest(response, "v2_26", "servers", "delete_tag")
        faulted(tags(api, uuid, "a", "delete"), 404, "itemNotFound", f"Instance {uuid} has no tag 'a'")
        response = tags(api, uuid, method="delete")
        assert_matches_tempest(response, "v2_26", "servers", "delete_all_tags")
        assert tags_in(alias, uuid) == set()

    def test_tags_given_at_create_are_there(self, api, topology):
        uuid, alias = placed(api, tags=["x", "y"], version="2.52")
        assert sorted(tags(api, uuid).json()["tags"]) == ["x", "y"]

    def test_fifty_is_the_limit(self, api, topology):
        uuid, alias = placed(api)
        assert tags(api, uuid, method="put", body={"tags": [f"t{i}" for i in range(50)]}).status_code == 200
        message = "The number of tags exceeded the per-server limit 50"
        faulted(tags(api, uuid, "one-more", "put"), 400, "badRequest", message)
        faulted(tags(api, uuid, method="put", body={"tags": [f"t{i}" for i in range(51)]}), 400, "badRequest")
        assert len(tags_in(alias, uuid)) == 50

    @pytest.mark.parametrize(
        "body", [None, {}, {"tags": "a"}, {"tags": ["a,b"]}, {"tags": ["a/b"]}, {"tags": ["x" * 61]}, {"tags": [1]}]
    )
    def test_bad_bodies_are_400(self, api, topology, body):
        uuid, alias = placed(api)
        faulted(tags(api, uuid, method="put", body=body), 400, "badRequest")
        assert tags_in(alias, uuid) == set()

    @pytest.mark.parametrize("tag", ["a,b", "x" * 61])
    def test_a_bad_tag_in_the_url_is_400(self, api, topology, tag):
        uuid, alias = placed(api)
        response = tags(api, uuid, tag, "put")
        faulted(response, 400, "badRequest")
        assert fault(response)[2].startswith(f"Tag '{tag}' is invalid. It must be a non empty string")
        faulted(tags(api, uuid, "a", "put", body={"x": 1}), 400, "badRequest")
        assert tags_in(alias, uuid) == set()

    def test_before_2_26_there_is_no_such_resource(self, api, topology):
        uuid, _ = placed(api)
        assert tags(api, uuid, version="2.25").status_code == 404
        assert tags(api, uuid, "a", "put", version="2.25").status_code == 404

    def test_state_rules_and_build_requests(self, api, cells, topology):
        error = seed_instance(cells["cell1"], vm_state="error", host="compute1")
        message = f"Cannot 'update tag' instance {error.uuid} while it is in vm_state error"
        faulted(tags(api, error.uuid, "a", "put"), 409, "conflictingRequest", message)
        message = f"Cannot 'delete tags' instance {error.uuid} while it is in vm_state error"
        faulted(tags(api, error.uuid, method="delete"), 409, "conflictingRequest", message)
        assert tags(api, error.uuid).json() == {"tags": []}  # reading is allowed in any state

        build = seed_build_request(tags=["early"])
        assert tags(api, build.instance_uuid).json() == {"tags": ["early"]}
        message = f"Cannot 'update tags' instance {build.instance_uuid} while it is in vm_state building"
        faulted(tags(api, build.instance_uuid, method="put", body={"tags": []}), 409, "conflictingRequest", message)

    def test_servers_in_both_cells_and_cell0(self, api, cells, topology):
        for alias in ("cell0", "cell1", "cell2"):
            instance = seed_instance(cells[alias], vm_state="stopped" if alias != "cell0" else "error")
            response = tags(api, instance.uuid, "t", "put")
            if alias == "cell0":
                assert response.status_code == 409
                continue
            assert response.status_code == 201, response.content
            assert tags_in(alias, instance.uuid) == {"t"}

    def test_policies_and_unknown_servers(self, api, topology, settings):
        uuid, alias = placed(api)
        assert tags(api, uuid, token=OTHER).status_code == 404
        assert tags(api, uuid, "a", "put", token=ADMIN).status_code == 201
        settings.CELLSV2_AUTH = "headers"  # a reader's role, which noauth tokens cannot carry
        assert tags(api, uuid, token=None, headers=READER).json() == {"tags": ["a"]}
        faulted(tags(api, uuid, "b", "put", token=None, headers=READER), 403, "forbidden")
        faulted(tags(api, "00000000-0000-0000-0000-000000000000", token=None, headers=READER), 404, "itemNotFound")

    def test_a_server_in_a_down_cell_is_503(self, api, topology, down_cell):
        uuid = new_uuid()
        InstanceMapping.objects.create(instance_uuid=uuid, cell=down_cell, project_id="proj1", user_id="alice")
        for response in (
            tags(api, uuid),
            tags(api, uuid, "a", "put"),
            api("get", f"/servers/{uuid}/os-server-password"),
        ):
            faulted(response, 503, "serviceUnavailable")


class TestPassword:
    def test_show_and_clear(self, api, topology, settings):
        uuid, alias = placed(api)
        path = f"/servers/{uuid}/os-server-password"
        response = api("get", path)
        assert_matches_tempest(response, "v2_1", "servers", "show_password")
        assert response.json() == {"password": ""}

        chunks = {"password_0": "a" * 255, "password_1": "b" * 10, "password_2": "", "password_3": ""}
        with target_cell(alias):
            for key, value in chunks.items():
                InstanceSystemMetadata.objects.create(instance_id=uuid, key=key, value=value)
        assert api("get", path).json() == {"password": "a" * 255 + "b" * 10}
        settings.CELLSV2_AUTH = "headers"
        assert api("get", path, token=None, headers=READER).status_code == 200
        faulted(api("delete", path, token=None, headers=READER), 403, "forbidden")
        settings.CELLSV2_AUTH = "noauth"
        response = api("delete", path)
        assert_matches_tempest(response, "v2_1", "servers", "server_actions_delete_password")
        assert {k: v for k, v in system_metadata_of(alias, uuid).items() if k.startswith("password_")} == {
            f"password_{i}": "" for i in range(4)
        }
        assert api("get", path).json() == {"password": ""}

    def test_unknown_and_others_servers_are_404(self, api, topology):
        uuid, _ = placed(api)
        faulted(api("get", f"/servers/{uuid}/os-server-password", token=OTHER), 404, "itemNotFound")
        faulted(api("delete", "/servers/00000000-0000-0000-0000-000000000000/os-server-password"), 404, "itemNotFound")
