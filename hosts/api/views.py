"""os-services, os-hypervisors and os-availability-zone (nova/api/openstack/compute/services.py,
hypervisors.py, availability_zone.py): every cell's services and compute nodes.

As in Nova, a body or query is validated before the policy check and the policy before any
lookup; ids are integers before 2.53 and uuids from 2.53 (integer ids repeat across cells).
"""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, NotFound, NotImplementedFault
from cellsv2.api.pagination import limit_and_marker, next_links
from cellsv2.api.policy import policy_authorize
from hosts import selectors, services
from hosts.api import schemas, serializers
from hosts.exceptions import (
    HostBinaryNotFound,
    HypervisorMarkerNotFound,
    HypervisorNotFound,
    HypervisorPatternNotFound,
    ServiceHostsInstances,
    ServiceNotCompute,
    ServiceNotFound,
    ServiceNotUnique,
)
from hosts.policies import AGGREGATES, AVAILABILITY_ZONE, HYPERVISORS, SERVICES
from mappings.exceptions import HostMappingNotFound

FAULTS = {
    ServiceNotCompute: 400,
    ServiceNotUnique: 400,
    HypervisorMarkerNotFound: 400,
    ServiceNotFound: 404,
    HostBinaryNotFound: 404,
    HypervisorNotFound: 404,
    HypervisorPatternNotFound: 404,
    ServiceHostsInstances: 409,
}

_TRUE = ("1", "t", "true", "on", "y", "yes")


def _flag(values: list[str] | None) -> bool:
    """oslo's bool_from_string of the last value (the schema has already limited the spelling)."""
    return bool(values) and str(values[-1]).strip().lower() in _TRUE


# --- os-services ----------------------------------------------------------------------------------


class ServiceAPIView(ComputeAPIView):
    openapi_tag = "os-services"


class ServiceCollectionView(ServiceAPIView):
    """``GET /os-services``: the services of every cell, filtered by host and binary."""

    openapi = {"get": {"summary": "List compute services (admin)", "responses": {200: {"type": "object"}, 403: None}}}

    def get(self, request):
        version = self.api_version
        params = self.validated_query(
            schemas.SERVICE_INDEX_QUERY_V275 if version >= "2.75" else schemas.SERVICE_INDEX_QUERY
        )
        policy_authorize(self.context, SERVICES % "list", target={})
        listing = selectors.service_list(
            host=(params.get("host") or [None])[-1],
            binary=(params.get("binary") or [None])[-1],
            down_cell_records=version >= serializers.DOWN_CELLS_VERSION,
        )
        # Nova leaves out the API services (they never report through the service group).
        rows = [s for s in listing.services if s.service.binary not in ("nova-osapi_compute", "nova-metadata")]
        return Response({"services": [serializers.service(s, version) for s in rows]})


