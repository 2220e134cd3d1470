"""Key pair response bodies per microversion (Nova's KeypairController._filter_keypair)."""

TYPE_VERSION = "2.2"
PRIVATE_KEY_REMOVED_VERSION = "2.92"


def _created_at(value) -> str | None:
    # Nova serialises this naive UTC datetime with microseconds and no zone suffix.
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


class KeypairSerializer:
    """Key pairs as the API shows them at one microversion. Nothing here queries."""

    def __init__(self, version):
        self.version = version
        self.with_type = version >= TYPE_VERSION

    def summary(self, keypair) -> dict:
        """A key pair in a list: name, public key, fingerprint (+ type from 2.2)."""
        body = {"name": keypair.name, "public_key": keypair.public_key, "fingerprint": keypair.fingerprint}
        if self.with_type:
            body["type"] = keypair.type
        return body

    def created(self, keypair, private_key: str | None) -> dict:
        """A new key pair: the summary, its user, and the generated private key before 2.92."""
        body = {**self.summary(keypair), "user_id": keypair.user_id}
        if private_key is not None and self.version < PRIVATE_KEY_REMOVED_VERSION:
            body["private_key"] = private_key
        return body

    def detail(self, keypair) -> dict:
        """One key pair (show): Nova's fixed deleted/updated fields included."""
        return {
            **self.summary(keypair),
            "user_id": keypair.user_id,
            "id": keypair.id,
            "created_at": _created_at(keypair.created_at),
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        }
