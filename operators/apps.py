from django.apps import AppConfig


class OperatorsConfig(AppConfig):
    """The operators' workflows across apps: ``cell_v2``, ``db``, the cells dashboard, the mapping admin.

    The top floor: it imports any app, and no app imports it.
    """

    name = "operators"
    verbose_name = "Operators"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # The build queue and the online migrations' backlog on /metrics.
        from cellsv2.observability.metrics import register_scrape_source
        from operators.metrics import build_queue_source, online_migrations_source

        register_scrape_source(build_queue_source)
        register_scrape_source(online_migrations_source)
