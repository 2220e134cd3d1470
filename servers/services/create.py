"""Server create: build requests, request specs and instance mappings (API database only).

The conductor places the servers into cells after the transaction commits. The project's
``instances`` quota counter lives here too (create is where it is reserved).
"""

import json
import logging
import re
import secrets
import string
import uuid as uuid_lib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cellsv2.db import API_ALIAS, sql
from cellsv2.quotas import OverQuota, quota_limit_check, quota_limits_by_level, quota_reserve
from flavors.models import Flavor
from flavors.selectors import flavor_dict
from hosts.selectors import availability_zones_available
from images.selectors import block_device_image_get, image_check_for_boot, image_get, image_system_metadata
from keypairs.exceptions import KeypairNotFound
from keypairs.selectors import keypair_get
from keypairs.serialization import keypair_list_json
from mappings.models import InstanceMapping
from mappings.selectors import INSTANCE_MIGRATION_MARKER
from servergroups import selectors as group_selectors
from servergroups import services as group_services
from servers import block_devices, conductor
from servers.exceptions import (
    AvailabilityZoneNotAvailable,
    ComputeHostNotFound,
    DestinationConflict,
    InvalidAvailabilityZone,
    InvalidKeyName,
    ServerGroupNotFound,
)
from servers.models import BuildRequest, RequestSpec
from servers.selectors.compute_nodes import compute_host_exists
from servers.serialization import block_device_mappings_dump, instance_dump, request_spec_dump
from servers.services.lifecycle import access_ip_v6_normalized

logger = logging.getLogger(__name__)


@dataclass
class ServerCreateRequest:
    """A validated server create request (the API turns its body into this)."""

    name: str
    flavor: Flavor
    # The flavor's extra specs when they were read with it (flavor_with_extra_specs_read).
    flavor_extra_specs: dict | None = None
    image_ref: str | None = None
    key_name: str | None = None
    metadata: dict = field(default_factory=dict)
    min_count: int = 1
    max_count: int = 1
    availability_zone: str | None = None
    user_data: str | None = None
    description: str | None = None
    security_groups: list = field(default_factory=lambda: ["default"])
    tags: list = field(default_factory=list)
    config_drive: bool = False
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    auto_disk_config: bool = False
    admin_pass: str | None = None
    group_uuid: str | None = None
    scheduler_hints: dict = field(default_factory=dict)
    hostname: str | None = None
    networks: object = None
    # Where the server must go (admins only): 2.74's host / hypervisor_hostname (checked to exist),
    # or the legacy "zone:host:node" availability zone (forced; not checked, as in Nova).
    requested_host: str | None = None
    requested_node: str | None = None
    forced_host: str | None = None
    forced_node: str | None = None
    # block_device_mappings_from_request's result: v2 mappings, or legacy ones (none given: legacy).
    block_device_mappings: list = field(default_factory=list)
    legacy_bdm: bool = True


@dataclass
class ServerCreateResult:
    uuids: list[str]
    reservation_id: str
    admin_pass: str


# Every create counts the project's servers, cores and RAM: statements written once (the
# querysets they replace were most of a create's time, not the database).
_COUNT_INSTANCES_SQL = (
    'SELECT COUNT(*) FROM "instance_mappings" WHERE "project_id" = %s AND NOT "queued_for_delete" '
    'AND NOT ("project_id" = %s)'
)
# The vCPUs and RAM of a project's live servers, summed by the database from their request
# specs' flavors: no spec document crosses the wire or is decoded in Python.
_FLAVOR_FIELD_SQL = {
    "postgresql": "(spec::json #>> '{{nova_object.data,flavor,{field}}}')::bigint",
    "sqlite": "json_extract(spec, '$.\"nova_object.data\".flavor.{field}')",
}
_PROJECT_FLAVOR_TOTALS_SQL = {
    vendor: f"""
        SELECT COALESCE(SUM({field.format(field="vcpus")}), 0), COALESCE(SUM({field.format(field="memory_mb")}), 0)
        FROM request_specs WHERE instance_uuid IN (
            SELECT instance_uuid FROM instance_mappings WHERE project_id = %s AND NOT queued_for_delete
        )
    """
    for vendor, field in _FLAVOR_FIELD_SQL.items()
}
# The same for one user of the project (per-user limits, and what os-quota-sets shows a user).
_USER = ' AND "user_id" = %s'
_COUNT_USER_INSTANCES_SQL = _COUNT_INSTANCES_SQL + _USER
_USER_FLAVOR_TOTALS_SQL = {
    vendor: statement.replace("AND NOT queued_for_delete", "AND NOT queued_for_delete AND user_id = %s")
    for vendor, statement in _PROJECT_FLAVOR_TOTALS_SQL.items()
}


