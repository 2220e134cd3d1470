"""Servers: the cell-side instances, their extra data and the compute nodes they run on."""

from django.db import models

from cellsv2.db import CellModel, NovaIndex, SoftDeleteMixin, UUIDCharField


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
        indexes = [models.Index(fields=["instance"], name="instance_extra_idx")]

    def __str__(self) -> str:
        return f"extra of {self.instance_id}"
