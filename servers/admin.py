"""Admin of servers: instances and compute nodes per cell, build requests and request specs.

Read-only (Nova has no edit path for these). Cell models are on the cell admin site, with links
back to the API database (an instance to its mapping, a node to its host mapping); build requests
and request specs (API database) on Django's admin site, decoded from their versioned JSON
(servers/serialization.py).
"""

import json
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from cellsv2.admin import (
    CellModelAdmin,
    LargeTableAdminMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SoftDeleteFilter,
    Usage,
    cell_admin_site,
    cell_site_url,
    clipped,
    id_column,
    instance_in_cell_url,
    register_cell_admin,
    short_id,
    soft_delete_state,
    state_badge,
    uuid_display,
)
from mappings.models import InstanceMapping
from servers.models import (
    BlockDeviceMapping,
    BuildRequest,
    ComputeNode,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    PlacementAttempt,
    RequestSpec,
    ShadowBlockDeviceMapping,
    ShadowInstance,
    ShadowInstanceExtra,
    ShadowInstanceFault,
    ShadowInstanceMetadata,
    ShadowInstanceSystemMetadata,
    Tag,
)
from servers.serialization import UnsupportedFormat, instance_load, request_spec_load

# Nova's vm_states: a fixed list, so the filter never scans the table for DISTINCT values.
VM_STATES = (
    "active",
    "building",
    "paused",
    "suspended",
    "stopped",
    "rescued",
    "resized",
    "soft-delete",
    "deleted",
    "error",
    "shelved",
    "shelved_offloaded",
)


class VmStateFilter(admin.SimpleListFilter):
    title = "vm state"
    parameter_name = "vm_state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in VM_STATES]

    def queryset(self, request, queryset):
        return queryset.filter(vm_state=self.value()) if self.value() else queryset


