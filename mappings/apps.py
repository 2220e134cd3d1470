from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _clear_cell_cache(sender, **kwargs):
    from cellsv2.cells import cells_cache_clear

    cells_cache_clear()


class MappingsConfig(AppConfig):
    name = "mappings"
    verbose_name = "Cell, host and instance mappings"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # The cell registry caches mappings: any change made in this process clears it at once.
        post_save.connect(_clear_cell_cache, sender="mappings.CellMapping", dispatch_uid="cellsv2-cell-cache-save")
        post_delete.connect(_clear_cell_cache, sender="mappings.CellMapping", dispatch_uid="cellsv2-cell-cache-del")
