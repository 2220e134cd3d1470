"""Real OpenStack clients discover our API: openstacksdk and python-novaclient, over HTTP."""

import pytest

from cellsv2.api.microversions import MAX_VERSION
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


@pytest.fixture
def endpoint(live_server, settings):
    settings.CELLSV2_AUTH = "noauth"
    return f"{live_server.url}/v2.1"


def sdk_connection(**config):
    import openstack.config
    from openstack import connection

    region = openstack.config.get_cloud_region(load_yaml_config=False, load_envvars=False, **config)
    return connection.Connection(config=region)


def test_openstacksdk_with_auth_type_none_discovers_the_microversion_range(endpoint):
    conn = sdk_connection(auth_type="none", auth={"endpoint": endpoint})
    data = conn.compute.get_endpoint_data()
    assert data.min_microversion == (2, 1)
    assert data.max_microversion == (MAX_VERSION.major, MAX_VERSION.minor)


def test_openstacksdk_with_admin_token_discovers_the_microversion_range(endpoint):
    conn = sdk_connection(auth_type="admin_token", auth={"endpoint": endpoint, "token": "admin:admin"})
    data = conn.compute.get_endpoint_data()
    assert data.min_microversion == (2, 1)
    assert data.max_microversion == (MAX_VERSION.major, MAX_VERSION.minor)


def test_openstacksdk_with_an_endpoint_override(endpoint):
    conn = sdk_connection(
        auth_type="admin_token",
        auth={"endpoint": "http://127.0.0.1:9/unused", "token": "admin:admin"},
        compute_endpoint_override=endpoint,
    )
    assert conn.compute.get_endpoint_data().max_microversion == (MAX_VERSION.major, MAX_VERSION.minor)


def test_novaclient_discovers_the_version_range(endpoint):
    from keystoneauth1 import session
    from keystoneauth1.noauth import NoAuth
    from novaclient import api_versions, client

    nova = client.Client("2.1", session=session.Session(auth=NoAuth(endpoint=endpoint)), endpoint_override=endpoint)
    current = nova.versions.get_current()
    assert (current.min_version, current.version) == ("2.1", str(MAX_VERSION))
    negotiated = api_versions.discover_version(nova, api_versions.APIVersion("2.latest"))
    assert negotiated.get_string() == str(min(MAX_VERSION, "2.96"))  # novaclient knows up to 2.96
