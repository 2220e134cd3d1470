"""Key material: fingerprints, validation and generation (keypairs/crypto.py)."""

import base64
import re
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from keypairs import crypto
from keypairs.crypto import InvalidKeypair
from tests.keypairs import keys

SSH_INVALID = "Keypair data is invalid: failed to generate fingerprint"
DSA_REFUSED = "Keypair data is invalid: DSA (ssh-dss) keys are not supported; use an RSA, ECDSA or Ed25519 key"
X509_INVALID = "Keypair data is invalid: failed to generate X509 fingerprint. Error message: "
COLON_HEX_MD5 = re.compile(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")
COLON_HEX_SHA1 = re.compile(r"^([0-9a-f]{2}:){19}[0-9a-f]{2}$")


def ssh_invalid(public_key: str) -> str:
    with pytest.raises(InvalidKeypair) as caught:
        crypto.ssh_fingerprint(public_key)
    return str(caught.value)


def ssh_blob(public_key: str) -> bytes:
    return base64.b64decode(public_key.split()[1])


def ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


# --- OpenSSH fingerprints ---------------------------------------------------------------------


class TestSshFingerprint:
    @pytest.mark.parametrize("algorithm", keys.ALGORITHMS)
    def test_matches_md5_of_the_blob_for_every_supported_algorithm(self, algorithm, tmp_path):
        public_key = keys.openssh_public_key(algorithm, comment="me@host")
        fingerprint = crypto.ssh_fingerprint(public_key)
        assert COLON_HEX_MD5.match(fingerprint)
        assert fingerprint == keys.md5_colon_hex(public_key)
        from_ssh_keygen = keys.ssh_keygen_md5(public_key, tmp_path)
        if from_ssh_keygen is not None:
            assert fingerprint == from_ssh_keygen

    @pytest.mark.parametrize(
        "public_key, expected",
        [
            (keys.KNOWN_RSA_2048, keys.KNOWN_RSA_2048_FINGERPRINT),
            (keys.KNOWN_RSA_4096, keys.KNOWN_RSA_4096_FINGERPRINT),
        ],
    )
    def test_known_vectors(self, public_key, expected):
        assert crypto.ssh_fingerprint(public_key) == expected
        assert crypto.fingerprint(public_key, "ssh") == expected

    def test_the_prefix_names_the_algorithm_cryptography_produced(self):
        # The fixtures really are the key types the test names claim.
        assert keys.openssh_public_key("rsa").startswith("ssh-rsa ")
        assert keys.openssh_public_key("ecdsa-p256").startswith("ecdsa-sha2-nistp256 ")
        assert keys.openssh_public_key("ecdsa-p384").startswith("ecdsa-sha2-nistp384 ")
        assert keys.openssh_public_key("ed25519").startswith("ssh-ed25519 ")

    @pytest.mark.parametrize("algorithm", ["ecdsa-p521", "rsa1024"])
    def test_other_keys_cryptography_loads_are_accepted(self, algorithm):
        public_key = keys.openssh_public_key(algorithm)
        assert crypto.ssh_fingerprint(public_key) == keys.md5_colon_hex(public_key)

    @pytest.mark.parametrize("algorithm", keys.ALGORITHMS)
    @pytest.mark.parametrize(
        "suffix",
        [
            " me@host\n",
            " me@host\r\n",
            "\n",  # ssh-keygen's .pub files end in a newline, with or without a comment
            " a comment with several words",
            " a comment with several words\n",
            "",
        ],
    )
    def test_trailing_newline_and_multi_word_comments_are_accepted(self, algorithm, suffix):
        public_key = keys.openssh_public_key(algorithm)
        assert crypto.ssh_fingerprint(public_key + suffix) == keys.md5_colon_hex(public_key)

    def test_the_comment_does_not_change_the_fingerprint(self):
        public_key = keys.openssh_public_key("ed25519")
        assert crypto.ssh_fingerprint(f"{public_key} one") == crypto.ssh_fingerprint(f"{public_key} two words")

    def test_different_keys_have_different_fingerprints(self):
        assert crypto.ssh_fingerprint(keys.openssh_public_key()) != crypto.ssh_fingerprint(keys.openssh_public_key())


class TestSshRejected:
    @pytest.mark.parametrize("algorithm", keys.ALGORITHMS)
    def test_a_truncated_key(self, algorithm):
        kind, blob = keys.openssh_public_key(algorithm).split()
        assert ssh_invalid(f"{kind} {blob[: len(blob) // 2]}") == SSH_INVALID
        assert ssh_invalid(f"{kind} {blob[:-8]} me@host") == SSH_INVALID

    def test_a_blob_with_a_wrong_inner_length(self):
        kind, blob = keys.openssh_public_key("ed25519").split()
        raw = bytearray(base64.b64decode(blob))
        raw[3] += 5  # the length of the inner key-type string
        assert ssh_invalid(f"{kind} {base64.b64encode(bytes(raw)).decode()}") == SSH_INVALID

    def test_a_blob_whose_inner_type_disagrees_with_the_prefix(self):
        _, blob = keys.openssh_public_key("ed25519").split()
        assert ssh_invalid(f"ssh-rsa {blob}") == SSH_INVALID

    def test_an_rsa_blob_with_trailing_garbage(self):
        public_key = keys.openssh_public_key("rsa")
        blob = ssh_blob(public_key) + ssh_string(b"extra")
        assert ssh_invalid(f"ssh-rsa {base64.b64encode(blob).decode()}") == SSH_INVALID

    @pytest.mark.parametrize("bad", ["*", "!", "é"])
    def test_characters_outside_base64(self, bad):
        kind, blob = keys.openssh_public_key("ed25519").split()
        corrupted = blob[:20] + bad + blob[21:]
        assert ssh_invalid(f"{kind} {corrupted}") == SSH_INVALID

    @pytest.mark.parametrize(
        "public_key",
        [
            "ssh-rsa JUNK",
            "ssh-rsa JUNK nova@ubuntu",
            "ssh-what negative",
            "",
            " ",
            "   \n",
            "ssh-rsa",
            "ssh-rsa ",
            "AAAAC3NzaC1lZDI1NTE5AAAAIEpGnTeXAPFNzeX7h",
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
            "ssh-rsa " + "A" * 2048 + " openstack@ubuntu",
        ],
    )
    def test_garbage(self, public_key):
        assert ssh_invalid(public_key) == SSH_INVALID

    def test_an_unknown_algorithm_with_a_well_formed_blob(self):
        blob = ssh_string(b"ssh-unknown") + ssh_string(b"\x01" * 32)
        assert ssh_invalid(f"ssh-unknown {base64.b64encode(blob).decode()}") == SSH_INVALID

    def test_leading_whitespace_is_rejected_as_by_nova(self):
        assert ssh_invalid(" " + keys.openssh_public_key()) == SSH_INVALID

    def test_text_that_is_not_utf8_encodable(self):
        kind, blob = keys.openssh_public_key().split()
        assert ssh_invalid(f"{kind} {blob} \ud800") in (SSH_INVALID,)

    @pytest.mark.filterwarnings("ignore::DeprecationWarning")
    @pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
    def test_ssh_dss_is_refused_with_its_own_message(self):
        public_key = keys.openssh_public_key("dsa", comment="old@host")
        assert public_key.startswith("ssh-dss ")
        assert ssh_invalid(public_key) == DSA_REFUSED
        assert ssh_invalid(public_key.removesuffix(" old@host")) == DSA_REFUSED

    def test_a_1_mb_key_is_refused_before_parsing(self):
        huge = "ssh-rsa " + "A" * (1024 * 1024) + " big@host"
        assert ssh_invalid(huge) == (
            f"Keypair data is invalid: the public key is longer than {crypto.MAX_PUBLIC_KEY_LENGTH} characters"
        )

    def test_the_cap_is_far_above_a_real_16384_bit_rsa_key(self):
        # Generating an RSA 16384 key takes minutes; its public key is ~2.8 KB. Build its size.
        modulus = int.from_bytes(b"\xc3" + b"\x01" * 2047, "big") | 1
        public = rsa.RSAPublicNumbers(65537, modulus).public_key()
        line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        assert len(line) < crypto.MAX_PUBLIC_KEY_LENGTH // 4
        assert crypto.ssh_fingerprint(line + " big@host") == keys.md5_colon_hex(line)


# --- X.509 ------------------------------------------------------------------------------------


class TestX509Fingerprint:
    def test_sha1_of_the_certificate(self):
        pem, cert = keys.certificate_pem()
        fingerprint = crypto.x509_fingerprint(pem)
        assert COLON_HEX_SHA1.match(fingerprint)
        assert fingerprint == keys.sha1_colon_hex(cert)
        assert crypto.fingerprint(pem, "x509") == fingerprint

    def test_a_trailing_newline_or_a_missing_one_gives_the_same_fingerprint(self):
        pem, cert = keys.certificate_pem()
        assert crypto.x509_fingerprint(pem.rstrip("\n")) == keys.sha1_colon_hex(cert)
        assert crypto.x509_fingerprint(pem + "\n\n") == keys.sha1_colon_hex(cert)

    @pytest.mark.parametrize(
        "pem",
        [
            "",
            "garbage",
            "-----BEGIN CERTIFICATE-----\nJUNK\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\n"
            + base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
            + "\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        ],
    )
    def test_pem_garbage_is_refused_with_novas_message(self, pem):
        with pytest.raises(InvalidKeypair) as caught:
            crypto.x509_fingerprint(pem)
        assert str(caught.value).startswith(X509_INVALID)

    def test_a_truncated_certificate(self):
        pem, _ = keys.certificate_pem()
        lines = pem.splitlines()
        truncated = "\n".join(lines[:3] + lines[-1:])
        with pytest.raises(InvalidKeypair) as caught:
            crypto.x509_fingerprint(truncated)
        assert str(caught.value).startswith(X509_INVALID)

    def test_an_ssh_key_given_as_x509_is_refused(self):
        with pytest.raises(InvalidKeypair) as caught:
            crypto.fingerprint(keys.openssh_public_key(), "x509")
        assert str(caught.value).startswith(X509_INVALID)

    def test_a_certificate_given_as_ssh_is_refused(self):
        pem, _ = keys.certificate_pem()
        with pytest.raises(InvalidKeypair, match="failed to generate fingerprint"):
            crypto.fingerprint(pem, "ssh")

    def test_a_huge_certificate_is_refused_before_parsing(self):
        pem, _ = keys.certificate_pem()
        with pytest.raises(InvalidKeypair, match="the certificate is longer than"):
            crypto.x509_fingerprint(pem * 1000)


# --- generation -------------------------------------------------------------------------------


class TestGeneration:
    def test_ssh_pair_is_rsa_2048_with_novas_comment_and_a_loadable_private_key(self):
        public_key, private_pem = crypto.generate_ssh_keypair()
        kind, blob, comment = public_key.split(" ")
        assert (kind, comment) == ("ssh-rsa", "Generated-by-Nova")
        assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
        derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        assert derived.decode() == f"{kind} {blob}"
        assert crypto.ssh_fingerprint(public_key) == keys.md5_colon_hex(public_key)

    def test_every_generated_ssh_pair_is_new(self):
        assert crypto.generate_ssh_keypair()[0] != crypto.generate_ssh_keypair()[0]

    def test_x509_pair_is_a_certificate_and_a_pkcs12_bundle_without_password(self):
        cert_pem, bundle_b64 = crypto.generate_x509_keypair("alice")
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        key, bundled_cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(bundle_b64), None)
        assert bundled_cert == cert
        assert extra == []
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()
        assert crypto.x509_fingerprint(cert_pem) == keys.sha1_colon_hex(cert)

    def test_x509_certificate_names_the_user_in_cn_and_upn(self):
        cert_pem, _ = crypto.generate_x509_keypair("alice")
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert [a.value for a in cn] == ["alice"]
        assert cert.issuer == cert.subject
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        (upn,) = san.get_values_for_type(x509.OtherName)
        assert upn.type_id == crypto.UPN_OID
        upn_value = b"alice@localhost"
        assert upn.value == b"\x0c" + bytes([len(upn_value)]) + upn_value
        assert cert.not_valid_after_utc > cert.not_valid_before_utc

    @pytest.mark.parametrize("user_id", ["u" * 64, "u" * 200])
    def test_x509_generation_works_for_long_user_ids(self, user_id):
        cert_pem, _ = crypto.generate_x509_keypair(user_id)
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user_id[:64]
        (upn,) = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.OtherName
        )
        assert upn.value.endswith(f"{user_id}@localhost".encode())

    @pytest.mark.parametrize("size", [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1234])
    def test_der_utf8_string_lengths(self, size):
        encoded = crypto._der_utf8_string(b"x" * size)
        assert encoded[0] == 0x0C
        if size < 0x80:
            assert encoded[1] == size and len(encoded) == 2 + size
        elif size < 0x100:
            assert encoded[1:3] == bytes([0x81, size]) and len(encoded) == 3 + size
        else:
            assert encoded[1:4] == bytes([0x82, size >> 8, size & 0xFF]) and len(encoded) == 4 + size
