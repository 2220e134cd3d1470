"""The test Keystone and Glance behave as a client of a real cloud relies on (tests/cloud_services).

Everything goes over HTTP to the services the fixtures started on 127.0.0.1, through openstacksdk and
keystoneauth as cellsv2's users and operators run them.
"""

import base64
import os
import time
import uuid

import openstack.config
import openstack.connection
import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions

from tests.cloud_services.fixtures import service_venv
from tests.cloud_services.keystone_service import Keystone, write_clouds_yaml
from tests.cloud_services.processes import ServiceFailed, free_port, port_refuses


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def token_roles(session) -> set[str]:
    return set(session.auth.get_access(session).role_names)


@pytest.fixture
def compute_endpoint(keystone):
    """A compute service in the catalog at some URL, for the duration of one test (the catalog is shared)."""
    previous = keystone.catalog_url("compute")
    url = f"http://127.0.0.1:{free_port()}/v2.1"
    keystone.register_service("compute", "nova", url)
    yield url
    if previous is None:
        keystone.unregister_service("compute")
    else:
        keystone.register_service("compute", "nova", previous)


def test_clouds_yaml_password_auth_gets_a_project_token_and_the_catalog(keystone, glance, compute_endpoint, tmp_path):
    project = unique("demo")
    user = keystone.create_user(unique("alice"), project=project, roles=["member"])
    clouds_yaml = write_clouds_yaml(tmp_path / "clouds.yaml", {"demo": user})

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    connection = openstack.connection.Connection(config=config.get_one(cloud="demo"))
    access = connection.session.auth.get_access(connection.session)

    assert access.project_name == project
    assert access.project_id == user.project_id
    assert access.user_id == user.user_id
    assert (access.expires - access.issued).total_seconds() == pytest.approx(keystone.token_expiration, abs=1)
    catalog = {entry["type"]: entry for entry in access.service_catalog.catalog}
    assert {"identity", "image", "compute"} <= set(catalog)
    assert access.service_catalog.url_for(service_type="image", interface="public") == glance.url
    assert access.service_catalog.url_for(service_type="compute", interface="public") == compute_endpoint
    assert access.service_catalog.url_for(service_type="identity", interface="public") == keystone.auth_url
    assert {endpoint["region_id"] for entry in catalog.values() for endpoint in entry["endpoints"]} == {"RegionOne"}


def test_uploaded_image_is_listed_and_shown_by_glance_with_limits_and_properties(keystone, glance):
    user = keystone.create_user(unique("bob"), project=unique("images"), roles=["member"])
    image_id = glance.upload_image(
        user, "tiny-limits", min_ram=128, min_disk=2, properties={"hw_disk_bus": "scsi", "cellsv2_note": "smoke"}
    )
    images = user.connect().image

    listed = {image.id: image for image in images.images()}
    assert image_id in listed
    assert glance.cirros_image_id in listed  # the fixture's public image is seen from every project
    shown = images.get_image(image_id)
    assert (shown.name, shown.status, shown.size) == ("tiny-limits", "active", 1024)
    assert (shown.min_ram, shown.min_disk) == (128, 2)
    assert (shown.disk_format, shown.container_format) == ("raw", "bare")
    assert shown.owner == user.project_id
    assert shown.hw_disk_bus == "scsi"  # a property Glance's schema knows
    assert shown.properties["cellsv2_note"] == "smoke"  # a free-form one
    # What Glance itself answers (as Nova's image API would read it), not the SDK's view of it:
    raw = requests.get(
        f"{glance.url}/v2/images/{image_id}", headers={"X-Auth-Token": user.session().get_token()}, timeout=10
    ).json()
    assert (raw["min_ram"], raw["min_disk"], raw["hw_disk_bus"], raw["cellsv2_note"]) == (128, 2, "scsi", "smoke")
    assert b"".join(images.download_image(image_id, stream=True).iter_content(1024)) == b"\0" * 1024

    # Glance itself checks the token through Keystone: the same request without one is refused.
    anonymous = requests.get(f"{glance.url}/v2/images/{image_id}", timeout=10)
    assert anonymous.status_code == 401