class ServiceView(ServiceAPIView):
    """``PUT /os-services/{id}`` (2.53, by uuid) or ``PUT /os-services/{action}`` (before 2.53:
    enable, disable, disable-log-reason, force-down from 2.11), and ``DELETE /os-services/{id}``."""

    openapi = {
        "put": {"summary": "Update a compute service (admin)", "responses": {200: {"type": "object"}, 400: None}},
        "delete": {"summary": "Delete a compute service (admin)", "responses": {204: None, 404: None, 409: None}},
    }

    def put(self, request, service_id):
        version = self.api_version
        if version >= "2.53":
            body = self.validated_body(schemas.SERVICE_UPDATE_V253)
            return self._update_v253(service_id, body)
        body = self.validated_body(schemas.SERVICE_UPDATE_V211 if version >= "2.11" else schemas.SERVICE_UPDATE)
        policy_authorize(self.context, SERVICES % "update", target={})
        actions = {"enable": self._enable, "disable": self._disable, "disable-log-reason": self._disable_log_reason}
        if version >= "2.11":
            actions["force-down"] = self._force_down
        if service_id not in actions:
            raise NotFound("Unknown action")
        return Response(actions[service_id](body))

    def _update_by_host(self, body: dict, **fields) -> None:
        try:
            found = selectors.service_get_by_host_and_binary(host=body["host"], binary=body["binary"])
        except HostMappingNotFound:
            if body["binary"] != "nova-compute":
                raise ServiceNotCompute(body["binary"]) from None
            raise NotFound(f"Host '{body['host']}' is not mapped to any cell") from None
        services.service_update(cell=found.cell, service=found.service, **fields)

    def _enable(self, body: dict) -> dict:
        self._update_by_host(body, disabled=False)
        return {"service": {"host": body["host"], "binary": body["binary"], "status": "enabled"}}

    def _disable(self, body: dict, reason: str | None = None) -> dict:
        self._update_by_host(body, disabled=True, disabled_reason=reason)
        service = {"host": body["host"], "binary": body["binary"], "status": "disabled"}
        if reason:
            service["disabled_reason"] = reason
        return {"service": service}

    def _disable_log_reason(self, body: dict) -> dict:
        if "disabled_reason" not in body:
            raise BadRequest("Missing disabled reason field")
        return self._disable(body, body["disabled_reason"])

    def _force_down(self, body: dict) -> dict:
        if "forced_down" not in body:
            raise BadRequest("Missing forced_down field")
        forced_down = _flag([body["forced_down"]])
        self._update_by_host(body, forced_down=forced_down)
        return {"service": {"host": body["host"], "binary": body["binary"], "forced_down": forced_down}}

    def _update_v253(self, service_id: str, body: dict) -> Response:
        if not selectors.is_uuid_like(service_id):
            raise BadRequest(f"Invalid uuid {service_id}")
        policy_authorize(self.context, SERVICES % "update", target={})
        found = selectors.service_get(service_id=service_id)
        if found.service.binary != "nova-compute":
            raise ServiceNotCompute(found.service.binary)
        fields = {}
        if "status" in body:
            if body["status"] == "enabled":
                if body.get("disabled_reason"):
                    raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
                fields["disabled"] = False
            else:
                fields.update(disabled=True, disabled_reason=body.get("disabled_reason"))
        if "forced_down" in body:
            fields["forced_down"] = _flag([body["forced_down"]])
        if not fields:
            raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
        services.service_update(cell=found.cell, service=found.service, **fields)
        return Response({"service": serializers.service(found, self.api_version)})

    def delete(self, request, service_id):
        policy_authorize(self.context, SERVICES % "delete", target={})
        if self.api_version >= "2.53":
            if not selectors.is_uuid_like(service_id):
                raise BadRequest(f"Invalid uuid {service_id}")
        elif not service_id.lstrip("-").isdigit():
            raise BadRequest("Invalid input received: id must be an integer")
        try:
            found = selectors.service_get(service_id=service_id)
        except ServiceNotFound:
            raise NotFound(f"Service {service_id} not found.") from None
        services.service_delete(cell=found.cell, service=found.service)
        return Response(status=204)


# --- os-hypervisors -------------------------------------------------------------------------------


class HypervisorAPIView(ComputeAPIView):
    openapi_tag = "os-hypervisors"

    def query(self) -> dict[str, list[str]]:
        version = self.api_version
        if version >= "2.53":
            schema = schemas.HYPERVISOR_INDEX_QUERY_V253
        elif version >= "2.33":
            schema = schemas.HYPERVISOR_INDEX_QUERY_V233
        else:
            schema = schemas.HYPERVISOR_INDEX_QUERY
        return self.validated_query(schema)

    def check_id(self, hypervisor_id: str) -> bool:
        """Nova's _validate_id: a uuid from 2.53 (400), an integer before (404). True for uuids."""
        if self.api_version >= "2.53":
            if not selectors.is_uuid_like(hypervisor_id):
                raise BadRequest(f"Invalid uuid {hypervisor_id}")
            return True
        if not hypervisor_id.isdigit():
            raise HypervisorNotFound(hypervisor_id)
        return False

    def listing(self, *, detail: bool) -> Response:
        version = self.api_version
        params = self.query()
        policy_authorize(self.context, HYPERVISORS % ("list-detail" if detail else "list"), target={})
        uuid_ids = version >= "2.53"
        pattern = (params.get("hypervisor_hostname_pattern") or [None])[-1] if uuid_ids else None
        with_servers = uuid_ids and _flag(params.get("with_servers"))
        paged = version >= "2.33"
        limit, marker = limit_and_marker(self.request) if paged else (None, None)
        if pattern is not None:
            if "limit" in params or marker:
                raise BadRequest(
                    "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported."
                )
            limit, paged = None, False
        hypervisors = selectors.hypervisor_list(
            uuid_ids=uuid_ids, limit=limit, marker=marker, pattern=pattern, with_servers=with_servers
        )
        rows = [serializers.hypervisor(h, version, detail=detail, with_servers=with_servers) for h in hypervisors]
        body = {"hypervisors": rows}
        if paged:
            links = next_links(
                self.request, "os-hypervisors/detail" if detail else "os-hypervisors", rows, limit, lambda r: r["id"]
            )
            if links:
                body["hypervisors_links"] = links
        return Response(body)


class HypervisorCollectionView(HypervisorAPIView):
    """``GET /os-hypervisors``: id, hostname, state and status of every cell's compute nodes."""

    openapi = {"get": {"summary": "List hypervisors (admin)", "responses": {200: {"type": "object"}, 400: None}}}

    def get(self, request):
        return self.listing(detail=False)


