"""Response bodies of the servers API, per microversion (Nova's view builder)."""

import hashlib

from cellsv2.api.pagination import link_prefix, resource_links
from cellsv2.api.policy import policy_allows

# nova.api.openstack.common._STATE_MAP, the default status of each vm_state.
STATUS = {
    "active": "ACTIVE",
    "building": "BUILD",
    "stopped": "SHUTOFF",
    "resized": "VERIFY_RESIZE",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "rescued": "RESCUE",
    "error": "ERROR",
    "deleted": "DELETED",
    "soft-delete": "SOFT_DELETED",
    "shelved": "SHELVED",
    "shelved_offloaded": "SHELVED_OFFLOADED",
}
# What the body of PUT /servers/{id} lacks before 2.75, besides the OS-EXT-SRV-ATTR:* attributes.
UPDATE_HIDDEN_BEFORE_2_75 = frozenset(
    {
        "key_name",
        "config_drive",
        "security_groups",
        "host_status",
        "OS-EXT-AZ:availability_zone",
        "OS-EXT-STS:task_state",
        "OS-EXT-STS:vm_state",
        "OS-EXT-STS:power_state",
        "OS-SRV-USG:launched_at",
        "OS-SRV-USG:terminated_at",
        "os-extended-volumes:volumes_attached",
    }
)
PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}


