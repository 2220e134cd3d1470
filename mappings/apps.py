from django.apps import AppConfig


class MappingsConfig(AppConfig):
    name = "mappings"
    verbose_name = "Cell, host and instance mappings"
    default_auto_field = "django.db.models.AutoField"
