"""Cell, host and instance mappings: where things are (API database, Nova's names and nullability)."""

from django.db import models

from cellsv2.cells import CELL0_UUID
from cellsv2.db import ApiModel, NovaIndex, UUIDCharField


class CellMapping(ApiModel):
    """A cell: the database (and message queue) that hold a group of compute hosts and instances."""

    CELL0_UUID = CELL0_UUID

    uuid = UUIDCharField()
    name = models.CharField(max_length=255, null=True, blank=True)
    transport_url = models.TextField(null=True, blank=True)
    database_connection = models.TextField(null=True, blank=True)
    disabled = models.BooleanField(null=True, default=False)

    class Meta:
        db_table = "cell_mappings"
        # Without Nova's uuid_idx: it duplicates the unique constraint's index.
        constraints = [models.UniqueConstraint(fields=["uuid"], name="uniq_cell_mappings0uuid")]

    def __str__(self) -> str:
        return self.identity

    @property
    def identity(self) -> str:
        """Nova's ``uuid(name)``, or just the uuid for a nameless cell."""
        return f"{self.uuid}({self.name})" if self.name else self.uuid

    @property
    def is_cell0(self) -> bool:
        return self.uuid == CELL0_UUID


class HostMapping(ApiModel):
    """Maps a compute host name to the cell that holds it."""

    cell = models.ForeignKey(
        "mappings.CellMapping", on_delete=models.PROTECT, db_column="cell_id", related_name="host_mappings"
    )
    host = models.CharField(max_length=255)

    class Meta:
        db_table = "host_mappings"
        # Without Nova's host_idx: it duplicates the unique constraint's index.
        constraints = [models.UniqueConstraint(fields=["host"], name="uniq_host_mappings0host")]

    def __str__(self) -> str:
        return self.host


class InstanceMapping(ApiModel):
    """Maps an instance uuid to the cell that holds it (no cell yet while it is a build request)."""

    instance_uuid = UUIDCharField()
    cell = models.ForeignKey(
        "mappings.CellMapping",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_column="cell_id",
        related_name="instance_mappings",
    )
    project_id = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    queued_for_delete = models.BooleanField(null=True, default=False)

    class Meta:
        db_table = "instance_mappings"
        constraints = [models.UniqueConstraint(fields=["instance_uuid"], name="uniq_instance_mappings0instance_uuid")]
        # Without Nova's instance_uuid_idx: it duplicates the unique constraint's index, and cost a
        # sixth of every mapping written (map_instances, server create).
        indexes = [
            models.Index(fields=["project_id"], name="project_id_idx"),
            NovaIndex(fields=["user_id", "project_id"], name="instance_mappings_user_id_project_id_idx"),
        ]

    def __str__(self) -> str:
        return self.instance_uuid
