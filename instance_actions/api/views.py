"""``/v2.1/servers/{id}/os-instance-actions``: Nova's bodies at 2.1, 2.21 (deleted servers),
2.51 (events for the owner), 2.58 (paging, changes-since, updated_at), 2.62 (host, hostId),
2.66 (changes-before) and 2.84 (event details).

Read where the instance mapping says the server is: one cell database per request.
"""

from django.utils.dateparse import parse_datetime
from rest_framework.response import Response

from cellsv2.api.base import ComputeAPIView
from cellsv2.api.faults import BadRequest, NotFound, ServiceUnavailable
from cellsv2.api.pagination import limit_and_marker, next_links
from cellsv2.api.policy import policy_allows, policy_authorize
from instance_actions import selectors
from instance_actions.api import schemas, serializers
from instance_actions.exceptions import ActionNotFound, InvalidChangesWindow, MarkerNotFound
from instance_actions.policies import POLICY_ROOT

# How the selectors' exceptions answer (registered in InstanceActionsConfig.ready()).
FAULTS = {ActionNotFound: 404, MarkerNotFound: 400, InvalidChangesWindow: 400}


class InstanceActionViewMixin:
    openapi_tag = "os-instance-actions"

    def target(self, server_id: str, rule: str) -> selectors.ActionsTarget:
        """The server (deleted ones too from 2.21), authorized for ``rule``; 404."""
        try:
            target = selectors.actions_target_get(
                instance_uuid=server_id, include_deleted=self.request.api_version >= "2.21"
            )
        except selectors.ServerNotFound as exc:
            raise NotFound(str(exc)) from None
        policy_authorize(self.context, POLICY_ROOT % rule, {"project_id": target.project_id})
        return target

    @property
    def serializer(self) -> serializers.InstanceActionSerializer:
        return serializers.InstanceActionSerializer(self.request.api_version)


def _moment(params: dict, key: str):
    if key not in params:
        return None
    value = params[key][-1]
    moment = parse_datetime(value)
    if moment is None:
        raise BadRequest(f"Invalid input for query parameters {key}. Value: {value}. '{value}' is not a 'date-time'")
    return moment


class InstanceActionListView(InstanceActionViewMixin, ComputeAPIView):
    openapi = {"get": {"summary": "List actions for a server", "responses": {200: schemas.LIST_RESPONSE}}}

    def get(self, request, server_id):
        version = request.api_version
        params = self.validated_query(schemas.list_query_schema(version))
        target = self.target(server_id, "list")
        limit = marker = since = before = None
        if version >= "2.58":
            since, before = _moment(params, "changes-since"), _moment(params, "changes-before")
            if since is not None and before is not None and before < since:
                raise InvalidChangesWindow()
            limit, marker = limit_and_marker(request)
        try:
            actions = selectors.instance_action_list(
                target=target, limit=limit, marker=marker, changes_since=since, changes_before=before
            )
        except selectors.CellDown:
            raise ServiceUnavailable(f"The cell holding server {server_id} is unreachable; try again later.") from None
        serializer = self.serializer
        body = {"instanceActions": [serializer.action(action) for action in actions]}
        if version >= "2.58":
            links = next_links(
                request, f"servers/{server_id}/os-instance-actions", actions, limit, lambda a: a.request_id
            )
            if links:
                body["links"] = links
        return Response(body)


class InstanceActionDetailView(InstanceActionViewMixin, ComputeAPIView):
    openapi = {"get": {"summary": "Show an action of a server", "responses": {200: schemas.SHOW_RESPONSE}}}

    def get(self, request, server_id, request_id):
        version = request.api_version
        self.validated_query(schemas.show_query_schema(version))
        target = self.target(server_id, "show")
        try:
            action, events = selectors.instance_action_get(target=target, request_id=request_id)
        except selectors.CellDown:
            raise ServiceUnavailable(f"The cell holding server {server_id} is unreachable; try again later.") from None
        body = self.serializer.action(action)
        # Nova: events with tracebacks (and hosts from 2.62) for whoever the events rule allows;
        # from 2.51 the rest of the events for everybody who may show the action.
        owner = {"project_id": target.project_id}
        all_details = policy_allows(self.context, POLICY_ROOT % "events", owner)
        if all_details or version >= "2.51":
            details = version >= "2.84" and policy_allows(self.context, POLICY_ROOT % "events:details", owner)
            project_id = action.project_id or target.project_id
            body["events"] = [
                self.serializer.event(
                    event,
                    project_id=project_id,
                    traceback=all_details,
                    host=all_details and version >= "2.62",
                    details=details,
                )
                for event in events
            ]
        return Response({"instanceAction": body})