class HypervisorDetailCollectionView(HypervisorAPIView):
    """``GET /os-hypervisors/detail``."""

    openapi = {"get": {"summary": "List hypervisors in detail (admin)", "responses": {200: {"type": "object"}}}}

    def get(self, request):
        return self.listing(detail=True)


class HypervisorView(HypervisorAPIView):
    """``GET /os-hypervisors/{id}`` (a node uuid from 2.53, its integer id before)."""

    openapi = {"get": {"summary": "Show a hypervisor (admin)", "responses": {200: {"type": "object"}, 404: None}}}

    def get(self, request, hypervisor_id):
        version = self.api_version
        uuid_ids = version >= "2.53"
        params = self.validated_query(
            schemas.HYPERVISOR_SHOW_QUERY_V253 if uuid_ids else schemas.HYPERVISOR_SHOW_QUERY
        )
        with_servers = uuid_ids and _flag(params.get("with_servers"))
        policy_authorize(self.context, HYPERVISORS % "show", target={})
        self.check_id(hypervisor_id)
        found = selectors.hypervisor_get(hypervisor_id=hypervisor_id, uuid_ids=uuid_ids, with_servers=with_servers)
        return Response({"hypervisor": serializers.hypervisor(found, version, detail=True, with_servers=with_servers)})


class HypervisorUptimeView(HypervisorAPIView):
    """``GET /os-hypervisors/{id}/uptime`` (before 2.88): no agent reports a host's uptime here,
    so an existing hypervisor answers Nova's 501 for a driver that cannot tell."""

    openapi = {
        "get": {"summary": "A hypervisor's uptime (admin, before 2.88; not supported)", "responses": {501: None}}
    }

    def get(self, request, hypervisor_id):
        self.require_version(max_version="2.87")
        policy_authorize(self.context, HYPERVISORS % "uptime", target={})
        selectors.hypervisor_get(hypervisor_id=hypervisor_id, uuid_ids=self.check_id(hypervisor_id))
        raise NotImplementedFault()


class HypervisorSearchView(HypervisorAPIView):
    """``GET /os-hypervisors/{pattern}/search`` and ``.../servers`` (before 2.53)."""

    openapi = {"get": {"summary": "Search hypervisors by hostname (admin, before 2.53)", "responses": {200: None}}}
    with_servers = False

    def get(self, request, pattern):
        self.require_version(max_version="2.52")
        policy_authorize(self.context, HYPERVISORS % ("servers" if self.with_servers else "search"), target={})
        found = selectors.hypervisor_list(uuid_ids=False, pattern=pattern, with_servers=self.with_servers)
        return Response({"hypervisors": [serializers.hypervisor(h, self.api_version, detail=False) for h in found]})


class HypervisorServersView(HypervisorSearchView):
    with_servers = True


class HypervisorStatisticsView(HypervisorAPIView):
    """``GET /os-hypervisors/statistics`` (before 2.88): every cell's compute nodes added up."""

    openapi = {"get": {"summary": "Hypervisor statistics (admin, before 2.88)", "responses": {200: None}}}

    def get(self, request):
        self.require_version(max_version="2.87")
        policy_authorize(self.context, HYPERVISORS % "statistics", target={})
        return Response({"hypervisor_statistics": selectors.hypervisor_statistics()})


# --- os-availability-zone -------------------------------------------------------------------------


class AvailabilityZoneView(ComputeAPIView):
    """``GET /os-availability-zone`` (everybody) and ``.../detail`` (admin, with hosts)."""

    openapi_tag = "os-availability-zone"
    openapi = {"get": {"summary": "List availability zones", "responses": {200: {"type": "object"}}}}
    detail = False

    def get(self, request):
        self.validated_query(schemas.AZ_QUERY_V2102 if self.api_version >= "2.102" else schemas.AZ_QUERY)
        policy_authorize(self.context, AVAILABILITY_ZONE % ("detail" if self.detail else "list"), target={})
        zones = selectors.availability_zone_list(with_hosts=self.detail)
        return Response({"availabilityZoneInfo": [serializers.availability_zone(zone) for zone in zones]})


class AvailabilityZoneDetailView(AvailabilityZoneView):
    openapi = {"get": {"summary": "List availability zones with their hosts (admin)", "responses": {200: None}}}
    detail = True


class AggregateCollectionView(ComputeAPIView):
    """``GET /os-aggregates``: host aggregates are not kept here (every compute host is in the
    default zone), so the list is always empty; ``openstack hypervisor show`` reads it."""

    openapi_tag = "os-aggregates"
    openapi = {"get": {"summary": "List host aggregates (admin; always empty)", "responses": {200: None}}}

    def get(self, request):
        self.validated_query(schemas.AZ_QUERY_V2102 if self.api_version >= "2.102" else schemas.AZ_QUERY)
        policy_authorize(self.context, AGGREGATES % "index", target={})
        return Response({"aggregates": []})
