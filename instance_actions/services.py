"""Recording instance actions (Nova's InstanceAction.action_start and the event calls).

Writes go to the cell database the caller has targeted (``target_cell``), the instance's own.
Recording is best effort after the fact, as in Nova: it never undoes the work it describes.
"""

import socket
import uuid

from django.db import transaction
from django.utils import timezone

from cellsv2.context import current_cell_alias
from cellsv2.observability.context import log_fields
from instance_actions.models import InstanceAction, InstanceActionEvent

# Nova's names (nova/compute/instance_actions.py and its event names) of what is recorded.
CREATE = "create"
DELETE = "delete"
SCHEDULE_EVENT = "conductor_schedule_and_build_instances"
BUILD_EVENT = "compute_build_and_run_instance"
TERMINATE_EVENT = "compute_terminate_instance"
# The host a conductor's events name (Nova's CONF.host of the conductor).
CONDUCTOR_HOST = socket.gethostname()


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
    failure: str | None = None,
) -> InstanceActionEvent:
    """Record a finished event of an action: Success, or Error with the failure's message (as
    the event's traceback and, from 2.84, its details). Cell database targeted by the caller."""
    now = timezone.now()
    with transaction.atomic(using=current_cell_alias()):
        created = InstanceActionEvent.objects.create(
            action=action,
            event=event,
            start_time=action.start_time or now,
            finish_time=now,
            result="Error" if failure is not None else "Success",
            traceback=failure,
            host=host,
            details=failure,
        )
        InstanceAction.objects.filter(pk=action.pk).update(updated_at=now)
        if failure is not None:
            InstanceAction.objects.filter(pk=action.pk).update(message="Error")
    return created


def instance_action_record_create(
    *, instance_uuid: str, user_id: str | None, project_id: str | None, host: str | None, failure: str | None = None
) -> InstanceAction:
    """The ``create`` action of an instance just written into its cell: built on ``host``, or
    (``failure``, cell0) refused by the scheduler, as Nova's conductor records it. Call inside the
    cell transaction that writes the instance, so that both are there or neither is."""
    action = instance_action_start(instance_uuid=instance_uuid, action=CREATE, user_id=user_id, project_id=project_id)
    if failure is None:
        instance_action_event_record(action=action, event=BUILD_EVENT, host=host)
    else:
        instance_action_event_record(action=action, event=SCHEDULE_EVENT, host=CONDUCTOR_HOST, failure=failure)
    return action


def instance_action_record_delete(*, instance_uuid: str, user_id: str, project_id: str, host: str | None) -> None:
    """The ``delete`` action of an instance deleted in its cell (the caller's), with the compute
    host's terminate event when it ran somewhere (none for cell0's, as Nova's local delete)."""
    action = instance_action_start(instance_uuid=instance_uuid, action=DELETE, user_id=user_id, project_id=project_id)
    if host:
        instance_action_event_record(action=action, event=TERMINATE_EVENT, host=host)


def instance_actions_forget(*, instance_uuid: str) -> None:
    """Remove an instance's actions from the cell targeted (a placement taken back)."""
    InstanceAction.objects.filter(instance_uuid=instance_uuid).delete()
