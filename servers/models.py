"""Servers: the cell-side instances, their extra data and the compute nodes they run on."""

from django.db import models

from cellsv2.db import ApiModel, CellModel, NovaIndex, SoftDeleteMixin, UUIDCharField, shadow_model


class ComputeNode(SoftDeleteMixin, CellModel):
    """A hypervisor node of a cell (Nova's compute_nodes, the columns discovery and scheduling use)."""

    uuid = UUIDCharField(null=True, blank=True)
    service_id = models.IntegerField(null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    hypervisor_hostname = models.CharField(max_length=255, null=True, blank=True)
    hypervisor_type = models.TextField(default="cellsv2")
    hypervisor_version = models.IntegerField(default=0)
    host_ip = models.CharField(max_length=39, null=True, blank=True)
    vcpus = models.IntegerField()
    memory_mb = models.IntegerField()
    local_gb = models.IntegerField()
    vcpus_used = models.IntegerField(default=0)
    memory_mb_used = models.IntegerField(default=0)
    local_gb_used = models.IntegerField(default=0)
    running_vms = models.IntegerField(null=True, default=0)
    cpu_allocation_ratio = models.FloatField(null=True, blank=True)
    ram_allocation_ratio = models.FloatField(null=True, blank=True)
    disk_allocation_ratio = models.FloatField(null=True, blank=True)
    cpu_info = models.TextField(default="{}")
    # 0 until host discovery maps the node's host (main migration 360).
    mapped = models.IntegerField(null=True, default=0)

    class Meta:
        db_table = "compute_nodes"
        constraints = [
            models.UniqueConstraint(
                fields=["host", "hypervisor_hostname", "deleted"],
                name="uniq_compute_nodes0host0hypervisor_hostname0deleted",
            ),
            models.UniqueConstraint(fields=["uuid"], name="compute_nodes_uuid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.host}/{self.hypervisor_hostname}"


class Instance(SoftDeleteMixin, CellModel):
    """A server as its cell knows it (Nova's instances table)."""

    uuid = UUIDCharField()
    user_id = models.CharField(max_length=255, null=True, blank=True)
    project_id = models.CharField(max_length=255, null=True, blank=True)
    image_ref = models.CharField(max_length=255, null=True, blank=True)
    kernel_id = models.CharField(max_length=255, null=True, blank=True)
    ramdisk_id = models.CharField(max_length=255, null=True, blank=True)
    hostname = models.CharField(max_length=255, null=True, blank=True)
    launch_index = models.IntegerField(null=True, blank=True)
    key_name = models.CharField(max_length=255, null=True, blank=True)
    key_data = models.TextField(null=True, blank=True)
    power_state = models.IntegerField(null=True, blank=True)
    vm_state = models.CharField(max_length=255, null=True, blank=True)
    task_state = models.CharField(max_length=255, null=True, blank=True)
    memory_mb = models.IntegerField(null=True, blank=True)
    vcpus = models.IntegerField(null=True, blank=True)
    root_gb = models.IntegerField(null=True, blank=True)
    ephemeral_gb = models.IntegerField(null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    node = models.CharField(max_length=255, null=True, blank=True)
    compute_id = models.BigIntegerField(null=True, blank=True)
    instance_type_id = models.IntegerField(null=True, blank=True)
    user_data = models.TextField(null=True, blank=True)
    reservation_id = models.CharField(max_length=255, null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    availability_zone = models.CharField(max_length=255, null=True, blank=True)
    display_name = models.CharField(max_length=255, null=True, blank=True)
    display_description = models.CharField(max_length=255, null=True, blank=True)
    launched_on = models.TextField(null=True, blank=True)
    locked = models.BooleanField(null=True, default=False)
    locked_by = models.CharField(max_length=5, null=True, blank=True, choices=[("owner", "owner"), ("admin", "admin")])
    os_type = models.CharField(max_length=255, null=True, blank=True)
    architecture = models.CharField(max_length=255, null=True, blank=True)
    vm_mode = models.CharField(max_length=255, null=True, blank=True)
    root_device_name = models.CharField(max_length=255, null=True, blank=True)
    config_drive = models.CharField(max_length=255, null=True, blank=True)
    access_ip_v4 = models.CharField(max_length=39, null=True, blank=True)
    access_ip_v6 = models.CharField(max_length=39, null=True, blank=True)
    auto_disk_config = models.BooleanField(null=True, blank=True)
    progress = models.IntegerField(null=True, blank=True)
    shutdown_terminate = models.BooleanField(null=True, default=False)
    disable_terminate = models.BooleanField(null=True, default=False)
    cleaned = models.IntegerField(null=True, default=0)
    hidden = models.BooleanField(null=True, default=False)

    class Meta:
        db_table = "instances"
        constraints = [models.UniqueConstraint(fields=["uuid"], name="uniq_instances0uuid")]
        # Nova's index names are part of the contract (reference §2.3).
        indexes = [
            models.Index(fields=["project_id"], name="instances_project_id_idx"),
            NovaIndex(fields=["project_id", "deleted"], name="instances_project_id_deleted_idx"),
            NovaIndex(fields=["reservation_id"], name="instances_reservation_id_idx"),
            NovaIndex(fields=["terminated_at", "launched_at"], name="instances_terminated_at_launched_at_idx"),
            models.Index(fields=["uuid", "deleted"], name="instances_uuid_deleted_idx"),
            NovaIndex(fields=["task_state", "updated_at"], name="instances_task_state_updated_at_idx"),
            NovaIndex(fields=["host", "node", "deleted"], name="instances_host_node_deleted_idx"),
            NovaIndex(fields=["host", "deleted", "cleaned"], name="instances_host_deleted_cleaned_idx"),
            NovaIndex(fields=["deleted", "created_at"], name="instances_deleted_created_at_idx"),
            NovaIndex(fields=["updated_at", "project_id"], name="instances_updated_at_project_id_idx"),
            NovaIndex(fields=["compute_id", "deleted"], name="instances_compute_id_deleted_idx"),
        ]

    def __str__(self) -> str:
        return self.uuid


class InstanceExtra(SoftDeleteMixin, CellModel):
    """Serialized per-instance data (Nova's instance_extra; one row per instance)."""

    instance = models.ForeignKey(
        "servers.Instance",
        to_field="uuid",
        db_column="instance_uuid",
        db_index=False,
        on_delete=models.CASCADE,
        related_name="extras",
    )
    numa_topology = models.TextField(null=True, blank=True)
    pci_requests = models.TextField(null=True, blank=True)
    flavor = models.TextField(null=True, blank=True)
    vcpu_model = models.TextField(null=True, blank=True)
    migration_context = models.TextField(null=True, blank=True)
    # A KeyPairList primitive; an empty list when the instance has no key, NULL when never populated.
    keypairs = models.TextField(null=True, blank=True)
    device_metadata = models.TextField(null=True, blank=True)
    trusted_certs = models.TextField(null=True, blank=True)
    resources = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "instance_extra"
        indexes = [
            models.Index(fields=["instance"], name="instance_extra_idx"),
            # Not Nova's: the live rows whose key pairs are not populated yet, which the online
            # migration asks every cell for in every batch. Empty once it is done, so it costs
            # nothing to keep, and the question is never a scan of the whole table.
            models.Index(
                fields=["id"],
                condition=models.Q(deleted=0, keypairs__isnull=True),
                name="instance_extra_no_keypairs_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"extra of {self.instance_id}"


class BuildRequest(ApiModel):
    """A server the API accepted and no cell holds yet (Nova's build_requests).

    ``instance`` is the serialized instance (format in docs/server-build-flow.md); it is deleted
    once the conductor has written the instance into a cell.
    """

    instance_uuid = UUIDCharField(null=True, blank=True)
    project_id = models.CharField(max_length=255)
    instance = models.TextField(null=True, blank=True)
    block_device_mappings = models.TextField(null=True, blank=True)
    tags = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "build_requests"
        constraints = [models.UniqueConstraint(fields=["instance_uuid"], name="uniq_build_requests0instance_uuid")]
        # Without Nova's build_requests_instance_uuid_idx: it duplicates the unique constraint's index.
        indexes = [models.Index(fields=["project_id"], name="build_requests_project_id_idx")]

    def __str__(self) -> str:
        return f"build request {self.instance_uuid}"


class PlacementAttempt(ApiModel):
    """A conductor began placing this build request (not Nova's: its own table).

    Committed before the conductor writes anything into a cell, and deleted in the API
    transaction that finishes the build request. A row that outlives its attempt means a cell
    may hold the instance already: the next attempt adopts it, and waits while a cell cannot
    say; if the build request is gone (deleted by its user meanwhile), the conductor removes
    what the cells hold of it.
    """

    instance_uuid = UUIDCharField()

    class Meta:
        db_table = "cellsv2_placement_attempts"
        constraints = [
            models.UniqueConstraint(fields=["instance_uuid"], name="uniq_cellsv2_placement_attempts0instance_uuid")
        ]

    def __str__(self) -> str:
        return f"placement attempt {self.instance_uuid}"


class RequestSpec(ApiModel):
    """What was asked for when a server was created, kept for its whole life (Nova's request_specs)."""

    instance_uuid = UUIDCharField()
    spec = models.TextField()

    class Meta:
        db_table = "request_specs"
        # Without Nova's request_spec_instance_uuid_idx: it duplicates the unique constraint's index.
        constraints = [models.UniqueConstraint(fields=["instance_uuid"], name="uniq_request_specs0instance_uuid")]

    def __str__(self) -> str:
        return f"request spec {self.instance_uuid}"


class InstanceFault(SoftDeleteMixin, CellModel):
    """Why an instance failed, e.g. "No valid host was found" for one buried in cell0."""

    instance = models.ForeignKey(
        "servers.Instance",
        to_field="uuid",
        db_column="instance_uuid",
        db_index=False,
        on_delete=models.CASCADE,
        related_name="faults",
    )
    code = models.IntegerField()
    message = models.CharField(max_length=255, null=True, blank=True)
    details = models.TextField(null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "instance_faults"
        indexes = [
            models.Index(fields=["host"], name="instance_faults_host_idx"),
            NovaIndex(
                fields=["instance", "deleted", "created_at"],
                name="instance_faults_instance_uuid_deleted_created_at_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class InstanceMetadata(SoftDeleteMixin, CellModel):
    """One user metadata item of an instance (Nova's instance_metadata)."""

    key = models.CharField(max_length=255, null=True, blank=True)
    value = models.CharField(max_length=255, null=True, blank=True)
    instance = models.ForeignKey(
        "servers.Instance",
        to_field="uuid",
        db_column="instance_uuid",
        db_index=False,
        on_delete=models.CASCADE,
        related_name="metadata_items",
    )

    class Meta:
        db_table = "instance_metadata"
        indexes = [NovaIndex(fields=["instance"], name="instance_metadata_instance_uuid_idx")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class InstanceSystemMetadata(SoftDeleteMixin, CellModel):
    """Metadata the system keeps about an instance (Nova's instance_system_metadata)."""

    key = models.CharField(max_length=255)
    value = models.CharField(max_length=255, null=True, blank=True)
    instance = models.ForeignKey(
        "servers.Instance",
        to_field="uuid",
        db_column="instance_uuid",
        db_index=False,
        on_delete=models.CASCADE,
        related_name="system_metadata_items",
    )

    class Meta:
        db_table = "instance_system_metadata"
        indexes = [NovaIndex(fields=["instance"], name="instance_uuid")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class BlockDeviceMapping(SoftDeleteMixin, CellModel):
    """A disk of an instance: where it comes from and where it goes (Nova's block_device_mapping).

    Written by the conductor with the instance, from the build request's list; soft-deleted with
    the instance. ``volume_id`` is set only for a volume that exists when the server is created
    (source ``volume``): there is no volume service to create the others (docs/server-build-flow.md).
    """

    instance = models.ForeignKey(
        "servers.Instance",
        to_field="uuid",
        db_column="instance_uuid",
        db_index=False,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="block_device_mappings",
    )
    # The mapping's own identity (not the image, volume or snapshot it was made from).
    uuid = UUIDCharField(null=True, blank=True)
    source_type = models.CharField(max_length=255, null=True, blank=True)
    destination_type = models.CharField(max_length=255, null=True, blank=True)
    guest_format = models.CharField(max_length=255, null=True, blank=True)
    device_type = models.CharField(max_length=255, null=True, blank=True)
    disk_bus = models.CharField(max_length=255, null=True, blank=True)
    boot_index = models.IntegerField(null=True, blank=True)
    device_name = models.CharField(max_length=255, null=True, blank=True)
    delete_on_termination = models.BooleanField(null=True, default=False)
    snapshot_id = models.CharField(max_length=36, null=True, blank=True)
    volume_id = models.CharField(max_length=36, null=True, blank=True)
    volume_size = models.IntegerField(null=True, blank=True)
    volume_type = models.CharField(max_length=255, null=True, blank=True)
    image_id = models.CharField(max_length=36, null=True, blank=True)
    no_device = models.BooleanField(null=True, blank=True)
    connection_info = models.TextField(null=True, blank=True)
    tag = models.CharField(max_length=255, null=True, blank=True)
    attachment_id = models.CharField(max_length=36, null=True, blank=True)
    encrypted = models.BooleanField(null=True, default=False)
    encryption_secret_uuid = models.CharField(max_length=36, null=True, blank=True)
    encryption_format = models.CharField(max_length=128, null=True, blank=True)
    encryption_options = models.CharField(max_length=4096, null=True, blank=True)

    class Meta:
        db_table = "block_device_mapping"
        constraints = [models.UniqueConstraint(fields=["uuid"], name="uniq_block_device_mapping0uuid")]
        # Nova's index names (reference §2).
        indexes = [
            models.Index(fields=["snapshot_id"], name="snapshot_id"),
            models.Index(fields=["volume_id"], name="volume_id"),
            NovaIndex(fields=["instance", "device_name"], name="block_device_mapping_instance_uuid_device_name_idx"),
            NovaIndex(fields=["instance", "volume_id"], name="block_device_mapping_instance_uuid_volume_id_idx"),
            NovaIndex(fields=["instance"], name="block_device_mapping_instance_uuid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_type} -> {self.destination_type} ({self.boot_index})"


class Tag(CellModel):
    """A tag on an instance (Nova's tags; Nova's primary key is (resource_id, tag), here a unique pair)."""

    resource_id = UUIDCharField()
    tag = models.CharField(max_length=80)

    class Meta:
        db_table = "tags"
        constraints = [models.UniqueConstraint(fields=["resource_id", "tag"], name="tags_pkey_resource_id_tag")]
        indexes = [models.Index(fields=["tag"], name="tags_tag_idx")]

    def __str__(self) -> str:
        return self.tag


# --- shadow tables ------------------------------------------------------------------------------
# Nova keeps a shadow_<table> copy of each soft-deletable cell table (data-layer reference §0):
# `manage.py db archive_deleted_rows` moves deleted rows there, `manage.py db purge` deletes them
# (operators/archive.py). cellsv2.db.shadow_model builds them from the live models: the same
# columns, no constraints (tests/operators/test_archive.py checks them).

ShadowInstance = shadow_model(
    Instance, "ShadowInstance", indexes=(models.Index(fields=["uuid"], name="shadow_instances_uuid_idx"),)
)
ShadowInstanceExtra = shadow_model(InstanceExtra, "ShadowInstanceExtra")
ShadowInstanceFault = shadow_model(InstanceFault, "ShadowInstanceFault")
ShadowInstanceMetadata = shadow_model(InstanceMetadata, "ShadowInstanceMetadata")
ShadowInstanceSystemMetadata = shadow_model(InstanceSystemMetadata, "ShadowInstanceSystemMetadata")
ShadowBlockDeviceMapping = shadow_model(BlockDeviceMapping, "ShadowBlockDeviceMapping")