def count_instances(project_id: str, user_id: str | None) -> int:
    """Servers of a project (or of one user of it) from instance_mappings (API database): a down
    cell cannot hide any."""
    if user_id is None:
        return sql.fetch_value(API_ALIAS, _COUNT_INSTANCES_SQL, (project_id, INSTANCE_MIGRATION_MARKER))
    return sql.fetch_value(API_ALIAS, _COUNT_USER_INSTANCES_SQL, (project_id, INSTANCE_MIGRATION_MARKER, user_id))


def _flavor_totals(project_id: str, user_id: str | None = None) -> tuple[int, int]:
    """(vCPUs, RAM) of a project's (or one user's) live servers, from their request specs. One
    query (API database)."""
    vendor = sql.connection(API_ALIAS).vendor
    if user_id is None:
        cores, ram = sql.fetch_one(API_ALIAS, _PROJECT_FLAVOR_TOTALS_SQL[vendor], (project_id,))
    else:
        cores, ram = sql.fetch_one(API_ALIAS, _USER_FLAVOR_TOTALS_SQL[vendor], (project_id, user_id))
    return int(cores), int(ram)


def count_cores(project_id: str, user_id: str | None) -> int:
    """vCPUs of a project's (or user's) servers: what /limits and os-quota-sets report as used."""
    return _flavor_totals(project_id, user_id)[0]


def count_ram(project_id: str, user_id: str | None) -> int:
    """RAM (MB) of a project's (or user's) servers: what /limits and os-quota-sets report as used."""
    return _flavor_totals(project_id, user_id)[1]