def _mapping_changelist_link(instance_uuid: str, label: str = "instance mapping"):
    url = reverse("admin:mappings_instancemapping_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode({"q": instance_uuid}), label)


# --- cells: instances and what hangs off them ------------------------------------------------------


class InstanceExtraInline(ReadOnlyInline):
    model = InstanceExtra
    fields = ("keypairs", "flavor", "numa_topology", "pci_requests", "deleted")
    readonly_fields = fields


class InstanceFaultInline(ReadOnlyInline):
    model = InstanceFault
    fields = ("created_at", "code", "message", "host", "details", "deleted")
    readonly_fields = fields
    ordering = ("-id",)


class InstanceMetadataInline(ReadOnlyInline):
    model = InstanceMetadata
    fields = ("key", "value", "deleted")
    readonly_fields = fields
    ordering = ("key",)


class InstanceSystemMetadataInline(ReadOnlyInline):
    model = InstanceSystemMetadata
    fields = ("key", "value", "deleted")
    readonly_fields = fields
    ordering = ("key",)


class BlockDeviceMappingInline(ReadOnlyInline):
    model = BlockDeviceMapping
    fields = ("boot_index", "source_type", "destination_type", "image_id", "volume_id", "volume_size", "deleted")
    readonly_fields = fields
    ordering = ("id",)


class MappedFilter(admin.SimpleListFilter):
    """Compute nodes whose host discovery has mapped, or not yet (``mapped`` is 0 or 1)."""

    title = "host discovery"
    parameter_name = "mapped"

    def lookups(self, request, model_admin):
        return (("1", "mapped"), ("0", "not mapped yet"))

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(mapped=1)
        if self.value() == "0":
            return queryset.exclude(mapped=1)
        return queryset


def _vm_state(obj):
    """vm_state as an operator reads it (active green, error red), the task state after it, and
    whether the row is soft-deleted."""
    state = obj.vm_state or "unknown"
    if state == "active":
        text = format_html('<span class="cellsv2-badge cellsv2-good">{}</span>', state)
    elif state == "error":
        text = format_html('<span class="cellsv2-badge cellsv2-bad">{}</span>', state)
    else:
        text = format_html('<span class="cellsv2-badge cellsv2-off">{}</span>', state)
    if obj.task_state:
        text = format_html('{} <span class="cellsv2-small">{}</span>', text, obj.task_state)
    if obj.deleted:
        text = format_html('{} <span class="cellsv2-badge cellsv2-off">deleted</span>', text)
    return text


@register_cell_admin(Instance)
class InstanceAdmin(CellModelAdmin):
    # The uuid whole; the project's id (32 hex digits in Keystone) cut short; vm and task state
    # and deletion in one column; the user's id only on the instance's page (searchable here).
    list_display = ("uuid_column", "name", id_column("project_id", "project"), "state", "host_column", "mapping")
    list_display_links = ("uuid_column",)
    list_filter = (VmStateFilter, SoftDeleteFilter)
    search_fields = ("=uuid", "display_name", "=project_id", "=user_id", "=host")
    ordering = ("-id",)
    # user_data may hold secrets only the guest should see.
    exclude = ("user_data",)
    readonly_fields = ("mapping_link", "user_data_hidden", "tag_list")
    inlines = (
        InstanceExtraInline,
        BlockDeviceMappingInline,
        InstanceFaultInline,
        InstanceMetadataInline,
        InstanceSystemMetadataInline,
    )

    @admin.display(description="uuid", ordering="uuid")
    def uuid_column(self, obj):
        return uuid_display(obj.uuid)

    @admin.display(description="name", ordering="display_name")
    def name(self, obj):
        return clipped(obj.display_name, 9)

    @admin.display(description="host", ordering="host")
    def host_column(self, obj):
        return clipped(obj.host, 9)

    @admin.display(description="state", ordering="vm_state")
    def state(self, obj):
        return _vm_state(obj)

    # The instance's page in groups read top-down; a column not named here goes to "Other".
    FIELD_GROUPS = (
        (None, ("mapping_link", "uuid", "display_name", "display_description", "hostname", "project_id", "user_id")),
        ("State", ("vm_state", "task_state", "power_state", "progress", "locked", "locked_by", "deleted")),
        ("Placement", ("host", "node", "availability_zone", "launched_on", "compute_id")),
        (
            "Flavor and image",
            (
                "instance_type_id",
                "vcpus",
                "memory_mb",
                "root_gb",
                "ephemeral_gb",
                "image_ref",
                "kernel_id",
                "ramdisk_id",
                "os_type",
                "architecture",
                "vm_mode",
                "root_device_name",
                "config_drive",
                "auto_disk_config",
            ),
        ),
        ("Access", ("key_name", "key_data", "access_ip_v4", "access_ip_v6", "user_data_hidden", "tag_list")),
        ("Times", ("created_at", "updated_at", "launched_at", "terminated_at", "deleted_at")),
    )

    def get_fields(self, request, obj=None):
        # The way back to the API database first.
        fields = [f for f in super().get_fields(request, obj) if f != "mapping_link"]
        return ["mapping_link", *fields]

    def get_fieldsets(self, request, obj=None):
        fields = list(self.get_fields(request, obj))
        fieldsets, placed = [], set()
        for title, names in self.FIELD_GROUPS:
            present = [name for name in names if name in fields]
            placed.update(present)
            if present:
                fieldsets.append((title, {"fields": present}))
        rest = [name for name in fields if name not in placed]
        if rest:
            fieldsets.append(("Other", {"fields": rest, "classes": ("collapse",)}))
        return fieldsets

    @admin.display(description="mapping")
    def mapping(self, obj):
        """The list's column: the mapping searched by uuid (no API query per row)."""
        return _mapping_changelist_link(obj.uuid, "mapping")

    @admin.display(description="instance mapping (API database)")
    def mapping_link(self, obj):
        mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=obj.uuid).first()
        if mapping is None:
            return "none: this instance is not mapped (run `cell_v2 map_instances`, or it was archived)"
        url = reverse("admin:mappings_instancemapping_change", args=[mapping.pk])
        cell = mapping.cell.name or mapping.cell.uuid if mapping.cell else "no cell"
        return format_html('<a class="mapping-link" href="{}">instance mapping</a> (cell: {})', url, cell)

    @admin.display(description="user data")
    def user_data_hidden(self, obj):
        return "(hidden)" if obj.user_data else "-"

    @admin.display(description="tags")
    def tag_list(self, obj):
        tags = Tag.objects.filter(resource_id=obj.uuid).order_by("tag").values_list("tag", flat=True)
        return ", ".join(tags) or "-"


@register_cell_admin(InstanceExtra)
class InstanceExtraAdmin(CellModelAdmin):
    list_display = ("instance_link", "keypairs_column", soft_delete_state)
    list_filter = (SoftDeleteFilter,)
    search_fields = ("=instance__uuid",)

    @admin.display(description="instance")
    def instance_link(self, obj):
        url = cell_site_url("instance_by_uuid", args=[obj.instance_id])
        return format_html('<a href="{}">{}</a>', url, uuid_display(obj.instance_id))

    @admin.display(description="key pairs")
    def keypairs_column(self, obj):
        return clipped(obj.keypairs, 30)


