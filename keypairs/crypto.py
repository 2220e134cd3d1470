"""Key material: fingerprints, validation and generation, with ``cryptography``.

- OpenSSH public keys (rsa, ecdsa, ed25519, ...): MD5 of the key blob as colon hex (Nova's
  ``generate_fingerprint``). DSA (``ssh-dss``) keys are refused: OpenSSH dropped them.
- X.509 certificates (PEM): SHA-1 of the DER certificate as colon hex.
- Generation (requests below 2.92 without ``public_key``): RSA 2048 for ssh; a self-signed
  certificate plus a PKCS#12 bundle for x509. The private key is returned once, never stored.
"""

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

# Far above any real key (an RSA 16384 key is ~2.8 KB, a certificate chain a few KB).
MAX_PUBLIC_KEY_LENGTH = 16384
# Microsoft's User Principal Name, which Nova puts in generated certificates for Windows guests.
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


class InvalidKeypair(ValueError):
    """Key material that cannot be used; str() is the client message."""

    def __init__(self, reason: str):
        super().__init__(f"Keypair data is invalid: {reason}")


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in digest)


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 colon-hex fingerprint of an OpenSSH public key; raises InvalidKeypair."""
    if len(public_key) > MAX_PUBLIC_KEY_LENGTH:
        raise InvalidKeypair(f"the public key is longer than {MAX_PUBLIC_KEY_LENGTH} characters")
    try:
        # The second whitespace-separated field (as cryptography parses it): a key without a comment
        # may end in a newline, which is not part of the blob.
        blob = base64.b64decode(public_key.split()[1], validate=True)
        # The key type inside the blob (cryptography checks it against the text prefix). DSA is
        # refused before parsing: cryptography deprecates DSA and warns on every use of it.
        if blob[4 : 4 + int.from_bytes(blob[:4], "big")] == b"ssh-dss":
            raise InvalidKeypair("DSA (ssh-dss) keys are not supported; use an RSA, ECDSA or Ed25519 key")
        serialization.load_ssh_public_key(public_key.encode("utf-8"))
    except InvalidKeypair:
        raise
    except (ValueError, IndexError, binascii.Error, UnicodeError, TypeError):
        raise InvalidKeypair("failed to generate fingerprint") from None
    except Exception:  # cryptography raises a few other types for exotic garbage
        raise InvalidKeypair("failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(pem: str) -> str:
    """The SHA-1 colon-hex fingerprint of a PEM certificate; raises InvalidKeypair."""
    if len(pem) > MAX_PUBLIC_KEY_LENGTH:
        raise InvalidKeypair(f"the certificate is longer than {MAX_PUBLIC_KEY_LENGTH} characters")
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except Exception as exc:
        raise InvalidKeypair(f"failed to generate X509 fingerprint. Error message: {exc}") from None
    return _colon_hex(certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - Nova's fingerprint is SHA-1


def fingerprint(public_key: str, key_type: str) -> str:
    """The fingerprint of key material of the given type (ssh or x509)."""
    return x509_fingerprint(public_key) if key_type == "x509" else ssh_fingerprint(public_key)


def generate_ssh_keypair() -> tuple[str, str]:
    """A new RSA 2048 key: (OpenSSH public key, PEM private key)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return f"{public.decode()} Generated-by-Nova", pem.decode()


def _der_utf8_string(value: bytes) -> bytes:
    """DER encoding of a UTF8String (tag 0x0c, then the definite length)."""
    size = len(value)
    if size < 0x80:
        length = bytes([size])
    elif size < 0x100:
        length = bytes([0x81, size])
    else:
        length = bytes([0x82, size >> 8, size & 0xFF])
    return b"\x0c" + length + value


def generate_x509_keypair(user_id: str) -> tuple[str, str]:
    """A self-signed certificate for ``user_id``: (PEM certificate, base64 PKCS#12 with no password)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id[:64] or "user")])
    upn_der = _der_utf8_string(f"{user_id}@localhost".encode())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, upn_der)]), critical=False)
        .sign(private, hashes.SHA256())
    )
    bundle = pkcs12.serialize_key_and_certificates(None, private, certificate, None, serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), base64.b64encode(bundle).decode()
