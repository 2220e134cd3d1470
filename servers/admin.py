"""Admin of servers: instances and compute nodes, per cell (read-only: Nova has no edit path)."""

from cellsv2.admin import CellModelAdmin, register_cell_admin
from servers.models import ComputeNode, Instance, InstanceExtra


@register_cell_admin(Instance)
class InstanceAdmin(CellModelAdmin):
    list_display = ("uuid", "display_name", "project_id", "user_id", "vm_state", "task_state", "host", "deleted")
    list_filter = ("vm_state", "deleted")
    search_fields = ("=uuid", "display_name", "=project_id", "=user_id", "=host")
    show_full_result_count = False
    ordering = ("-id",)


@register_cell_admin(InstanceExtra)
class InstanceExtraAdmin(CellModelAdmin):
    list_display = ("instance_id", "keypairs", "deleted")
    search_fields = ("=instance__uuid",)
    show_full_result_count = False


@register_cell_admin(ComputeNode)
class ComputeNodeAdmin(CellModelAdmin):
    list_display = ("host", "hypervisor_hostname", "uuid", "vcpus", "memory_mb", "local_gb", "mapped", "deleted")
    list_filter = ("mapped", "deleted")
    search_fields = ("=host", "hypervisor_hostname", "=uuid")
