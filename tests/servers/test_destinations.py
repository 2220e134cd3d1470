"""Where a server is asked to go: availability zones, 2.74's host / hypervisor_hostname, and the
legacy "zone:host:node" forced destination, checked as Nova checks them."""

import json

import pytest

from servers.models import RequestSpec
from servers.serialization import request_spec_load
from tests.fixtures.compute import ADMIN, api_rows, fault, instance_in, place_all
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

NOTHING = {"build_requests": 0, "request_specs": 0, "instance_mappings": 0}


def refused(response, message: str) -> None:
    assert response.status_code == 400, response.content
    assert fault(response) == ("badRequest", 400, message)
    assert api_rows() == NOTHING


def placed(uuid) -> tuple[str, str, str]:
    """(cell alias, host, node) of a placed live instance."""
    [(alias, instance)] = [(a, i) for a in ("cell0", "cell1", "cell2") if (i := instance_in(a, uuid)) is not None]
    return alias, instance.host, instance.node


def spec_of(uuid) -> dict:
    return request_spec_load(RequestSpec.objects.get(instance_uuid=uuid).spec)


class TestAvailabilityZone:
    def test_an_unknown_zone_is_refused_and_nothing_is_written(self, api, topology):
        refused(api.create(availability_zone="zone-b"), "The requested availability zone is not available")

    def test_the_default_zone_needs_a_compute_host(self, api, cells, default_flavors):
        refused(api.create(availability_zone="nova"), "The requested availability zone is not available")

    def test_the_default_zone_is_recorded_and_pinned(self, api, topology):
        uuid = api.create_uuid(availability_zone="nova")
        assert spec_of(uuid)["availability_zone"] == "nova"
        assert place_all() == {"placed": 1}
        assert api.show(uuid, version="2.96").json()["server"]["pinned_availability_zone"] == "nova"

    def test_more_than_two_colons_cannot_be_parsed(self, api, topology):
        refused(
            api.create(availability_zone="nova:compute1:compute1:x", token=ADMIN),
            "Invalid input received: Unable to parse availability_zone",
        )


class TestForcedDestination:
    def test_a_forced_host_is_for_admins(self, api, topology):
        response = api.create(availability_zone="nova:compute2")
        assert response.status_code == 403
        assert fault(response)[2] == "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."
        assert api_rows() == NOTHING

    @pytest.mark.parametrize("zone", ["nova:compute2", "nova:compute2:compute2", "nova::compute2"])
    def test_the_server_goes_to_the_forced_host_or_node(self, api, topology, zone):
        # Twice: the scheduler would otherwise spread the second one to the other (empty) host.
        uuids = [api.create_uuid(availability_zone=zone, token=ADMIN) for _ in range(2)]
        assert place_all() == {"placed": 2}
        assert [placed(u) for u in uuids] == [("cell2", "compute2", "compute2")] * 2
        assert api.show(uuids[0], token=ADMIN).json()["server"]["OS-EXT-AZ:availability_zone"] == "nova"

    def test_another_zone_with_a_forced_host_is_dropped(self, api, topology):
        uuid = api.create_uuid(availability_zone="zone-b:compute1", token=ADMIN)
        assert spec_of(uuid)["availability_zone"] is None
        assert place_all() == {"placed": 1}
        assert placed(uuid)[:2] == ("cell1", "compute1")

    def test_a_forced_host_that_does_not_exist_fails_to_schedule(self, api, topology):
        # Nova does not check a forced host in the API: the build fails with no valid host.
        uuid = api.create_uuid(availability_zone="nova:nowhere", token=ADMIN)
        assert place_all() == {"buried": 1}
        assert placed(uuid)[0] == "cell0"

    def test_a_full_forced_host_fails_to_schedule(self, api, topology):
        # Every placement is a claim: a forced host is not filled past its capacity.
        uuid = api.create_uuid(availability_zone="nova:compute1", flavorRef="5", token=ADMIN)  # 16 GB RAM
        assert place_all() == {"buried": 1}
        assert placed(uuid)[0] == "cell0"


class TestRequestedDestination:
    @pytest.mark.parametrize(
        ("fields", "where"),
        [
            ({"host": "compute2"}, ("cell2", "compute2", "compute2")),
            ({"host": "compute1", "hypervisor_hostname": "compute1"}, ("cell1", "compute1", "compute1")),
            ({"hypervisor_hostname": "compute2"}, ("cell2", "compute2", "compute2")),
        ],
    )
    def test_the_server_goes_to_the_requested_host_or_node(self, api, topology, fields, where):
        uuids = [api.create_uuid(version="2.74", token=ADMIN, **fields) for _ in range(2)]
        assert spec_of(uuids[0])["requested_destination"] == {
            "host": fields.get("host"),
            "node": fields.get("hypervisor_hostname"),
            "forced": False,
        }
        assert place_all() == {"placed": 2}
        assert [placed(u) for u in uuids] == [where] * 2

    @pytest.mark.parametrize(
        ("fields", "missing"),
        [
            ({"host": "nowhere"}, "nowhere"),
            ({"host": "compute1", "hypervisor_hostname": "compute2"}, "compute1"),
            ({"hypervisor_hostname": "nowhere"}, "nowhere"),
        ],
    )
    def test_an_unknown_host_or_node_is_refused(self, api, topology, fields, missing):
        refused(api.create(version="2.74", token=ADMIN, **fields), f"Compute host {missing} could not be found.")

    def test_both_mechanisms_at_once_are_refused(self, api, topology):
        refused(
            api.create(version="2.74", token=ADMIN, host="compute1", availability_zone="nova:compute1"),
            "One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are "
            "mutually exclusive.",
        )

    def test_a_node_is_found_in_any_cell(self, api, topology):
        # compute2's node lives in cell2 only; the check asks every cell, never cell0.
        uuid = api.create_uuid(version="2.74", token=ADMIN, hypervisor_hostname="compute2")
        assert place_all() == {"placed": 1}
        assert placed(uuid)[0] == "cell2"


def test_a_request_spec_written_before_destinations_existed_places_anywhere(api, topology):
    # RequestSpec 1.0 had no requested_destination: such a build request is still placed.
    uuid = api.create_uuid()
    spec = RequestSpec.objects.get(instance_uuid=uuid)
    document = json.loads(spec.spec)
    del document["nova_object.data"]["requested_destination"]
    document["nova_object.version"] = "1.0"
    spec.spec = json.dumps(document)
    spec.save()
    assert place_all() == {"placed": 1}
    assert placed(uuid)[0] in ("cell1", "cell2")
