"""What every app's admin.py shares: read-only bases, filters and how values read in lists."""

from dataclasses import dataclass

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html


class ReadOnlyAdmin(admin.ModelAdmin):
    """A ModelAdmin that only shows rows: none is added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline that only shows rows."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SoftDeleteFilter(admin.SimpleListFilter):
    """Live or soft-deleted rows (``deleted`` holds the row's id once deleted: no DISTINCT over it)."""

    title = "state"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", "live"), ("only", "soft-deleted"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted=0)
        if self.value() == "only":
            return queryset.exclude(deleted=0)
        return queryset


# --- how values read in lists ----------------------------------------------------------------------
# Lists must fit a 1400 px screen beside the navigation and filter sidebars: a uuid is shown whole
# in one monospace line (the static CSS styles its span), long ids that are not the row's own
# (project, user, cell) by their first characters with the whole in a tooltip, free text cut with
# an ellipsis, and states as coloured words rather than Django's tick and cross icons.


def uuid_display(value):
    """A uuid, whole, monospace, on one line ("-" when empty)."""
    if not value:
        return "-"
    return format_html('<span class="cellsv2-uuid">{}</span>', value)


def short_id(value, length: int = 8):
    """A long id cut to its first ``length`` characters; the whole id in a tooltip ("-" when empty)."""
    if not value:
        return "-"
    value = str(value)
    if len(value) <= length + 1:
        return format_html('<span class="cellsv2-id">{}</span>', value)
    return format_html('<span class="cellsv2-id" title="{}">{}…</span>', value, value[:length])


def clipped(value, width_em: int = 16):
    """Free text on one line, cut with an ellipsis past ``width_em``; the whole text in a tooltip."""
    if value in (None, ""):
        return "-"
    return format_html(
        '<span class="cellsv2-clip" style="max-width:{}em" title="{}">{}</span>', width_em, value, value
    )


def state_badge(good: bool, good_label: str, bad_label: str, *, bad_is_error: bool = False):
    """A state as an operator reads it: a green word when good, grey (or red) otherwise."""
    if good:
        return format_html('<span class="cellsv2-badge cellsv2-good">{}</span>', good_label)
    kind = "cellsv2-bad" if bad_is_error else "cellsv2-off"
    return format_html('<span class="cellsv2-badge {}">{}</span>', kind, bad_label)


def cell_label(cell):
    """A cell by its name (its uuid in a tooltip), or by its short uuid when it has no name."""
    if cell is None:
        return "-"
    if cell.name:
        return format_html('<span class="cellsv2-cell" title="{}">{}</span>', cell.uuid, cell.name)
    return short_id(cell.uuid)


def when(value):
    """A date and time in the operator's time zone, short and on one line ("2026-11-22 04:51")."""
    if value is None:
        return "-"
    return format_html(
        '<span class="cellsv2-nowrap" title="{}">{}</span>',
        value.isoformat(),
        timezone.localtime(value).strftime("%Y-%m-%d %H:%M"),
    )


def id_column(field: str, description: str | None = None, *, length: int = 8):
    """A list_display column showing ``field`` with :func:`short_id` (sortable by the field)."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj):
        return short_id(getattr(obj, field), length)

    column.__name__ = f"{field}_short"
    return column


@admin.display(description="state", ordering="deleted")
def soft_delete_state(obj):
    """A soft-deletable row's state: live, or soft-deleted (``deleted`` holds the row id then)."""
    return state_badge(not obj.deleted, "live", "deleted")


class CellListFilter(admin.RelatedFieldListFilter):
    """Filter by cell, each named as an operator reads it ("cell1 d02ad10b…", the uuid in a tooltip).

    Django's default labels are ``str(cell)``, Nova's ``uuid(name)`` identity: long and hard to
    scan in a sidebar.
    """

    def field_choices(self, field, request, model_admin):
        cells = field.related_model._default_manager.order_by("id")
        return [
            (cell.pk, format_html("{} {}", cell.name, short_id(cell.uuid)) if cell.name else short_id(cell.uuid))
            for cell in cells
        ]


# --- amounts --------------------------------------------------------------------------------------


def _amount(value: float) -> str:
    """A figure with thousands separators and at most one decimal ("1,536", "1.5")."""
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass
class Usage:
    """One resource of a cell's compute nodes: how much is in use of how much."""

    used: int
    total: int

    @property
    def percent(self) -> int | None:
        """Used as a whole percentage of the total (None when there is no total); above 100 when
        the nodes are overcommitted (allocation ratios)."""
        return round(100 * self.used / self.total) if self.total else None

    @property
    def bar(self) -> int:
        """The width of a usage bar, in percent of the total: 0 to 100."""
        return min(self.percent or 0, 100)

    def display(self, unit: str = "", divisor: int = 1) -> str:
        """``used / total unit``, e.g. "6 / 8 GiB" (MB shown in GiB with ``divisor=1024``)."""
        text = f"{_amount(self.used / divisor)} / {_amount(self.total / divisor)}"
        return f"{text} {unit}" if unit else text
