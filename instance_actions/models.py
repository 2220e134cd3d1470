"""What was done to a server, per user request (Nova's instance_actions and
instance_actions_events, in the cell database of the instance)."""

from django.db import models

from cellsv2.db import CellModel, NovaIndex, SoftDeleteMixin, UUIDCharField, shadow_model


class InstanceAction(SoftDeleteMixin, CellModel):
    """One user request on an instance (create, delete, ...); looked up by (instance_uuid, request_id)."""

    action = models.CharField(max_length=255, null=True, blank=True)
    # Nova's column is a foreign key to instances.uuid; a plain indexed column here, so that an
    # action outlives an archived instance row and the app needs nothing from servers' models.
    instance_uuid = UUIDCharField(null=True, blank=True)
    request_id = models.CharField(max_length=255, null=True, blank=True)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    project_id = models.CharField(max_length=255, null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    finish_time = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "instance_actions"
        indexes = [
            models.Index(fields=["instance_uuid"], name="instance_uuid_idx"),
            models.Index(fields=["request_id"], name="request_id_idx"),
            NovaIndex(fields=["instance_uuid", "updated_at"], name="instance_actions_instance_uuid_updated_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.instance_uuid} ({self.request_id})"


class InstanceActionEvent(SoftDeleteMixin, CellModel):
    """A step of an action (Nova's events: conductor_schedule_and_build_instances, ...)."""

    event = models.CharField(max_length=255, null=True, blank=True)
    action = models.ForeignKey(
        InstanceAction, db_column="action_id", null=True, on_delete=models.CASCADE, related_name="events"
    )
    start_time = models.DateTimeField(null=True, blank=True)
    finish_time = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, null=True, blank=True)
    traceback = models.TextField(null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    details = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "instance_actions_events"

    def __str__(self) -> str:
        return f"{self.event}: {self.result}"


# Nova's shadow tables of both (`db archive_deleted_rows` moves the actions of an archived
# instance there, events first; `db purge` deletes them): the live columns, no foreign key.
ShadowInstanceAction = shadow_model(InstanceAction, "ShadowInstanceAction")
ShadowInstanceActionEvent = shadow_model(InstanceActionEvent, "ShadowInstanceActionEvent")
