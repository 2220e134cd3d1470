from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _clear_cell_cache(sender, **kwargs):
    from cellsv2.cells import cell_mappings_changed  # imported when the signal fires: apps.py loads before models

    cell_mappings_changed()


class MappingsConfig(AppConfig):
    name = "mappings"
    verbose_name = "Cell, host and instance mappings"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # The cell registry caches mappings: a change clears this process's cache at once and reaches
        # every other process through the shared cache (cellsv2.cells.cell_mappings_changed).
        post_save.connect(_clear_cell_cache, sender="mappings.CellMapping", dispatch_uid="cellsv2-cell-cache-save")
        post_delete.connect(_clear_cell_cache, sender="mappings.CellMapping", dispatch_uid="cellsv2-cell-cache-del")