def test_reader_member_and_admin_tokens_carry_their_implied_roles(keystone):
    project = unique("roles")
    reader = keystone.create_user(unique("reader"), project=project, roles=["reader"])
    member = keystone.create_user(unique("member"), project=project, roles=["member"])
    admin = keystone.create_user(unique("admin"), project=project, roles=["admin"])

    assert token_roles(reader.session()) == {"reader"}
    assert token_roles(member.session()) == {"member", "reader"}
    # Keystone's bootstrap chain is admin > manager > member > reader.
    assert token_roles(admin.session()) == {"admin", "manager", "member", "reader"}


def test_service_user_has_service_and_admin_roles_in_the_service_project(keystone):
    nova = keystone.create_service_user(unique("nova"))

    access = nova.session().auth.get_access(nova.session())
    assert access.project_name == "service"
    assert {"service", "admin"} <= set(access.role_names)
    assert keystone.validate_token(nova.session().get_token()) == 200


def test_revoked_token_is_rejected_by_keystone_and_glance(keystone, glance):
    user = keystone.create_user(unique("carol"), project=unique("revoke"), roles=["member"])
    token = user.session().get_token()
    assert keystone.validate_token(token) == 200

    keystone.revoke_token(token)

    assert keystone.validate_token(token) == 404
    response = requests.get(f"{glance.url}/v2/images", headers={"X-Auth-Token": token}, timeout=10)
    assert response.status_code == 401


def test_application_credential_authenticates_with_its_own_roles(keystone, glance):
    user = keystone.create_user(unique("dave"), project=unique("appcred"), roles=["member"])
    credential = keystone.create_application_credential(user, unique("ci"), roles=("reader",))

    session = credential.session()
    access = session.auth.get_access(session)
    assert access.project_id == user.project_id
    assert access.user_id == user.user_id
    assert set(access.role_names) == {"reader"}
    # It is a usable cloud credential: Glance accepts its token.
    assert glance.cirros_image_id in {image.id for image in credential.connect().image.images()}


def test_keystone_down_refuses_auth_and_a_restart_restores_it(keystone):
    user = keystone.create_user(unique("erin"), project=unique("outage"), roles=["member"])
    token_before = user.session().get_token()
    port = keystone.server.port

    with keystone.stopped():
        assert port_refuses(port)
        with pytest.raises(ks_exceptions.ConnectFailure):
            user.session().get_token()

    assert keystone.server.port == port
    assert user.session().get_token()
    assert keystone.validate_token(token_before) == 200  # same database and fernet keys after the restart


def test_a_keystone_that_cannot_start_fails_at_once_with_the_tail_of_its_logs(tmp_path):
    # Configured but never set up: no fernet keys, on which Keystone's worker exits at every boot.
    broken = Keystone(tmp_path, service_venv("keystone"))
    broken.config_file.write_text(broken.render_config())

    started = time.monotonic()
    with pytest.raises(ServiceFailed) as failed:
        broken.start()

    assert time.monotonic() - started < 30  # not the 90 s readiness timeout
    message = str(failed.value)
    assert message.startswith("keystone's worker exited with code 1 while starting; last lines of its logs:")
    assert f"{tmp_path / 'fernet-keys'} does not exist" in message
    assert port_refuses(broken.server.port)


def test_a_keystone_whose_app_cannot_load_fails_with_the_error(tmp_path):
    broken = Keystone(tmp_path, service_venv("keystone"))
    broken.config_file.write_text(broken.render_config().replace("provider = fernet", "provider = no-such-provider"))
    keys = tmp_path / "fernet-keys"  # a key as fernet_setup writes one, so the start gets as far as the provider
    keys.mkdir(mode=0o700)
    (keys / "0").write_bytes(base64.urlsafe_b64encode(os.urandom(32)))

    with pytest.raises(ServiceFailed) as failed:
        broken.start()

    message = str(failed.value)
    assert message.startswith("keystone exited with 3 while starting; last lines of its logs:")
    assert "Unable to find 'no-such-provider' driver in 'keystone.token.provider'" in message
    assert "Reason: Worker failed to boot." in message
