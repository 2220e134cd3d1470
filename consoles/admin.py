"""Admin of consoles, per cell and read-only: token hashes (a prefix), never a token."""

from datetime import UTC, datetime

from django.contrib import admin

from cellsv2.admin import CellModelAdmin, clipped, register_cell_admin, state_badge, when
from consoles import clock
from consoles.models import ConsoleAuthToken, ConsoleSerialPort


def _from_timestamp(value: int | None) -> datetime | None:
    """A Unix time (these tables store them as Nova does) as an aware datetime."""
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


@register_cell_admin(ConsoleAuthToken)
class ConsoleAuthTokenAdmin(CellModelAdmin):
    list_display = ("hash_prefix", "console_type", "instance_uuid", "host_column", "port", "expires_when", "state")
    list_filter = ("console_type",)
    search_fields = ("=instance_uuid", "=host")
    # The full hash is not shown either: a prefix tells rows apart, and nothing needs more.
    fields = (
        "hash_prefix",
        "console_type",
        "instance_uuid",
        "host",
        "port",
        "tls_port",
        "internal_access_path",
        "access_url_base",
        "expires_at",
        "created_at",
    )
    readonly_fields = fields
    show_full_result_count = False
    ordering = ("-id",)

    @admin.display(description="token hash")
    def hash_prefix(self, obj) -> str:
        return f"{obj.token_hash[:8]}…"

    @admin.display(description="host", ordering="host")
    def host_column(self, obj):
        return clipped(obj.host, 10)

    @admin.display(description="expires", ordering="expires")
    def expires_when(self, obj):
        return when(_from_timestamp(obj.expires))

    @admin.display(description="expires")
    def expires_at(self, obj):
        return _from_timestamp(obj.expires)

    @admin.display(description="state", ordering="expires")
    def state(self, obj):
        return state_badge(obj.expires > clock.utcnow_ts(), "valid", "expired")


@register_cell_admin(ConsoleSerialPort)
class ConsoleSerialPortAdmin(CellModelAdmin):
    list_display = ("host", "port", "instance_uuid", "assigned", "connected_by", "connected")
    search_fields = ("=instance_uuid", "=host")
    show_full_result_count = False
    ordering = ("host", "port")

    @admin.display(description="assigned until", ordering="assigned_until")
    def assigned(self, obj):
        return when(_from_timestamp(obj.assigned_until))

    @admin.display(description="connected until", ordering="connected_until")
    def connected(self, obj):
        return when(_from_timestamp(obj.connected_until))
