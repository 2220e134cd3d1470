"""Bodies of os-services, os-hypervisors and os-availability-zone per microversion (never a query:
the selectors return everything a body needs)."""

import json

from hosts.selectors import CellService, Hypervisor, service_is_up, service_last_report, service_zone

UUID_IDS_VERSION = "2.53"
FORCED_DOWN_VERSION = "2.11"
DOWN_CELLS_VERSION = "2.69"
CPU_INFO_DICT_VERSION = "2.28"
NO_STATISTICS_VERSION = "2.88"
ALWAYS_SERVERS_VERSION = "2.75"

HYPERVISOR_STATISTICS = (
    "vcpus",
    "memory_mb",
    "local_gb",
    "vcpus_used",
    "memory_mb_used",
    "local_gb_used",
    "free_ram_mb",
    "free_disk_gb",
    "current_workload",
    "running_vms",
    "disk_available_least",
)


def nova_time(value) -> str | None:
    """Nova's jsonutils rendering of a datetime: naive, microseconds, no zone."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def service(item: CellService, version) -> dict:
    """A service of GET /os-services (and of the 2.53 PUT): Nova's _get_service_detail."""
    svc = item.service
    if item.down:
        return {"binary": svc.binary, "host": svc.host, "status": "UNKNOWN"}
    body = {
        "binary": svc.binary,
        "host": svc.host,
        "id": svc.uuid if version >= UUID_IDS_VERSION else svc.id,
        "zone": service_zone(svc),
        "status": "disabled" if svc.disabled else "enabled",
        "state": "up" if service_is_up(svc) else "down",
        "updated_at": nova_time(service_last_report(svc)),
        "disabled_reason": svc.disabled_reason,
    }
    if version >= FORCED_DOWN_VERSION:
        body["forced_down"] = bool(svc.forced_down)
    return body


def _free(node, total: str, used: str) -> int:
    return (getattr(node, total) or 0) - (getattr(node, used) or 0)


def hypervisor(item: Hypervisor, version, *, detail: bool, with_servers: bool = False) -> dict:
    """A hypervisor of os-hypervisors: Nova's _view_hypervisor."""
    node, svc = item.node, item.service
    uuid_ids = version >= UUID_IDS_VERSION
    body = {
        "id": node.uuid if uuid_ids else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if service_is_up(svc) else "down",
        "status": "disabled" if svc.disabled else "enabled",
    }
    if detail:
        body["hypervisor_type"] = node.hypervisor_type
        body["hypervisor_version"] = node.hypervisor_version
        body["host_ip"] = node.host_ip
        body["service"] = {
            "id": svc.uuid if uuid_ids else svc.id,
            "host": node.host,
            "disabled_reason": svc.disabled_reason,
        }
        if version < NO_STATISTICS_VERSION:
            body.update(
                vcpus=node.vcpus,
                memory_mb=node.memory_mb,
                local_gb=node.local_gb,
                vcpus_used=node.vcpus_used,
                memory_mb_used=node.memory_mb_used,
                local_gb_used=node.local_gb_used,
                free_ram_mb=_free(node, "memory_mb", "memory_mb_used"),
                free_disk_gb=_free(node, "local_gb", "local_gb_used"),
                current_workload=0,
                running_vms=node.running_vms or 0,
                # No disk_available_least column here: the free disk is what the scheduler uses.
                disk_available_least=_free(node, "local_gb", "local_gb_used"),
            )
            body["cpu_info"] = cpu_info(node.cpu_info, version)
        else:
            # Nothing here reports a host's uptime (Nova answers null when the driver cannot).
            body["uptime"] = None
    if item.servers:
        body["servers"] = item.servers
    elif with_servers and version >= ALWAYS_SERVERS_VERSION:
        body["servers"] = []
    return body


def cpu_info(raw: str | None, version):
    """The node's cpu_info: its JSON text before 2.28, the decoded object from 2.28."""
    if version < CPU_INFO_DICT_VERSION:
        return raw
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def availability_zone(zone: dict) -> dict:
    hosts = zone["hosts"]
    if hosts is not None:
        hosts = {
            host: {
                binary: {**state, "updated_at": nova_time(state["updated_at"])} for binary, state in binaries.items()
            }
            for host, binaries in hosts.items()
        }
    return {"zoneName": zone["name"], "zoneState": {"available": zone["available"]}, "hosts": hosts}
