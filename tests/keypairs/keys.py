"""Key material for the key pair tests, made with ``cryptography`` (and checked with ssh-keygen if present)."""

import base64
import hashlib
import shutil
import subprocess
import warnings
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

# Public test vectors: RSA keys whose MD5 fingerprints ``ssh-keygen -l -E md5`` printed.
KNOWN_RSA_2048 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDOfbWSXOlqvYjZmRO84/lIoV4gvuX+P1lLg50MMg6jZjLZIlYY081XPRmuom0xY0+BO++J2Kg"
    "Ll7gxJ6xMsKK2VQ+TakdfAH20XfMcTohd/zVCeWsbqZQvEhVXBo4hPIktcfNz0u9Ez3EtInO+kb7raLcRhOVi9QmOkOrCWtQU9mS71AWJuqI9H0"
    "YAnTiI8Hs5bn2tpMIqmTXT3g2bwywC25x1Nx9Hy0/FP+KUL6AgvDXv47l+TgSDfTBEkvq+IF1ITrnaOG+nRE02oZC6cwHYTifM/IOollkujxIQmi"
    "2Z+j66OHSrjnEQugr0FqGJF2ygKfIh/i2u3fVLM60qE2NN user@example"
)
KNOWN_RSA_2048_FINGERPRINT = "35:22:13:5b:82:e2:5d:e1:90:8c:73:74:9f:ef:3b:d8"
KNOWN_RSA_4096 = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQC7g+C+gXspRfsNRFXHSeEuQLrUEb+pSV9OUi3zz0DvdxzaXyP4I1vUErnwll5P5"
    "8KFdkWp65haqiGteM53zuGJa251c+J41Y69jLEI0jX4mGj4BskB0Cud23lnVzYTktzjkwGz2tGlRjaSYzYdm9lR3Nf6rlWBP1iz6C"
    "QasBHVLGWUBuJF+DQ16ztHV9EWtifDprVoMHK5EaGW19W5OCW73sPJfvbdDjolTZC6QZ7lKOGcZjdFBM7nnIyfIHYfjnXPZh9eMnY"
    "6KWEAKuhQpPO1SB82PrLvBPlYzNewO1BiOQWoJyJfJBr1vRBfhLzY9VAoNr5fDSUxtn3UmZ2OmcNCx+qb8iUrn+E3K3i4sRn5iYVA"
    "dO4pmsjx5SENXlfpj/Mmz6wu3bQGN5k1jYtq+sKxGuIRiX+9sxEQ1KBXIqMfM1zSzitxGQSGUrqEgWpxJKVmDscGnlZBGGTPvPRwX"
    "i3VLeiTH+AkGOnWrlVenKpBh/0IWPI8fN/d7GolWHT53Cyi0HQbb3nKMUlfXWFKukbdSb9mvJ0v1Pv8qlWb6+fDZCBi0hz/fmE+hx"
    "/+uwnY9Vk8H5CzTDQOmXKx6Gj3Lff9RSWD/WePW8LyukWz0l18GOGWzv/HqNIVtljdfJMa5v2kckhZAFPxQvZBMUIX0wkRTmGJOcQ"
    "+A8ZKOVaScMnXXQ=="
)
KNOWN_RSA_4096_FINGERPRINT = "e4:47:42:71:81:62:bf:06:1c:23:fa:f3:8f:7b:6f:d0"

ALGORITHMS = ("rsa", "ecdsa-p256", "ecdsa-p384", "ed25519")


def private_key(algorithm: str = "ed25519"):
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ecdsa-p521":
        return ec.generate_private_key(ec.SECP521R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "dsa":
        return dsa.generate_private_key(key_size=1024)
    raise ValueError(algorithm)


def openssh_public_key(algorithm: str = "ed25519", comment: str | None = None) -> str:
    """An OpenSSH public key line (``<type> <base64 blob>[ comment]``) of a new key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DSA is deprecated in cryptography
        line = (
            private_key(algorithm)
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
    return f"{line} {comment}" if comment else line


def md5_colon_hex(public_key: str) -> str:
    """The Nova fingerprint computed independently: MD5 of the base64 blob, colon hex."""
    digest = hashlib.md5(base64.b64decode(public_key.split()[1]), usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def ssh_keygen_md5(public_key: str, tmp_path) -> str | None:
    """``ssh-keygen -l -E md5`` of a public key (None when ssh-keygen is not installed)."""
    if shutil.which("ssh-keygen") is None:
        return None
    path = tmp_path / "key.pub"
    path.write_text(public_key + "\n")
    output = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return output.split()[1].removeprefix("MD5:")


def certificate(common_name: str = "tester", key=None) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def certificate_pem(common_name: str = "tester") -> tuple[str, x509.Certificate]:
    cert = certificate(common_name)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), cert


def sha1_colon_hex(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02x}" for b in cert.fingerprint(hashes.SHA1()))  # noqa: S303 - Nova's fingerprint
