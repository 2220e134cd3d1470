"""The metadata service: proxy identification, the OpenStack meta_data.json and the EC2 tree."""

import base64
import hashlib
import hmac
import json
from contextlib import ExitStack

import pytest
from django.db import OperationalError, connections
from django.test.utils import CaptureQueriesContext

from cellsv2.context import target_cell
from keypairs.models import KeyPair, LegacyKeyPair
from keypairs.serialization import keypair_list_json
from servers.metadata import OPENSTACK_VERSIONS, VERSIONS
from servers.models import InstanceExtra
from tests.factories import new_uuid
from tests.fixtures.compute import MEMBER, instance_in, mapping_of, place_all
from tests.keypairs import keys
from tests.keypairs.helpers import api_key, legacy_key
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

SECRET = "proxy-shared-secret"
USER_DATA = b"#!/bin/sh\necho hello\n"
NOT_FOUND = b"404 Not Found\n\nThe resource could not be found."


def sign(instance_id: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(autouse=True)
def secret(settings):
    settings.CELLSV2_METADATA_SECRET = SECRET
    return SECRET


class Metadata:
    """GETs through the metadata proxy protocol; ``headers`` replaces the identification headers."""

    def __init__(self, client):
        self.client = client

    def headers(self, uuid, *, tenant="proj1", signature=None):
        return {
            "HTTP_X_INSTANCE_ID": uuid,
            "HTTP_X_TENANT_ID": tenant,
            "HTTP_X_INSTANCE_ID_SIGNATURE": sign(uuid) if signature is None else signature,
        }

    def get(self, path, uuid=None, *, headers=None, method="get", **identity):
        if headers is None:
            headers = self.headers(uuid, **identity)
        return getattr(self.client, method)(path, **headers)

    def text(self, path, uuid, **identity) -> str:
        response = self.get(path, uuid, **identity)
        assert response.status_code == 200, (path, response.content)
        assert response["Content-Type"] == "text/plain; charset=UTF-8"
        return response.content.decode()

    def meta_data(self, uuid, version="latest") -> dict:
        response = self.get(f"/openstack/{version}/meta_data.json", uuid)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json"
        return json.loads(response.content)


@pytest.fixture
def md(client):
    return Metadata(client)


@pytest.fixture
def key():
    """alice's key pair in the API database."""
    return api_key("alice", "mykey")


@pytest.fixture
def server(api, topology, key):
    """alice's placed server with a key pair, user metadata and user data."""
    uuid = api.create_uuid(
        name="web server",
        key_name="mykey",
        metadata={"role": "web", "tier": "1"},
        user_data=base64.b64encode(USER_DATA).decode(),
    )
    assert place_all() == {"placed": 1}
    return uuid


# --- identification -------------------------------------------------------------------------------


class TestIdentification:
    @pytest.mark.parametrize(
        ("missing", "message"),
        [
            ("HTTP_X_INSTANCE_ID", "X-Instance-ID header is missing from request."),
            ("HTTP_X_INSTANCE_ID_SIGNATURE", "X-Instance-ID-Signature header is missing from request."),
            ("HTTP_X_TENANT_ID", "X-Tenant-ID header is missing from request."),
        ],
    )
    def test_a_missing_header_is_400_with_novas_message(self, md, server, missing, message):
        headers = md.headers(server)
        del headers[missing]
        response = md.get("/openstack/latest/meta_data.json", headers=headers)
        assert response.status_code == 400
        assert response.content.decode() == f"400 Bad Request\n\n{message}"
        assert response["Content-Type"] == "text/plain; charset=UTF-8"

    def test_no_headers_at_all_names_the_instance_id_first(self, md, server):
        response = md.get("/latest/meta-data/", headers={})
        assert response.status_code == 400
        assert b"X-Instance-ID header is missing" in response.content

    @pytest.mark.parametrize(
        "signature",
        [
            "",  # present but empty
            sign("another-instance"),
            "0" * 64,
            "not hex at all",
            "FORGED",  # signed with another secret (computed in the test)
            "UPPERCASE",  # the right HMAC in upper case: Nova compares the hex digest as it is
        ],
    )
    def test_a_bad_signature_is_403(self, md, server, signature):
        if signature == "FORGED":
            signature = sign(server, "another secret")
        elif signature == "UPPERCASE":
            signature = sign(server).upper()
        response = md.get("/openstack/latest/meta_data.json", server, signature=signature)
        assert response.status_code == 403
        assert response.content == b"403 Forbidden\n\nInvalid proxy request signature."

    def test_the_signature_is_checked_before_the_instance_is_looked_up(self, md, server):
        with ExitStack() as stack:
            captured = [stack.enter_context(CaptureQueriesContext(connections[a])) for a in ALL_DATABASES]
            assert md.get("/openstack/latest/meta_data.json", new_uuid(), signature="f" * 64).status_code == 403
        assert sum(len(c) for c in captured) == 0

    def test_an_unknown_instance_is_404(self, md, server):
        response = md.get("/openstack/latest/meta_data.json", new_uuid())
        assert response.status_code == 404
        assert response.content == NOT_FOUND

    def test_a_non_uuid_instance_id_is_404(self, md, server):
        assert md.get("/latest/meta-data/", "i-00000001").status_code == 404

    def test_another_tenant_is_404(self, md, server):
        assert md.get("/openstack/latest/meta_data.json", server, tenant="proj2").status_code == 404
        assert md.get("/latest/meta-data/instance-id", server, tenant="").status_code == 404

    def test_a_build_request_not_placed_yet_is_404(self, md, api, topology):
        uuid = api.create_uuid()
        assert mapping_of(uuid).cell is None
        assert md.get("/openstack/latest/meta_data.json", uuid).status_code == 404

    def test_a_deleted_server_is_404(self, md, api, server):
        assert api("delete", f"/servers/{server}").status_code == 204
        assert md.get("/openstack/latest/meta_data.json", server).status_code == 404

    def test_an_instance_missing_from_its_cell_is_404(self, md, server):
        alias = mapping_of(server).cell.name
        with target_cell(alias):
            InstanceExtra.objects.filter(instance_id=server).delete()
            instance_in(alias, server).delete()
        assert md.get("/openstack/latest/meta_data.json", server).status_code == 404

    def test_a_cell_that_cannot_be_read_is_500(self, md, server, monkeypatch):
        def broken(**kwargs):
            raise OperationalError("connection refused")

        monkeypatch.setattr("servers.api.metadata_views.metadata_instance_get", broken)
        response = md.get("/openstack/latest/meta_data.json", server)
        assert response.status_code == 500
        assert response.content == (
            b"500 Internal Server Error\n\nAn unknown error has occurred. Please try your request again."
        )

    @pytest.mark.parametrize("path", ["/openstack/latest/meta_data.json", "/latest/meta-data/", "/openstack"])
    def test_without_a_secret_every_request_is_404(self, md, server, settings, path):
        settings.CELLSV2_METADATA_SECRET = ""
        # Even a request signed with the empty key (which anyone can compute) is refused.
        assert md.get(path, server, signature=sign(server, "")).status_code == 404
        assert md.get(path, headers={}).status_code == 404

    def test_only_get_and_head_are_answered(self, md, server):
        head = md.get("/openstack/latest/meta_data.json", server, method="head")
        assert head.status_code == 200
        assert head["Content-Type"] == "application/json"
        assert md.get("/openstack/latest/meta_data.json", server, method="post").status_code == 405

    def test_the_compute_api_root_is_unchanged(self, client):
        response = client.get("/")
        assert response.status_code == 200
        assert [v["id"] for v in response.json()["versions"]] == ["v2.0", "v2.1"]


# --- OpenStack format -----------------------------------------------------------------------------


class TestOpenStackMetadata:
    def test_meta_data_json(self, md, server, key):
        data = md.meta_data(server)
        seed = data.pop("random_seed")
        assert len(base64.b64decode(seed)) == 512
        assert data == {
            "uuid": server,
            "meta": {"role": "web", "tier": "1"},
            "public_keys": {"mykey": key.public_key},
            "keys": [{"name": "mykey", "type": "ssh", "data": key.public_key}],
            "hostname": "web-server.novalocal",
            "name": "web server",
            "launch_index": 0,
            "availability_zone": "nova",
            "project_id": "proj1",
            "devices": [],
        }

    def test_the_dhcp_domain_can_be_turned_off(self, md, server, settings):
        settings.CELLSV2_METADATA_DHCP_DOMAIN = ""
        assert md.meta_data(server)["hostname"] == "web-server"

    def test_a_server_without_key_or_metadata_has_neither(self, md, api, topology):
        uuid = api.create_uuid(name="bare", availability_zone="nova")
        place_all()
        data = md.meta_data(uuid)
        assert not {"meta", "public_keys", "keys"} & set(data)
        assert data["availability_zone"] == "nova"

    def test_dated_versions_carry_what_nova_added_by_then(self, md, server):
        folsom = md.meta_data(server, "2012-08-10")
        assert not {"random_seed", "project_id", "devices"} & set(folsom)
        assert folsom["public_keys"] and folsom["uuid"] == server
        liberty = md.meta_data(server, "2015-10-15")
        assert "random_seed" in liberty and liberty["project_id"] == "proj1" and "devices" not in liberty
        assert md.meta_data(server, "2016-06-30")["devices"] == []

    @pytest.mark.parametrize("path", ["/openstack", "/openstack/"])
    def test_the_version_list(self, md, server, path):
        assert md.text(path, server).split("\n") == [*OPENSTACK_VERSIONS, "latest"]

    def test_the_files_of_a_version(self, md, server):
        expected = ["meta_data.json", "user_data", "vendor_data.json", "network_data.json"]
        assert md.text("/openstack/latest", server).split("\n") == expected
        assert md.text("/openstack/latest/", server).split("\n") == expected
        assert md.text("/openstack/2012-08-10/", server).split("\n") == ["meta_data.json", "user_data"]

    def test_user_data_is_served_decoded(self, md, server):
        response = md.get("/openstack/latest/user_data", server)
        assert response.content == USER_DATA

    def test_vendor_and_network_data_are_empty(self, md, server):
        vendor = md.get("/openstack/latest/vendor_data.json", server)
        assert (vendor.content, vendor["Content-Type"]) == (b"{}", "application/json")
        network = md.get("/openstack/latest/network_data.json", server)
        assert (network.content, network["Content-Type"]) == (b"{}", "text/plain; charset=UTF-8")

    @pytest.mark.parametrize(
        "path",
        [
            "/openstack/latest/nothing",
            "/openstack/2099-01-01/meta_data.json",
            "/openstack/2012-08-10/vendor_data.json",
            "/openstack/latest/password",
            "/openstack/content",
        ],
    )
    def test_unknown_paths_are_404(self, md, server, path):
        response = md.get(path, server)
        assert response.status_code == 404
        assert response.content == NOT_FOUND

    def test_no_user_data_no_file(self, md, api, topology):
        uuid = api.create_uuid()
        place_all()
        assert "user_data" not in md.text("/openstack/latest", uuid).split("\n")
        assert md.get("/openstack/latest/user_data", uuid).status_code == 404


class TestKeysComeOnlyFromInstanceExtra:
    def test_deleting_or_replacing_the_key_after_boot_changes_nothing(self, md, server, key):
        before = md.meta_data(server)
        KeyPair.objects.filter(pk=key.pk).delete()
        api_key("alice", "mykey", keys.openssh_public_key(comment="a different key"))
        after = md.meta_data(server)
        assert after["keys"] == before["keys"] == [{"name": "mykey", "type": "ssh", "data": key.public_key}]
        assert after["public_keys"] == {"mykey": key.public_key}
        assert md.text("/latest/meta-data/public-keys/0/openssh-key", server) == key.public_key

    def test_a_legacy_key_changed_after_boot_changes_nothing(self, md, api, topology):
        legacy = legacy_key("cell2", "alice", "oldkey")
        uuid = api.create_uuid(key_name="oldkey")
        place_all()
        with target_cell("cell2"):
            LegacyKeyPair.objects.filter(pk=legacy.pk).update(public_key=keys.openssh_public_key(comment="new"))
        assert md.meta_data(uuid)["keys"] == [{"name": "oldkey", "type": "ssh", "data": legacy.public_key}]
        with target_cell("cell2"):
            LegacyKeyPair.objects.get(pk=legacy.pk).soft_delete()
        assert md.meta_data(uuid)["public_keys"] == {"oldkey": legacy.public_key}

    def test_an_x509_key_keeps_its_type(self, md, api, topology):
        pem, cert = keys.certificate_pem()
        KeyPair.objects.create(
            user_id="alice", name="cert", public_key=pem, fingerprint=keys.sha1_colon_hex(cert), type="x509"
        )
        uuid = api.create_uuid(key_name="cert")
        place_all()
        assert md.meta_data(uuid)["keys"] == [{"name": "cert", "type": "x509", "data": pem}]

    def test_an_empty_stored_key_list_means_no_keys_while_ec2_still_has_the_columns(self, md, server, key):
        alias = mapping_of(server).cell.name
        with target_cell(alias):
            InstanceExtra.objects.filter(instance_id=server).update(keypairs=keypair_list_json([]))
        data = md.meta_data(server)
        assert "keys" not in data and "public_keys" not in data
        # The EC2 tree reads instances.key_name and key_data: the two copies can diverge (reference §7).
        assert md.text("/latest/meta-data/public-keys/", server) == "0=mykey"


class TestKeysDuringTheKeyPairMove:
    """instance_extra.keypairs still NULL (populate_instance_keypairs has not reached the instance)."""

    @staticmethod
    def not_backfilled(server):
        with target_cell(mapping_of(server).cell.name):
            InstanceExtra.objects.filter(instance_id=server).update(keypairs=None)

    def test_the_users_key_pair_of_that_name_is_served(self, md, server, key):
        self.not_backfilled(server)
        data = md.meta_data(server)
        assert data["public_keys"] == {"mykey": key.public_key}
        assert data["keys"] == [{"name": "mykey", "type": "ssh", "data": key.public_key}]

    def test_a_key_pair_still_in_a_cell_is_served(self, md, api, topology):
        legacy = legacy_key("cell2", "alice", "oldkey")
        uuid = api.create_uuid(key_name="oldkey")
        place_all()
        self.not_backfilled(uuid)
        assert md.meta_data(uuid)["public_keys"] == {"oldkey": legacy.public_key}

    def test_a_key_pair_deleted_since_leaves_the_key_stored_at_boot(self, md, server, key):
        self.not_backfilled(server)
        KeyPair.objects.filter(pk=key.pk).delete()
        assert md.meta_data(server)["public_keys"] == {"mykey": key.public_key}


# --- EC2 format -----------------------------------------------------------------------------------


class TestEc2Metadata:
    def test_the_meta_data_listing(self, md, server):
        assert md.text("/latest/meta-data/", server).split("\n") == [
            "ami-launch-index",
            "ami-manifest-path",
            "hostname",
            "instance-action",
            "instance-id",
            "instance-type",
            "local-hostname",
            "local-ipv4",
            "placement/",
            "public-hostname",
            "public-ipv4",
            "public-keys/",
            "reservation-id",
            "security-groups",
        ]

    def test_public_keys_are_rendered_the_ec2_way(self, md, server, key):
        assert md.text("/latest/meta-data/public-keys/", server) == "0=mykey"
        assert md.text("/latest/meta-data/public-keys", server) == "0=mykey"
        assert md.text("/latest/meta-data/public-keys/0/", server) == "openssh-key"
        assert md.text("/latest/meta-data/public-keys/0/openssh-key", server) == key.public_key

    def test_values(self, md, server):
        instance = instance_in(mapping_of(server).cell.name, server)
        assert md.text("/latest/meta-data/instance-id", server) == f"i-{instance.id:08x}"
        assert md.text("/latest/meta-data/hostname", server) == "web-server.novalocal"
        assert md.text("/latest/meta-data/local-hostname", server) == "web-server.novalocal"
        assert md.text("/latest/meta-data/placement/", server) == "availability-zone"
        assert md.text("/latest/meta-data/placement/availability-zone", server) == "nova"
        assert md.text("/latest/meta-data/ami-launch-index", server) == "0"
        assert md.text("/latest/meta-data/reservation-id", server) == instance.reservation_id
        assert md.text("/latest/meta-data/instance-type", server) == "m1.tiny"
        assert md.text("/latest/meta-data/security-groups", server) == "default"
        assert md.text("/latest/meta-data/instance-action", server) == "none"

    def test_local_ipv4_is_the_forwarded_address(self, md, server):
        headers = {**md.headers(server), "HTTP_X_FORWARDED_FOR": "10.0.0.5"}
        assert md.get("/latest/meta-data/local-ipv4", headers=headers).content == b"10.0.0.5"

    def test_the_top_of_a_version_and_user_data(self, md, server):
        assert md.text("/latest", server).split("\n") == ["meta-data/", "user-data"]
        assert md.get("/latest/user-data", server).content == USER_DATA

    @pytest.mark.parametrize("prefix", ["", "/ec2"])
    def test_dated_versions_and_the_ec2_prefix(self, md, server, prefix):
        assert md.text(f"{prefix}/2009-04-04/meta-data/instance-id", server).startswith("i-")
        old = md.text(f"{prefix}/1.0/meta-data/", server).split("\n")
        assert "public-keys/" in old and not {"local-hostname", "placement/", "instance-type"} & set(old)
        assert "placement/" in md.text(f"{prefix}/2008-02-01/meta-data/", server).split("\n")

    def test_the_ec2_version_list(self, md, server):
        assert md.text("/ec2", server).split("\n") == [*VERSIONS, "latest"]

    def test_without_a_key_there_is_no_public_keys_entry(self, md, api, topology):
        uuid = api.create_uuid()
        place_all()
        assert "public-keys/" not in md.text("/latest/meta-data/", uuid).split("\n")
        assert md.get("/latest/meta-data/public-keys/", uuid).status_code == 404

    @pytest.mark.parametrize(
        "path",
        [
            "/2010-01-01/meta-data/",
            "/latest/meta-data/nothing",
            "/latest/meta-data/public-keys/1/",
            "/latest/meta-data/security-groups/default",
            "/latest/meta-data/hostname/more",
        ],
    )
    def test_unknown_paths_are_404(self, md, server, path):
        response = md.get(path, server)
        assert response.status_code == 404
        assert response.content == NOT_FOUND

    def test_metadata_is_served_for_every_cell(self, md, api, topology):
        """Servers land in cell1 and cell2 (one node each); the service finds each in its own cell."""
        uuids = [api.create_uuid(name=f"vm{i}", token=MEMBER) for i in range(4)]
        place_all()
        cells = {mapping_of(uuid).cell.name for uuid in uuids}
        assert cells <= {"cell1", "cell2"}
        for uuid in uuids:
            assert md.meta_data(uuid)["uuid"] == uuid