def _allowed_count(
    *, project_id: str, request: ServerCreateRequest, instances_used: int | None = None, user_id: str | None = None
) -> int:
    """How many of min..max servers fit in the instances, cores and ram quotas (Nova's rule).

    Each resource fits the project's limit with the project's usage and, when ``user_id`` has a
    limit of its own (project_user_quotas), that limit with the user's usage (Nova's headroom
    of project and user). ``instances_used`` is the count quota_reserve has just made under its
    lock (counted again when None); cores and ram come from one read of the request specs per
    level (API database).
    """
    allowed = request.max_count
    per_server = {"instances": 1, "cores": request.flavor.vcpus, "ram": request.flavor.memory_mb}
    totals: dict[str | None, dict] = {}

    def used_by(resource: str, who: str | None) -> int:
        if resource == "instances":
            if who is None and instances_used is not None:
                return instances_used
            return count_instances(project_id, who)
        if who not in totals:
            cores, ram = _flavor_totals(project_id, who)
            totals[who] = {"cores": cores, "ram": ram}
        return totals[who][resource]

    overs = []
    for resource, size in per_server.items():
        if size == 0:
            continue
        project_limit, user_limit = quota_limits_by_level(project_id=project_id, resource=resource, user_id=user_id)
        levels = [(project_limit, None)] + ([(user_limit, user_id)] if user_limit is not None else [])
        for limit, who in levels:
            if limit < 0:
                continue
            used = used_by(resource, who)
            fits = max((limit - used) // size, 0)
            if fits < request.min_count:
                overs.append((resource, used, limit))
            allowed = min(allowed, fits)
    if overs:
        resource, used, limit = overs[0]
        requested = request.min_count * per_server[resource]
        raise OverQuota(
            f"Quota exceeded for {resource}: Requested {requested}, but already used {used} of {limit} {resource}",
            resource=resource,
            requested=requested,
            used=used,
            limit=limit,
        )
    return allowed


def _hostname(name: str) -> str:
    """Nova's sanitize_hostname: lower case, [a-z0-9-] only, at most 63 characters."""
    host = re.sub(r"[ _.]", "-", name.lower())
    host = re.sub(r"[^\w-]+", "", host, flags=re.ASCII).strip("-")[:63].strip("-")
    return host or "server"


def admin_password_generate(length: int = 12) -> str:
    """Nova's generate_password: letters and digits (a server's adminPass when none is given)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def availability_zone_parse(value: str | None) -> tuple[str | None, str | None, str | None]:
    """Nova's legacy availability zone forms: "zone", "zone:host", "zone::node", "zone:host:node".

    Returns (zone or None, forced host or None, forced node or None); raises
    InvalidAvailabilityZone for more than two colons. Touches no database.
    """
    if not value or ":" not in value:
        return value or None, None, None
    parts = value.split(":")
    if len(parts) > 3:
        raise InvalidAvailabilityZone()
    zone, host, node = (parts + [""])[:3]
    return zone or None, host or None, node or None


def _destination_check(request: ServerCreateRequest) -> str | None:
    """Nova's checks of where a server is asked to go; returns the zone to record.

    A requested host or node must exist (ComputeHostNotFound); it excludes a forced one
    (DestinationConflict). With a forced host or node every host is in the default zone, so any
    other zone asked with it is dropped (as Nova does for a host in no zone's aggregate); without
    a forced host a zone must have compute hosts (AvailabilityZoneNotAvailable). Reads the API
    database, and the cells for a requested node.
    """
    zone = request.availability_zone
    if request.requested_host or request.requested_node:
        if request.forced_host or request.forced_node:
            raise DestinationConflict()
        if not compute_host_exists(host=request.requested_host, node=request.requested_node):
            raise ComputeHostNotFound(request.requested_host or request.requested_node)
    if (request.forced_host or request.forced_node) and zone != settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE:
        zone = None
    if zone and not request.forced_host and zone not in availability_zones_available():
        raise AvailabilityZoneNotAvailable()
    return zone


def _requested_destination(request: ServerCreateRequest) -> dict | None:
    """The request spec's destination: {"host", "node", "forced"}, or None for anywhere."""
    host = request.requested_host or request.forced_host
    node = request.requested_node or request.forced_node
    if not (host or node):
        return None
    return {"host": host, "node": node, "forced": bool(request.forced_host or request.forced_node)}


def _images_checked(context, request: ServerCreateRequest, image, mappings: list[dict]) -> dict[str, str]:
    """Nova's checks of the images a server boots from, against the image service of the caller's
    catalog (images.selectors; none there: nothing is checked): every image a mapping copies must
    exist, and the boot image must be active and fit the flavor. Returns the boot image as Nova's
    ``image_*`` system metadata ({} without an image service)."""
    for bdm in mappings:
        image_id = bdm.get("image_id")
        if bdm.get("source_type") == "image" and image_id and image_id != request.image_ref:
            found = block_device_image_get(context, image_id)
            if image is None and bdm.get("boot_index") == 0:
                image = found
    if image is None:
        return {}
    flavor = request.flavor
    volume_backed = block_devices.is_volume_backed(mappings)
    image_check_for_boot(image, memory_mb=flavor.memory_mb, root_gb=flavor.root_gb, volume_backed=volume_backed)
    return image_system_metadata(image, root_gb=flavor.root_gb)


def server_create(*, context, request: ServerCreateRequest) -> ServerCreateResult:
    """Accept a server: RequestSpec + BuildRequest + InstanceMapping (no cell) per instance, in one
    API-database transaction, after the destination, block device mapping, key pair, server group
    and quota checks (servers.block_devices); the build request keeps the server's block device
    mappings. The conductor places them after commit. Raises AvailabilityZoneNotAvailable,
    ComputeHostNotFound, DestinationConflict, InvalidBlockDeviceRequest, InvalidKeyName,
    ServerGroupNotFound, OverQuota, or the image errors of images.exceptions (when the caller's
    catalog has an image service).
    """
    availability_zone = _destination_check(request)
    flavor = flavor_dict(request.flavor, request.flavor_extra_specs)
    # Nova reads the image first: an unknown one is refused before anything else is looked at.
    image = image_get(context, request.image_ref) if request.image_ref else None
    if not request.image_ref:
        block_devices.boot_device_check(mappings=request.block_device_mappings, legacy=request.legacy_bdm)
    keypairs_json = keypair_list_json([])
    key_data = None
    if request.key_name:
        try:
            keypair = keypair_get(user_id=context.user_id, name=request.key_name)
        except KeypairNotFound:
            raise InvalidKeyName() from None
        keypairs_json, key_data = keypair_list_json([keypair]), keypair.public_key
    mappings = block_devices.block_device_mappings_transform(
        mappings=request.block_device_mappings,
        legacy=request.legacy_bdm,
        image_ref=request.image_ref,
        flavor=flavor,
        min_count=request.min_count,
        max_count=request.max_count,
    )
    image_metadata = _images_checked(context, request, image, mappings)
    group = None
    if request.group_uuid:
        group = _group_for_create(context, request.group_uuid)
    reservation_id = f"r-{secrets.token_hex(4)}"
    admin_pass = request.admin_pass or admin_password_generate()
    now = timezone.now()

    # Nova's _check_metadata_properties_quota: a request bounded by the user's metadata_items.
    quota_limit_check(
        project_id=context.project_id,
        user_id=context.user_id,
        metadata_items=len(request.metadata or {}),
        messages={"metadata_items": "Maximum number of metadata items exceeds {allowed}"},
    )
    counted = {}

    def count_under_lock() -> int:
        # quota_reserve counts the instances under its lock; _allowed_count reuses that count.
        counted["instances"] = count_instances(context.project_id, None)
        return counted["instances"]

    with quota_reserve(
        project_id=context.project_id, resource="instances", delta=request.min_count, usage=count_under_lock
    ):
        count = _allowed_count(
            project_id=context.project_id,
            request=request,
            instances_used=counted.get("instances"),
            user_id=context.user_id,
        )
        # After the quota, as Nova checks them (the same mappings for every server of the request).
        mappings = block_devices.block_device_mappings_validate(
            mappings=mappings,
            image_ref=request.image_ref,
            flavor=flavor,
            max_local=settings.CELLSV2_MAX_LOCAL_BLOCK_DEVICES,
        )
        is_bfv = block_devices.is_volume_backed(mappings)
        uuids = [str(uuid_lib.uuid4()) for _ in range(count)]
        if group is not None:
            _group_add_members(context, group, uuids)
        # Inside quota_reserve's API-database transaction already: a savepoint would only add
        # two round trips, and any error here rolls the whole reservation back anyway.
        with transaction.atomic(using=API_ALIAS, savepoint=False):
            for index, instance_uuid in enumerate(uuids):
                name = request.name if count == 1 else f"{request.name}-{index + 1}"
                instance = {
                    "uuid": instance_uuid,
                    "user_id": context.user_id,
                    "project_id": context.project_id,
                    "image_ref": request.image_ref or "",
                    "hostname": request.hostname or _hostname(name),
                    "display_name": name,
                    "display_description": request.description,
                    "key_name": request.key_name,
                    "key_data": key_data,
                    "keypairs": keypairs_json,
                    "power_state": 0,
                    "vm_state": "building",
                    "task_state": "scheduling",
                    "memory_mb": request.flavor.memory_mb,
                    "vcpus": request.flavor.vcpus,
                    "root_gb": request.flavor.root_gb,
                    "ephemeral_gb": request.flavor.ephemeral_gb,
                    "instance_type_id": request.flavor.id,
                    "user_data": request.user_data,
                    "reservation_id": reservation_id,
                    "launch_index": index,
                    "availability_zone": availability_zone,
                    "locked": False,
                    "locked_by": None,
                    "config_drive": "True" if request.config_drive else "",
                    "access_ip_v4": request.access_ip_v4,
                    "access_ip_v6": access_ip_v6_normalized(request.access_ip_v6),
                    "auto_disk_config": request.auto_disk_config,
                    "progress": 0,
                    "created_at": now,
                    "metadata": request.metadata,
                    "flavor": flavor,
                    "security_groups": request.security_groups,
                    "tags": request.tags,
                    "image_system_metadata": image_metadata,
                }
                spec = {
                    "instance_uuid": instance_uuid,
                    "project_id": context.project_id,
                    "user_id": context.user_id,
                    "flavor": flavor,
                    "image": {"id": request.image_ref} if request.image_ref else None,
                    "availability_zone": availability_zone,
                    "num_instances": count,
                    "scheduler_hints": request.scheduler_hints,
                    "instance_group": group,
                    "security_groups": request.security_groups,
                    "requested_networks": request.networks,
                    "requested_destination": _requested_destination(request),
                    "is_bfv": is_bfv,
                }
                RequestSpec.objects.create(instance_uuid=instance_uuid, spec=request_spec_dump(spec))
                BuildRequest.objects.create(
                    instance_uuid=instance_uuid,
                    project_id=context.project_id,
                    instance=instance_dump(instance),
                    block_device_mappings=block_device_mappings_dump(
                        [{**bdm, "instance_uuid": instance_uuid} for bdm in mappings]
                    ),
                    tags=json.dumps(request.tags),
                    created_at=now,
                )
                InstanceMapping.objects.create(
                    instance_uuid=instance_uuid,
                    cell=None,
                    project_id=context.project_id,
                    user_id=context.user_id,
                    queued_for_delete=False,
                )
            conductor.schedule_after_commit(uuids)
    return ServerCreateResult(uuids=uuids, reservation_id=reservation_id, admin_pass=admin_pass)


def _group_for_create(context, group_uuid: str) -> dict:
    """The server group of the scheduler hint, as the request spec keeps it."""
    try:
        group = group_selectors.servergroup_get(context=context, uuid=group_uuid)
    except Exception as exc:
        if type(exc).__name__.endswith("NotFound"):
            raise ServerGroupNotFound(group_uuid) from None
        raise
    return {"uuid": group.uuid, "policy": group.policy, "rules": group.rules}


def _group_add_members(context, group: dict, uuids: list[str]) -> None:
    group_services.servergroup_add_members(context=context, group_uuid=group["uuid"], instance_uuids=uuids)