def isotime(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def naive_micro(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


class ServerSerializer:
    """Renders a ServerView per microversion (nova/api/openstack/compute/views/servers.py).

    Never queries: what a body shows beyond the server's own rows (its server groups, its request
    spec) is read beforehand by ``servers.selectors.show.server_extras_read``, with the arguments
    ``extras()`` gives for the body about to be rendered. Policy decides some attributes (extended
    attributes, flavor extra specs, host status): those are rule checks, not reads.
    """

    def __init__(self, request, context):
        self.request = request
        self.version = request.api_version
        self.context = context
        self.prefix = link_prefix(request)

    def extras(self, *, show: bool) -> dict:
        """The ``server_extras_read`` arguments that ``full(server, show=show)`` needs read."""
        return {"groups": show and self.version >= "2.71", "spec": self.version >= "2.96"}

    def links(self, uuid: str) -> list[dict]:
        return resource_links(self.request, "servers", uuid)

    def basic(self, server) -> dict:
        return {"id": server.uuid, "name": server.get("display_name"), "links": self.links(server.uuid)}

    def _image(self, server):
        image_ref = server.get("image_ref")
        if not image_ref:
            return ""
        image = {"id": image_ref, "links": [{"rel": "bookmark", "href": f"{self.prefix}/images/{image_ref}"}]}
        if self.version >= "2.98":
            image["properties"] = {}
        return image

    def _flavor(self, server):
        flavor = server.flavor or {}
        if self.version < "2.47":
            flavorid = flavor.get("flavorid", "")
            return {"id": flavorid, "links": [{"rel": "bookmark", "href": f"{self.prefix}/flavors/{flavorid}"}]}
        body = {
            "vcpus": flavor.get("vcpus"),
            "ram": flavor.get("memory_mb"),
            "disk": flavor.get("root_gb"),
            "ephemeral": flavor.get("ephemeral_gb"),
            "swap": flavor.get("swap") or 0,
            "original_name": flavor.get("name"),
        }
        if policy_allows(self.context, "os_compute_api:servers:show:flavor-extra-specs", self.target(server)):
            body["extra_specs"] = flavor.get("extra_specs") or {}
        return body

    @staticmethod
    def target(server) -> dict:
        """The policy target of a server (its project and user)."""
        return {"project_id": server.get("project_id"), "user_id": server.get("user_id")}

    def status(self, server) -> str:
        return STATUS.get(server.get("vm_state") or "", "UNKNOWN")

    def full(self, server, *, show: bool) -> dict:
        instance = server.instance
        status = self.status(server)
        host = instance.get("host")
        project_id = instance.get("project_id") or ""
        body = {
            "id": server.uuid,
            "name": instance.get("display_name"),
            "status": status,
            "tenant_id": project_id,
            "user_id": instance.get("user_id"),
            "metadata": server.metadata,
            "hostId": hashlib.sha224((project_id + host).encode()).hexdigest() if host else "",
            "image": self._image(server),
            "flavor": self._flavor(server),
            "created": isotime(instance.get("created_at")),
            "updated": isotime(instance.get("updated_at") or instance.get("created_at")),
            "addresses": {},
            "accessIPv4": instance.get("access_ip_v4") or "",
            "accessIPv6": instance.get("access_ip_v6") or "",
            "links": self.links(server.uuid),
            "key_name": instance.get("key_name"),
            "config_drive": instance.get("config_drive") or "",
            "OS-DCF:diskConfig": "AUTO" if instance.get("auto_disk_config") else "MANUAL",
            "OS-EXT-AZ:availability_zone": instance.get("availability_zone") or "",
            "OS-EXT-STS:task_state": instance.get("task_state"),
            "OS-EXT-STS:vm_state": instance.get("vm_state"),
            "OS-EXT-STS:power_state": instance.get("power_state") or 0,
            "OS-SRV-USG:launched_at": naive_micro(instance.get("launched_at")),
            "OS-SRV-USG:terminated_at": naive_micro(instance.get("terminated_at")),
            "os-extended-volumes:volumes_attached": self._volumes_attached(server),
            "security_groups": [{"name": name} for name in instance.get("security_groups") or []],
        }
        if status in PROGRESS_STATUSES:
            body["progress"] = instance.get("progress") or 0
        if server.fault and (status == "ERROR"):
            fault = {
                "code": server.fault["code"],
                "created": isotime(server.fault["created"]),
                "message": server.fault["message"],
            }
            if self.context.is_admin or server.fault["code"] != 500:
                fault["details"] = server.fault.get("details") or ""
            body["fault"] = fault
        is_admin_view = policy_allows(
            self.context, "os_compute_api:os-extended-server-attributes", self.target(server)
        )
        if is_admin_view:
            body["OS-EXT-SRV-ATTR:host"] = host
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = instance.get("node")
            body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{instance['id']:08x}" if instance.get("id") else ""
            if self.version >= "2.3":
                body.update(
                    {
                        "OS-EXT-SRV-ATTR:hostname": instance.get("hostname"),
                        "OS-EXT-SRV-ATTR:kernel_id": instance.get("kernel_id") or "",
                        "OS-EXT-SRV-ATTR:launch_index": instance.get("launch_index"),
                        "OS-EXT-SRV-ATTR:ramdisk_id": instance.get("ramdisk_id") or "",
                        "OS-EXT-SRV-ATTR:reservation_id": instance.get("reservation_id"),
                        "OS-EXT-SRV-ATTR:root_device_name": instance.get("root_device_name"),
                        "OS-EXT-SRV-ATTR:user_data": instance.get("user_data"),
                    }
                )
        elif self.version >= "2.90":
            body["OS-EXT-SRV-ATTR:hostname"] = instance.get("hostname")
        if self.version >= "2.9":
            body["locked"] = bool(instance.get("locked"))
        if self.version >= "2.16" and policy_allows(self.context, "os_compute_api:servers:show:host_status"):
            body["host_status"] = "UP" if host else ""
        if self.version >= "2.19":
            body["description"] = instance.get("display_description")
        if self.version >= "2.26":
            body["tags"] = list(server.tags)
        if self.version >= "2.63":
            body["trusted_image_certificates"] = None
        if self.version >= "2.71" and show:
            body["server_groups"] = list(server.server_groups or ())
        if self.version >= "2.73":
            body["locked_reason"] = server.system_metadata.get("locked_reason")
        if self.version >= "2.96":
            body["pinned_availability_zone"] = (server.spec or {}).get("availability_zone")
        if self.version >= "2.100":
            hints = (server.spec or {}).get("scheduler_hints") or {}
            body["scheduler_hints"] = {k: v if isinstance(v, list) else [v] for k, v in hints.items()}
        return body

    def _volumes_attached(self, server) -> list[dict]:
        """The server's volumes (its block device mappings that have a volume id, read from its
        cell; none while it is a build request, as Nova reads them only from cells), with
        delete_on_termination from 2.3."""
        if self.version >= "2.3":
            return [dict(volume) for volume in server.volumes]
        return [{"id": volume["id"]} for volume in server.volumes]

    def partial(self, server, *, kind: str) -> dict:
        """2.69 records of a server in a down cell: index, detail or show."""
        body = {"id": server.uuid, "status": "UNKNOWN", "links": self.links(server.uuid)}
        if kind in ("detail", "show"):
            body["tenant_id"] = server.get("project_id")
            body["created"] = isotime(server.get("created_at"))
        if kind == "show":
            spec = server.spec or {}
            body.update(
                {
                    "image": self._image(server),
                    "flavor": self._flavor(server),
                    "OS-EXT-AZ:availability_zone": server.get("availability_zone") or "UNKNOWN",
                    "OS-EXT-STS:power_state": 0,
                    "user_id": server.get("user_id") or "UNKNOWN",
                }
            )
            if self.version >= "2.71":
                group = (spec.get("instance_group") or {}).get("uuid")
                body["server_groups"] = [group] if group else []
        return body
