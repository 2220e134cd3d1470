"""Recording instance actions (Nova's InstanceAction.action_start and the event calls).

Writes go to the cell database the caller has targeted (``target_cell``), the instance's own.
Recording is best effort after the fact, as in Nova: it never undoes the work it describes.
"""

import uuid

from django.db import transaction
from django.utils import timezone

from cellsv2.context import current_cell_alias
from cellsv2.observability.context import log_fields
from instance_actions.models import InstanceAction, InstanceActionEvent

# Nova's names (nova/compute/instance_actions.py) of what this product records.
CREATE = "create"
DELETE = "delete"
SCHEDULE_EVENT = "conductor_schedule_and_build_instances"


def current_request_id() -> str:
    """The id of the API request being served (its x-openstack-request-id), or a new one."""
    return log_fields().get("request_id") or f"req-{uuid.uuid4()}"


def instance_action_start(
    *, instance_uuid: str, action: str, user_id: str | None, project_id: str | None, request_id: str | None = None
) -> InstanceAction:
    """Record that ``action`` started on an instance (cell database targeted by the caller)."""
    now = timezone.now()
    return InstanceAction.objects.create(
        instance_uuid=instance_uuid,
        action=action,
        request_id=request_id or current_request_id(),
        user_id=user_id,
        project_id=project_id,
        start_time=now,
        updated_at=now,  # Nova sets it at start since 2.58 lists and filters by it
    )


def instance_action_event_record(
    *,
    action: InstanceAction,
    event: str,
    host: str | None = None,
    failure: BaseException | None = None,
    details: str | None = None,
) -> InstanceActionEvent:
    """Record a finished event of an action (Success, or Error with the failure's message)."""
    now = timezone.now()
    with transaction.atomic(using=current_cell_alias()):
        created = InstanceActionEvent.objects.create(
            action=action,
            event=event,
            start_time=action.start_time or now,
            finish_time=now,
            result="Error" if failure is not None else "Success",
            traceback=None if failure is None else f"{type(failure).__name__}: {failure}",
            host=host,
            details=details if details is not None else (str(failure) if failure is not None else None),
        )
        InstanceAction.objects.filter(pk=action.pk).update(updated_at=now)
        if failure is not None:
            InstanceAction.objects.filter(pk=action.pk).update(message="Error")
    return created
