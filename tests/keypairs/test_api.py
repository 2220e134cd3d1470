"""``/v2.1/os-keypairs`` across microversions 2.1, 2.2, 2.10, 2.35, 2.75 and 2.92."""

import base64
import json
import os
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from keypairs.models import KeyPair
from tests.keypairs import keys
from tests.keypairs.helpers import api_key, api_names, legacy_key, legacy_rows
from tests.support import ALL_DATABASES, on_postgres

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("noauth", "cells")]

ALICE = "alice:proj1"
BOB = "bob:proj1"
ADMIN = "admin:admin"
HOST = "http://testserver"
CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
NAME_INVALID = (
    "An invalid 'name' value was provided. The name must be: printable characters. "
    "Can not start or end with whitespace."
)


@pytest.fixture
def noauth(settings):
    settings.CELLSV2_AUTH = "noauth"


def headers(version: str | None, token: str) -> dict:
    result = {"HTTP_X_AUTH_TOKEN": token}
    if version is not None:
        result["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
    return result


def post(client, body, *, version=None, token=ALICE, raw: str | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post("/v2.1/os-keypairs", data=data, content_type="application/json", **headers(version, token))


def get(client, path, *, version=None, token=ALICE):
    return client.get(f"/v2.1/{path}", **headers(version, token))


def delete(client, path, *, version=None, token=ALICE):
    return client.delete(f"/v2.1/{path}", **headers(version, token))


def fault(response):
    ((name, inner),) = response.json().items()
    assert set(inner) == {"code", "message"}
    assert inner["code"] == response.status_code
    return name, inner["code"], inner["message"]


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["keypair"]["name"] for item in response.json()["keypairs"]]


def create_body(name="k", public_key=None, **fields):
    keypair = {"name": name, **fields}
    if public_key is not None:
        keypair["public_key"] = public_key
    return {"keypair": keypair}


# --- create / import ----------------------------------------------------------------------------


class TestCreate:
    def test_2_1_generates_an_ssh_key_and_answers_200_without_type(self, client):
        response = post(client, create_body("gen"))
        assert response.status_code == 200
        body = response.json()["keypair"]
        assert set(body) == {"name", "public_key", "fingerprint", "user_id", "private_key"}
        assert (body["name"], body["user_id"]) == ("gen", "alice")
        assert body["public_key"].startswith("ssh-rsa ") and body["public_key"].endswith(" Generated-by-Nova")
        assert body["fingerprint"] == keys.md5_colon_hex(body["public_key"])
        private = serialization.load_pem_private_key(body["private_key"].encode(), password=None)
        derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        assert body["public_key"].startswith(derived.decode() + " ")
        row = KeyPair.objects.get(user_id="alice", name="gen")
        assert (row.public_key, row.fingerprint, row.type) == (body["public_key"], body["fingerprint"], "ssh")

    def test_2_1_imports_a_key(self, client):
        public_key = keys.openssh_public_key("ecdsa-p384", comment="tempest")
        response = post(client, create_body("imp", public_key))
        assert response.status_code == 200
        assert response.json() == {
            "keypair": {
                "name": "imp",
                "public_key": public_key,
                "fingerprint": keys.md5_colon_hex(public_key),
                "user_id": "alice",
            }
        }

    def test_2_1_refuses_type_and_user_id(self, client):
        for field, value in (("type", "ssh"), ("user_id", "alice")):
            response = post(client, create_body("k", **{field: value}))
            assert fault(response) == (
                "badRequest",
                400,
                f"Invalid input for field/attribute keypair. Value: {{'name': 'k', '{field}': '{value}'}}. "
                f"Additional properties are not allowed ('{field}' was unexpected)",
            )
        assert not KeyPair.objects.exists()

    @pytest.mark.parametrize("algorithm", keys.ALGORITHMS)
    def test_2_2_imports_with_type_and_answers_201(self, client, algorithm):
        public_key = keys.openssh_public_key(algorithm, comment="me@host")
        response = post(client, create_body("imp", public_key, type="ssh"), version="2.2")
        assert response.status_code == 201
        assert response.json()["keypair"] == {
            "name": "imp",
            "public_key": public_key,
            "fingerprint": keys.md5_colon_hex(public_key),
            "user_id": "alice",
            "type": "ssh",
        }

    def test_2_2_type_defaults_to_ssh_and_generation_returns_the_private_key(self, client):
        response = post(client, create_body("gen"), version="2.2")
        assert response.status_code == 201
        body = response.json()["keypair"]
        assert set(body) == {"name", "public_key", "fingerprint", "user_id", "type", "private_key"}
        assert body["type"] == "ssh" and body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")

    def test_2_2_generates_an_x509_certificate_and_a_pkcs12_bundle(self, client):
        response = post(client, create_body("cert", type="x509"), version="2.2")
        assert response.status_code == 201
        body = response.json()["keypair"]
        assert body["type"] == "x509"
        cert = x509.load_pem_x509_certificate(body["public_key"].encode())
        assert body["fingerprint"] == keys.sha1_colon_hex(cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
        key, bundled, _ = pkcs12.load_key_and_certificates(base64.b64decode(body["private_key"]), None)
        assert bundled == cert
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        assert KeyPair.objects.get(name="cert").type == "x509"

    def test_2_2_imports_an_x509_certificate(self, client):
        pem, cert = keys.certificate_pem()
        response = post(client, create_body("cert", pem, type="x509"), version="2.2")
        assert response.status_code == 201
        assert response.json()["keypair"]["fingerprint"] == keys.sha1_colon_hex(cert)
        assert "private_key" not in response.json()["keypair"]

    def test_2_2_refuses_an_unknown_type(self, client):
        response = post(client, create_body("k", type="rsa"), version="2.2")
        name, code, message = fault(response)
        assert (name, code) == ("badRequest", 400)
        assert message.startswith("Invalid input for field/attribute type. Value: rsa.")
        assert not KeyPair.objects.exists()

    def test_2_9_refuses_user_id(self, client):
        response = post(client, create_body("k", user_id="bob"), token=ADMIN, version="2.9")
        assert fault(response)[2] == (
            "Invalid input for field/attribute keypair. Value: {'name': 'k', 'user_id': 'bob'}. "
            "Additional properties are not allowed ('user_id' was unexpected)"
        )

    def test_2_10_admin_creates_for_another_user(self, client):
        public_key = keys.openssh_public_key()
        response = post(client, create_body("for-bob", public_key, user_id="bob"), token=ADMIN, version="2.10")
        assert response.status_code == 201
        assert response.json()["keypair"]["user_id"] == "bob"
        assert api_names("bob") == ["for-bob"] and api_names("admin") == []

    def test_2_10_a_member_cannot_create_for_another_user(self, client):
        response = post(client, create_body("k", keys.openssh_public_key(), user_id="bob"), version="2.10")
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:os-keypairs:create to be performed.",
        )
        assert not KeyPair.objects.exists()

    def test_2_10_a_member_may_name_themself(self, client):
        response = post(client, create_body("k", keys.openssh_public_key(), user_id="alice"), version="2.10")
        assert response.status_code == 201 and api_names("alice") == ["k"]

    def test_2_92_requires_a_public_key(self, client):
        response = post(client, create_body("k", type="ssh"), version="2.92")
        name, code, message = fault(response)
        assert (name, code) == ("badRequest", 400)
        assert message == (
            "Invalid input for field/attribute keypair. Value: {'name': 'k', 'type': 'ssh'}. "
            "'public_key' is a required property"
        )
        assert not KeyPair.objects.exists()

    def test_2_92_allows_at_and_dot_in_names_and_never_returns_a_private_key(self, client):
        public_key = keys.openssh_public_key("rsa", comment="Generated-by-Nova")
        response = post(client, create_body("me.and.myself@example.com", public_key, type="ssh"), version="2.92")
        assert response.status_code == 201
        assert response.json()["keypair"] == {
            "name": "me.and.myself@example.com",
            "public_key": public_key,
            "fingerprint": keys.md5_colon_hex(public_key),
            "user_id": "alice",
            "type": "ssh",
        }
        shown = get(client, "os-keypairs/me.and.myself@example.com", version="2.92")
        assert shown.status_code == 200 and shown.json()["keypair"]["name"] == "me.and.myself@example.com"

    @pytest.mark.parametrize("version", ["2.1", "2.91"])
    def test_at_and_dot_are_refused_below_2_92(self, client, version):
        response = post(client, create_body("my-key@ my.host", keys.openssh_public_key()), version=version)
        assert response.status_code == 400
        assert fault(response)[2].startswith("Invalid input for field/attribute name. Value: my-key@ my.host.")
        assert not KeyPair.objects.exists()

    def test_2_92_admin_creates_for_another_user(self, client):
        public_key = keys.openssh_public_key()
        response = post(client, create_body("k", public_key, user_id="bob"), token=ADMIN, version="2.92")
        assert response.status_code == 201 and response.json()["keypair"]["user_id"] == "bob"

    def test_a_name_with_inner_spaces_is_fine(self, client):
        response = post(client, create_body("my key_1-2", keys.openssh_public_key()), version="2.2")
        assert response.status_code == 201
        assert get(client, "os-keypairs/my%20key_1-2").json()["keypair"]["name"] == "my key_1-2"


class TestCreateBadInput:
    @pytest.mark.parametrize("version", ["2.1", "2.92"])
    @pytest.mark.parametrize(
        "name, expected",
        [
            ("", "non-empty|too short"),
            ("a" * 256, "is too long"),
            ("a" * 260, "is too long"),
            ("key_/.\\@:", "does not match"),
            ("slash/name", "does not match"),
            ("ключ", "does not match"),
            ("clé", "does not match"),
            # Nova's name format comes first in the allOf and only holds the BMP's characters.
            ("emoji\U0001f600", NAME_INVALID),
            ("bad\x01name", NAME_INVALID),
            ("tab\tname", NAME_INVALID),
            ("new\nline", NAME_INVALID),
            (" leading", NAME_INVALID),
            ("trailing ", NAME_INVALID),
            ("   ", NAME_INVALID),
            (12, "is not of type 'string'"),
            (None, "is not of type 'string'"),
        ],
    )
    def test_bad_names(self, client, name, expected, version):
        response = post(client, create_body(name, keys.openssh_public_key()), version=version)
        fault_name, code, message = fault(response)
        assert (fault_name, code) == ("badRequest", 400)
        if expected == NAME_INVALID:
            assert message == NAME_INVALID
        else:
            assert message.startswith(f"Invalid input for field/attribute name. Value: {name}. ")
            assert re.search(expected, message), message
        assert not KeyPair.objects.exists()

    def test_a_255_character_name_is_fine(self, client):
        response = post(client, create_body("a" * 255, keys.openssh_public_key()), version="2.2")
        assert response.status_code == 201

    def test_a_control_character_gives_novas_invalid_name_message(self, client):
        assert fault(post(client, create_body("bad\x01name", keys.openssh_public_key())))[2] == NAME_INVALID

    @pytest.mark.parametrize(
        "public_key",
        [
            "ssh-rsa JUNK nova@ubuntu",
            " ",
            "",
            "ssh-rsa " + "A" * 2048 + " openstack@ubuntu",
            "ssh-what negative",
            keys.openssh_public_key("rsa")[:200],
            keys.openssh_public_key("ed25519").replace("AAAA", "AAA*", 1),
        ],
    )
    def test_invalid_ssh_keys(self, client, public_key):
        response = post(client, create_body("k", public_key, type="ssh"), version="2.2")
        assert fault(response) == ("badRequest", 400, "Keypair data is invalid: failed to generate fingerprint")
        assert not KeyPair.objects.exists()

    @pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
    def test_ssh_dss_is_refused(self, client):
        response = post(client, create_body("k", keys.openssh_public_key("dsa", comment="old")), version="2.2")
        assert fault(response) == (
            "badRequest",
            400,
            "Keypair data is invalid: DSA (ssh-dss) keys are not supported; use an RSA, ECDSA or Ed25519 key",
        )
        assert not KeyPair.objects.exists()

    @pytest.mark.parametrize(
        "pem",
        ["-----BEGIN CERTIFICATE-----\nJUNK\n-----END CERTIFICATE-----\n", "garbage", keys.openssh_public_key()],
    )
    def test_pem_garbage_as_x509(self, client, pem):
        response = post(client, create_body("k", pem, type="x509"), version="2.2")
        name, code, message = fault(response)
        assert (name, code) == ("badRequest", 400)
        assert message.startswith("Keypair data is invalid: failed to generate X509 fingerprint. Error message: ")
        assert not KeyPair.objects.exists()

    def test_a_public_key_over_the_cap(self, client):
        public_key = keys.openssh_public_key() + " " + "c" * 20_000
        response = post(client, create_body("k", public_key), version="2.2")
        assert fault(response) == (
            "badRequest",
            400,
            "Keypair data is invalid: the public key is longer than 16384 characters",
        )
        assert not KeyPair.objects.exists()

    def test_a_1_mb_public_key_is_too_large_a_request(self, client):
        response = post(client, create_body("k", "ssh-rsa " + "A" * (1024 * 1024)), version="2.2")
        assert fault(response) == ("overLimit", 413, "Request is too large.")
        assert not KeyPair.objects.exists()

    @pytest.mark.parametrize(
        "body, message",
        [
            (
                {"keypair": {"name": "k", "foo": 1}},
                "Invalid input for field/attribute keypair. Value: {'name': 'k', 'foo': 1}. "
                "Additional properties are not allowed ('foo' was unexpected)",
            ),
            ({"keypair": {"name": "k"}, "foo": 1}, "Additional properties are not allowed ('foo' was unexpected)"),
            ({"alpha": {"name": "k"}}, None),
            ({"name": "k"}, None),
            ({}, "'keypair' is a required property"),
            ({"keypair": "k"}, "Invalid input for field/attribute keypair. Value: k. 'k' is not of type 'object'"),
            ({"keypair": {}}, "Invalid input for field/attribute keypair. Value: {}. 'name' is a required property"),
            ({"keypair": {"name": 12}}, None),
            ({"keypair": {"name": "k", "public_key": 12}}, None),
            ([], "[] is not of type 'object'"),
        ],
    )
    def test_bad_bodies(self, client, body, message):
        response = post(client, body, version="2.2")
        name, code, text = fault(response)
        assert (name, code) == ("badRequest", 400)
        if message is not None:
            assert text == message
        assert not KeyPair.objects.exists()

    def test_an_empty_body(self, client):
        assert fault(post(client, None, raw="")) == ("badRequest", 400, "None is not of type 'object'")

    def test_malformed_json(self, client):
        assert fault(post(client, None, raw='{"keypair": ')) == ("badRequest", 400, "Malformed request body")


class TestCreateConflictsAndQuota:
    def test_a_duplicate_name_is_409(self, client):
        api_key("alice", "k")
        response = post(client, create_body("k", keys.openssh_public_key()), version="2.2")
        assert fault(response) == ("conflictingRequest", 409, "Key pair 'k' already exists.")
        assert KeyPair.objects.count() == 1

    def test_a_name_still_in_a_cell_is_409(self, client):
        legacy_key("cell2", "alice", "old")
        response = post(client, create_body("old"), version="2.2")
        assert fault(response) == ("conflictingRequest", 409, "Key pair 'old' already exists.")
        assert not KeyPair.objects.exists()

    def test_over_quota_is_403(self, client, settings):
        settings.CELLSV2_QUOTAS = {**settings.CELLSV2_QUOTAS, "key_pairs": 2}
        api_key("alice", "a")
        legacy_key("cell1", "alice", "b")
        for body in (create_body("c", keys.openssh_public_key()), create_body("c")):
            response = post(client, body, version="2.2")
            assert fault(response) == ("forbidden", 403, "Quota exceeded, too many key pairs.")
        assert api_names("alice") == ["a"]
        assert post(client, create_body("c"), token=BOB, version="2.2").status_code == 201


# --- list ------------------------------------------------------------------------------------------


class TestList:
    @pytest.fixture
    def spread(self):
        """alice: a1 (API), b2 (cell1 only), c3 (API and cell2); bob: a0; admin: z9."""
        api_key("alice", "a1")
        legacy_key("cell1", "alice", "b2")
        c3 = api_key("alice", "c3")
        legacy_key("cell2", "alice", "c3", public_key=c3.public_key)
        legacy_key("cell1", "alice", "d4", deleted=True)
        api_key("bob", "a0")
        api_key("admin", "z9")

    def test_2_1_items_have_name_public_key_fingerprint(self, client, spread):
        response = get(client, "os-keypairs?limit=1&marker=nope&foo=bar")
        body = response.json()
        assert set(body) == {"keypairs"}
        assert listed(response) == ["a1", "b2", "c3"]
        key = KeyPair.objects.get(user_id="alice", name="a1")
        assert body["keypairs"][0] == {
            "keypair": {"name": "a1", "public_key": key.public_key, "fingerprint": key.fingerprint}
        }

    def test_2_2_adds_type(self, client, spread):
        items = get(client, "os-keypairs", version="2.2").json()["keypairs"]
        assert all(set(item["keypair"]) == {"name", "public_key", "fingerprint", "type"} for item in items)
        assert {item["keypair"]["type"] for item in items} == {"ssh"}

    def test_an_empty_list(self, client):
        assert get(client, "os-keypairs", version="2.35").json() == {"keypairs": []}

    def test_2_9_ignores_user_id(self, client, spread):
        assert listed(get(client, "os-keypairs?user_id=bob", version="2.9")) == ["a1", "b2", "c3"]

    def test_2_10_admin_lists_another_users_keys_only(self, client, spread):
        assert listed(get(client, "os-keypairs?user_id=alice", token=ADMIN, version="2.10")) == ["a1", "b2", "c3"]
        assert listed(get(client, "os-keypairs?user_id=bob", token=ADMIN, version="2.10")) == ["a0"]
        assert listed(get(client, "os-keypairs", token=ADMIN, version="2.10")) == ["z9"]

    def test_2_10_user_id_takes_the_first_value(self, client, spread):
        response = get(client, "os-keypairs?user_id=bob&user_id=alice", token=ADMIN, version="2.10")
        assert listed(response) == ["a0"]

    def test_2_10_a_member_cannot_list_another_users_keys(self, client, spread):
        response = get(client, "os-keypairs?user_id=bob", version="2.10")
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.",
        )
        assert listed(get(client, "os-keypairs?user_id=alice", version="2.10")) == ["a1", "b2", "c3"]

    def test_2_34_ignores_limit_and_marker(self, client, spread):
        assert listed(get(client, "os-keypairs?limit=1&marker=nope", version="2.34")) == ["a1", "b2", "c3"]

    def test_2_35_pages_with_links_only_when_the_page_is_full(self, client, spread):
        first = get(client, "os-keypairs?limit=2", version="2.35")
        assert listed(first) == ["a1", "b2"]
        assert first.json()["keypairs_links"] == [
            {"rel": "next", "href": f"{HOST}/v2.1/os-keypairs?limit=2&marker=b2"}
        ]
        second = get(client, "os-keypairs?limit=2&marker=b2", version="2.35")
        assert listed(second) == ["c3"]
        assert "keypairs_links" not in second.json()

    def test_2_35_a_full_last_page_still_has_a_link(self, client, spread):
        response = get(client, "os-keypairs?limit=3", version="2.35")
        assert listed(response) == ["a1", "b2", "c3"]
        assert response.json()["keypairs_links"][0]["href"] == f"{HOST}/v2.1/os-keypairs?limit=3&marker=c3"
        assert "keypairs_links" not in get(client, "os-keypairs?limit=4", version="2.35").json()
        assert "keypairs_links" not in get(client, "os-keypairs", version="2.35").json()

    def test_2_35_no_limit_means_max_limit(self, client, spread, settings):
        settings.CELLSV2_API_MAX_LIMIT = 2
        response = get(client, "os-keypairs", version="2.35")
        assert listed(response) == ["a1", "b2"]
        assert response.json()["keypairs_links"][0]["href"] == f"{HOST}/v2.1/os-keypairs?marker=b2"
        assert listed(get(client, "os-keypairs?limit=50", version="2.35")) == ["a1", "b2"]

    def test_2_35_limit_zero_is_an_empty_page_without_links(self, client, spread):
        assert get(client, "os-keypairs?limit=0", version="2.35").json() == {"keypairs": []}

    def test_2_35_the_marker_may_be_a_cell_only_key(self, client, spread):
        assert listed(get(client, "os-keypairs?marker=b2", version="2.35")) == ["c3"]
        assert listed(get(client, "os-keypairs?marker=a1&limit=1", version="2.35")) == ["b2"]

    def test_2_35_admin_links_keep_user_id(self, client, spread):
        response = get(client, "os-keypairs?user_id=alice&limit=1", token=ADMIN, version="2.35")
        assert listed(response) == ["a1"]
        assert response.json()["keypairs_links"][0]["href"] == (
            f"{HOST}/v2.1/os-keypairs?limit=1&user_id=alice&marker=a1"
        )
        following = get(client, "os-keypairs?limit=1&user_id=alice&marker=a1", token=ADMIN, version="2.35")
        assert listed(following) == ["b2"]

    @pytest.mark.parametrize("marker", ["nope", "d4", "a0", "z9"])
    def test_2_35_an_unknown_marker_is_400(self, client, spread, marker):
        response = get(client, f"os-keypairs?marker={marker}", version="2.35")
        assert fault(response) == ("badRequest", 400, f"Marker {marker} could not be found.")

    @pytest.mark.parametrize("limit", ["abc", "-1", "1.5", ""])
    def test_2_35_a_bad_limit_is_400(self, client, spread, limit):
        response = get(client, f"os-keypairs?limit={limit}", version="2.35")
        name, code, message = fault(response)
        assert (name, code) == ("badRequest", 400)
        assert message.startswith("Invalid input for query parameters limit. Value: ")

    def test_2_75_refuses_unknown_parameters_2_74_ignores_them(self, client, spread):
        response = get(client, "os-keypairs?foo=bar", version="2.75")
        assert fault(response) == ("badRequest", 400, "Additional properties are not allowed ('foo' was unexpected)")
        assert listed(get(client, "os-keypairs?foo=bar", version="2.74")) == ["a1", "b2", "c3"]
        assert listed(get(client, "os-keypairs?limit=1", version="2.75")) == ["a1"]


