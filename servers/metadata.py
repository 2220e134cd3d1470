"""The metadata service's data: what a guest reads at ``/openstack/...`` and ``/<ec2 version>/...``.

Nova's ``nova/api/metadata/base.py``, the parts a cells-v2 deployment without networking or an
image service can serve:

- the instance is found through its instance mapping (API database) and read from its cell:
  the live ``instances`` row, ``instance_extra`` (key pairs, flavor), user metadata and system
  metadata (``metadata_instance_get``);
- ``metadata_lookup`` answers a path exactly as Nova's ``InstanceMetadata.lookup``: ``posixpath``
  normalisation, paths that do not start with ``/openstack`` are EC2 (``/ec2`` optional), the
  version lists, and the EC2 tree printed by ``ec2_md_print`` (sorted keys, ``key/`` for a
  subtree unless it has a ``_name``, lists joined by newlines).

OpenStack format (``/openstack/<version>/meta_data.json``, ``latest`` = the newest listed):
``uuid``, ``meta`` (user metadata, when there is any), ``public_keys`` and ``keys`` (only when
the instance has a ``key_name`` and ``instance_extra.keypairs`` holds a key pair: Nova takes the
first one; the key pair tables are never read, so deleting or changing a key after boot changes
nothing), ``hostname``, ``name``, ``launch_index``, ``availability_zone``, ``random_seed``,
``project_id`` and ``devices`` (always empty: there are no tagged devices).
EC2 format: ``instances.key_name`` and ``instances.key_data`` give ``public-keys/``.

Served versions stop at 2016-06-30 (``devices``): later ones add files and keys this product has
no data for (vendor_data2.json from 2016-10-06 on, ...), and a guest's cloud-init reads the newest
version it knows among those listed.
Not served: ``password`` (no one can set it), ``ami-id``, ``block-device-mapping``, ``kernel-id``
and ``ramdisk-id`` (no image service, and no compute names the devices of the block device
mappings); ``network_data.json`` and ``vendor_data.json`` are ``{}``.
"""

import base64
import binascii
import json
import os
import posixpath
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from cellsv2.context import target_cell
from keypairs.serialization import keypair_list_load
from mappings.selectors import instance_mapping_lookup
from servers.models import Instance, InstanceExtra, InstanceMetadata, InstanceSystemMetadata

# EC2 versions (nova.api.metadata.base.VERSIONS); "latest" is the last.
VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
)
FOLSOM = "2012-08-10"
GRIZZLY = "2013-04-04"
HAVANA = "2013-10-17"
LIBERTY = "2015-10-15"
NEWTON_ONE = "2016-06-30"
OPENSTACK_VERSIONS = (FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE)

MD_JSON_NAME = "meta_data.json"
VD_JSON_NAME = "vendor_data.json"
NW_JSON_NAME = "network_data.json"
UD_NAME = "user_data"
MIME_TYPE_TEXT_PLAIN = "text/plain"
MIME_TYPE_APPLICATION_JSON = "application/json"


class InvalidMetadataPath(LookupError):
    """No metadata at this path (the view answers 404)."""


@dataclass
class MetadataInstance:
    """One instance as the metadata service needs it (read from its cell)."""

    instance: Instance
    cell: object
    keypairs: list[dict] = field(default_factory=list)
    flavor: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    system_metadata: dict = field(default_factory=dict)

    @property
    def project_id(self) -> str | None:
        return self.instance.project_id


def metadata_instance_get(*, instance_uuid: str) -> MetadataInstance | None:
    """The live instance ``instance_uuid`` with its extra data, or None when no cell holds it.

    Reads the instance mapping (API database, through the optional mapping cache), then the
    instance's cell: instances, instance_extra, instance_metadata, instance_system_metadata.
    None when there is no mapping, the instance is not placed yet, or its cell has no live row.
    A cell that cannot be read raises (the view answers 500, as Nova).
    """
    mapping = instance_mapping_lookup(instance_uuid)
    if mapping is None or mapping.cell_id is None:
        return None
    with target_cell(mapping.cell):
        instance = Instance.objects.live().filter(uuid=instance_uuid).first()
        if instance is None:
            return None
        found = MetadataInstance(instance=instance, cell=mapping.cell)
        extra = InstanceExtra.objects.live().filter(instance=instance).only("keypairs", "flavor").first()
        if extra is not None:
            found.keypairs = keypair_list_load(extra.keypairs)
            found.flavor = (json.loads(extra.flavor) if extra.flavor else {}).get("cur") or {}
        found.metadata = dict(InstanceMetadata.objects.live().filter(instance=instance).values_list("key", "value"))
        found.system_metadata = dict(
            InstanceSystemMetadata.objects.live().filter(instance=instance).values_list("key", "value")
        )
    return found


