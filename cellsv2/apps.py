from django.apps import AppConfig


class Cellsv2Config(AppConfig):
    name = "cellsv2"
    verbose_name = "Cells v2"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2 import checks  # noqa: F401  (registers the system checks)