@register_cell_admin(InstanceFault)
class InstanceFaultAdmin(CellModelAdmin):
    list_display = ("instance_id", "code", "message_column", "host_column", "created_at", soft_delete_state)
    list_filter = (SoftDeleteFilter,)
    search_fields = ("=instance__uuid", "=host")
    ordering = ("-id",)

    @admin.display(description="message")
    def message_column(self, obj):
        return clipped(obj.message, 16)

    @admin.display(description="host", ordering="host")
    def host_column(self, obj):
        return clipped(obj.host, 8)


@register_cell_admin(InstanceMetadata)
class InstanceMetadataAdmin(CellModelAdmin):
    list_display = ("instance_id", "key", "value", soft_delete_state)
    list_filter = (SoftDeleteFilter,)
    search_fields = ("=instance__uuid", "key")


@register_cell_admin(InstanceSystemMetadata)
class InstanceSystemMetadataAdmin(CellModelAdmin):
    list_display = ("instance_id", "key", "value", soft_delete_state)
    list_filter = (SoftDeleteFilter,)
    search_fields = ("=instance__uuid", "key")


@register_cell_admin(BlockDeviceMapping)
class BlockDeviceMappingAdmin(CellModelAdmin):
    list_display = (
        "instance",
        "boot_index",
        "source_type",
        "destination_type",
        "volume_id",
        "image_id",
        "volume_size",
        soft_delete_state,
    )
    list_filter = (SoftDeleteFilter,)
    search_fields = ("=instance__uuid", "=volume_id", "=image_id", "=snapshot_id", "=uuid")


@register_cell_admin(Tag)
class TagAdmin(CellModelAdmin):
    list_display = ("resource_id", "tag")
    search_fields = ("=resource_id", "=tag")


def _usage(used, total, unit: str = "", divisor: int = 1) -> str:
    """``used / total unit`` on one line (as the cells dashboard shows a cell's nodes)."""
    text = Usage(used or 0, total or 0).display(unit, divisor)
    return format_html('<span class="cellsv2-nowrap">{}</span>', text)


@register_cell_admin(ComputeNode)
class ComputeNodeAdmin(CellModelAdmin):
    list_display = (
        "host_column",
        "node_column",
        "vcpus_usage",
        "ram_usage",
        "disk_usage",
        "discovery",
        soft_delete_state,
    )
    list_display_links = ("host_column",)
    list_filter = (MappedFilter, SoftDeleteFilter)
    search_fields = ("=host", "hypervisor_hostname", "=uuid")
    readonly_fields = ("host_mapping",)

    @admin.display(description="host", ordering="host")
    def host_column(self, obj):
        return clipped(obj.host, 10)

    @admin.display(description="hypervisor hostname", ordering="hypervisor_hostname")
    def node_column(self, obj):
        return clipped(obj.hypervisor_hostname, 10)

    @admin.display(description="vCPUs used / total", ordering="vcpus")
    def vcpus_usage(self, obj):
        return _usage(obj.vcpus_used, obj.vcpus)

    @admin.display(description="RAM used / total", ordering="memory_mb")
    def ram_usage(self, obj):
        return _usage(obj.memory_mb_used, obj.memory_mb, "GiB", 1024)

    @admin.display(description="disk used / total", ordering="local_gb")
    def disk_usage(self, obj):
        return _usage(obj.local_gb_used, obj.local_gb, "GB")

    @admin.display(description="host discovery", ordering="mapped")
    def discovery(self, obj):
        """Mapped (a link to the host's mapping in the API database), or not mapped yet."""
        if obj.mapped != 1:
            return state_badge(False, "mapped", "not mapped")
        url = reverse("admin:mappings_hostmapping_changelist")
        return format_html(
            '<a class="host-mapping-link" href="{}?{}">{}</a>',
            url,
            urlencode({"q": obj.host or ""}),
            state_badge(True, "mapped", "not mapped"),
        )

    @admin.display(description="host mapping")
    def host_mapping(self, obj):
        url = reverse("admin:mappings_hostmapping_changelist")
        return format_html('<a href="{}?{}">host mapping</a>', url, urlencode({"q": obj.host or ""}))