# --- show ------------------------------------------------------------------------------------------


class TestShow:
    def test_2_1_body_exactly(self, client):
        key = api_key("alice", "k")
        response = get(client, "os-keypairs/k")
        assert response.status_code == 200
        body = response.json()["keypair"]
        assert body == {
            "name": "k",
            "public_key": key.public_key,
            "fingerprint": key.fingerprint,
            "user_id": "alice",
            "id": key.id,
            "created_at": key.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        }
        assert CREATED_AT.match(body["created_at"])

    def test_2_2_adds_type(self, client):
        pem, _ = keys.certificate_pem()
        post(client, create_body("cert", pem, type="x509"), version="2.2")
        body = get(client, "os-keypairs/cert", version="2.2").json()["keypair"]
        assert body["type"] == "x509" and body["public_key"] == pem
        assert set(body) == {
            "name", "public_key", "fingerprint", "user_id", "id", "created_at", "updated_at", "deleted_at",
            "deleted", "type",
        }  # fmt: skip

    def test_a_cell_only_key(self, client):
        legacy = legacy_key("cell1", "alice", "old")
        body = get(client, "os-keypairs/old", version="2.2").json()["keypair"]
        assert (body["id"], body["public_key"], body["fingerprint"], body["type"]) == (
            legacy.id,
            legacy.public_key,
            legacy.fingerprint,
            "ssh",
        )
        assert body["created_at"] == legacy.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
        assert (body["deleted"], body["deleted_at"], body["updated_at"]) == (False, None, None)

    def test_a_key_in_both_places_shows_the_api_copy(self, client):
        key = api_key("alice", "k")
        legacy_key("cell1", "alice", "k")
        assert get(client, "os-keypairs/k").json()["keypair"]["public_key"] == key.public_key

    def test_missing_is_404(self, client):
        legacy_key("cell1", "alice", "gone", deleted=True)
        for name in ("nope", "gone"):
            assert fault(get(client, f"os-keypairs/{name}")) == (
                "itemNotFound",
                404,
                f"Keypair {name} not found for user alice",
            )

    def test_another_users_key_is_404_without_user_id(self, client):
        api_key("bob", "k")
        assert fault(get(client, "os-keypairs/k"))[:2] == ("itemNotFound", 404)

    def test_2_10_admin_shows_another_users_key(self, client):
        key = api_key("bob", "k")
        body = get(client, "os-keypairs/k?user_id=bob", token=ADMIN, version="2.10").json()["keypair"]
        assert (body["user_id"], body["id"]) == ("bob", key.id)

    def test_2_10_a_member_gets_404_for_another_users_key(self, client):
        api_key("bob", "k")
        api_key("alice", "k")
        response = get(client, "os-keypairs/k?user_id=bob", version="2.10")
        assert fault(response) == ("itemNotFound", 404, "Keypair k not found for user bob")
        assert get(client, "os-keypairs/k?user_id=alice", version="2.10").status_code == 200

    def test_2_9_ignores_user_id(self, client):
        api_key("bob", "k")
        key = api_key("alice", "k")
        body = get(client, "os-keypairs/k?user_id=bob", version="2.9").json()["keypair"]
        assert (body["user_id"], body["id"]) == ("alice", key.id)

    def test_2_75_refuses_unknown_parameters_2_74_ignores_them(self, client):
        api_key("alice", "k")
        response = get(client, "os-keypairs/k?foo=bar", version="2.75")
        assert fault(response) == ("badRequest", 400, "Additional properties are not allowed ('foo' was unexpected)")
        assert get(client, "os-keypairs/k?foo=bar", version="2.74").status_code == 200


