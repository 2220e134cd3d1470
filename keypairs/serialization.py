"""The key pair list embedded in ``instance_extra.keypairs``: Nova's KeyPairList primitive.

It is what Nova stores (``KeyPairList`` 1.3 holding ``KeyPair`` 1.4 primitives), so a Nova cell
database reads the same and ours reads Nova's. The version fields are the format version.
"""

import json

LIST_VERSION = "1.3"
ITEM_VERSION = "1.4"


def _timestamp(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def keypair_primitive(keypair) -> dict:
    """One key pair (API or legacy row) as a KeyPair 1.4 primitive."""
    return {
        "nova_object.name": "KeyPair",
        "nova_object.namespace": "nova",
        "nova_object.version": ITEM_VERSION,
        "nova_object.data": {
            "id": keypair.id,
            "name": keypair.name,
            "user_id": keypair.user_id,
            "fingerprint": keypair.fingerprint,
            "public_key": keypair.public_key,
            "type": keypair.type,
            "created_at": _timestamp(keypair.created_at),
            "updated_at": _timestamp(getattr(keypair, "updated_at", None)),
            "deleted_at": None,
            "deleted": False,
        },
    }


def keypair_list_json(keypairs) -> str:
    """The JSON text stored in instance_extra.keypairs (an empty list when there is no key)."""
    return json.dumps(
        {
            "nova_object.name": "KeyPairList",
            "nova_object.namespace": "nova",
            "nova_object.version": LIST_VERSION,
            "nova_object.data": {"objects": [keypair_primitive(k) for k in keypairs]},
        }
    )


def keypair_list_load(text: str | None) -> list[dict]:
    """The key pairs of an instance_extra.keypairs value as dicts (name, type, public_key, ...)."""
    if not text:
        return []
    data = json.loads(text)
    objects = data.get("nova_object.data", {}).get("objects", [])
    return [item.get("nova_object.data", item) for item in objects]
