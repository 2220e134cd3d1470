"""The flavors API (nova/api/openstack/compute/flavors.py): list, show, create, update, delete.

Reads need no policy: everybody sees public flavors and those shared with their project, and
admins see every flavor. Writes need the os-flavor-manage rules (admin by default). As in Nova,
a request body is validated before the policy check and the policy before any lookup.
"""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, Conflict, NotFound
from cellsv2.api.pagination import limit_and_marker
from cellsv2.api.policy import policy_allows, policy_authorize
from flavors import selectors, services
from flavors.api import schemas, serializers
from flavors.exceptions import FlavorExists, FlavorIdExists, FlavorMarkerNotFound, FlavorNotFound, InvalidFlavorInput

POLICY_CREATE = "os_compute_api:os-flavor-manage:create"
POLICY_UPDATE = "os_compute_api:os-flavor-manage:update"
POLICY_DELETE = "os_compute_api:os-flavor-manage:delete"
POLICY_EXTRA_SPECS_INDEX = "os_compute_api:os-flavor-extra-specs:index"

_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
_FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


def _last(params: dict[str, list[str]], name: str) -> str | None:
    """The value of a query parameter; the last one when it is repeated (webob's req.params.get)."""
    values = params.get(name)
    return values[-1] if values else None


def _is_public_filter(value: str | None) -> bool | None:
    """An admin's is_public filter: public (default), private (false), or both ("none")."""
    if value is None:
        return True
    if value.lower() == "none":
        return None
    text = value.strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    raise BadRequest(f"Invalid is_public filter [{value}]")


def _integer_filter(params: dict[str, list[str]], name: str) -> int | None:
    value = _last(params, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{value}]") from None


class FlavorAPIView(ComputeAPIView):
    openapi_tag = "flavors"

    def include_extra_specs(self) -> bool:
        """Extra specs are shown from 2.61 to whoever may list them (everybody by default)."""
        if self.api_version < serializers.EXTRA_SPECS_VERSION:
            return False
        return policy_allows(self.context, POLICY_EXTRA_SPECS_INDEX)

    def detail_body(self, flavor, *, include_description: bool) -> dict:
        return {
            "flavor": serializers.flavor_detail(
                self.request,
                flavor,
                include_description=include_description,
                include_extra_specs=self.include_extra_specs(),
            )
        }

    def list_flavors(self) -> tuple[list, int]:
        """One page of the flavors the caller may see, per Nova's query parameters."""
        schema = schemas.INDEX_QUERY_V275 if self.api_version >= "2.75" else schemas.INDEX_QUERY
        params = self.validated_query(schema)
        limit, marker = limit_and_marker(self.request)
        context = self.context
        is_public = _is_public_filter(_last(params, "is_public")) if context.is_admin else True
        min_memory_mb = _integer_filter(params, "minRam")
        min_root_gb = _integer_filter(params, "minDisk")
        try:
            flavors = selectors.flavor_list(
                project_id=context.project_id,
                is_admin=context.is_admin,
                is_public=is_public,
                min_memory_mb=min_memory_mb,
                min_root_gb=min_root_gb,
                sort_key=_last(params, "sort_key") or "flavorid",
                sort_dir=_last(params, "sort_dir") or "asc",
                limit=limit,
                marker=marker,
            )
        except FlavorMarkerNotFound as exc:
            raise BadRequest(str(exc)) from None
        return flavors, limit


class FlavorCollectionView(FlavorAPIView):
    """``GET /flavors`` (summaries) and ``POST /flavors`` (create)."""

    openapi = {
        "get": {
            "summary": "List flavors",
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in schemas.INDEX_QUERY["properties"]
            ],
            "responses": {200: {"type": "object"}, 400: None},
        },
        "post": {
            "summary": "Create a flavor (admin)",
            "request": schemas.CREATE_V255,
            "responses": {200: {"type": "object"}, 400: None, 403: None, 409: None},
        },
    }

    def get(self, request):
        flavors, limit = self.list_flavors()
        return Response(serializers.flavor_list(request, flavors, limit=limit))

    def post(self, request):
        include_description = self.api_version >= serializers.DESCRIPTION_VERSION
        schema = schemas.CREATE_V255 if include_description else schemas.CREATE
        body = self.validated_body(schema)
        schemas.check_string_bounds(schema, body)
        policy_authorize(self.context, POLICY_CREATE, {})
        values = body["flavor"]
        try:
            flavor = services.flavor_create(
                name=values["name"],
                flavorid=values.get("id"),
                memory_mb=values["ram"],
                vcpus=values["vcpus"],
                root_gb=values["disk"],
                ephemeral_gb=values.get("OS-FLV-EXT-DATA:ephemeral", 0),
                swap=values.get("swap", 0),
                rxtx_factor=values.get("rxtx_factor", 1.0),
                is_public=values.get("os-flavor-access:is_public", True),
                description=values.get("description") if include_description else None,
            )
        except (FlavorExists, FlavorIdExists) as exc:
            raise Conflict(str(exc)) from None
        except InvalidFlavorInput as exc:
            raise BadRequest(str(exc)) from None
        return Response(self.detail_body(flavor, include_description=include_description))


class FlavorDetailCollectionView(FlavorAPIView):
    """``GET /flavors/detail``."""

    openapi = {"get": {"summary": "List flavors with details", "responses": {200: {"type": "object"}, 400: None}}}

    def get(self, request):
        flavors, limit = self.list_flavors()
        return Response(
            serializers.flavor_detail_list(
                request, flavors, limit=limit, include_extra_specs=self.include_extra_specs()
            )
        )


class FlavorView(FlavorAPIView):
    """``GET``, ``PUT`` (2.55+, the description only) and ``DELETE /flavors/{flavor_id}``."""

    openapi = {
        "get": {"summary": "Show a flavor", "responses": {200: {"type": "object"}, 404: None}},
        "put": {
            "summary": "Update a flavor's description (2.55+, admin)",
            "request": schemas.UPDATE_V255,
            "responses": {200: {"type": "object"}, 400: None, 403: None, 404: None},
        },
        "delete": {"summary": "Delete a flavor (admin)", "responses": {202: None, 403: None, 404: None}},
    }

    def get(self, request, flavor_id: str):
        context = self.context
        try:
            flavor = selectors.flavor_get(flavorid=flavor_id, project_id=context.project_id, is_admin=context.is_admin)
        except FlavorNotFound as exc:
            raise NotFound(str(exc)) from None
        include_description = self.api_version >= serializers.DESCRIPTION_VERSION
        return Response(self.detail_body(flavor, include_description=include_description))

    def put(self, request, flavor_id: str):
        # Nova reads the body (400 if malformed) before it finds no method at this version.
        self.body()
        if not self.api_version.matches(serializers.DESCRIPTION_VERSION):
            raise NotFound()
        body = self.validated_body(schemas.UPDATE_V255)
        context = self.context
        policy_authorize(context, POLICY_UPDATE, {})
        try:
            flavor = services.flavor_update_description(
                flavorid=flavor_id,
                description=body["flavor"]["description"],
                project_id=context.project_id,
                is_admin=context.is_admin,
            )
        except FlavorNotFound as exc:
            raise NotFound(str(exc)) from None
        return Response(self.detail_body(flavor, include_description=True))

    def delete(self, request, flavor_id: str):
        policy_authorize(self.context, POLICY_DELETE, {})
        try:
            services.flavor_delete(flavorid=flavor_id)
        except FlavorNotFound as exc:
            raise NotFound(str(exc)) from None
        return Response(status=202)