# --- delete ----------------------------------------------------------------------------------------


class TestDelete:
    def test_2_1_answers_202_with_an_empty_body(self, client):
        api_key("alice", "k")
        response = delete(client, "os-keypairs/k")
        assert response.status_code == 202 and response.content == b""
        assert not KeyPair.objects.exists()

    def test_2_2_answers_204_with_an_empty_body(self, client):
        api_key("alice", "k")
        response = delete(client, "os-keypairs/k", version="2.2")
        assert response.status_code == 204 and response.content == b""
        assert not KeyPair.objects.exists()

    def test_a_cell_only_key_is_soft_deleted(self, client):
        legacy = legacy_key("cell2", "alice", "old")
        assert delete(client, "os-keypairs/old", version="2.2").status_code == 204
        (row,) = legacy_rows("cell2", pk=legacy.pk)
        assert row.deleted == row.id
        assert fault(get(client, "os-keypairs/old"))[1] == 404

    def test_a_key_in_both_places_goes_from_both(self, client):
        key = api_key("alice", "k")
        legacy = legacy_key("cell1", "alice", "k", public_key=key.public_key)
        assert delete(client, "os-keypairs/k", version="2.2").status_code == 204
        assert not KeyPair.objects.exists()
        assert legacy_rows("cell1", pk=legacy.pk)[0].deleted == legacy.pk
        assert listed(get(client, "os-keypairs")) == []

    def test_missing_is_404(self, client):
        assert fault(delete(client, "os-keypairs/nope", version="2.2")) == (
            "itemNotFound",
            404,
            "Keypair nope not found for user alice",
        )

    def test_2_10_admin_deletes_another_users_key(self, client):
        api_key("bob", "k")
        api_key("admin", "k")
        assert delete(client, "os-keypairs/k?user_id=bob", token=ADMIN, version="2.10").status_code == 204
        assert api_names("bob") == [] and api_names("admin") == ["k"]

    def test_2_10_a_member_gets_404_and_nothing_is_deleted(self, client):
        api_key("bob", "k")
        legacy_key("cell1", "bob", "old")
        for name in ("k", "old"):
            response = delete(client, f"os-keypairs/{name}?user_id=bob", version="2.10")
            assert fault(response) == ("itemNotFound", 404, f"Keypair {name} not found for user bob")
        assert api_names("bob") == ["k"]
        assert len(legacy_rows("cell1", deleted=0)) == 1

    def test_2_9_ignores_user_id(self, client):
        api_key("bob", "k")
        assert delete(client, "os-keypairs/k?user_id=bob", version="2.9").status_code == 404
        assert api_names("bob") == ["k"]

    def test_2_75_refuses_unknown_parameters_2_74_ignores_them(self, client):
        api_key("alice", "k")
        response = delete(client, "os-keypairs/k?foo=bar", version="2.75")
        assert fault(response) == ("badRequest", 400, "Additional properties are not allowed ('foo' was unexpected)")
        assert api_names("alice") == ["k"]
        assert delete(client, "os-keypairs/k?foo=bar", version="2.74").status_code == 204


