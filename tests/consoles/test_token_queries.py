"""Console token validation with the database backend: one statement per database, the instance
mapping cache used when it is on, and the same answers either way."""

from contextlib import ExitStack

import pytest
from django.core.cache import cache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from cellsv2.context import NoCellTargeted, target_cell
from consoles import selectors, services
from consoles.backends import DatabaseTokenStore, token_hash
from consoles.exceptions import InvalidToken
from mappings import selectors as mapping_selectors
from mappings.selectors import instance_cell_lookup
from tests.consoles.helpers import make_instance
from tests.fixtures.compute import mapping_of, place_all, seed_build_request
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BASE = "http://console.example:6080/vnc_auto.html"


@pytest.fixture(autouse=True)
def database_backend(settings):
    settings.CONSOLE_TOKENS_BACKEND = "database"
    cache.clear()
    yield
    cache.clear()


def authorize(cells, uuid, alias="cell1", **overrides):
    values = dict(
        cell=cells[alias], instance_uuid=uuid, console_type="novnc", host="192.0.2.10", port=5900, access_url_base=BASE
    )
    return services.console_auth_token_authorize(**{**values, **overrides})


def queries(fn) -> dict[str, int]:
    with ExitStack() as stack:
        captured = {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ALL_DATABASES}
        fn()
    return {alias: len(c) for alias, c in captured.items() if len(c)}


def test_with_the_instance_one_api_and_one_cell_query(cells):
    uuid = make_instance(cells)
    console = authorize(cells, uuid, tls_port=5901, internal_access_path="/path")
    found = []
    assert queries(
        lambda: found.append(selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid))
    )
    assert queries(lambda: selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid)) == {
        "api": 1,
        "cell1": 1,
    }
    # Every field of the authorization comes back, the cell's uuid added.
    assert found[0] == console.connection
    assert (found[0].tls_port, found[0].internal_access_path) == (5901, "/path")


def test_without_the_instance_one_query_per_cell_but_cell0(cells):
    uuid = make_instance(cells, "cell2", host="compute2")
    console = authorize(cells, uuid, "cell2")
    selectors.console_auth_token_validate(token=console.token)  # the cell list is read once per process
    counted = queries(lambda: selectors.console_auth_token_validate(token=console.token))
    assert counted == {alias: 1 for alias in cells if alias != "cell0"}


def test_the_mapping_cache_saves_the_api_query_and_changes_no_answer(cells, settings, frozen_clock):
    settings.CELLSV2_MAPPING_CACHE_SECONDS = 300
    settings.CELLSV2_CONSOLE_TOKEN_TTL = 600
    uuid, other = make_instance(cells), make_instance(cells)
    console = authorize(cells, uuid)
    selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid)  # fills the cache
    assert queries(lambda: selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid)) == {
        "cell1": 1
    }
    with pytest.raises(InvalidToken):
        selectors.console_auth_token_validate(token=console.token, instance_uuid=other)
    frozen_clock.advance(600)  # expires > now, still in SQL
    with pytest.raises(InvalidToken):
        selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid)


@pytest.mark.usefixtures("worker_mode")
def test_a_deleted_servers_tokens_are_invalid_with_the_mapping_cache(api, topology, settings):
    settings.CELLSV2_MAPPING_CACHE_SECONDS = 300
    uuid = api.create_uuid()
    place_all()
    alias = mapping_of(uuid).cell.name
    console = authorize(topology.cells, uuid, alias)
    assert selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid).instance_uuid == uuid
    assert api("delete", f"/servers/{uuid}").status_code == 204
    for instance_uuid in (uuid, None):
        with pytest.raises(InvalidToken):
            selectors.console_auth_token_validate(token=console.token, instance_uuid=instance_uuid)


def test_a_token_is_read_only_in_a_targeted_cell(cells):
    uuid = make_instance(cells)
    hashed = token_hash(authorize(cells, uuid).token)
    with pytest.raises(NoCellTargeted):
        DatabaseTokenStore._find_here(hashed, uuid, 0)
    with target_cell("cell1"):
        assert DatabaseTokenStore._find_here(hashed, uuid, 0)[0] == uuid
        assert DatabaseTokenStore._find_here(hashed, None, 0)[0] == uuid
    with target_cell("cell2"):
        assert DatabaseTokenStore._find_here(hashed, uuid, 0) is None


def test_the_cell_of_an_instance_unknown_to_the_cell_registry_is_read_with_its_mapping(cells, monkeypatch):
    uuid = make_instance(cells, "cell2", host="compute2")
    console = authorize(cells, uuid, "cell2")
    # A cell created by another process after this one loaded its cell list.
    monkeypatch.setattr(mapping_selectors, "cell_mappings", lambda: [])
    assert instance_cell_lookup(uuid).uuid == cells["cell2"].uuid
    assert selectors.console_auth_token_validate(token=console.token, instance_uuid=uuid).instance_uuid == uuid
    assert instance_cell_lookup(seed_build_request().instance_uuid) is None
    assert instance_cell_lookup("00000000-0000-0000-0000-00000000abcd") is None