# --- rendering --------------------------------------------------------------------------------


def ec2_md_print(data) -> str | bytes:
    """Nova's ec2_md_print: a listing for a dict, lines for a list, the value itself otherwise."""
    if isinstance(data, dict):
        lines = []
        for key in sorted(data):
            if key == "_name":
                continue
            value = data[key]
            if isinstance(value, dict):
                lines.append(str(value["_name"]) if "_name" in value else f"{key}/")
            else:
                lines.append(key)
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(str(item) for item in data)
    if isinstance(data, bytes | str):
        return data
    return str(data)


def find_path_in_tree(data, path_tokens: list[str]):
    """Nova's find_path_in_tree: walk a dict tree; KeyError when the path leaves it."""
    for index, token in enumerate(path_tokens):
        # Nova also indexes lists and strings here (and fails with a 500); only dicts are walked.
        if isinstance(data, dict) and token in data:
            data = data[token]
        else:
            raise KeyError("/".join(path_tokens[:index]))
    return data


class InstanceMetadataView:
    """The metadata of one instance, answering paths as Nova's InstanceMetadata does."""

    def __init__(self, source: MetadataInstance, *, address: str | None = None):
        self.source = source
        self.instance = source.instance
        self.address = address
        self.mimetype = MIME_TYPE_TEXT_PLAIN
        self.availability_zone = self.instance.availability_zone or settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE
        self.userdata_raw = None
        if self.instance.user_data is not None:
            try:
                self.userdata_raw = base64.b64decode(self.instance.user_data)
            except (binascii.Error, ValueError):
                # The API accepts only base64; a row written otherwise is served as stored.
                self.userdata_raw = self.instance.user_data.encode()

    # --- shared -------------------------------------------------------------------------------

    def hostname(self) -> str:
        """The guest hostname with Nova's dhcp_domain (``novalocal`` by default)."""
        hostname, domain = self.instance.hostname or "", settings.CELLSV2_METADATA_DHCP_DOMAIN
        return f"{hostname}.{domain}" if hostname and domain else hostname

    def security_groups(self) -> list[str]:
        try:
            groups = json.loads(self.source.system_metadata.get("security_groups") or "[]")
        except ValueError:
            return []
        return [g.get("name") if isinstance(g, dict) else str(g) for g in groups]

    # --- EC2 ----------------------------------------------------------------------------------

    def ec2_metadata(self, version: str) -> dict:
        if version == "latest":
            version = VERSIONS[-1]
        if version not in VERSIONS:
            raise KeyError(version)

        def since(required: str) -> bool:
            return VERSIONS.index(version) >= VERSIONS.index(required)

        hostname = self.hostname()
        meta_data = {
            "ami-launch-index": self.instance.launch_index,
            "ami-manifest-path": "FIXME",
            # Nova's EC2 id is "i-%08x" of the instance's id in its cell (instance_id_mappings).
            "instance-id": f"i-{self.instance.id:08x}",
            "hostname": hostname,
            "local-ipv4": self.address or "",
            "reservation-id": self.instance.reservation_id,
            "security-groups": self.security_groups(),
        }
        # Nova: public-keys/ lists "0=<key_name>", public-keys/0/ lists "openssh-key".
        if self.instance.key_name:
            meta_data["public-keys"] = {
                "0": {"_name": f"0={self.instance.key_name}", "openssh-key": self.instance.key_data}
            }
        if since("2007-01-19"):
            meta_data["local-hostname"] = hostname
            meta_data["public-hostname"] = hostname
            meta_data["public-ipv4"] = ""
        if since("2007-08-29"):
            meta_data["instance-type"] = self.source.flavor.get("name", "")
        if since("2008-02-01"):
            meta_data["placement"] = {"availability-zone": self.availability_zone}
        if since("2008-09-01"):
            meta_data["instance-action"] = "none"
        data = {"meta-data": meta_data}
        if self.userdata_raw is not None:
            data["user-data"] = self.userdata_raw
        return data

    # --- OpenStack ----------------------------------------------------------------------------

    def _openstack_version(self, version: str) -> str:
        if version == "latest":
            return OPENSTACK_VERSIONS[-1]
        if version not in OPENSTACK_VERSIONS:
            raise KeyError(version)
        return version

    @staticmethod
    def _since(required: str, version: str) -> bool:
        return OPENSTACK_VERSIONS.index(version) >= OPENSTACK_VERSIONS.index(required)

    def meta_data_json(self, version: str) -> bytes:
        metadata = {"uuid": self.instance.uuid}
        if self.source.metadata:
            metadata["meta"] = self.source.metadata
        if self.instance.key_name:
            # NOTE: only the copy made at boot counts (instance_extra.keypairs); a key pair deleted or
            # replaced since changes nothing. No stored copy means no keys, as in Nova.
            keypair = self.source.keypairs[0] if self.source.keypairs else None
            if keypair:
                metadata["public_keys"] = {keypair["name"]: keypair["public_key"]}
                metadata["keys"] = [
                    {"name": keypair["name"], "type": keypair.get("type") or "ssh", "data": keypair["public_key"]}
                ]
        metadata["hostname"] = self.hostname()
        metadata["name"] = self.instance.display_name
        metadata["launch_index"] = self.instance.launch_index
        metadata["availability_zone"] = self.availability_zone
        if self._since(GRIZZLY, version):
            metadata["random_seed"] = base64.b64encode(os.urandom(512)).decode()
        if self._since(LIBERTY, version):
            metadata["project_id"] = self.instance.project_id
        if self._since(NEWTON_ONE, version):
            metadata["devices"] = []
        self.mimetype = MIME_TYPE_APPLICATION_JSON
        return json.dumps(metadata).encode()

    def openstack_item(self, tokens: list[str]):
        version = self._openstack_version(tokens[0])
        path = "/".join(tokens[1:])
        if not path:
            listing = [MD_JSON_NAME]
            if self.userdata_raw is not None:
                listing.append(UD_NAME)
            if self._since(HAVANA, version):
                listing.append(VD_JSON_NAME)
            if self._since(LIBERTY, version):
                listing.append(NW_JSON_NAME)
            return listing
        if path == MD_JSON_NAME:
            return self.meta_data_json(version)
        if path == UD_NAME and self.userdata_raw is not None:
            return self.userdata_raw
        if path == VD_JSON_NAME and self._since(HAVANA, version):
            self.mimetype = MIME_TYPE_APPLICATION_JSON
            return b"{}"
        if path == NW_JSON_NAME and self._since(LIBERTY, version):
            # Nova serves network_data.json as text/plain.
            return b"{}"
        raise KeyError(path)

    # --- lookup -------------------------------------------------------------------------------

    def lookup(self, path: str):
        """The data at ``path`` (a list, dict, bytes or str); raises InvalidMetadataPath."""
        path = posixpath.normpath("/" + path if not path.startswith("/") else path)
        self.mimetype = MIME_TYPE_TEXT_PLAIN
        tokens = path.split("/")[1:]
        if tokens[0] not in ("ec2", "openstack"):
            tokens = ["ec2"] if tokens[0] == "" else ["ec2", *tokens]
        if len(tokens) == 1:
            if tokens[0] == "openstack":
                # Nova hides versions dated in the future.
                today = timezone.now().strftime("%Y-%m-%d")
                return [v for v in OPENSTACK_VERSIONS if v <= today] + ["latest"]
            return [*VERSIONS, "latest"]
        try:
            if tokens[0] == "openstack":
                return self.openstack_item(tokens[1:])
            return find_path_in_tree(self.ec2_metadata(tokens[1]), tokens[2:])
        except KeyError:
            raise InvalidMetadataPath(path) from None


def metadata_lookup(source: MetadataInstance, path: str, *, address: str | None = None) -> tuple[bytes, str]:
    """The body and content type Nova's metadata handler answers for ``path``; raises InvalidMetadataPath."""
    view = InstanceMetadataView(source, address=address)
    data = view.lookup(path)
    body = ec2_md_print(data)
    return (body if isinstance(body, bytes) else body.encode()), view.mimetype