# --- a key that still lives only in a cell, end to end -----------------------------------------


def test_a_cell_only_key_is_shown_listed_and_deleted_through_the_api(client):
    legacy = legacy_key("cell0", "alice", "legacy")
    assert listed(get(client, "os-keypairs", version="2.35")) == ["legacy"]
    assert get(client, "os-keypairs/legacy", version="2.2").json()["keypair"]["fingerprint"] == legacy.fingerprint
    assert delete(client, "os-keypairs/legacy", version="2.2").status_code == 204
    assert listed(get(client, "os-keypairs", version="2.35")) == []
    assert post(client, create_body("legacy", legacy.public_key), version="2.2").status_code == 201


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_queries_per_call_once_no_cell_holds_legacy_key_pairs(client, django_assert_max_num_queries):
    # Outside a test transaction, as in production. Import: BEGIN (IMMEDIATE on SQLite), the
    # quota lock upsert (PostgreSQL only), the limit, the count, the insert, COMMIT.
    public_key = keys.openssh_public_key()
    assert post(client, create_body("warm", public_key), version="2.2").status_code == 201
    with django_assert_max_num_queries(6 if on_postgres() else 5, using="api"):
        assert post(client, create_body("k", public_key), version="2.2").status_code == 201
    with django_assert_max_num_queries(1, using="api"):
        assert get(client, "os-keypairs/k", version="2.2").status_code == 200
    with django_assert_max_num_queries(1, using="api"):
        assert listed(get(client, "os-keypairs", version="2.2")) == ["k", "warm"]
    with django_assert_max_num_queries(1, using="api"):
        assert delete(client, "os-keypairs/k", version="2.2").status_code == 204
    with django_assert_max_num_queries(1, using="api"):
        assert delete(client, "os-keypairs/k", version="2.2").status_code == 404


