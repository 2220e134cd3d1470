"""The scheduler leaves out hosts whose compute service is disabled or forced down (Nova's
ComputeFilter), except for a host forced with ``zone:host``; enabling it brings it back."""

import pytest

from tests.fixtures.compute import ADMIN, Api, cells_holding, place_all
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


@pytest.fixture
def api(client, settings):
    settings.CELLSV2_AUTH = "noauth"
    return Api(client)


def disable(api, host, **extra):
    body = {"host": host, "binary": "nova-compute", **extra}
    action = "force-down" if "forced_down" in extra else "disable"
    assert api("put", f"/os-services/{action}", token=ADMIN, version="2.11", body=body).status_code == 200


def placed_in(api, **create) -> list[str]:
    uuid = api.create_uuid(**create)
    place_all()
    return cells_holding(uuid)


@pytest.mark.usefixtures("worker_mode", "topology")
def test_a_disabled_host_gets_no_server_until_it_is_enabled(api):
    disable(api, "compute1")
    assert {placed_in(api)[0] for _ in range(3)} == {"cell2"}
    disable(api, "compute2", forced_down=True)
    assert placed_in(api) == ["cell0"]  # no valid host left
    body = {"host": "compute1", "binary": "nova-compute"}
    api("put", "/os-services/enable", token=ADMIN, version="2.1", body=body)
    assert placed_in(api) == ["cell1"]


@pytest.mark.usefixtures("worker_mode", "topology")
def test_a_forced_host_skips_the_filter_and_a_requested_one_does_not(api):
    disable(api, "compute1")
    assert placed_in(api, token=ADMIN, availability_zone="nova:compute1") == ["cell1"]
    assert placed_in(api, token=ADMIN, version="2.74", host="compute1") == ["cell0"]


@pytest.mark.usefixtures("topology")
def test_a_zone_whose_compute_services_are_all_disabled_cannot_be_asked_for(api):
    disable(api, "compute1")
    assert api.create(availability_zone="nova").status_code == 202
    disable(api, "compute2")
    response = api.create(availability_zone="nova")
    assert response.json() == {
        "badRequest": {"code": 400, "message": "The requested availability zone is not available"}
    }
