"""Hosts: the services of each cell (Nova's ``services`` table, one per cell database).

The hypervisors the API shows are the cells' ``compute_nodes`` (servers.models.ComputeNode);
this app owns the service each compute node belongs to.
"""

from django.db import models

from cellsv2.db import CellModel, NovaIndex, SoftDeleteMixin, UUIDCharField

COMPUTE_BINARY = "nova-compute"
COMPUTE_TOPIC = "compute"
CONDUCTOR_BINARY = "nova-conductor"
CONDUCTOR_TOPIC = "conductor"


class Service(SoftDeleteMixin, CellModel):
    """A service of a cell (Nova's ``services``): one ``nova-compute`` per compute host.

    ``disabled`` keeps the scheduler away from the host; ``forced_down`` declares it down whatever
    its heartbeat says (``last_seen_up``).
    """

    uuid = UUIDCharField(null=True, blank=True)
    host = models.CharField(max_length=255, null=True, blank=True)
    binary = models.CharField(max_length=255, null=True, blank=True)
    topic = models.CharField(max_length=255, null=True, blank=True)
    report_count = models.IntegerField(default=0)
    disabled = models.BooleanField(null=True, default=False)
    disabled_reason = models.CharField(max_length=255, null=True, blank=True)
    last_seen_up = models.DateTimeField(null=True, blank=True)
    forced_down = models.BooleanField(null=True, default=False)
    version = models.IntegerField(null=True, default=0)

    class Meta:
        db_table = "services"
        constraints = [
            models.UniqueConstraint(fields=["host", "topic", "deleted"], name="uniq_services0host0topic0deleted"),
            models.UniqueConstraint(fields=["host", "binary", "deleted"], name="uniq_services0host0binary0deleted"),
            models.UniqueConstraint(fields=["uuid"], name="services_uuid_idx"),
        ]
        indexes = [NovaIndex(fields=["host"], name="services_host_idx")]

    def __str__(self) -> str:
        return f"{self.binary} on {self.host}"
