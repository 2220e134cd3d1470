"""Admin of consoles, per cell and read-only: token hashes (a prefix), never a token."""

from django.contrib import admin

from cellsv2.admin import CellModelAdmin, register_cell_admin
from consoles import clock
from consoles.models import ConsoleAuthToken, ConsoleSerialPort


@register_cell_admin(ConsoleAuthToken)
class ConsoleAuthTokenAdmin(CellModelAdmin):
    list_display = ("hash_prefix", "console_type", "instance_uuid", "host", "port", "expires_at", "is_expired")
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

    @admin.display(description="expires")
    def expires_at(self, obj):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(obj.expires, tz=UTC)

    @admin.display(boolean=True, description="expired")
    def is_expired(self, obj) -> bool:
        return obj.expires <= clock.utcnow_ts()


@register_cell_admin(ConsoleSerialPort)
class ConsoleSerialPortAdmin(CellModelAdmin):
    list_display = ("host", "port", "instance_uuid", "assigned_until", "connected_by", "connected_until")
    search_fields = ("=instance_uuid", "=host")
    show_full_result_count = False
    ordering = ("host", "port")