def test_show_reads_one_row_by_user_and_name_without_ordering(client):
    # The show's one statement is the plain read of the unique (user_id, name) row: no ORDER BY
    # (the ORM's first() added one, and its query building cost more than the statement).
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    assert post(client, create_body("k", keys.openssh_public_key()), version="2.2").status_code == 201
    with CaptureQueriesContext(connections["api"]) as captured:
        assert get(client, "os-keypairs/k", version="2.2").json()["keypair"]["name"] == "k"
    reads = [q["sql"] for q in captured.captured_queries if "key_pairs" in q["sql"]]
    assert len(reads) == 1
    assert "ORDER BY" not in reads[0].upper()
    assert "LIMIT" not in reads[0].upper()


def test_query_schemas_are_built_once_per_shape():
    # Validation keeps the validator it builds from a schema object: a schema built per request
    # would build a validator per request.
    from cellsv2.api.microversions import APIVersion
    from keypairs.api import schemas

    for version in ("2.10", "2.35", "2.75"):
        assert schemas.item_query_schema(APIVersion(version)) is schemas.item_query_schema(APIVersion(version))
        assert schemas.list_query_schema(APIVersion(version)) is schemas.list_query_schema(APIVersion(version))
    assert schemas.item_query_schema(APIVersion("2.10")) != schemas.item_query_schema(APIVersion("2.75"))


