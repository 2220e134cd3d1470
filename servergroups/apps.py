from django.apps import AppConfig


class ServergroupsConfig(AppConfig):
    name = "servergroups"
    verbose_name = "Server groups"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from servergroups import selectors  # noqa: F401  (registers the server group quota counters)
