"""The query string of ``GET /servers[/detail]``, parsed as Nova does (filters and sort keys)."""

from datetime import UTC

from django.utils.dateparse import parse_datetime

from cellsv2.api.faults import BadRequest, Forbidden
from cellsv2.api.policy import policy_allows, policy_authorize
from flavors.models import Flavor
from servers.selectors import listing

TRUE_STRINGS = {"1", "t", "true", "on", "y", "yes"}


def bool_param(value) -> bool:
    """Nova's strutils.bool_from_string for a query or body value."""
    return str(value).strip().lower() in TRUE_STRINGS


def server_list_filters(context, version, params: dict, rule: str):
    """Nova's list query string as ``(filters, sort_keys, sort_dirs, all_tenants)`` for server_list.

    ``params``: the validated query (every value a list). Checks the all_tenants policy of ``rule``
    (403); raises BadRequest / Forbidden for what Nova refuses. A flavor filter reads the flavor
    (API database).
    """
    is_admin_filters = policy_allows(context, "os_compute_api:servers:allow_all_filters")
    values = {k: v[-1] for k, v in params.items() if v}
    all_tenants = "all_tenants" in params and (
        values.get("all_tenants", "") == "" or bool_param(values["all_tenants"])
    )
    if all_tenants:
        policy_authorize(context, f"{rule}:get_all_tenants")
    filters: dict = {}
    if not all_tenants:
        # Nova (LP#1185290): without all_tenants, project_id and tenant_id are ignored, admins too.
        filters["project_id"] = context.project_id
    elif is_admin_filters and (values.get("project_id") or values.get("tenant_id")):
        filters["project_id"] = values.get("project_id") or values.get("tenant_id")
    allowed = {"reservation_id", "name", "status", "image", "flavor", "changes-since", "all_tenants"}
    if version >= "2.66":
        allowed.add("changes-before")
    if version >= "2.73":
        allowed.add("locked")
    if version >= "2.83":
        allowed |= {
            "availability_zone",
            "key_name",
            "power_state",
            "task_state",
            "vm_state",
            "user_id",
            "config_drive",
            "progress",
        }
    if version >= "2.90":
        allowed.add("hostname")
    for key, value in values.items():
        if key in ("limit", "marker", "sort_key", "sort_dir", "all_tenants", "project_id", "tenant_id"):
            continue
        if key in (
            "metadata",
            "system_metadata",
            "services",
            "pci_devices",
            "info_cache",
            "security_groups",
            "block_device_mapping",
        ) or key.startswith("_"):
            raise BadRequest(f"Invalid filter field: {key}.")
        if key not in allowed and not is_admin_filters:
            continue
        _add_filter(filters, key, value, version)
    sort_keys = params.get("sort_key", [])
    sort_dirs = params.get("sort_dir", [])
    for direction in sort_dirs:
        if direction not in ("asc", "desc"):
            raise BadRequest(
                f"Invalid input for query parameters sort_dir. Value: {direction}. "
                f"'{direction}' is not one of ['asc', 'desc']"
            )
    # Nova's remove_invalid_sort_keys: an ignored key goes with the direction at its position.
    kept, kept_dirs = [], []
    for index, key in enumerate(sort_keys):
        if key in listing.SORT_KEYS or (key == "locked" and version >= "2.73"):
            if key in ("host", "node") and not context.is_admin:
                raise Forbidden(f"Only administrators can sort servers by {key}")
            kept.append(key)
            if index < len(sort_dirs):
                kept_dirs.append(sort_dirs[index])
        elif key in listing.IGNORED_SORT_KEYS and version < "2.75":
            continue
        else:
            raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
    return filters, kept, kept_dirs, all_tenants


def _add_filter(filters, key, value, version):
    if key == "status":
        states = listing.STATUS_TO_VM_STATES.get(value.upper())
        if states is None:
            if version >= "2.38":
                raise BadRequest("Invalid status value")
            states = []
        filters["vm_state"] = states
    elif key == "name":
        filters["name"] = value
    elif key == "image":
        filters["image_ref"] = value.rstrip("/").split("/")[-1]
    elif key == "flavor":
        flavor = Flavor.objects.filter(flavorid=value.rstrip("/").split("/")[-1]).first()
        filters["instance_type_id"] = flavor.id if flavor else -1
    elif key in ("changes-since", "changes-before"):
        try:
            moment = parse_datetime(value)
        except ValueError:  # well-formed but impossible: month 13, hour 99, ...
            moment = None
        if moment is None:
            raise BadRequest(
                f"Invalid input for query parameters {key}. Value: {value}. '{value}' is not a 'date-time'"
            )
        # A moment without a zone is UTC, as Nova reads it (timeutils.normalize_time).
        filters[key] = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    elif key == "locked":
        filters["locked"] = bool_param(value)
    elif key == "deleted":
        filters["deleted"] = bool_param(value)
    elif key == "uuid":
        filters["uuid"] = [value]
    elif key == "power_state":
        try:
            filters["power_state"] = int(value)
        except ValueError:
            raise BadRequest(f"Invalid input for query parameters power_state. Value: {value}.") from None
    elif key in ("vm_state",):
        filters["vm_state"] = [value]
    elif key in (
        "user_id",
        "key_name",
        "availability_zone",
        "reservation_id",
        "host",
        "node",
        "task_state",
        "hostname",
    ):
        filters[key] = value
