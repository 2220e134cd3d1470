"""The optional instance mapping cache (CELLSV2_MAPPING_CACHE_SECONDS): one API query saved, never stale."""

import hashlib
import hmac
from contextlib import ExitStack

import pytest
from django.core.cache import cache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from tests.fixtures.compute import mapping_of, place_all
from tests.support import ALL_DATABASES, run_command

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cache_on(settings):
    settings.CELLSV2_MAPPING_CACHE_SECONDS = 300


@pytest.fixture
def placed(api, topology):
    uuid = api.create_uuid()
    place_all()
    return uuid


def queries(fn) -> dict[str, int]:
    """Run fn and count its queries per database alias."""
    with ExitStack() as stack:
        captured = {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ALL_DATABASES}
        fn()
    return {alias: len(c) for alias, c in captured.items()}


def show_ok(api, uuid):
    def show():
        response = api.show(uuid)
        assert response.status_code == 200, response.content

    return show


def test_the_cache_is_off_by_default(api, placed, settings):
    assert settings.CELLSV2_MAPPING_CACHE_SECONDS == 0
    first = queries(show_ok(api, placed))
    assert queries(show_ok(api, placed)) == first
    assert first["api"] >= 1


def test_show_of_a_placed_server_uses_one_query_fewer_with_the_cache(api, placed, settings, django_assert_num_queries):
    cell = mapping_of(placed).cell.name
    without = queries(show_ok(api, placed))

    settings.CELLSV2_MAPPING_CACHE_SECONDS = 300
    assert queries(show_ok(api, placed)) == without  # the first show fills the cache
    with (
        django_assert_num_queries(without["api"] - 1, connection=connections["api"]),
        django_assert_num_queries(without[cell], connection=connections[cell]),
    ):
        show_ok(api, placed)()
    assert sum(queries(show_ok(api, placed)).values()) == sum(without.values()) - 1


@pytest.mark.usefixtures("cache_on")
def test_a_build_request_is_not_cached_and_placement_is_seen_at_once(api, topology):
    uuid = api.create_uuid()
    assert api.show(uuid).json()["server"]["status"] == "BUILD"
    place_all()
    assert api.show(uuid).json()["server"]["status"] == "ACTIVE"


@pytest.mark.usefixtures("cache_on")
def test_delete_invalidates_the_cached_mapping(api, placed):
    show_ok(api, placed)()
    warm = queries(show_ok(api, placed))
    assert api("delete", f"/servers/{placed}").status_code == 204
    # The mapping is read from the API database again (it now says queued_for_delete) ...
    after = queries(lambda: api.show(placed))
    assert after["api"] == warm["api"] + 1
    assert api.show(placed).status_code == 404
    # ... and a deleted server's mapping is not cached again.
    assert queries(lambda: api.show(placed))["api"] == after["api"]


@pytest.mark.usefixtures("cache_on")
def test_archive_forgets_the_mapping(api, placed):
    show_ok(api, placed)()
    assert api("delete", f"/servers/{placed}").status_code == 204
    assert run_command("db", "archive_deleted_rows", "--all-cells").code == 1
    assert api.show(placed).status_code == 404
    assert queries(lambda: api.show(placed))["api"] >= 1


@pytest.mark.usefixtures("cache_on")
def test_the_metadata_service_uses_the_cache(client, api, placed, settings):
    settings.CELLSV2_METADATA_SECRET = "s"
    headers = {
        "HTTP_X_INSTANCE_ID": placed,
        "HTTP_X_TENANT_ID": "proj1",
        "HTTP_X_INSTANCE_ID_SIGNATURE": hmac.new(b"s", placed.encode(), hashlib.sha256).hexdigest(),
    }

    def get():
        assert client.get("/openstack/latest/meta_data.json", **headers).status_code == 200

    get()
    assert queries(get)["api"] == 0
    assert api("delete", f"/servers/{placed}").status_code == 204
    assert client.get("/openstack/latest/meta_data.json", **headers).status_code == 404


def test_a_show_with_group_and_spec_is_the_same_from_the_cache(api, topology, settings):
    """At 2.71+ the request spec and group come with the mapping in one API query; from the cache
    (no mapping query) they are read on their own, and the body is the same."""
    group = api("post", "/os-server-groups", body={"server_group": {"name": "g", "policies": ["anti-affinity"]}})
    assert group.status_code == 200, group.content
    group_id = group.json()["server_group"]["id"]
    uuid = api.create_uuid(version=MAX, hints={"group": group_id})
    place_all()

    def show_body():
        response = api.show(uuid, version=MAX)
        assert response.status_code == 200, response.content
        return response.json()["server"]

    without_cache = show_body()
    assert without_cache["server_groups"] == [group_id]
    assert queries(show_body)["api"] == 1

    settings.CELLSV2_MAPPING_CACHE_SECONDS = 300
    show_body()  # fills the cache
    with ExitStack() as stack:
        captured = stack.enter_context(CaptureQueriesContext(connections["api"]))
        from_cache = show_body()
    assert not any("instance_mappings" in q["sql"] for q in captured.captured_queries), captured.captured_queries
    assert from_cache == without_cache
