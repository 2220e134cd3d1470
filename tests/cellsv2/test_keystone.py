"""CELLSV2_AUTH=keystone against a real Keystone and Glance, with the product served as operators serve it.

gunicorn (deploy/gunicorn.conf.py, production settings) serves the compute API behind
keystonemiddleware; the compute service is in Keystone's catalog at that server, next to Glance's
image service. Users log in with passwords through keystoneauth sessions, openstacksdk with a
clouds.yaml and the `openstack` CLI. Required under CI=true (tests/cloud_services), skipped with the
reason elsewhere when Keystone or Glance cannot be installed.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests
import yaml

from tests.cloud_services.keystone_service import REGION
from tests.fixtures.keystone_cloud import TOKEN_CACHE_SECONDS, call, openstack_cli, unique
from tests.support import free_port

SERVER_GROUP_CREATE = "os_compute_api:os-server-groups:create"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud(keystone_cloud):
    return keystone_cloud


@pytest.fixture(scope="module")
def clouds_yaml(keystone_clouds_yaml):
    return keystone_clouds_yaml


# --- keystoneauth sessions ------------------------------------------------------------------------


def test_a_keystoneauth_session_finds_compute_in_the_catalog_and_manages_key_pairs(cloud):
    session = cloud.member.session()
    compute = {"service_type": "compute", "interface": "public", "region_name": REGION}

    created = session.post("/os-keypairs", json={"keypair": {"name": "laptop"}}, endpoint_filter=compute)
    assert created.status_code == 200
    assert created.json()["keypair"]["user_id"] == cloud.member.user_id
    shown = session.get("/os-keypairs/laptop", endpoint_filter=compute).json()["keypair"]
    assert shown["fingerprint"] == created.json()["keypair"]["fingerprint"]
    listed = session.get("/os-keypairs", endpoint_filter=compute).json()["keypairs"]
    assert [k["keypair"]["name"] for k in listed] == ["laptop"]
    assert session.delete("/os-keypairs/laptop", endpoint_filter=compute).status_code == 202
    assert session.get("/os-keypairs/laptop", endpoint_filter=compute, raise_exc=False).status_code == 404


def test_the_version_document_needs_no_token(cloud):
    response = requests.get(cloud.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.json()["version"]["id"] == "v2.1"


def test_no_token_or_a_bad_one_is_keystones_401_naming_the_real_keystone(cloud, keystone):
    for headers in ({}, {"X-Auth-Token": "not-a-token"}):
        response = requests.get(cloud.url + "/os-keypairs", headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": "The request you have made requires authentication.",
            }
        }
        assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.auth_url}"'
        assert response.headers["x-openstack-request-id"].startswith("req-")


def test_identity_headers_sent_by_the_caller_are_ignored(cloud):
    token = cloud.member.session().get_token()
    response = requests.get(
        cloud.url + "/os-keypairs",
        headers={"X-Auth-Token": token, "X-Roles": "admin", "X-User-Id": "someone-else"},
        timeout=30,
    )
    assert response.status_code == 200
    forged = call(cloud, "GET", "/servers/detail?all_tenants=1", token)
    assert forged.status_code == 403  # only an admin lists every project; X-Roles did not make one


def test_a_revoked_token_is_refused_once_the_token_cache_time_is_over(cloud, keystone):
    token = cloud.member.session().get_token()
    assert call(cloud, "GET", "/os-keypairs", token).status_code == 200

    keystone.revoke_token(token)
    time.sleep(TOKEN_CACHE_SECONDS + 1)

    response = call(cloud, "GET", "/os-keypairs", token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.auth_url}"'


def test_keystone_stopped_is_a_503_for_a_token_it_must_validate(cloud, keystone):
    cached = cloud.member.session().get_token()
    assert call(cloud, "GET", "/os-keypairs", cached).status_code == 200
    fresh = cloud.member.session().get_token()

    with keystone.stopped():
        response = call(cloud, "GET", "/os-keypairs", fresh)
        # Within the cache time, a token already validated needs no Keystone.
        still_cached = call(cloud, "GET", "/os-keypairs", cached)

    assert response.status_code == 503
    assert response.json() == {
        "serviceUnavailable": {"code": 503, "message": "The Keystone service is temporarily unavailable."}
    }
    assert still_cached.status_code == 200
    assert call(cloud, "GET", "/os-keypairs", fresh).status_code == 200  # back once Keystone is


# --- roles and projects ---------------------------------------------------------------------------


def test_a_reader_reads_but_every_write_to_the_project_is_403(cloud):
    # Key pairs belong to a user, not a project: Nova lets every user (readers too) manage their own.
    token = cloud.reader.session().get_token()
    assert call(cloud, "GET", "/os-server-groups", token).status_code == 200
    assert call(cloud, "GET", "/servers", token).status_code == 200
    for path, body in (
        ("/os-server-groups", {"server_group": {"name": "g", "policies": ["affinity"]}}),
        ("/servers", {"server": {"name": "s", "flavorRef": "1", "imageRef": str(uuid.uuid4()), "networks": "none"}}),
    ):
        response = call(cloud, "POST", path, token, body)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["forbidden"]["code"] == 403


def test_another_projects_server_group_is_404_and_an_admin_sees_every_project(cloud):
    member = cloud.member.session().get_token()
    body = {"server_group": {"name": "mine", "policies": ["affinity"]}}
    group = call(cloud, "POST", "/os-server-groups", member, body, version="2.13")
    assert group.status_code == 200
    group_id = group.json()["server_group"]["id"]
    assert group.json()["server_group"]["project_id"] == cloud.member.project_id

    other = cloud.other.session().get_token()
    assert call(cloud, "GET", f"/os-server-groups/{group_id}", other).status_code == 404
    assert call(cloud, "DELETE", f"/os-server-groups/{group_id}", other).status_code == 404
    assert group_id not in {g["id"] for g in call(cloud, "GET", "/os-server-groups", other).json()["server_groups"]}

    admin = cloud.admin.session().get_token()
    everything = call(cloud, "GET", "/os-server-groups?all_projects=True", admin).json()["server_groups"]
    assert group_id in {g["id"] for g in everything}
    assert call(cloud, "DELETE", f"/os-server-groups/{group_id}", member).status_code == 204


def test_a_policy_file_override_takes_effect_without_a_restart(cloud):
    member = cloud.member.session().get_token()
    admin = cloud.admin.session().get_token()
    body = {"server_group": {"name": "policed", "policies": ["anti-affinity"]}}
    cloud.policy_file.write_text(yaml.safe_dump({SERVER_GROUP_CREATE: "role:admin"}))
    try:
        deadline = time.monotonic() + 10
        while (refused := call(cloud, "POST", "/os-server-groups", member, body)).status_code != 403:
            assert refused.status_code == 200
            call(cloud, "DELETE", f"/os-server-groups/{refused.json()['server_group']['id']}", member)
            assert time.monotonic() < deadline, "the policy file was not read again"
            time.sleep(0.5)
        assert refused.json()["forbidden"]["message"] == f"Policy doesn't allow {SERVER_GROUP_CREATE} to be performed."
        allowed = call(cloud, "POST", "/os-server-groups", admin, body)
        assert allowed.status_code == 200
        call(cloud, "DELETE", f"/os-server-groups/{allowed.json()['server_group']['id']}", admin)
    finally:
        cloud.policy_file.write_text("{}\n")


# --- images: server create asks Glance, from the caller's catalog ------------------------------------


def server_body(image_ref, flavor="1", **extra):
    return {"server": {"name": unique("vm"), "flavorRef": flavor, "imageRef": image_ref, "networks": "none", **extra}}


def create(cloud, token, body):
    return call(cloud, "POST", "/servers", token, body, version="2.37")  # networks "none" from 2.37


def refused(response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["badRequest"]["message"]


def test_server_create_refuses_images_glance_does_not_show_or_the_flavor_cannot_hold(cloud, glance, keystone):
    member = cloud.member.session().get_token()
    ghost = str(uuid.uuid4())
    assert refused(create(cloud, member, server_body(ghost))) == "Can not find requested image"

    others = keystone.create_user(unique("olga"), project=unique("elsewhere"), roles=["member"])
    private = glance.upload_image(others, "private", visibility="private")
    assert refused(create(cloud, member, server_body(private))) == "Can not find requested image"

    hungry = glance.upload_image(cloud.member, "hungry", min_ram=1024)
    message = refused(create(cloud, member, server_body(hungry)))  # m1.tiny: 512 MB
    assert message == "Flavor's memory is too small for requested image."

    big = glance.upload_image(cloud.member, "big", min_disk=5)
    assert refused(create(cloud, member, server_body(big))) == (  # m1.tiny: 1 GB
        "Flavor's disk is smaller than the minimum size specified in image metadata. "
        "Flavor disk is 1073741824 bytes, minimum size is 5368709120 bytes."
    )
    queued = requests.post(
        f"{glance.url}/v2/images",
        json={"name": "queued", "disk_format": "raw", "container_format": "bare"},
        headers={"X-Auth-Token": member},
        timeout=30,
    ).json()["id"]
    assert refused(create(cloud, member, server_body(queued))) == f"Image {queued} is not active."

    from_volume = {
        "server": {
            "name": "bfv",
            "flavorRef": "1",
            "networks": "none",
            "block_device_mapping_v2": [
                {
                    "boot_index": 0,
                    "uuid": ghost,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": 1,
                }
            ],
        }
    }
    message = refused(create(cloud, member, from_volume))
    assert message == f"Block Device Mapping is Invalid: failed to get image {ghost}."
    # Nothing was left behind by the refusals.
    assert call(cloud, "GET", "/servers", member).json()["servers"] == []


def test_the_image_is_kept_with_the_server_and_shown_at_298(cloud, glance):
    member = cloud.member.session().get_token()
    image = glance.upload_image(cloud.member, "props", min_ram=256, properties={"hw_disk_bus": "scsi"})
    created = create(cloud, member, server_body(image, flavor="2"))
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    try:
        deadline = time.monotonic() + 60
        while (shown := call(cloud, "GET", f"/servers/{server_id}", member, version="2.98").json()["server"])[
            "status"
        ] != "ACTIVE":
            assert time.monotonic() < deadline, shown["status"]
            time.sleep(0.5)
        properties = shown["image"]["properties"]
        assert shown["image"]["id"] == image
        assert properties["hw_disk_bus"] == "scsi"
        assert (properties["min_ram"], properties["min_disk"]) == ("256", "20")  # min_disk: the flavor's disk
        assert (properties["disk_format"], properties["container_format"]) == ("raw", "bare")
        assert (
            "properties"
            not in call(cloud, "GET", f"/servers/{server_id}", member, version="2.97").json()["server"]["image"]
        )
    finally:
        call(cloud, "DELETE", f"/servers/{server_id}", member)


# --- openstacksdk with a clouds.yaml --------------------------------------------------------------


def test_openstacksdk_with_a_clouds_yaml_runs_a_server_through_its_life(cloud, clouds_yaml, glance):
    import openstack.config

    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    conn = openstack.connection.Connection(config=config.get_one(cloud="member"))
    keypair = conn.compute.create_keypair(name=unique("sdk"))
    group = conn.compute.create_server_group(name="sdk-group", policy="anti-affinity")
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    image = conn.image.find_image("cirros-tiny", ignore_missing=False)
    created = conn.compute.create_server(
        name="sdk-vm",
        flavor_id=flavor.id,
        image_id=image.id,
        key_name=keypair.name,
        networks="none",
        scheduler_hints={"group": group.id},
    )
    server = conn.compute.wait_for_server(created, status="ACTIVE", wait=60)
    try:
        assert server.image.id == image.id
        assert server.project_id == cloud.member.project_id
        assert server.user_id == cloud.member.user_id
        assert created.id in {s.id for s in conn.compute.servers()}
        assert conn.compute.get_server_group(group.id).member_ids == [created.id]
        console = conn.compute.create_server_remote_console(server, protocol="vnc", type="novnc")
        assert "vnc_auto.html?path=%3Ftoken%3D" in console.url
    finally:
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=60)
        conn.compute.delete_server_group(group)
        conn.compute.delete_keypair(keypair)
    conn.close()


# --- the openstack CLI ----------------------------------------------------------------------------


def test_the_openstack_cli_as_a_member(cloud, clouds_yaml, glance, tmp_path):
    def cli(*args):
        return json.loads(openstack_cli(clouds_yaml, "member", *args, "-f", "json").stdout)

    name = unique("cli")
    created = cli("keypair", "create", "--private-key", str(tmp_path / "key"), name)
    assert created["name"] == name
    assert name in {k["Name"] for k in cli("keypair", "list")}
    assert cli("keypair", "show", name)["fingerprint"] == created["fingerprint"]

    group = cli("server", "group", "create", "--policy", "affinity", "cli-group")
    assert group["name"] == "cli-group"
    assert group["id"] in {g["ID"] for g in cli("server", "group", "list")}
    assert {"m1.tiny", "m1.small"} <= {f["Name"] for f in cli("flavor", "list")}

    server = cli(
        "server", "create", "--flavor", "m1.tiny", "--image", "cirros-tiny", "--key-name", name,
        "--no-network", "--wait", "cli-vm",
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    assert server["id"] in {s["ID"] for s in cli("server", "list")}
    shown = cli("server", "show", server["id"])
    assert shown["key_name"] == name
    assert shown["image"].startswith("cirros-tiny")
    console = cli("console", "url", "show", "--novnc", server["id"])
    assert "vnc_auto.html?path=%3Ftoken%3D" in console["url"]

    openstack_cli(clouds_yaml, "member", "server", "delete", "--wait", server["id"])
    openstack_cli(clouds_yaml, "member", "server", "group", "delete", group["id"])
    openstack_cli(clouds_yaml, "member", "keypair", "delete", name)
    assert name not in {k["Name"] for k in cli("keypair", "list")}

    refused = openstack_cli(
        clouds_yaml, "reader", "server", "group", "create", "--policy", "affinity", "no", check=False
    )
    assert refused.returncode == 1
    assert f"403: Client Error for url: {cloud.url}/os-server-groups" in refused.stderr
    assert f"Policy doesn't allow {SERVER_GROUP_CREATE} to be performed." in refused.stderr


# --- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CELLSV2_AUTH=keystone needs CELLSV2_KEYSTONE_URL (Keystone's v3 URL)"),
        (
            {"CELLSV2_KEYSTONE_URL": "http://keystone/v3", "CELLSV2_KEYSTONE_USERNAME": "nova"},
            "CELLSV2_AUTH=keystone needs the service user's CELLSV2_KEYSTONE_USERNAME and "
            "CELLSV2_KEYSTONE_PASSWORD, or CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID and _SECRET",
        ),
        (
            {"CELLSV2_KEYSTONE_URL": "http://keystone/v3", "CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID": "abc"},
            "CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID and CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_SECRET "
            "go together",
        ),
    ],
)
def test_missing_keystone_settings_stop_a_command_with_one_line(env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELLSV2_", "DJANGO_"))}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        env={**clean, "CELLSV2_AUTH": "keystone", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"django.core.exceptions.ImproperlyConfigured: {message}"


def test_a_token_cache_that_does_not_answer_is_a_miss(settings):
    from cellsv2.api.keystone import DjangoTokenCache

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    token_cache = DjangoTokenCache()
    token_cache.set("tokens/abc", b"{}", time=60)  # no exception
    assert token_cache.get("tokens/abc") is None
