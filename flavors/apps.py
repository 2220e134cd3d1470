from django.apps import AppConfig


class FlavorsConfig(AppConfig):
    name = "flavors"
    verbose_name = "Flavors"
    default_auto_field = "django.db.models.AutoField"
