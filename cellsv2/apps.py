from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class Cellsv2Config(AppConfig):
    name = "cellsv2"
    verbose_name = "Cells v2"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2 import checks  # noqa: F401  (registers the system checks)

        # Registered here, as every app registers its modes (the default, token, is identity's), and
        # imported here so that loading the app configs does not import DRF and the API plumbing.
        from cellsv2.api.authentication import HeaderAuthentication, NoAuthAuthentication, register_auth_mode

        register_auth_mode("headers", HeaderAuthentication)
        register_auth_mode("noauth", NoAuthAuthentication)
        from cellsv2.api.keystone import KeystoneAuthentication

        register_auth_mode("keystone", KeystoneAuthentication)

        # Nova's base rules, which every app's rules refer to (imported here for the same reason).
        from cellsv2 import policies
        from cellsv2.api.policy import register_policy_rules

        register_policy_rules(policies.list_rules())

        # The quota engine's admin pages, registered once the admin app (listed first) has made its
        # site: a registration while cellsv2.admin is imported would land on a site Django replaces.
        from cellsv2.admin import quotas  # noqa: F401

        # Each cell's part of every scatter-gather is timed and its failures counted (/metrics).
        from cellsv2.cells import on_cell_query
        from cellsv2.observability.metrics import cell_query_observed

        on_cell_query(cell_query_observed)

        # A cell whose breaker is open fails at once on every connection to it, not only in
        # scatter-gathers; the API answers it with 503.
        from django.db.backends.signals import connection_created

        from cellsv2.api.faults import register_faults
        from cellsv2.cells import CellDidNotRespond, install_breaker_guard, note_connection_made

        connection_created.connect(install_breaker_guard, dispatch_uid="cellsv2-breaker-guard")
        # Which aliases a thread connected: a cell thread gives exactly those back after each task.
        connection_created.connect(note_connection_made, dispatch_uid="cellsv2-note-connection-made")
        # A pooled PostgreSQL connection is checked without a round trip each time it is taken.
        from cellsv2.dburls import use_pooled_connection_check

        connection_created.connect(use_pooled_connection_check, dispatch_uid="cellsv2-pooled-connection-check")
        register_faults({CellDidNotRespond: 503})

        # Django clears every database's query log at the start of each request, visiting every
        # configured alias (the API database and each cell: with 75 cells, most of what a key pair
        # show cost more than with one). Without DEBUG nothing fills those logs but a test's
        # CaptureQueriesContext, which counts from its own start, and each log is bounded anyway.
        from django.conf import settings
        from django.core.signals import request_started
        from django.db import reset_queries

        if not settings.DEBUG:
            request_started.disconnect(reset_queries)


class CellsV2AdminConfig(admin_apps.AdminConfig):
    """Django's admin with the cellsv2 site (dashboard, operator actions) as the default site."""

    default = False
    default_site = "cellsv2.admin.sites.CellsV2AdminSite"
