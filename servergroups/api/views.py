"""The os-server-groups API (nova/api/openstack/compute/server_groups.py): list, create, show, delete.

Order of checks as in Nova: request schema, then policy, then quota and the write. A non-admin's
lookups are scoped to their project, so another project's group is 404 (never 403: its existence
is not revealed); show and delete check their policy against the group's project after the
lookup, list and create against the caller's project.

Membership is the servers API's: POST /servers with the ``group`` hint looks the group
up with ``servergroup_get(context=...)`` and adds the new servers with ``servergroup_add_members``
(server_group_members quota); a cancelled build request leaves with ``servergroup_members_remove``;
the scheduler reads ``servergroup_member_hosts`` and server show ``servergroup_uuids_of_instance``
(booting into groups is tested end to end in tests/servers/test_placement.py and
tests/servergroups/test_servers_integration.py).
"""

from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.pagination import offset_and_limit
from cellsv2.api.policy import policy_authorize
from servergroups import selectors, services
from servergroups.api import schemas, serializers
from servergroups.exceptions import CellsUnavailable, InvalidServerGroup, ServerGroupExists, ServerGroupNotFound

# How the services' exceptions answer (registered in ServergroupsConfig.ready()).
FAULTS = {InvalidServerGroup: 400, ServerGroupNotFound: 404, ServerGroupExists: 409, CellsUnavailable: 503}

POLICY_ROOT = "os_compute_api:os-server-groups:%s"
POLICY_CREATE = POLICY_ROOT % "create"
POLICY_DELETE = POLICY_ROOT % "delete"
POLICY_INDEX = POLICY_ROOT % "index"
POLICY_INDEX_ALL_PROJECTS = POLICY_ROOT % "index:all_projects"
POLICY_SHOW = POLICY_ROOT % "show"

STRICT_INDEX_QUERY_VERSION = "2.75"
STRICT_SHOW_QUERY_VERSION = "2.102"


class ServerGroupAPIView(ComputeAPIView):
    openapi_tag = "os-server-groups"

    def lookup_scope(self) -> str | None:
        """The project a lookup is limited to: the caller's, or none for an admin (as Nova's query)."""
        return selectors.lookup_scope(self.context)

    def get_group(self, group_id: str) -> selectors.ServerGroup:
        return selectors.servergroup_get(uuid=group_id, project_id=self.lookup_scope())

    def render(self, groups: list) -> list[dict]:
        """The groups' bodies, members filtered to live servers with one lookup for all of them."""
        live = selectors.servergroup_live_members(instance_uuids=[m for g in groups for m in g.members])
        return serializers.ServerGroupSerializer(self.api_version).many(groups, live)


_ID_PARAMETER = [{"name": "group_id", "in": "path", "required": True, "schema": {"type": "string"}}]


class ServerGroupCollectionView(ServerGroupAPIView):
    """``GET /os-server-groups`` (list) and ``POST /os-server-groups`` (create, 200)."""

    openapi = {
        "get": {
            "summary": "List server groups",
            "description": (
                "The caller's project's groups; every project's with `all_projects` for an admin "
                "(ignored for others). Offset paging (`offset`, `limit`), no links. Unknown query "
                "parameters are refused from 2.75."
            ),
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in schemas.INDEX_QUERY["properties"]
            ],
            "responses": {200: schemas.INDEX_RESPONSE, 400: None, 403: None},
        },
        "post": {
            "summary": "Create a server group (200)",
            "description": (
                "2.1-2.63: `{server_group: {name, policies: [policy]}}` (soft policies from 2.15). "
                "2.64+: `{server_group: {name, policy, rules?}}` as documented here; rules only with "
                "anti-affinity. 403 over the server_groups quota."
            ),
            "request": schemas.CREATE_V264,
            "responses": {200: schemas.SHOW_RESPONSE, 400: None, 403: None, 409: None},
        },
    }

    def get(self, request):
        strict = self.api_version >= STRICT_INDEX_QUERY_VERSION
        params = self.validated_query(schemas.INDEX_QUERY_V275 if strict else schemas.INDEX_QUERY)
        offset, limit = offset_and_limit(request)
        context = self.context
        policy_authorize(context, POLICY_INDEX, {"project_id": context.project_id})
        project_id = context.project_id
        # A non-admin asking for all projects silently gets their own (Nova keeps this for compatibility).
        if "all_projects" in params and context.is_admin:
            policy_authorize(context, POLICY_INDEX_ALL_PROJECTS, {"project_id": context.project_id})
            project_id = None
        groups = selectors.servergroup_list(project_id=project_id, offset=offset, limit=limit)
        return Response({"server_groups": self.render(groups)})

    def post(self, request):
        if self.api_version >= serializers.POLICY_OBJECT_VERSION:
            schema = schemas.CREATE_V264
        elif self.api_version >= "2.15":
            schema = schemas.CREATE_V215
        else:
            schema = schemas.CREATE
        body = self.validated_body(schema)
        context = self.context
        policy_authorize(context, POLICY_CREATE, {"project_id": context.project_id})
        values = body["server_group"]
        if self.api_version >= serializers.POLICY_OBJECT_VERSION:
            policy, rules = values["policy"], values.get("rules") or {}
        else:
            policy, rules = values["policies"][0], {}
        group = services.servergroup_create(
            project_id=context.project_id,
            user_id=context.user_id,
            name=values["name"],
            policy=policy,
            rules=rules,
        )
        return Response({"server_group": self.render([group])[0]})


class ServerGroupView(ServerGroupAPIView):
    """``GET /os-server-groups/{id}`` and ``DELETE /os-server-groups/{id}`` (204)."""

    openapi = {
        "get": {
            "summary": "Show a server group",
            "description": "Members are the servers that still exist. Unknown query parameters: 400 from 2.102.",
            "parameters": _ID_PARAMETER,
            "responses": {200: schemas.SHOW_RESPONSE, 400: None, 404: None},
        },
        "delete": {
            "summary": "Delete a server group (with its members)",
            "parameters": _ID_PARAMETER,
            "responses": {204: None, 403: None, 404: None},
        },
    }

    def get(self, request, group_id: str):
        if self.api_version >= STRICT_SHOW_QUERY_VERSION:
            self.validated_query(schemas.SHOW_QUERY_V2102)
        group = self.get_group(group_id)
        policy_authorize(self.context, POLICY_SHOW, {"project_id": group.project_id})
        return Response({"server_group": self.render([group])[0]})

    def delete(self, request, group_id: str):
        group = self.get_group(group_id)
        policy_authorize(self.context, POLICY_DELETE, {"project_id": group.project_id})
        services.servergroup_delete(uuid=group.uuid, project_id=self.lookup_scope())
        return Response(status=204)
