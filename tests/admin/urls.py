"""URLs for test_cell_writes: the project's URLs plus a cell site whose Tag admin may write.

No cell model is writable in the product (Nova has no edit path for any); this site proves that a
cell admin that allows writes commits them in a transaction on the targeted cell's database.
"""

from django.db import connections, router
from django.urls import path

from cellsv2.admin import CellAdminSite, CellModelAdmin
from cellsv2.urls import urlpatterns as project_urlpatterns
from servers.models import Tag

writable_site = CellAdminSite(name="writablecelladmin")
# What save_model and delete_model saw: the router's answer and the transaction depth per database.
SEEN: list[dict] = []


def _snapshot(model) -> dict:
    return {
        "db_for_write": router.db_for_write(model),
        "depth": {alias: len(connections[alias].atomic_blocks) for alias in ("api", "cell0", "cell1", "cell2")},
    }


class WritableTagAdmin(CellModelAdmin):
    fields = ("resource_id", "tag")

    def has_add_permission(self, request, obj=None):
        return True

    def has_change_permission(self, request, obj=None):
        return True

    def has_delete_permission(self, request, obj=None):
        return True

    def save_model(self, request, obj, form, change):
        SEEN.append(_snapshot(Tag))
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        SEEN.append(_snapshot(Tag))
        super().delete_model(request, obj)


writable_site.register(Tag, WritableTagAdmin)

urlpatterns = [path("admin/writable-cell/", writable_site.urls), *project_urlpatterns]
