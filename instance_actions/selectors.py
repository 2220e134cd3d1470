"""Reads of instance actions: the instance mapping (API database) names the cell, the actions
and events are read there (one cell database per call)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Q

from cellsv2.context import target_cell
from instance_actions.exceptions import ActionNotFound, MarkerNotFound
from instance_actions.models import InstanceAction, InstanceActionEvent
from mappings.selectors import instance_mapping_lookup


class ServerNotFound(LookupError):
    def __init__(self, uuid: str):
        super().__init__(f"Instance {uuid} could not be found.")


class CellDown(RuntimeError):
    """The cell holding the server did not answer."""


@dataclass(frozen=True)
class ActionsTarget:
    """The server whose actions are read: its project and cell (None while a build request)."""

    instance_uuid: str
    project_id: str
    cell: object | None


def actions_target_get(*, instance_uuid: str, include_deleted: bool) -> ActionsTarget:
    """The server's mapping; a deleted server (its mapping queued for delete, as the delete sets it
    with the soft delete in the cell) only with ``include_deleted`` (2.21). One query on the API
    database. Raises ServerNotFound.
    """
    mapping = instance_mapping_lookup(instance_uuid)
    if mapping is None or (mapping.queued_for_delete and not include_deleted):
        raise ServerNotFound(instance_uuid)
    return ActionsTarget(instance_uuid=instance_uuid, project_id=mapping.project_id, cell=mapping.cell)


def instance_action_list(
    *,
    target: ActionsTarget,
    limit: int | None = None,
    marker: str | None = None,
    changes_since: datetime | None = None,
    changes_before: datetime | None = None,
) -> list[InstanceAction]:
    """A server's actions, newest first (created_at, id descending: Nova's order), from its cell.

    ``marker`` is a request id (MarkerNotFound when the server has none such). Raises CellDown.
    """
    if target.cell is None or limit == 0:
        return []
    try:
        with target_cell(target.cell):
            actions = InstanceAction.objects.filter(instance_uuid=target.instance_uuid, deleted=0)
            if changes_since is not None:
                actions = actions.filter(updated_at__gte=changes_since)
            if changes_before is not None:
                actions = actions.filter(updated_at__lte=changes_before)
            actions = actions.order_by("-created_at", "-id")
            if marker is not None:
                after = (
                    InstanceAction.objects.filter(instance_uuid=target.instance_uuid, request_id=marker)
                    .order_by("-created_at", "-id")
                    .first()
                )
                if after is None:
                    raise MarkerNotFound(marker)
                actions = actions.filter(
                    Q(created_at__lt=after.created_at) | Q(created_at=after.created_at, id__lt=after.id)
                )
            if limit is not None:
                actions = actions[:limit]
            return list(actions)
    except DatabaseError:
        raise CellDown() from None


def instance_action_get(*, target: ActionsTarget, request_id: str) -> tuple[InstanceAction, list[InstanceActionEvent]]:
    """One action of a server by request id, with its events (oldest first). Raises ActionNotFound
    or CellDown. Two queries in the server's cell."""
    if target.cell is None:
        raise ActionNotFound(request_id)
    try:
        with target_cell(target.cell):
            action = (
                InstanceAction.objects.filter(instance_uuid=target.instance_uuid, request_id=request_id, deleted=0)
                .order_by("-created_at", "-id")
                .first()
            )
            if action is None:
                raise ActionNotFound(request_id)
            events = list(InstanceActionEvent.objects.filter(action=action, deleted=0).order_by("id"))
    except DatabaseError:
        raise CellDown() from None
    return action, events