class ShadowAdmin(CellModelAdmin):
    """Rows `manage.py db archive_deleted_rows` moved out of a live table (read-only)."""

    ordering = ("-id",)


@register_cell_admin(ShadowInstance)
class ShadowInstanceAdmin(ShadowAdmin):
    list_display = ("id", "uuid", "display_name", "project_id", "vm_state", "deleted_at")
    search_fields = ("=uuid", "=project_id")
    exclude = ("user_data",)


@register_cell_admin(
    ShadowInstanceExtra,
    ShadowInstanceFault,
    ShadowInstanceMetadata,
    ShadowInstanceSystemMetadata,
    ShadowBlockDeviceMapping,
)
class ShadowInstanceRowAdmin(ShadowAdmin):
    list_display = ("id", "instance_uuid", "deleted_at")
    search_fields = ("=instance_uuid",)


# --- API database: build requests and request specs (admin.site) ---------------------------------


def _decoded(load, text: str | None) -> tuple[dict | None, str | None]:
    """(document, None), or (None, why it cannot be read) for a row of an unknown or newer format."""
    try:
        return load(text), None
    except UnsupportedFormat as exc:
        return None, str(exc)


def _value(value) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, sort_keys=True, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _fields_table(document: dict | None, error: str | None, *, hidden: tuple = ()):
    """A two-column HTML table of a decoded document (nested values as indented JSON)."""
    if document is None:
        return format_html("<strong>Cannot be read:</strong> {}", error)
    rows = format_html_join(
        "",
        '<tr><th style="white-space:nowrap">{}</th><td><pre style="margin:0;white-space:pre-wrap">{}</pre></td></tr>',
        ((key, "(hidden)" if key in hidden and document[key] else _value(document[key])) for key in sorted(document)),
    )
    return format_html("<table>{}</table>", rows)


def _age(created_at) -> str:
    return timesince(created_at) if created_at else "-"


class ReadOnlyApiAdmin(LargeTableAdminMixin, ReadOnlyAdmin):
    """Rows only the API and the conductor write: shown, never added, changed or deleted here.

    Big tables: counted without a full COUNT on every page (cellsv2.admin.LargeTableAdminMixin).
    """


@admin.register(PlacementAttempt)
class PlacementAttemptAdmin(ReadOnlyApiAdmin):
    """Placements begun and not finished: in flight, or after a crash waiting for a cell to answer."""

    list_display = ("instance_uuid", "created_at", "age", "waiting")
    search_fields = ("=instance_uuid",)
    ordering = ("id",)
    fields = ("instance_uuid", "created_at", "age", "waiting")
    readonly_fields = fields

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return _age(obj.created_at)

    @admin.display(description="build request")
    def waiting(self, obj):
        # None left: the user deleted the server; the conductor removes any copy a cell still holds.
        waiting = BuildRequest.objects.filter(instance_uuid=obj.instance_uuid).exists()
        return state_badge(waiting, "waiting", "server deleted")


@admin.register(BuildRequest)
class BuildRequestAdmin(ReadOnlyApiAdmin):
    """Servers waiting to be placed: the serialized instance decoded, how long they have waited."""

    list_display = (
        "instance_uuid",
        "server_name",
        id_column("project_id", "project"),
        "user_id",
        "flavor",
        "age",
        "request_spec_link",
    )
    search_fields = ("=instance_uuid", "=project_id")
    ordering = ("id",)
    fields = ("instance_uuid", "project_id", "created_at", "age", "request_spec_link", "decoded_instance", "tags")
    readonly_fields = fields

    def _instance(self, obj) -> tuple[dict | None, str | None]:
        if not hasattr(obj, "_decoded_instance"):
            obj._decoded_instance = _decoded(instance_load, obj.instance)
        return obj._decoded_instance

    def _field(self, obj, key):
        instance, _ = self._instance(obj)
        return (instance or {}).get(key) or "-"

    @admin.display(description="name")
    def server_name(self, obj):
        return clipped(self._field(obj, "display_name"), 12)

    @admin.display(description="user")
    def user_id(self, obj):
        return short_id(self._field(obj, "user_id"))

    @admin.display(description="flavor")
    def flavor(self, obj):
        instance, _ = self._instance(obj)
        return ((instance or {}).get("flavor") or {}).get("name") or "-"

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return _age(obj.created_at)

    @admin.display(description="request spec")
    def request_spec_link(self, obj):
        url = reverse("admin:servers_requestspec_changelist")
        return format_html('<a href="{}?q={}">request spec</a>', url, obj.instance_uuid)

    @admin.display(description="instance")
    def decoded_instance(self, obj):
        instance, error = self._instance(obj)
        # user_data may hold secrets the guest alone should see.
        return _fields_table(instance, error, hidden=("user_data",))


