from django.apps import AppConfig


class ConsolesConfig(AppConfig):
    name = "consoles"
    verbose_name = "Console connections"
    default_auto_field = "django.db.models.AutoField"