def test_a_request_does_not_visit_every_configured_database():
    # Nothing per request may grow with the cell count: Django's query-log reset at each request's
    # start visits every configured alias (76 with 75 cells), and a key pair show reads only the
    # API database. Without DEBUG a served process does not connect it. (Checked in a process of
    # its own: a test's CaptureQueriesContext connects it again on its way out.)
    import subprocess
    import sys

    from django.conf import settings

    probe = (
        "from django.core.signals import request_started; from django.db import reset_queries; "
        "print(sorted(r().__name__ for _, r, *_ in request_started.receivers))"
    )
    env = {**os.environ, "CELLSV2_DEBUG": "false"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", probe],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "['close_old_connections']"


# --- a real client ----------------------------------------------------------------------------------


@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
def test_openstacksdk_creates_lists_gets_and_deletes(live_server, settings):
    import openstack.config
    from openstack import connection

    settings.CELLSV2_AUTH = "noauth"
    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="admin_token",
        auth={"endpoint": f"{live_server.url}/v2.1", "token": ALICE},
    )
    conn = connection.Connection(config=region)
    public_key = keys.openssh_public_key("ecdsa-p384", comment="sdk@test")
    legacy_key("cell1", "alice", "from-cell")

    created = conn.compute.create_keypair(name="sdk", public_key=public_key)
    assert (created.name, created.fingerprint, created.user_id) == ("sdk", keys.md5_colon_hex(public_key), "alice")
    assert [k.name for k in conn.compute.keypairs()] == ["from-cell", "sdk"]
    fetched = conn.compute.get_keypair("sdk")
    assert (fetched.public_key, fetched.type, fetched.is_deleted) == (public_key, "ssh", False)
    conn.compute.delete_keypair("sdk")
    conn.compute.delete_keypair("from-cell")
    assert list(conn.compute.keypairs()) == []
    assert not KeyPair.objects.exists()