@admin.register(RequestSpec)
class RequestSpecAdmin(ReadOnlyApiAdmin):
    """What each server was asked for, kept for its whole life (decoded)."""

    list_display = ("instance_uuid", "project_id", "flavor", "num_instances", "server_group", "age", "mapping_link")
    search_fields = ("=instance_uuid",)
    ordering = ("-id",)
    fields = ("instance_uuid", "created_at", "age", "build_request_link", "mapping_link", "decoded_spec")
    readonly_fields = fields

    def _spec(self, obj) -> tuple[dict | None, str | None]:
        if not hasattr(obj, "_decoded_spec"):
            obj._decoded_spec = _decoded(request_spec_load, obj.spec)
        return obj._decoded_spec

    @admin.display(description="project")
    def project_id(self, obj):
        spec, _ = self._spec(obj)
        return short_id((spec or {}).get("project_id"))

    @admin.display(description="flavor")
    def flavor(self, obj):
        spec, _ = self._spec(obj)
        return ((spec or {}).get("flavor") or {}).get("name") or "-"

    @admin.display(description="of")
    def num_instances(self, obj):
        spec, _ = self._spec(obj)
        return (spec or {}).get("num_instances") or "-"

    @admin.display(description="server group")
    def server_group(self, obj):
        spec, _ = self._spec(obj)
        group = (spec or {}).get("instance_group") or {}
        if not group:
            return "-"
        return format_html("{} {}", short_id(group.get("uuid")), group.get("policy") or "")

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return _age(obj.created_at)

    @admin.display(description="build request")
    def build_request_link(self, obj):
        build = BuildRequest.objects.filter(instance_uuid=obj.instance_uuid).only("id").first()
        if build is None:
            return "none (placed, or cancelled)"
        return format_html(
            '<a href="{}">waiting to be placed</a>', reverse("admin:servers_buildrequest_change", args=[build.pk])
        )

    @admin.display(description="instance mapping")
    def mapping_link(self, obj):
        url = reverse("admin:mappings_instancemapping_changelist")
        return format_html('<a href="{}?q={}">mapping</a>', url, obj.instance_uuid)

    @admin.display(description="spec")
    def decoded_spec(self, obj):
        spec, error = self._spec(obj)
        return _fields_table(spec, error)


# --- links to an instance, wherever it is ----------------------------------------------------------


def instance_location_link(instance_uuid: str):
    """Where an instance is, as HTML: a link to it in its cell, to its build request, or why neither.

    Reads the API database only (its mapping, else its build request): one or two queries.
    """
    mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=instance_uuid).first()
    if mapping is not None and mapping.cell is not None:
        return format_html(
            '<a class="instance-link" href="{}">in {}</a>',
            instance_in_cell_url(mapping.cell, instance_uuid),
            mapping.cell.name or mapping.cell.uuid,
        )
    build = BuildRequest.objects.filter(instance_uuid=instance_uuid).values_list("pk", flat=True).first()
    if build is not None:
        return format_html(
            '<a href="{}">still a build request</a>', reverse("admin:servers_buildrequest_change", args=[build])
        )
    if mapping is not None:
        return "mapped to no cell, and no build request (an interrupted build: verify it)"
    return "no instance mapping (deleted and archived, or never mapped)"


def instance_by_uuid_view(request, instance_uuid):
    """Redirect to an instance's change page in the targeted cell, found by its uuid."""
    pk = Instance.objects.filter(uuid=instance_uuid).values_list("pk", flat=True).first()
    if pk is None:
        cell = request.cellsv2_cell
        messages.warning(
            request,
            f"Cell {cell.name or cell.uuid} has no instance {instance_uuid} "
            "(archived, or its instance mapping names the wrong cell: verify it).",
        )
        return redirect(f"{reverse('celladmin:servers_instance_changelist')}?{urlencode({'q': instance_uuid})}")
    return redirect("celladmin:servers_instance_change", pk)


cell_admin_site.register_view("go/instance/<str:instance_uuid>/", instance_by_uuid_view, "instance_by_uuid")
