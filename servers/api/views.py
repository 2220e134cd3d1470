"""``/v2.1/servers``: create, show, list, update and delete across cells (Nova's wire format).

Views validate, authorize, call a selector or service and render with ``ServerSerializer``;
domain exceptions answer through the app's fault table (``FAULTS``, registered in apps.py).
"""

import logging

from django.conf import settings
from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, ServiceUnavailable
from cellsv2.api.pagination import limit_and_marker, next_links, resource_links
from cellsv2.api.policy import policy_authorize
from flavors.selectors import flavor_with_extra_specs_read
from servers import block_devices
from servers.api import schemas
from servers.api.filters import bool_param, server_list_filters
from servers.api.serializers import UPDATE_HIDDEN_BEFORE_2_75, ServerSerializer
from servers.exceptions import (
    AvailabilityZoneNotAvailable,
    CellDown,
    ComputeHostNotFound,
    ConsoleOutputUnavailable,
    DestinationConflict,
    InstanceInvalidState,
    InstanceNotReady,
    InstanceTagNotFound,
    InvalidAvailabilityZone,
    InvalidBlockDeviceRequest,
    InvalidKeyName,
    InvalidTag,
    MarkerNotFound,
    MetadataItemNotFound,
    MetadataLimitExceeded,
    RequestURIMismatch,
    ServerGroupNotFound,
    ServerLocked,
    ServerNotFound,
    ServerTagNotFound,
    TooManyTags,
)
from servers.selectors import down_cells, listing, show
from servers.services import create, lifecycle

logger = logging.getLogger(__name__)

# The servers app's domain exceptions as Nova's faults (the message is the exception's text).
FAULTS = {
    ServerNotFound: 404,
    MarkerNotFound: 400,
    AvailabilityZoneNotAvailable: 400,
    ComputeHostNotFound: 400,
    DestinationConflict: 400,
    InvalidAvailabilityZone: 400,
    InvalidKeyName: 400,
    ServerGroupNotFound: 400,
    InvalidBlockDeviceRequest: 400,
    ServerLocked: 409,
    # Actions and metadata (servers.api.action_views, servers.api.server_metadata_views).
    InstanceInvalidState: 409,
    InstanceNotReady: 409,
    MetadataItemNotFound: 404,
    ServerTagNotFound: 404,
    InstanceTagNotFound: 404,
    InvalidTag: 400,
    TooManyTags: 400,
    MetadataLimitExceeded: 403,
    RequestURIMismatch: 400,
    ConsoleOutputUnavailable: 501,
}


def cell_down_fault(server_id: str) -> ServiceUnavailable:
    """A server's cell that does not answer: Nova answers 500; a 503 naming the cause here."""
    return ServiceUnavailable(f"The cell holding server {server_id} is unreachable; try again later.")


class ServerViewMixin:
    openapi_tag = "servers"

    def serializer(self) -> ServerSerializer:
        return ServerSerializer(self.request, self.context)

    def load(self, uuid: str, **extras):
        """The server, or the right answer: 404 (ServerNotFound), the 2.69 partial record, or 503
        for a down cell below 2.69 (CellDown is not in FAULTS: its answer depends on the version).
        ``extras``: ``server_get``'s ``groups`` and ``spec``."""
        try:
            return show.server_get(context=self.context, uuid=uuid, **extras)
        except CellDown as exc:
            if self.request.api_version >= "2.69":
                return show.server_partial(mapping=exc.mapping)
            raise cell_down_fault(uuid) from None


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
        filters, sort_keys, sort_dirs, all_tenants = server_list_filters(
            self.context, request.api_version, params, rule
        )
        limit, marker = limit_and_marker(request)
        result = listing.server_list(
            context=self.context,
            filters=filters,
            sort_keys=sort_keys,
            sort_dirs=sort_dirs,
            limit=limit,
            marker=marker,
            detail=self.detail,
        )
        serializer = self.serializer()
        kind = "detail" if self.detail else "index"
        if self.detail:
            show.servers_extras_read(result.servers, **serializer.extras(show=False))
            items = [serializer.full(s, show=False) for s in result.servers]
        else:
            items = [serializer.basic(s) for s in result.servers]
        partial_allowed = set(params) <= {"all_tenants"}
        if result.down_cells and request.api_version >= "2.69" and partial_allowed:
            records = down_cells.down_cell_records(
                cell_uuids=result.down_cells, project_id=None if all_tenants else self.context.project_id
            )
            items = [serializer.partial(r, kind=kind) for r in records] + items
        body = {"servers": items}
        collection = "servers/detail" if self.detail else "servers"
        links = next_links(request, collection, result.servers, limit, lambda s: s.uuid)
        if links:
            body["servers_links"] = links
        return Response(body)

    def post(self, request):
        policy_authorize(self.context, "os_compute_api:servers:create")
        body = self.validated_body(schemas.create_schema(request.api_version))
        request_data = self._create_request(request, body)
        result = create.server_create(context=self.context, request=request_data)
        server = body["server"]
        if bool_param(server.get("return_reservation_id", False)):
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

    def _create_request(self, request, body) -> create.ServerCreateRequest:
        # Nova's order of checks (servers.py create): counts, zone, destination policies, block
        # device mappings, imageRef, then the flavor.
        version = request.api_version
        server = body["server"]
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        min_count = int(server.get("min_count", 1))
        max_count = int(server.get("max_count", min_count))
        if min_count > max_count:
            raise BadRequest("min_count must be <= max_count")
        zone, forced_host, forced_node = create.availability_zone_parse(server.get("availability_zone"))
        if forced_host or forced_node:
            policy_authorize(self.context, "os_compute_api:servers:create:forced_host")
        if server.get("host") or server.get("hypervisor_hostname"):
            policy_authorize(self.context, "compute:servers:create:requested_destination")
        image_ref = server.get("imageRef") or None
        block_device_mappings, legacy_bdm = block_devices.block_device_mappings_from_request(
            v2=server.get("block_device_mapping_v2"),
            legacy=server.get("block_device_mapping"),
            image_ref=server.get("imageRef"),
        )
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
        return create.ServerCreateRequest(
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
            config_drive=bool_param(server.get("config_drive", False)),
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
        serializer = self.serializer()
        server = self.load(server_id, **serializer.extras(show=True))
        if server.source == "down":
            return Response({"server": serializer.partial(server, kind="show")})
        policy_authorize(self.context, "os_compute_api:servers:show", serializer.target(server))
        show.server_extras_read(server, **serializer.extras(show=True))
        return Response({"server": serializer.full(server, show=True)})

    def put(self, request, server_id):
        body = self.validated_body(schemas.update_schema(request.api_version))
        server = self.load(server_id)
        if server.source == "down":
            # Nova answers 500 (whatever the microversion); as for show and delete, a 503 names the cause.
            raise cell_down_fault(server_id)
        policy_authorize(self.context, "os_compute_api:servers:update", ServerSerializer.target(server))
        changes = dict(body["server"])
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        if "OS-DCF:diskConfig" in changes:
            changes["auto_disk_config"] = changes.pop("OS-DCF:diskConfig") == "AUTO"
        lifecycle.server_update(context=self.context, uuid=server_id, changes=changes, server=server)
        server = show.server_get(context=self.context, uuid=server_id)
        serializer = self.serializer()
        show.server_extras_read(server, **serializer.extras(show=True))
        body = serializer.full(server, show=True)
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
            raise cell_down_fault(server_id)
        policy_authorize(self.context, "os_compute_api:servers:delete", ServerSerializer.target(server))
        lifecycle.server_delete(context=self.context, uuid=server_id, server=server)
        return Response(status=204)
