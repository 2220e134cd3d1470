"""``/v2.1/servers``: create, show, list, update and delete across cells (Nova's wire format)."""

import hashlib
import logging

from django.conf import settings
from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from cellsv2.api.pagination import limit_and_marker, link_prefix, next_links, resource_links
from cellsv2.api.policy import policy_allows, policy_authorize
from flavors.models import Flavor
from flavors.selectors import flavor_with_extra_specs_read
from servers import block_devices
from servers import server_selectors as selectors
from servers import server_services as services
from servers.api import server_schemas as schemas
from servers.exceptions import InvalidBlockDeviceRequest

logger = logging.getLogger(__name__)

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
TRUE_STRINGS = {"1", "t", "true", "on", "y", "yes"}


def isotime(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def naive_micro(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def _bool(value) -> bool:
    return str(value).strip().lower() in TRUE_STRINGS


class ServerViewBuilder:
    """Renders a ServerView per microversion (nova/api/openstack/compute/views/servers.py)."""

    def __init__(self, view):
        self.view = view
        self.request = view.request
        self.version = view.request.api_version
        self.context = view.context
        self.prefix = link_prefix(self.request)

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
        if policy_allows(self.context, "os_compute_api:servers:show:flavor-extra-specs", self._target(server)):
            body["extra_specs"] = flavor.get("extra_specs") or {}
        return body

    @staticmethod
    def _target(server) -> dict:
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
            self.context, "os_compute_api:os-extended-server-attributes", self._target(server)
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
            body["server_groups"] = self._server_groups(server)
        if self.version >= "2.73":
            body["locked_reason"] = server.system_metadata.get("locked_reason")
        if self.version >= "2.96":
            body["pinned_availability_zone"] = (self._spec(server) or {}).get("availability_zone")
        if self.version >= "2.100":
            hints = (self._spec(server) or {}).get("scheduler_hints") or {}
            body["scheduler_hints"] = {k: v if isinstance(v, list) else [v] for k, v in hints.items()}
        return body

    def _volumes_attached(self, server) -> list[dict]:
        """The server's volumes (its block device mappings that have a volume id, read from its
        cell; none while it is a build request, as Nova reads them only from cells), with
        delete_on_termination from 2.3."""
        if self.version >= "2.3":
            return [dict(volume) for volume in server.volumes]
        return [{"id": volume["id"]} for volume in server.volumes]

    def _server_groups(self, server) -> list[str]:
        if self.version >= "2.96" and server.spec is None:
            # The spec is needed too (2.96+): read it and the API membership in one query.
            from servers.serialization import request_spec_load

            row = selectors.request_spec_and_group_read(instance_uuid=server.uuid)
            if row is not None:
                server.spec = request_spec_load(row[0])
                if row[1] is not None:
                    return [row[1]]
                from servergroups.selectors import legacy_groups_present

                if not legacy_groups_present():
                    return []
        return server_groups_of(server.uuid)

    def _spec(self, server):
        if server.spec is None:
            from servers.serialization import request_spec_load

            text = selectors.request_spec_read(instance_uuid=server.uuid)
            server.spec = request_spec_load(text) if text is not None else {}
        return server.spec

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


def server_groups_of(instance_uuid: str) -> list[str]:
    try:
        from servergroups.selectors import servergroup_uuids_of_instance
    except ImportError:  # pragma: no cover
        return []
    return servergroup_uuids_of_instance(instance_uuid=instance_uuid)


class ServerViewMixin:
    openapi_tag = "servers"

    def builder(self) -> ServerViewBuilder:
        return ServerViewBuilder(self)

    def load(self, uuid: str):
        """The server, or the right fault: 404, 2.69 partial record, or 503 for a down cell below 2.69."""
        try:
            return selectors.server_get(context=self.context, uuid=uuid)
        except selectors.ServerNotFound as exc:
            raise NotFound(str(exc)) from None
        except selectors.CellDown as exc:
            if self.request.api_version >= "2.69":
                try:
                    return selectors.server_partial(mapping=exc.mapping)
                except selectors.ServerNotFound as missing:
                    raise NotFound(str(missing)) from None
            # Nova answers 500 here; a client-visible outage is a 503 naming the cause.
            raise ServiceUnavailable(f"The cell holding server {uuid} is unreachable; try again later.") from None


class ServerCollectionView(ServerViewMixin, ComputeAPIView):
    detail = False
    openapi = {
        "get": {"summary": "List servers (id, name, links)"},
        "post": {
            "summary": "Create a server (202; placed into a cell by the conductor)",
            "request": schemas.create_schema(schemas.APIVersion("2.90")),
            "responses": {202: {"type": "object"}},
        },
    }

    def get(self, request):
        rule = "os_compute_api:servers:detail" if self.detail else "os_compute_api:servers:index"
        policy_authorize(self.context, rule)
        params = self.validated_query(schemas.list_query_schema(request.api_version))
        filters, sort_keys, sort_dirs, all_tenants = self._filters(request, params, rule)
        limit, marker = limit_and_marker(request)
        try:
            result = selectors.server_list(
                context=self.context,
                filters=filters,
                sort_keys=sort_keys,
                sort_dirs=sort_dirs,
                limit=limit,
                marker=marker,
                detail=self.detail,
            )
        except selectors.MarkerNotFound as exc:
            raise BadRequest(str(exc)) from None
        builder = self.builder()
        kind = "detail" if self.detail else "index"
        items = [builder.full(s, show=False) if self.detail else builder.basic(s) for s in result.servers]
        partial_allowed = set(params) <= {"all_tenants"}
        if result.down_cells and request.api_version >= "2.69" and partial_allowed:
            records = selectors.down_cell_records(
                cell_uuids=result.down_cells, project_id=None if all_tenants else self.context.project_id
            )
            items = [builder.partial(r, kind=kind) for r in records] + items
        body = {"servers": items}
        collection = "servers/detail" if self.detail else "servers"
        links = next_links(request, collection, result.servers, limit, lambda s: s.uuid)
        if links:
            body["servers_links"] = links
        return Response(body)

    def _filters(self, request, params, rule):
        version = request.api_version
        is_admin_filters = policy_allows(self.context, "os_compute_api:servers:allow_all_filters")
        values = {k: v[-1] for k, v in params.items() if v}
        all_tenants = "all_tenants" in params and (values.get("all_tenants", "") == "" or _bool(values["all_tenants"]))
        if all_tenants:
            policy_authorize(self.context, f"{rule}:get_all_tenants")
        filters: dict = {}
        if not all_tenants:
            # Nova (LP#1185290): without all_tenants, project_id and tenant_id are ignored, admins too.
            filters["project_id"] = self.context.project_id
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
            self._add_filter(filters, key, value, version)
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
            if key in selectors.SORT_KEYS or (key == "locked" and version >= "2.73"):
                if key in ("host", "node") and not self.context.is_admin:
                    raise Forbidden(f"Only administrators can sort servers by {key}")
                kept.append(key)
                if index < len(sort_dirs):
                    kept_dirs.append(sort_dirs[index])
            elif key in selectors.IGNORED_SORT_KEYS and version < "2.75":
                continue
            else:
                raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
        return filters, kept, kept_dirs, all_tenants

    @staticmethod
    def _add_filter(filters, key, value, version):
        from django.utils.dateparse import parse_datetime

        if key == "status":
            states = selectors.STATUS_TO_VM_STATES.get(value.upper())
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
            moment = parse_datetime(value)
            if moment is None:
                raise BadRequest(
                    f"Invalid input for query parameters {key}. Value: {value}. '{value}' is not a 'date-time'"
                )
            filters[key] = moment
        elif key == "locked":
            filters["locked"] = _bool(value)
        elif key == "deleted":
            filters["deleted"] = _bool(value)
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

    def post(self, request):
        policy_authorize(self.context, "os_compute_api:servers:create")
        body = self.validated_body(schemas.create_schema(request.api_version))
        request_data = self._create_request(request, body)
        try:
            result = services.server_create(context=self.context, request=request_data)
        except (
            services.AvailabilityZoneNotAvailable,
            services.ComputeHostNotFound,
            services.DestinationConflict,
            services.InvalidKeyName,
            services.ServerGroupNotFound,
            InvalidBlockDeviceRequest,
        ) as exc:
            raise BadRequest(str(exc)) from None
        server = body["server"]
        if _bool(server.get("return_reservation_id", False)):
            return Response({"reservation_id": result.reservation_id}, status=202)
        uuid = result.uuids[0]
        links = resource_links(request, "servers", uuid)
        response = {
            "id": uuid,
            "links": links,
            "OS-DCF:diskConfig": server.get("OS-DCF:diskConfig", "MANUAL"),
            "security_groups": [{"name": name} for name in request_data.security_groups],
        }
        if settings.CELLSV2_ENABLE_INSTANCE_PASSWORD:
            response["adminPass"] = result.admin_pass
        return Response({"server": response}, status=202, headers={"Location": links[0]["href"]})

    def _create_request(self, request, body) -> services.ServerCreateRequest:
        # Nova's order of checks (servers.py create): counts, zone, destination policies, block
        # device mappings, imageRef, then the flavor.
        version = request.api_version
        server = body["server"]
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        min_count = int(server.get("min_count", 1))
        max_count = int(server.get("max_count", min_count))
        if min_count > max_count:
            raise BadRequest("min_count must be <= max_count")
        try:
            zone, forced_host, forced_node = services.availability_zone_parse(server.get("availability_zone"))
        except services.InvalidAvailabilityZone as exc:
            raise BadRequest(str(exc)) from None
        if forced_host or forced_node:
            policy_authorize(self.context, "os_compute_api:servers:create:forced_host")
        if server.get("host") or server.get("hypervisor_hostname"):
            policy_authorize(self.context, "compute:servers:create:requested_destination")
        image_ref = server.get("imageRef") or None
        try:
            block_device_mappings, legacy_bdm = block_devices.block_device_mappings_from_request(
                v2=server.get("block_device_mapping_v2"),
                legacy=server.get("block_device_mapping"),
                image_ref=server.get("imageRef"),
            )
        except InvalidBlockDeviceRequest as exc:
            raise BadRequest(str(exc)) from None
        if block_device_mappings:
            policy_authorize(self.context, "os_compute_api:servers:create:attach_volume")
        elif image_ref is None:
            # imageRef may be left out (or empty) only when the mappings say what to boot from.
            raise BadRequest("Missing imageRef attribute")
        flavor_ref = str(server["flavorRef"]).rstrip("/").split("/")[-1]
        flavor, extra_specs = flavor_with_extra_specs_read(flavorid=flavor_ref) or (None, None)
        if flavor is None or (flavor.disabled and not self.context.is_admin):
            raise BadRequest(f"Flavor {flavor_ref} could not be found.")
        group = hints.get("group")
        if isinstance(group, list):
            group = group[0] if group else None
        groups = server.get("security_groups") or [{"name": "default"}]
        return services.ServerCreateRequest(
            name=server["name"].strip(),
            flavor=flavor,
            flavor_extra_specs=extra_specs,
            image_ref=image_ref,
            key_name=server.get("key_name"),
            metadata=server.get("metadata") or {},
            min_count=min_count,
            max_count=max_count,
            availability_zone=zone,
            user_data=server.get("user_data"),
            description=server.get("description") if version >= "2.19" else None,
            security_groups=[g.get("name", "default") for g in groups],
            tags=list(server.get("tags") or []),
            config_drive=_bool(server.get("config_drive", False)),
            access_ip_v4=server.get("accessIPv4"),
            access_ip_v6=server.get("accessIPv6"),
            auto_disk_config=server.get("OS-DCF:diskConfig") == "AUTO",
            admin_pass=server.get("adminPass"),
            group_uuid=group,
            scheduler_hints=hints,
            hostname=server.get("hostname"),
            networks=server.get("networks"),
            requested_host=server.get("host"),
            requested_node=server.get("hypervisor_hostname"),
            forced_host=forced_host,
            forced_node=forced_node,
            block_device_mappings=block_device_mappings,
            legacy_bdm=legacy_bdm,
        )


class ServerDetailCollectionView(ServerCollectionView):
    detail = True
    http_method_names = ["get", "options"]
    openapi = {"get": {"summary": "List servers with details"}}


class ServerItemView(ServerViewMixin, ComputeAPIView):
    openapi = {
        "get": {"summary": "Show a server"},
        "put": {"summary": "Update a server's name, description, hostname or access IPs"},
        "delete": {"summary": "Delete a server", "responses": {204: None}},
    }

    def get(self, request, server_id):
        self.validated_query(schemas.show_query_schema(request.api_version))
        server = self.load(server_id)
        builder = self.builder()
        if server.source == "down":
            return Response({"server": builder.partial(server, kind="show")})
        policy_authorize(self.context, "os_compute_api:servers:show", builder._target(server))
        return Response({"server": builder.full(server, show=True)})

    def put(self, request, server_id):
        body = self.validated_body(schemas.update_schema(request.api_version))
        server = self.load(server_id)
        if server.source == "down":
            # Nova answers 500 (whatever the microversion); as for show and delete, a 503 names the cause.
            raise ServiceUnavailable(f"The cell holding server {server_id} is unreachable; try again later.")
        policy_authorize(self.context, "os_compute_api:servers:update", ServerViewBuilder._target(server))
        changes = dict(body["server"])
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        if "OS-DCF:diskConfig" in changes:
            changes["auto_disk_config"] = changes.pop("OS-DCF:diskConfig") == "AUTO"
        try:
            services.server_update(context=self.context, uuid=server_id, changes=changes, server=server)
            server = selectors.server_get(context=self.context, uuid=server_id)
        except selectors.ServerNotFound as exc:
            raise NotFound(str(exc)) from None
        body = self.builder().full(server, show=True)
        if request.api_version < "2.75":
            # Nova's update shows all the attributes of a show only from 2.75 (show_all_attributes).
            body = {
                k: v
                for k, v in body.items()
                if k not in UPDATE_HIDDEN_BEFORE_2_75 and not k.startswith("OS-EXT-SRV-ATTR:")
            }
        return Response({"server": body})

    def delete(self, request, server_id):
        server = self.load(server_id)
        if server.source == "down":
            raise ServiceUnavailable(f"The cell holding server {server_id} is unreachable; try again later.")
        policy_authorize(self.context, "os_compute_api:servers:delete", ServerViewBuilder._target(server))
        try:
            services.server_delete(context=self.context, uuid=server_id, server=server)
        except selectors.ServerNotFound as exc:
            raise NotFound(str(exc)) from None
        except services.ServerLocked as exc:
            raise Conflict(str(exc)) from None
        return Response(status=204)
